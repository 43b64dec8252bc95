/**
 * Re-enrolling a Zigbee lock through Zigbee2MQTT after a factory reset, against the aedes broker and
 * the simulated bridge (z2m-peer.ts, the lock's side on the real zigbee-herdsman-converters): the
 * lock leaves (`device_leave`), its status says setup mode, `enroll` opens the network through the
 * bridge API, the lock joins only while it is open, is interviewed and becomes the device id again
 * (or a replacement of the same model does), takes a PIN, and joining is closed afterwards. Nobody
 * joining, a cancel and a failed interview end with joining closed too; both request APIs (2.x and
 * 1.x) are understood.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../src/drivers/contract.js';
import { createZigbee2MqttDriver, type Zigbee2MqttDriver } from '../../src/drivers/zigbee2mqtt/index.js';
import { startZigbee2MqttPeer, type Zigbee2MqttPeer } from './z2m-peer.js';

const driverFor = (peer: Zigbee2MqttPeer) =>
  createZigbee2MqttDriver({ url: peer.url, username: peer.username, password: peer.password, baseTopic: peer.baseTopic, slots: 5, commandTimeoutMs: 2_000, reconnectInitialMs: 50, reconnectMaxMs: 400 });

const ALWAYS = { kind: 'always' } as const;

describe('zigbee2mqtt re-enrollment (Zigbee2MQTT 2.x bridge API)', () => {
  let peer: Zigbee2MqttPeer;
  let driver: Zigbee2MqttDriver;

  before(async () => {
    peer = await startZigbee2MqttPeer({ baseTopic: 'z2m-reenroll' });
    driver = driverFor(peer);
  });
  after(async () => {
    await driver.close();
    await peer.close();
  });

  it('describes the join in plain words, with no code to type', async () => {
    const caps = await driver.capabilities(peer.lock('front door').ieee);
    assert.equal(caps.enrollment?.kind, 'join');
    assert.equal(caps.enrollment?.code, 'none');
    assert.deepEqual(caps.enrollment?.security, []);
    assert.match(caps.enrollment.instructions, /pairing mode/);
    assert.match(caps.enrollment.instructions, /open/);
    const prep = await driver.prepareEnrollment(peer.lock('front door').ieee);
    assert.equal(prep.url, null);
    assert.equal(prep.instructions, caps.enrollment.instructions);
  });

  it('a reset lock is in setup mode, joins only while lockwarden opens the network, and takes a PIN again', async () => {
    const id = peer.lock('front door').ieee;
    await driver.setPin(id, { slot: 1, code: '2580', name: 'before', schedule: ALWAYS });
    assert.equal((await driver.status(id)).setupMode, false);

    await resetLock(peer, driver, 'front door');
    const reset = await driver.status(id);
    assert.deepEqual([reset.online, reset.setupMode, reset.bolt], [false, true, 'unknown']);
    // The reset case asks how to enroll the lock that left: its capabilities still answer.
    assert.equal((await driver.capabilities(id)).enrollment?.kind, 'join');
    await assert.rejects(driver.readCredentials(id), (e: DriverError) => e.code === 'driver.unknown_device');

    // The lock tries to join by itself after the reset, but the network is closed: it stays out.
    const pairing = peer.pairingMode('front door');
    await sleep(200);
    assert.equal(peer.joiningOpen, false);
    assert.ok(!(await driver.discover()).some((d) => d.externalId === id), 'no join while the network is closed');

    peer.permitJoinRequests.length = 0;
    const t0 = Date.now();
    const enrolled = await driver.enroll({ previousExternalId: id, timeoutMs: 20_000 });
    const took = Date.now() - t0;
    assert.deepEqual(enrolled, { externalId: id, manufacturer: 'Yale', model: 'YRD226HA2619', serial: null });
    assert.deepEqual(await pairing.joined, { ieee: id, name: 'front door' });
    assert.ok(took < 5_000, `enrolled in ${took} ms`);

    // Joining was opened for a bounded time and closed again, and the bridge says it is closed.
    const requests = peer.permitJoinRequests as Record<string, unknown>[];
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.equal(requests[0]!.time, 20);
    assert.equal(requests[1]!.time, 0);
    assert.equal(peer.joiningOpen, false);

    // The rejoined lock is the factory-fresh one: no codes, answers, and takes a PIN on its new enrollment.
    const status = await driver.status(id);
    assert.deepEqual([status.online, status.setupMode], [true, false]);
    assert.deepEqual((await driver.readCredentials(id)).pins, []);
    await driver.setPin(id, { slot: 2, code: '7391', name: 'rebuilt', schedule: ALWAYS });
    assert.deepEqual((await driver.readCredentials(id)).pins.map((p) => [p.slot, p.code, p.enabled]), [[2, '7391', true]]);
    assert.equal(peer.lock('front door').endpoint.users.get(1)?.pin, '7391', 'the code is in the lock’s Door Lock cluster, on Zigbee user 1 (slot 2: users count from 0)');
  });

  it('takes a replacement of the same model when another lock joins, with its own IEEE address as the new id', async () => {
    const old = peer.lock('garage').ieee;
    await resetLock(peer, driver, 'garage');
    const newIeee = '0x000d6f0011cc4403';
    const pairing = peer.pairingMode('garage', { newIeee });
    const enrolled = await driver.enroll({ previousExternalId: old, timeoutMs: 10_000 });
    assert.deepEqual(enrolled, { externalId: newIeee, manufacturer: 'Kwikset', model: '99140-002', serial: null });
    await pairing.joined;
    assert.equal(peer.joiningOpen, false);
    // The new device answers under its new id; the old one is still the reset lock.
    await driver.setPin(newIeee, { slot: 1, code: '1357', name: 'rebuilt', schedule: ALWAYS });
    assert.deepEqual((await driver.readCredentials(newIeee)).pins.map((p) => [p.slot, p.code]), [[1, '1357']]);
    assert.equal(peer.lock(newIeee).endpoint.users.get(0)?.pin, '1357', 'slot 1 is Zigbee user 0');
    assert.equal((await driver.status(old)).setupMode, true);
  });

  it('prefers the previous device when it rejoins next to another lock', async () => {
    const id = peer.lock('front door').ieee;
    await resetLock(peer, driver, 'front door');
    // The stranger joins first and finishes its interview first; the previous lock is still interviewed.
    const stranger = peer.pairingMode('front door', { newIeee: '0x000d6f0011dd5504' });
    const previous = peer.pairingMode('front door');
    const enrolled = await driver.enroll({ previousExternalId: id, timeoutMs: 10_000 });
    assert.equal(enrolled.externalId, id);
    await Promise.all([stranger.joined, previous.joined]);
    assert.equal(peer.joiningOpen, false);
  });

  it('nobody joining ends in driver.timeout within the bound, with joining closed', async () => {
    const id = peer.lock('front door').ieee;
    peer.permitJoinRequests.length = 0;
    const t0 = Date.now();
    await assert.rejects(driver.enroll({ previousExternalId: id, timeoutMs: 700 }), (e: DriverError) => {
      assert.equal(e.code, 'driver.timeout');
      assert.match(e.message, /no device joined within 1 s; the Zigbee network is closed again/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 650 && took < 2_000, `gave up after ${took} ms`);
    assert.equal(peer.joiningOpen, false);
    assert.deepEqual((peer.permitJoinRequests as Record<string, unknown>[]).map((r) => r.time), [1, 0]);
  });

  it('a cancel ends the wait at once with driver.timeout and joining closed', async () => {
    const id = peer.lock('front door').ieee;
    const abort = new AbortController();
    const t0 = Date.now();
    const pending = driver.enroll({ previousExternalId: id, timeoutMs: 30_000, signal: abort.signal });
    await until(async () => peer.joiningOpen);
    abort.abort();
    await assert.rejects(pending, (e: DriverError) => e.code === 'driver.timeout' && /cancelled/.test(e.message));
    assert.ok(Date.now() - t0 < 2_000);
    assert.equal(peer.joiningOpen, false);
    // Cancelled before it started: the network is never opened.
    peer.permitJoinRequests.length = 0;
    await assert.rejects(driver.enroll({ previousExternalId: id, timeoutMs: 30_000, signal: AbortSignal.abort() }), (e: DriverError) => e.code === 'driver.timeout');
    assert.deepEqual(peer.permitJoinRequests, []);
  });

  it('a device whose interview fails is a clear error, with joining closed', async () => {
    const id = peer.lock('front door').ieee;
    await resetLock(peer, driver, 'front door');
    const pairing = peer.pairingMode('front door', { interview: 'failed' });
    await assert.rejects(driver.enroll({ previousExternalId: id, timeoutMs: 10_000 }), (e: DriverError) => {
      assert.ok(e instanceof DriverError);
      assert.equal(e.code, 'driver.refused');
      assert.match(e.message, new RegExp(`a device \\(${id}\\) joined the Zigbee network but Zigbee2MQTT could not interview it`));
      assert.match(e.message, /factory reset the lock again/);
      return true;
    });
    await pairing.joined;
    assert.equal(peer.joiningOpen, false);
    // A device that joined but was not interviewed is no lock lockwarden can use.
    await assert.rejects(driver.readCredentials(id), (e: DriverError) => e.code === 'driver.unknown_device');
  });

  it('bad requests change nothing', async () => {
    peer.permitJoinRequests.length = 0;
    await assert.rejects(driver.enroll({ previousExternalId: null, timeoutMs: 0 }), (e: DriverError) => e.code === 'driver.refused' && /time limit/.test(e.message));
    assert.deepEqual(peer.permitJoinRequests, []);
  });
});

describe('zigbee2mqtt re-enrollment (Zigbee2MQTT 1.x bridge API)', () => {
  let peer: Zigbee2MqttPeer;
  let driver: Zigbee2MqttDriver;

  before(async () => {
    peer = await startZigbee2MqttPeer({ baseTopic: 'z2m-reenroll-v1', bridgeApi: 1 });
    driver = driverFor(peer);
    // Leave events are not retained: the driver must be listening before the lock leaves.
    await driver.discover();
  });
  after(async () => {
    await driver.close();
    await peer.close();
  });

  it('opens with {"value":true,"time":N}, understands the 1.x answer, and closes with value false', async () => {
    const id = peer.lock('garage').ieee;
    await resetLock(peer, driver, 'garage');
    const pairing = peer.pairingMode('garage');
    const enrolled = await driver.enroll({ previousExternalId: id, timeoutMs: 10_000 });
    assert.equal(enrolled.externalId, id);
    assert.equal(enrolled.model, '99140-002');
    await pairing.joined;
    assert.deepEqual(
      (peer.permitJoinRequests as Record<string, unknown>[]).map((r) => [r.value, r.time]),
      [
        [true, 10],
        [false, 0],
      ],
    );
    assert.equal(peer.joiningOpen, false);
    await driver.setPin(id, { slot: 3, code: '9753', name: 'rebuilt', schedule: ALWAYS });
    assert.deepEqual((await driver.readCredentials(id)).pins.map((p) => [p.slot, p.code]), [[3, '9753']]);
  });
});

/** The lock is factory reset: it leaves the network, the driver hears it and reports setup mode. */
async function resetLock(peer: Zigbee2MqttPeer, driver: Zigbee2MqttDriver, name: string): Promise<void> {
  const id = peer.lock(name).ieee;
  let heard = false;
  const off = driver.onEvent((e) => {
    if (e.type === 'reset_detected' && e.externalId === id) heard = true;
  });
  peer.leave(name);
  await until(async () => heard);
  off();
  assert.equal((await driver.status(id)).setupMode, true);
}

describe('zigbee2mqtt re-enrollment when the bridge refuses to open the network', () => {
  it('is driver.refused in the bridge’s words, and the network is not left open', async () => {
    const peer = await startZigbee2MqttPeer({ baseTopic: 'z2m-reenroll-refused', permitJoinError: 'Failed to connect to adapter' });
    const driver = driverFor(peer);
    try {
      await driver.discover();
      const t0 = Date.now();
      await assert.rejects(driver.enroll({ previousExternalId: peer.lock('front door').ieee, timeoutMs: 10_000 }), (e: DriverError) => {
        assert.equal(e.code, 'driver.refused');
        assert.equal(e.message, 'Zigbee2MQTT refused to change joining: "Failed to connect to adapter"');
        return true;
      });
      assert.ok(Date.now() - t0 < 2_000, 'no waiting for a join the bridge refused');
      assert.equal(peer.joiningOpen, false);
      // It still tried to close joining, in case the bridge opened it anyway.
      assert.deepEqual((peer.permitJoinRequests as Record<string, unknown>[]).map((r) => r.time), [10, 0]);
    } finally {
      await driver.close();
      await peer.close();
    }
  });
});

async function until<T>(fn: () => Promise<T | undefined | false>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail('timed out waiting');
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
