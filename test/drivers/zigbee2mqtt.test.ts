/**
 * The Zigbee2MQTT driver against an in-process `aedes` broker and a simulated bridge that runs the
 * real zigbee-herdsman-converters for a Yale YRD226 and a Kwikset 99140-002 (see z2m-peer.ts): the
 * shared conformance suite, then discovery, the documented payloads, events, device_leave,
 * malformed input, secrets and reconnecting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DriverError} from '../../src/drivers/contract.js';
import { type DriverEvent } from '../../src/drivers/contract.js';
import { createZigbee2MqttDriver, type Zigbee2MqttDriver } from '../../src/drivers/zigbee2mqtt/index.js';
import { describeDriverConformance } from './conformance.js';
import { startZigbee2MqttPeer, type Zigbee2MqttPeer } from './z2m-peer.js';

const driverFor = (peer: Zigbee2MqttPeer, extra: Partial<Parameters<typeof createZigbee2MqttDriver>[0]> = {}) =>
  createZigbee2MqttDriver({ url: peer.url, username: peer.username, password: peer.password, baseTopic: peer.baseTopic, slots: 10, commandTimeoutMs: 2_000, reconnectInitialMs: 50, reconnectMaxMs: 400, ...extra });

describeDriverConformance('zigbee2mqtt, Yale YRD226 through the real converters', async () => {
  const peer = await startZigbee2MqttPeer({ baseTopic: 'z2m-conformance' });
  const driver = driverFor(peer);
  const lock = peer.lock('front door');
  return {
    driver,
    externalId: lock.ieee,
    uniquePins: true,
    peer: {
      // lockwarden slot N is Zigbee user N-1 (the lock numbers its users from 0).
      setPinOutOfBand: (slot, code) => Promise.resolve(lock.endpoint.programAtKeypad(slot - 1, code)),
      injectFault: (kind) => {
        lock.endpoint.fault = kind;
        return Promise.resolve(true);
      },
    },
    close: async () => {
      await driver.close();
      await peer.close();
    },
  };
});

describe('zigbee2mqtt driver specifics', () => {
  let peer: Zigbee2MqttPeer;
  let driver: Zigbee2MqttDriver;
  const logged: Record<string, unknown>[] = [];

  before(async () => {
    peer = await startZigbee2MqttPeer();
    driver = driverFor(peer, { logger: { warn: (fields, message) => void logged.push({ ...fields, message }) } });
  });
  after(async () => {
    await driver.close();
    await peer.close();
  });

  it('discovers the locks from bridge/devices with vendor and model, not the coordinator', async () => {
    const found = await driver.discover();
    assert.deepEqual(
      found.map((d) => [d.externalId, d.manufacturer, d.model, d.label]).sort(),
      [
        [peer.lock('front door').ieee, 'Yale', 'YRD226HA2619', 'front door'],
        [peer.lock('garage').ieee, 'Kwikset', '99140-002', 'garage'],
      ].sort(),
    );
    const s = await driver.status(peer.lock('garage').ieee);
    assert.deepEqual([s.online, s.batteryPercent, s.bolt], [true, 75, 'locked']);
    // A lock that does not answer (no route) is reported offline, not as a failed read.
    peer.lock('garage').endpoint.fault = 'offline';
    assert.equal((await driver.status(peer.lock('garage').ieee)).online, false);
    assert.equal((await driver.status(peer.lock('garage').ieee)).online, true);
  });

  it('sends the documented payloads and trusts users.N.status', async () => {
    const id = peer.lock('garage').ieee;
    // The first capabilities call finds the lock's user count (asked of the bridge once).
    assert.equal((await driver.capabilities(id)).pin.firstDeviceSlot, 0);
    peer.received.length = 0;
    await driver.setPin(id, { slot: 3, code: '1234', name: 'x', schedule: { kind: 'always' } });
    await driver.clearPin(id, 3);
    assert.deepEqual(peer.received.slice(0, 4), [
      { topic: 'garage/set', payload: { pin_code: { user: 2, user_type: 'unrestricted', user_enabled: true, pin_code: '1234' } } },
      { topic: 'garage/get', payload: { pin_code: { user: 2 } } },
      { topic: 'garage/set', payload: { pin_code: { user: 2, pin_code: null } } },
      { topic: 'garage/get', payload: { pin_code: { user: 2 } } },
    ]);
    // A code held but disabled at the lock is still held (status, not the pin_code field, decides).
    peer.lock('garage').endpoint.users.set(4, { status: 3, type: 0, pin: '' });
    const pins = (await driver.readCredentials(id)).pins;
    assert.deepEqual(pins, [{ slot: 5, code: null, name: '', schedule: { kind: 'always' }, enabled: false }], 'Zigbee user 4 is slot 5');
    await driver.clearPin(id, 5);
  });

  it('keeps the numbering of an older integration (firstUser 1: slot N is Zigbee user N) when configured so', async () => {
    const id = peer.lock('garage').ieee;
    const older = driverFor(peer, { slots: undefined, firstUser: 1 });
    try {
      const caps = await older.capabilities(id);
      assert.deepEqual([caps.pin.slots, caps.pin.firstDeviceSlot], [29, 1], 'users 1-29 of the Kwikset’s 0-29');
      peer.received.length = 0;
      await older.setPin(id, { slot: 3, code: '8080', name: 'x', schedule: { kind: 'always' } });
      assert.deepEqual(peer.received[0], { topic: 'garage/set', payload: { pin_code: { user: 3, user_type: 'unrestricted', user_enabled: true, pin_code: '8080' } } });
      assert.equal(peer.lock('garage').endpoint.users.get(3)?.pin, '8080');
      assert.deepEqual((await older.readCredentials(id)).pins.map((p) => [p.slot, p.code]), [[3, '8080']]);
      await older.clearPin(id, 3);
      assert.equal(peer.lock('garage').endpoint.users.has(3), false);
    } finally {
      await older.close();
    }
  });

  it('reports keypad programming, lock/unlock and a device_leave as events', async () => {
    const id = peer.lock('front door').ieee;
    const seen: DriverEvent[] = [];
    const off = driver.onEvent((e) => seen.push(e));
    try {
      await driver.setPin(id, { slot: 5, code: '8642', name: 'own', schedule: { kind: 'always' } });
      peer.lock('front door').endpoint.programAtKeypad(6, '97531');
      await driver.unlock(id);
      await driver.lock(id);
      await until(() => seen.filter((e) => e.type === 'credentials_changed').length >= 2 && seen.some((e) => e.type === 'bolt' && e.bolt === 'locked'));
      peer.leave('front door');
      await until(() => seen.some((e) => e.type === 'reset_detected'));
    } finally {
      off();
    }
    const changes = seen.filter((e) => e.type === 'credentials_changed');
    assert.deepEqual(changes.map((e) => e.type === 'credentials_changed' && e.bySelf === true), [true, false], 'our own write is an echo, the keypad’s is not');
    assert.deepEqual(seen.filter((e) => e.type === 'bolt').map((e) => e.type === 'bolt' && e.bolt), ['unlocked', 'locked']);
    assert.deepEqual(seen.filter((e) => e.type === 'reset_detected').map((e) => e.externalId), [id]);
  });

  it('logs malformed payloads by topic only, never their content, and keeps working', async () => {
    const id = peer.lock('garage').ieee;
    await peer.publishRaw('garage', 'not json {"pin_code":"2468"}');
    await peer.publishRaw('garage', JSON.stringify({ users: 'garbage', battery: 'full' }));
    await peer.publishRaw('bridge/event', '{"type":"device_leave"}');
    await peer.publishRaw('garage/availability', 'sideways');
    await until(() => logged.length >= 3);
    for (const entry of logged) assert.ok(!JSON.stringify(entry).includes('2468') && !JSON.stringify(entry).includes(peer.password), JSON.stringify(entry));
    assert.ok(logged.some((e) => e.topic === 'zigbee2mqtt/garage' && e.problem === 'payload is not JSON'));
    assert.equal((await driver.status(id)).online, true);
  });

  it('refuses bad configuration and unknown devices with stable codes, without the password', async () => {
    assert.throws(() => createZigbee2MqttDriver({ url: 'not a url', password: 'hunter2' }), (e: DriverError) => e.code === 'driver.refused' && !e.message.includes('hunter2'));
    assert.throws(() => createZigbee2MqttDriver({ url: peer.url, baseTopic: 'zigbee2mqtt/#' }), /wildcards/);
    await assert.rejects(driver.status('0xdeadbeef'), (e: DriverError) => e.code === 'driver.unknown_device');
    const wrong = driverFor(peer, { password: 'wrong', commandTimeoutMs: 300 });
    await assert.rejects(wrong.status(peer.lock('garage').ieee), (e: DriverError) => e.code === 'driver.unreachable' && !e.message.includes('wrong'));
    await wrong.close();
  });

  it('fails fast while the broker is away, backs off, and works again once it is back', async () => {
    const id = peer.lock('garage').ieee;
    const restart = peer.restartBroker(300);
    await until(() => !driver.connected);
    const t0 = Date.now();
    await assert.rejects(driver.status(id), (e: DriverError) => e.code === 'driver.unreachable');
    assert.ok(Date.now() - t0 < 100, 'no waiting while disconnected');
    await until(() => driver.nextReconnectMs > 50, 2_000);
    await restart;
    await until(() => driver.connected, 3_000);
    await driver.setPin(id, { slot: 2, code: '4321', name: 'after', schedule: { kind: 'always' } });
    assert.deepEqual((await driver.readCredentials(id)).pins.map((p) => [p.slot, p.code]), [[2, '4321']]);
    await driver.clearPin(id, 2);
  });
});

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
