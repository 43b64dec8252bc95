/**
 * The Z-Wave driver against the real stack: a real ZwavejsServer (@zwave-js/server) on 127.0.0.1
 * wrapping a real zwave-js Driver on @zwave-js/testing's MockController with one mock door lock.
 * One peer for the whole file (~3.5 s to boot); the tests that take the lock away run last.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { UserCodeCCGet, UserCodeCCUserCodeChecksumGet } from '@zwave-js/cc/UserCodeCC';
import { ZwavejsServer } from '@zwave-js/server';
import { MockZWaveFrameType } from '@zwave-js/testing';
import { WebSocketServer } from 'ws';
import { describeDriverConformance } from './conformance.js';
import { ACCESS_CONTROL, HOME_SECURITY, startZwavePeer, type ZwavePeer } from './zwave-peer.js';
import { isDriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { rejectsWith } from '../helpers/driver-errors.js';
import { createZwaveDriver, MAX_SCHEMA_VERSION, type ZwaveDriver } from '../../src/drivers/zwave/index.js';

let peerP: Promise<ZwavePeer> | undefined;
const peer = () => (peerP ??= startZwavePeer({ slots: 10, battery: 87 }));
let driverP: Promise<ZwaveDriver> | undefined;
const zwave = () =>
  (driverP ??= peer().then(async (p) => {
    const d = createZwaveDriver({ url: p.url, hubKey: 'zjs-test', backoff: { initialMs: 50, maxMs: 200 } });
    await d.connect();
    return d;
  }));
const lockId = 'zjs-test:2';

after(async () => {
  await (await driverP)?.close();
  await (await peerP)?.close();
});


function nextEvent(d: ZwaveDriver, match: (e: DriverEvent) => boolean, ms = 5_000): Promise<DriverEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error('no matching event within ' + ms + ' ms'))), ms);
    const off = d.onEvent((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

describeDriverConformance('zwave (Z-Wave JS server, mock controller and door lock)', async () => {
  const p = await peer();
  const driver = await zwave();
  return {
    driver,
    externalId: lockId,
    // The driver refuses a PIN another slot holds (a second slot with it would make keypad use ambiguous).
    uniquePins: true,
    peer: {
      setPinOutOfBand: (slot, code) => p.setPinAtKeypad(slot, code),
      injectFault: async (kind) => (p.injectFault(kind), true),
    },
    // The peer and driver live for the whole file.
    close: async () => {},
  };
});

describe('zwave driver', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await peer();
    d = await zwave();
  });

  it('discovers the lock with make and model from the zwave-js device database', async () => {
    assert.deepEqual(await d.discover(), [{ externalId: lockId, manufacturer: 'Yale', model: 'YRD216 / YRC216', label: 'Yale YRD216 / YRC216' }]);
    assert.equal(d.hubOf(lockId), 'zjs-test');
    const caps = await d.capabilities(lockId);
    assert.deepEqual(caps.pin, { slots: 10, minLength: 4, maxLength: 10, alphabet: 'digits' });
    assert.equal(caps.remoteLockUnlock, true);
    const s = await d.status(lockId);
    assert.equal(s.batteryPercent, 87);
    assert.equal(s.firmware, '4.12');
  });

  it('refuses a slot outside the node range and a PIN with characters the node does not take, changing nothing', async () => {
    const before = await d.readCredentials(lockId);
    await rejectsWith(d.setPin(lockId, { slot: 11, code: '482915', name: 'x', schedule: { kind: 'always' } }), 'driver.invalid_pin', /slot 11 is outside this lock's user code slots 1-10/);
    await rejectsWith(d.setPin(lockId, { slot: 3, code: '48#915', name: 'x', schedule: { kind: 'always' } }), 'driver.invalid_pin', /only the digits/);
    await rejectsWith(d.clearPin(lockId, 0), 'driver.invalid_pin', /slot 0/);
    for (const e of await Promise.allSettled([d.setPin(lockId, { slot: 3, code: '48#915', name: 'x', schedule: { kind: 'always' } })])) {
      assert.ok(e.status === 'rejected' && isDriverError(e.reason) && !e.reason.message.includes('48#915'), 'the PIN is never echoed');
    }
    assert.equal(p.lock.state.get('UserCode_userCode_3'), undefined, 'the lock itself holds nothing in slot 3');
    assert.deepEqual(await d.readCredentials(lockId), before);
  });

  it('a second read asks the lock only for its user code checksum when nothing changed', async () => {
    await d.setPin(lockId, { slot: 5, code: '246813', name: 'cache', schedule: { kind: 'always' } });
    await d.readCredentials(lockId);
    p.lock.clearReceivedControllerFrames();
    const pins = (await d.readCredentials(lockId)).pins;
    assert.deepEqual(pins.map((x) => [x.slot, x.code]), [[5, '246813']]);
    p.lock.assertReceivedControllerFrame((f) => f.type === MockZWaveFrameType.Request && f.payload instanceof UserCodeCCUserCodeChecksumGet, { errorMessage: 'the checksum was asked' });
    p.lock.assertReceivedControllerFrame((f) => f.type === MockZWaveFrameType.Request && f.payload instanceof UserCodeCCGet, { noMatch: true, errorMessage: 'no slot was read again' });
    // Changed behind the driver's back without telling it: the checksum gives it away.
    p.lock.state.set('UserCode_userCode_5', '135792');
    assert.deepEqual((await d.readCredentials(lockId)).pins.map((x) => [x.slot, x.code]), [[5, '135792']]);
    await d.clearPin(lockId, 5);
  });

  it('reports keypad unlocks with the slot, and tampering', async () => {
    const used = nextEvent(d, (e) => e.type === 'pin_used');
    await p.notify(ACCESS_CONTROL.type, ACCESS_CONTROL.keypadUnlock, [0x63, 0x03, 3, 0x01]);
    const e = await used;
    assert.ok(e.type === 'pin_used' && e.externalId === lockId && e.slot === 3, JSON.stringify(e));
    const tamper = nextEvent(d, (x) => x.type === 'tamper');
    await p.notify(HOME_SECURITY.type, HOME_SECURITY.tamper);
    assert.equal((await tamper).externalId, lockId);
  });

  it('refuses a server of an unsupported API schema, sending it nothing', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const received: string[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (m: Buffer) => received.push(m.toString('utf8')));
      ws.send(JSON.stringify({ type: 'version', driverVersion: '8.0.0', serverVersion: '1.10.0', homeId: 1, minSchemaVersion: 0, maxSchemaVersion: 11 }));
    });
    const port = (wss.address() as { port: number }).port;
    const old = createZwaveDriver({ url: `ws://127.0.0.1:${port}`, hubKey: 'old' });
    try {
      await rejectsWith(old.status('old:2'), 'driver.not_supported', new RegExp(`schema 0-11; lockwarden needs one of 32-${MAX_SCHEMA_VERSION}`));
      await rejectsWith(old.setPin('old:2', { slot: 1, code: '482915', name: 'x', schedule: { kind: 'always' } }), 'driver.not_supported');
      assert.deepEqual(received, [], 'not even the schema was set');
    } finally {
      await old.close();
      await new Promise((r) => wss.close(r));
    }
  });

  it('reconnects with backoff when the server restarts, reporting the lock offline and back', async () => {
    const port = Number(new URL(p.url).port);
    const offline = nextEvent(d, (e) => e.type === 'online' && !e.online);
    await p.server.destroy();
    await offline;
    await rejectsWith(d.status(lockId), 'driver.unreachable');
    const back = nextEvent(d, (e) => e.type === 'online' && e.online);
    const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
    p.server = new ZwavejsServer(p.driver, { host: '127.0.0.1', port, logger: silent, enableDNSServiceDiscovery: false });
    await p.server.start(false);
    assert.equal((await back).externalId, lockId);
    assert.equal((await d.status(lockId)).online, true);
  });

  it('a lock reset at the device (Device Reset Locally) is reported as reset_detected, gone from the network and in setup mode', async () => {
    const reset = nextEvent(d, (e) => e.type === 'reset_detected', 8_000);
    const started = Date.now();
    await p.resetLocally();
    const e = await reset;
    assert.equal(e.externalId, lockId);
    assert.ok(Date.now() - started < 5_000, 'detected within seconds');
    // Gone from the network, but not unknown: it is factory-fresh and waits to be included again.
    const s = await d.status(lockId);
    assert.equal(s.online, false);
    assert.equal(s.setupMode, true);
    await rejectsWith(d.readCredentials(lockId), 'driver.unknown_device');
    assert.deepEqual(await d.discover(), []);
  });
});
