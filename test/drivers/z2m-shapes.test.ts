/**
 * Zigbee2MQTT lock shapes (issue 23): locks whose real zigbee-herdsman-converters definitions differ
 * from the Yale YRD226 the other Zigbee tests use, behind the same simulated bridge (aedes + the
 * definitions' own toZigbee / fromZigbee converters, see z2m-peer.ts):
 * - a Schlage BE468 (users 0-29) and a Danalock V3 (users 0-19): the converters refuse any other user;
 * - a Yale YRL256 (users 0-249): codes on users 0 and 120;
 * - a Nimly (Onesti definition): the lock takes codes, but the definition does not convert its answer
 *   to a code read; it reports its own user count and code lengths;
 * - a Kwikset 910 (99100-006) and a Wyze lock: no PIN support in their definitions;
 * - a lock whose listed exposes claim `pin_code` while the bridge has no converter for it.
 * Each test fails on the driver before issue 23 (capabilities from configuration, users 1..30).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DriverError, type PinWrite } from '../../src/drivers/contract.js';
import { createZigbee2MqttDriver, type Zigbee2MqttDriver } from '../../src/drivers/zigbee2mqtt/index.js';
import { startZigbee2MqttPeer, type Zigbee2MqttPeer } from './z2m-peer.js';

const TIMEOUT_MS = 3_000;
const LOCKS = [
  { name: 'schlage', ieee: '0x000d6f0011cc0001', modelId: 'BE468', manufacturerName: 'Schlage' },
  { name: 'danalock', ieee: '0x000d6f0011cc0002', modelId: 'V3-BTZB', manufacturerName: 'Danalock' },
  { name: 'yale assure', ieee: '0x000d6f0011cc0003', modelId: 'YRL256 TS', manufacturerName: 'Yale' },
  // Values chosen (the definition reads them at configure): 100 users, codes of 4-10 digits.
  { name: 'nimly', ieee: '0x000d6f0011cc0004', modelId: 'NimlyPRO', manufacturerName: 'Onesti Products AS', reports: { numOfPinUsersSupported: 100, minPinLen: 4, maxPinLen: 10 } },
  { name: 'kwikset 910', ieee: '0x000d6f0011cc0005', modelId: 'SMARTCODE_DEADBOLT_5_L', manufacturerName: 'Kwikset' },
  { name: 'wyze', ieee: '0x000d6f0011cc0006', modelId: 'Ford', manufacturerName: 'Wyze' },
  { name: 'stale', ieee: '0x000d6f0011cc0007', modelId: 'SMARTCODE_DEADBOLT_5_L', manufacturerName: 'Kwikset', exposePinWithoutConverter: true },
];
const always = { kind: 'always' } as const;
const pin = (slot: number, code: string): PinWrite => ({ slot, code, name: 'x', schedule: always });

/** Rejects with this driver error code, within `withinMs` when given. */
async function rejectsWith(p: Promise<unknown>, code: string, withinMs?: number, message?: RegExp): Promise<void> {
  const t0 = Date.now();
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DriverError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
  if (withinMs !== undefined) assert.ok(Date.now() - t0 < withinMs, `answered in ${Date.now() - t0} ms (at most ${withinMs})`);
}

describe('zigbee2mqtt lock shapes through the real converter definitions', () => {
  let peer: Zigbee2MqttPeer;
  let driver: Zigbee2MqttDriver;
  const id = (name: string) => peer.lock(name).ieee;
  const users = (name: string) => peer.lock(name).endpoint.users;

  before(async () => {
    peer = await startZigbee2MqttPeer({ baseTopic: 'z2m-shapes', extraLocks: LOCKS });
    // No slots configured: every user the lock has.
    driver = createZigbee2MqttDriver({ url: peer.url, username: peer.username, password: peer.password, baseTopic: peer.baseTopic, commandTimeoutMs: TIMEOUT_MS, reconnectInitialMs: 50, reconnectMaxMs: 400 });
  });
  after(async () => {
    await driver?.close();
    await peer?.close();
  });

  it('takes the user count and numbering from the device definition, not from configuration', async () => {
    const seen: Record<string, unknown> = {};
    const asked: Record<string, number> = {};
    for (const name of ['schlage', 'danalock', 'yale assure', 'nimly', 'kwikset 910', 'wyze']) {
      peer.received.length = 0;
      const { slots, minLength, maxLength, firstDeviceSlot } = (await driver.capabilities(id(name))).pin;
      seen[name] = { slots, minLength, maxLength, firstDeviceSlot };
      asked[name] = peer.received.length;
      // Learnt once: asking again sends nothing.
      peer.received.length = 0;
      assert.equal((await driver.capabilities(id(name))).pin.slots, slots);
      assert.equal(peer.received.length, 0, `${name}: the second capabilities call asked nothing`);
    }
    // One status read, then a doubling and halving search over the converter's range: about 2 log2(users).
    assert.deepEqual(asked, { schlage: 11, danalock: 11, 'yale assure': 17, nimly: 1, 'kwikset 910': 0, wyze: 0 });
    assert.deepEqual(seen, {
      schlage: { slots: 30, minLength: 4, maxLength: 8, firstDeviceSlot: 0 },
      danalock: { slots: 20, minLength: 4, maxLength: 8, firstDeviceSlot: 0 },
      'yale assure': { slots: 250, minLength: 4, maxLength: 8, firstDeviceSlot: 0 },
      // What the Nimly reported of itself (num_pin_users, min/max_pin_length).
      nimly: { slots: 100, minLength: 4, maxLength: 10, firstDeviceSlot: 0 },
      'kwikset 910': { slots: 0, minLength: 4, maxLength: 8, firstDeviceSlot: undefined },
      wyze: { slots: 0, minLength: 4, maxLength: 8, firstDeviceSlot: undefined },
    });
  });

  for (const [name, last] of [
    ['schlage', 29],
    ['danalock', 19],
  ] as const) {
    it(`${name}: reads users 0-${last} as slots 1-${last + 1} without failing, and writes its last slot`, async () => {
      peer.lock(name).endpoint.programAtKeypad(0, '135790');
      peer.lock(name).endpoint.programAtKeypad(last, '246813');
      const read = await driver.readCredentials(id(name));
      assert.deepEqual(
        read.pins.map((p) => [p.slot, p.code]),
        [
          [1, '135790'],
          [last + 1, '246813'],
        ],
      );
      await driver.setPin(id(name), pin(last + 1, '97531'));
      assert.equal(users(name).get(last)?.pin, '97531', `Zigbee user ${last} holds the code written to slot ${last + 1}`);
      await driver.clearPin(id(name), last + 1);
      await driver.clearPin(id(name), 1);
      assert.deepEqual([...users(name).keys()], []);
      await rejectsWith(driver.setPin(id(name), pin(last + 2, '97531')), 'driver.invalid_pin', 500, new RegExp(`slot ${last + 2} does not exist on this lock \\(slots 1..${last + 1}\\)`));
    });
  }

  it('yale YRL256: codes on Zigbee users 0 and 120 appear in reads', async () => {
    peer.lock('yale assure').endpoint.programAtKeypad(0, '314159');
    peer.lock('yale assure').endpoint.programAtKeypad(120, '271828');
    const read = await driver.readCredentials(id('yale assure'));
    assert.deepEqual(
      read.pins.map((p) => [p.slot, p.code]),
      [
        [1, '314159'],
        [121, '271828'],
      ],
    );
  });

  for (const name of ['kwikset 910', 'wyze']) {
    it(`${name} (no PIN support in its definition): PIN calls answer driver.not_supported at once, nothing sent`, async () => {
      peer.received.length = 0;
      await rejectsWith(driver.setPin(id(name), pin(1, '482915')), 'driver.not_supported', 500, /takes no PIN codes through Zigbee2MQTT/);
      await rejectsWith(driver.clearPin(id(name), 1), 'driver.not_supported', 500);
      assert.deepEqual((await driver.readCredentials(id(name))).pins, [], 'a lock without PINs holds none');
      assert.deepEqual(
        peer.received.filter((r) => r.topic.startsWith(`${name}/`) && 'pin_code' in r.payload),
        [],
        'no pin_code request reached the bridge',
      );
    });
  }

  it('recognises "No converter available for \'pin_code\'" as not supported, at once and from then on', async () => {
    const t0 = Date.now();
    await rejectsWith(driver.setPin(id('stale'), pin(1, '482915')), 'driver.not_supported');
    assert.ok(Date.now() - t0 < TIMEOUT_MS / 2, `answered in ${Date.now() - t0} ms, not after the ${TIMEOUT_MS} ms timeout`);
    assert.equal((await driver.capabilities(id('stale'))).pin.slots, 0);
    peer.received.length = 0;
    await rejectsWith(driver.setPin(id('stale'), pin(1, '482915')), 'driver.not_supported', 500);
    assert.equal(peer.received.length, 0, 'the second refusal sent nothing');
  });

  it('nimly: a written PIN is confirmed by the lock (no uncertain timeout); reads say they cannot show codes', async () => {
    const t0 = Date.now();
    await driver.setPin(id('nimly'), pin(3, '5823'));
    assert.ok(Date.now() - t0 < TIMEOUT_MS, `confirmed in ${Date.now() - t0} ms`);
    assert.equal(users('nimly').get(2)?.pin, '5823', 'Zigbee user 2 holds the code written to slot 3');
    await driver.setPin(id('nimly'), pin(3, '58234'));
    assert.equal(users('nimly').get(2)?.pin, '58234');
    await driver.clearPin(id('nimly'), 3);
    assert.equal(users('nimly').has(2), false);
    // The first read learns that the bridge passes no answer on (the lock answers a status read)...
    await rejectsWith(driver.readCredentials(id('nimly')), 'driver.not_supported', undefined, /does not report the codes held by this lock \(Onesti Products AS Nimly\)/);
    // ...and the next one says so at once, as does a write (confirmed by its event, with no read-back wait).
    await rejectsWith(driver.readCredentials(id('nimly')), 'driver.not_supported', 200);
    const t1 = Date.now();
    await driver.setPin(id('nimly'), pin(4, '7391'));
    assert.ok(Date.now() - t1 < 800, `write confirmed in ${Date.now() - t1} ms`);
    await driver.clearPin(id('nimly'), 4);
  });
});
