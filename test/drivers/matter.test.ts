/**
 * The Matter driver against the real stack: lockwarden's matter.js controller commissions a virtual
 * matter.js door lock over matter.js's NetworkSimulator (one process, no sockets), then runs the
 * conformance suite; a factory reset of the lock (erase, start) is detected. One lock for the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger, LogLevel, Time } from '@matter/main';
import { LOCK_BATTERY_PERCENT, startMatterPeer, type MatterPeer } from './matter-peer.js';
import { until } from '../helpers/wait.js';
import { describeDriverConformance } from './conformance.js';
import { isDriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { rejectsWith } from '../helpers/driver-errors.js';
import { createMatterDriver, type MatterDriver } from '../../src/drivers/matter/index.js';

// matter.js logs every frame at info level; the tests assert behaviour, not logs.
Logger.level = LogLevel.ERROR;

interface Setup {
  peer: MatterPeer;
  driver: MatterDriver;
  externalId: string;
  commissionMs: number;
}
let setupP: Promise<Setup> | undefined;
const setup = () =>
  (setupP ??= (async () => {
    const peer = await startMatterPeer();
    const driver = createMatterDriver({ environment: peer.controllerEnvironment, hubKey: 'mt', timeoutMs: 2_000, commissionTimeoutMs: 15_000 });
    const started = performance.now();
    const externalId = await driver.commission(peer.pairingCode);
    return { peer, driver, externalId, commissionMs: performance.now() - started };
  })());

after(async () => {
  const s = await setupP?.catch(() => undefined);
  await s?.driver.close();
  await s?.peer.close();
  // After a device erase() matter.js leaves a ~2-minute "subtask timeout" running past every close;
  // with all nodes closed, stop what is left so the file ends when its tests do.
  for (const timer of [...Time.timers]) timer.stop();
});


describeDriverConformance('matter (matter.js controller, virtual DoorLock over NetworkSimulator)', async () => {
  const s = await setup();
  return {
    driver: s.driver,
    externalId: s.externalId,
    uniquePins: true,
    peer: { setPinOutOfBand: (slot, code) => s.peer.setPinAtKeypad(slot, code), pairControllerOutOfBand: (label) => s.peer.pairAnotherController(label) },
    close: async () => {},
  };
});

describe('matter driver', () => {
  let s: Setup;
  before(async () => {
    s = await setup();
  });

  it('commissions by pairing code into its own fabric and lists the lock', async () => {
    assert.match(s.externalId, /^mt:peer\d+$/);
    assert.ok(s.commissionMs < 10_000, `commissioned in ${Math.round(s.commissionMs)} ms`);
    const found = await s.driver.discover();
    assert.equal(found.length, 1);
    assert.equal(found[0]!.externalId, s.externalId);
    const controllers = (await s.driver.readCredentials(s.externalId)).controllers;
    assert.deepEqual(controllers.filter((c) => c.self).map((c) => [c.kind, c.label]), [['fabric', 'lockwarden']]);
    await rejectsWith(s.driver.removeController(s.externalId, controllers.find((c) => c.self)!.id), 'driver.refused', /own fabric/);
    await rejectsWith(s.driver.removeController(s.externalId, 'fabric-99'), 'driver.unknown_device', /no fabric fabric-99/);
  });

  it("lists every fabric (an unfiltered read), not only its own, and removes another controller's", async () => {
    await s.peer.pairAnotherController('Neighbour app');
    const both = await s.driver.listControllers(s.externalId);
    const own = both.find((c) => c.self)!;
    const other = both.find((c) => c.label === 'Neighbour app')!;
    assert.equal(both.length, 2, JSON.stringify(both));
    assert.ok(own && other);
    assert.deepEqual([own.kind, own.label, own.vendor, other.kind, other.vendor, other.self], ['fabric', 'lockwarden', '0xFFF1', 'fabric', '0xFFF1', undefined]);
    assert.match(own.fingerprint ?? '', /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    assert.match(other.fingerprint ?? '', /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    assert.notEqual(own.fingerprint, other.fingerprint, 'each fabric has its own root');
    assert.match(other.id, /^fabric-\d+$/);
    assert.notEqual(other.id, own.id);
    // The lock's own view agrees: two fabrics.
    assert.equal(s.peer.fabricCount(), 2);
    await s.driver.removeController(s.externalId, other.id);
    assert.deepEqual((await s.driver.listControllers(s.externalId)).map((c) => c.id), [own.id]);
    assert.equal(s.peer.fabricCount(), 1);
    await rejectsWith(s.driver.removeController(s.externalId, other.id), 'driver.unknown_device');
  });

  it("reads the battery from the lock's PowerSource cluster (half-percent units) and follows its changes", async () => {
    assert.equal((await s.driver.status(s.externalId)).batteryPercent, LOCK_BATTERY_PERCENT);
    await s.peer.setBattery(12.5);
    // 25 half-percents: 12.5 % rounds to 13; the subscription brings the new value.
    await until('the new battery level', async () => (await s.driver.status(s.externalId)).batteryPercent === 13, 5_000);
    await s.peer.setBattery(LOCK_BATTERY_PERCENT);
  });

  it('keeps one schedule per scheduled PIN on the lock (week day or year day) and drops it when the PIN becomes always-valid', async () => {
    const lockState = () => (s.peer.device.parts.get('door')!.state as unknown as { doorLock: { weekDaySchedules?: { userIndex: number; startHour: number }[]; yearDaySchedules?: { userIndex: number; localStartTime: number }[]; users?: { userIndex: number; userType: number }[] } }).doorLock;
    await s.driver.setPin(s.externalId, { slot: 8, code: '60417', name: 'Cleaner', schedule: { kind: 'recurring', days: ['tue', 'sat'], start: '09:15', end: '12:00' } });
    assert.deepEqual(lockState().weekDaySchedules?.filter((w) => w.userIndex === 8).map((w) => w.startHour), [9]);
    await s.driver.setPin(s.externalId, { slot: 8, code: '60417', name: 'Cleaner', schedule: { kind: 'window', from: '2031-03-01T00:00:00.000Z', until: '2031-03-08T00:00:00.000Z' } });
    assert.deepEqual(lockState().weekDaySchedules?.filter((w) => w.userIndex === 8), [], 'the week schedule went');
    // Matter epoch seconds (from 2000-01-01).
    assert.deepEqual(lockState().yearDaySchedules?.filter((y) => y.userIndex === 8).map((y) => y.localStartTime), [Date.parse('2031-03-01T00:00:00Z') / 1000 - 946_684_800]);
    await s.driver.setPin(s.externalId, { slot: 8, code: '60417', name: 'Cleaner', schedule: { kind: 'always' } });
    assert.deepEqual(lockState().yearDaySchedules?.filter((y) => y.userIndex === 8), []);
    assert.equal(lockState().users?.find((u) => u.userIndex === 8)?.userType, 0, 'unrestricted again');
    assert.deepEqual((await s.driver.readCredentials(s.externalId)).pins.find((p) => p.slot === 8)?.schedule, { kind: 'always' });
    await s.driver.clearPin(s.externalId, 8);
  });

  it('refuses a malformed pairing code without touching the network, never echoing it', async () => {
    const code = s.peer.pairingCode;
    const bad = code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
    await assert.rejects(s.driver.commission(bad), (e) => isDriverError(e) && e.code === 'driver.invalid_code' && /not a valid Matter pairing code: its last digit/.test(e.message) && !e.message.includes(bad));
    await rejectsWith(s.driver.commission('hello'), 'driver.invalid_code', /not a valid Matter pairing code/);
    assert.equal((await s.driver.discover()).length, 1, 'no new peer');
  });

  it('refuses a slot outside the lock range and a PIN outside its lengths, changing nothing', async () => {
    const before = s.peer.userSlots();
    await rejectsWith(s.driver.setPin(s.externalId, { slot: 11, code: '482915', name: 'x', schedule: { kind: 'always' } }), 'driver.invalid_pin', /slot 11 is outside this lock's PIN slots 1-10/);
    await rejectsWith(s.driver.setPin(s.externalId, { slot: 3, code: '123456789', name: 'x', schedule: { kind: 'always' } }), 'driver.invalid_pin', /4-8 digits/);
    assert.deepEqual(s.peer.userSlots(), before);
  });

  it('a duplicate PIN leaves no user behind in the target slot', async () => {
    await s.driver.setPin(s.externalId, { slot: 4, code: '5511', name: 'a', schedule: { kind: 'always' } });
    await rejectsWith(s.driver.setPin(s.externalId, { slot: 5, code: '5511', name: 'b', schedule: { kind: 'always' } }), 'driver.duplicate_pin');
    assert.deepEqual(s.peer.userSlots(), [4]);
    await s.driver.clearPin(s.externalId, 4);
    assert.deepEqual(s.peer.userSlots(), []);
  });

  it('reports its own changes as bySelf and a keypad change as not', async () => {
    const seen: DriverEvent[] = [];
    const off = s.driver.onEvent((e) => seen.push(e));
    try {
      await s.driver.setPin(s.externalId, { slot: 6, code: '9090', name: 'own', schedule: { kind: 'always' } });
      await s.peer.setPinAtKeypad(7, '8080');
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline && !(seen.some((e) => e.type === 'credentials_changed' && e.bySelf) && seen.some((e) => e.type === 'credentials_changed' && !e.bySelf))) await new Promise((r) => setTimeout(r, 20));
    } finally {
      off();
      await s.driver.clearPin(s.externalId, 6);
      await s.driver.clearPin(s.externalId, 7);
    }
    assert.ok(seen.some((e) => e.type === 'credentials_changed' && e.bySelf === true), 'own change echoed as bySelf');
    assert.ok(seen.some((e) => e.type === 'credentials_changed' && e.bySelf === undefined), 'keypad change not bySelf');
  });

  it('detects a factory reset of the lock (fabric gone, commissionable again) as reset_detected', async () => {
    const resets: DriverEvent[] = [];
    const off = s.driver.onEvent((e) => e.type === 'reset_detected' && resets.push(e));
    await s.peer.factoryReset();
    const started = Date.now();
    // The lock cannot tell us; the driver infers it (no answer, commissionable with the old discriminator).
    const status = await s.driver.status(s.externalId);
    assert.deepEqual([status.online, status.setupMode], [false, true]);
    await rejectsWith(s.driver.readCredentials(s.externalId), 'driver.refused', /no longer holds lockwarden's fabric/);
    off();
    assert.equal(resets.length, 1);
    assert.equal(resets[0]!.externalId, s.externalId);
    assert.ok(Date.now() - started < 8_000);
  });
});
