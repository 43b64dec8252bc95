/**
 * The Matter driver on a lock shape met in the field (issue 23): 5 users, PINs of 6-8 digits, week-day
 * schedules only, PINs programmed at the keypad under credential indexes other than their user's.
 * Against the real peer: lockwarden's matter.js controller and a virtual matter.js door lock of that
 * shape on matter.js's NetworkSimulator (one process, no sockets). One lock for the file; every test
 * leaves its user table empty.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Logger, LogLevel, Time } from '@matter/main';
import { startMatterPeer, type MatterPeer } from './matter-peer.js';
import { describeDriverConformance } from './conformance.js';
import type { CredentialSchedule } from '../../src/drivers/contract.js';
import { rejectsWith } from '../helpers/driver-errors.js';
import { createMatterDriver, type MatterDriver } from '../../src/drivers/matter/index.js';

// matter.js logs every frame at info level; the tests assert behaviour, not logs.
Logger.level = LogLevel.ERROR;

/** 5 users (5 PIN credentials), PINs of 6-8 digits, one week-day schedule per user and no year-day schedules. */
const FIELD_LOCK = { users: 5, pinUsers: 5, minPinLength: 6, maxPinLength: 8, weekDaySchedules: 1, yearDaySchedules: 0 };
const ALWAYS: CredentialSchedule = { kind: 'always' };
const UNRESTRICTED = 0;

interface Setup {
  peer: MatterPeer;
  driver: MatterDriver;
  id: string;
}
let setupP: Promise<Setup> | undefined;
const setup = () =>
  (setupP ??= (async () => {
    const peer = await startMatterPeer(FIELD_LOCK);
    const driver = createMatterDriver({ environment: peer.controllerEnvironment, hubKey: 'mt', timeoutMs: 2_000, commissionTimeoutMs: 15_000 });
    return { peer, driver, id: await driver.commission(peer.pairingCode) };
  })());

after(async () => {
  const s = await setupP?.catch(() => undefined);
  await s?.driver.close();
  await s?.peer.close();
  for (const timer of [...Time.timers]) timer.stop();
});


describeDriverConformance('matter on a 5-user lock with 6-8 digit PINs and week-day schedules only', async () => {
  const s = await setup();
  return {
    driver: s.driver,
    externalId: s.id,
    uniquePins: true,
    peer: { setPinOutOfBand: (slot, code) => s.peer.setPinAtKeypad(slot, code), pairControllerOutOfBand: (label) => s.peer.pairAnotherController(label) },
    close: async () => s.peer.wipeUsers(),
  };
});

describe('matter driver on a 5-user lock with 6-8 digit PINs and week-day schedules only', () => {
  let s: Setup;
  const pinsRead = async () => (await s.driver.readCredentials(s.id)).pins.map((p) => ({ slot: p.slot, name: p.name, schedule: p.schedule, enabled: p.enabled })).sort((a, b) => a.slot - b.slot);
  before(async () => {
    s = await setup();
  });
  afterEach(async () => {
    s.peer.refuseWeekDaySchedules(false);
    await s.peer.wipeUsers();
  });

  it("takes its capabilities from the lock's Door Lock attributes and refuses what they exclude before sending", async () => {
    const caps = await s.driver.capabilities(s.id);
    assert.deepEqual([caps.pin.slots, caps.pin.minLength, caps.pin.maxLength], [5, 6, 8]);
    assert.deepEqual(caps.schedules, { window: false, recurring: true });
    await rejectsWith(s.driver.setPin(s.id, { slot: 1, code: '4821', name: 'short', schedule: ALWAYS }), 'driver.invalid_pin', /6-8 digits/);
    await rejectsWith(s.driver.setPin(s.id, { slot: 1, code: '482193', name: 'window', schedule: { kind: 'window', from: '2031-01-01T00:00:00Z', until: '2031-01-02T00:00:00Z' } }), 'driver.not_supported');
    assert.deepEqual(await s.peer.usersNow(), []);
  });

  it('sees a PIN its user holds under another credential index, and clearing a slot takes only that user\'s PIN', async () => {
    // Programmed at the keypad: user 2 holds PIN credential 4, user 4 holds PIN credential 2.
    await s.peer.setPinAtKeypad(2, '246810', 4);
    await s.peer.setPinAtKeypad(4, '135790', 2);
    assert.deepEqual(await pinsRead(), [
      { slot: 2, name: '', schedule: ALWAYS, enabled: true },
      { slot: 4, name: '', schedule: ALWAYS, enabled: true },
    ]);
    await s.driver.clearPin(s.id, 4);
    assert.equal(await s.peer.pinOfUser(2), '246810', "slot 2's PIN is still there");
    assert.equal(await s.peer.userAt(4), undefined);
    assert.deepEqual((await pinsRead()).map((p) => p.slot), [2]);
  });

  it('writes a slot whose credential index another user holds, and calls only a real duplicate a duplicate', async () => {
    await s.peer.setPinAtKeypad(2, '246810', 4);
    await s.driver.setPin(s.id, { slot: 4, code: '97531864', name: 'Guest', schedule: ALWAYS });
    assert.equal(await s.peer.pinOfUser(4), '97531864');
    assert.equal(await s.peer.pinOfUser(2), '246810');
    assert.deepEqual((await pinsRead()).map((p) => [p.slot, p.name]), [[2, ''], [4, 'Guest']]);
    // The same code as slot 2's is a duplicate, and nothing is left behind in slot 5.
    await rejectsWith(s.driver.setPin(s.id, { slot: 5, code: '246810', name: 'dup', schedule: ALWAYS }), 'driver.duplicate_pin', /another slot/);
    assert.equal(await s.peer.userAt(5), undefined);
  });

  it('replaces a PIN programmed at the keypad, leaving no trace of the old code', async () => {
    await s.peer.setPinAtKeypad(3, '112233');
    await s.driver.setPin(s.id, { slot: 3, code: '445566', name: 'Cleaner', schedule: ALWAYS });
    assert.equal(await s.peer.pinOfUser(3), '445566');
    assert.deepEqual(await s.peer.allPins(), ['445566'], 'the keypad code is gone');
    assert.deepEqual(await pinsRead(), [{ slot: 3, name: 'Cleaner', schedule: ALWAYS, enabled: true }]);
    // lockwarden owns the slot now: a second write is a plain change.
    await s.driver.setPin(s.id, { slot: 3, code: '445577', name: 'Cleaner', schedule: { kind: 'recurring', days: ['mon'], start: '08:00', end: '12:00' } });
    assert.equal(await s.peer.pinOfUser(3), '445577');
    assert.deepEqual((await pinsRead())[0]?.schedule, { kind: 'recurring', days: ['mon'], start: '08:00', end: '12:00' });
  });

  it('refuses an overnight week-day window (22:00-06:00) before sending anything, the slot as it was', async () => {
    await s.driver.setPin(s.id, { slot: 1, code: '700001', name: 'Night', schedule: ALWAYS });
    const overnight: CredentialSchedule = { kind: 'recurring', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', end: '06:00' };
    await rejectsWith(s.driver.setPin(s.id, { slot: 1, code: '700002', name: 'Night', schedule: overnight }), 'driver.invalid_pin', /ends \(06:00\) before it starts \(22:00\).*nothing was sent/);
    assert.equal((await s.peer.userAt(1))?.userType, UNRESTRICTED);
    assert.equal(await s.peer.pinOfUser(1), '700001', 'the old PIN is still the one');
    assert.deepEqual(await s.peer.weekDaySchedulesOf(1), []);
    assert.deepEqual(await pinsRead(), [{ slot: 1, name: 'Night', schedule: ALWAYS, enabled: true }]);
    // A new slot gets nothing at all.
    await rejectsWith(s.driver.setPin(s.id, { slot: 2, code: '700003', name: 'Night', schedule: overnight }), 'driver.invalid_pin', /after/);
    assert.deepEqual(await s.peer.usersNow(), [1]);
  });

  it('leaves the slot as it was when the lock refuses a schedule, and says so', async () => {
    await s.driver.setPin(s.id, { slot: 1, code: '700001', name: 'Day', schedule: ALWAYS });
    s.peer.refuseWeekDaySchedules(true);
    const days: CredentialSchedule = { kind: 'recurring', days: ['mon', 'wed'], start: '08:00', end: '12:00' };
    await rejectsWith(s.driver.setPin(s.id, { slot: 1, code: '700004', name: 'Day', schedule: days }), 'driver.refused', /refused the week-day schedule for slot 1 .*slot 1 is as it was/);
    assert.equal((await s.peer.userAt(1))?.userType, UNRESTRICTED, 'not switched to a schedule-only user');
    assert.equal(await s.peer.pinOfUser(1), '700001');
    assert.deepEqual(await pinsRead(), [{ slot: 1, name: 'Day', schedule: ALWAYS, enabled: true }]);
    // A new slot the lock refuses the schedule of stays empty.
    await rejectsWith(s.driver.setPin(s.id, { slot: 2, code: '700005', name: 'Day', schedule: days }), 'driver.refused', /slot 2 is empty/);
    assert.deepEqual(await s.peer.usersNow(), [1]);
    assert.deepEqual(await s.peer.allPins(), ['700001']);
  });

  it('puts the old schedule back when the lock refuses the new PIN (a duplicate) after the schedule was written', async () => {
    const monday: CredentialSchedule = { kind: 'recurring', days: ['mon'], start: '08:00', end: '12:00' };
    await s.driver.setPin(s.id, { slot: 1, code: '700001', name: 'Mon', schedule: monday });
    await s.driver.setPin(s.id, { slot: 2, code: '700002', name: 'Other', schedule: ALWAYS });
    const tuesday: CredentialSchedule = { kind: 'recurring', days: ['tue'], start: '14:00', end: '16:30' };
    await rejectsWith(s.driver.setPin(s.id, { slot: 1, code: '700002', name: 'Mon', schedule: tuesday }), 'driver.duplicate_pin', /another slot holds the same code; slot 1 is as it was/);
    assert.deepEqual(await s.peer.weekDaySchedulesOf(1), [{ weekDayIndex: 1, startHour: 8, startMinute: 0, endHour: 12, endMinute: 0 }]);
    assert.equal(await s.peer.pinOfUser(1), '700001');
    assert.deepEqual((await pinsRead()).find((p) => p.slot === 1), { slot: 1, name: 'Mon', schedule: monday, enabled: true });
  });

  it('reads a schedule-only user with no schedule as a PIN that does not open, not as "always"', async () => {
    await s.driver.setPin(s.id, { slot: 1, code: '700001', name: 'Half', schedule: ALWAYS });
    await s.peer.leaveScheduleOnlyWithoutSchedule(1);
    assert.deepEqual(await pinsRead(), [{ slot: 1, name: 'Half', schedule: ALWAYS, enabled: false }]);
    // Writing it again repairs it.
    await s.driver.setPin(s.id, { slot: 1, code: '700001', name: 'Half', schedule: ALWAYS });
    assert.equal((await s.peer.userAt(1))?.userType, UNRESTRICTED);
    assert.deepEqual(await pinsRead(), [{ slot: 1, name: 'Half', schedule: ALWAYS, enabled: true }]);
  });

  it('reports a 6th PIN on the full 5-user lock as the lock being full, changing nothing', async () => {
    for (let slot = 1; slot <= 5; slot++) await s.driver.setPin(s.id, { slot, code: `80000${slot}`, name: `p${slot}`, schedule: ALWAYS });
    await rejectsWith(s.driver.setPin(s.id, { slot: 6, code: '800006', name: 'p6', schedule: ALWAYS }), 'driver.slot_full', /full.*all 5/);
    assert.deepEqual(await s.peer.usersNow(), [1, 2, 3, 4, 5]);
    assert.equal((await s.peer.allPins()).includes('800006'), false);
    // With a slot free, slot 6 is simply not one of the lock's, and the error names the free one.
    await s.driver.clearPin(s.id, 3);
    await rejectsWith(s.driver.setPin(s.id, { slot: 6, code: '800006', name: 'p6', schedule: ALWAYS }), 'driver.invalid_pin', /slot 6 is outside .*1-5.*slot 3 is free/);
  });
});

describe('matter driver on a lock with more users than PIN credentials (8 users, 4 PINs)', () => {
  let peer: MatterPeer;
  let driver: MatterDriver;
  let id: string;
  before(async () => {
    peer = await startMatterPeer({ users: 8, pinUsers: 4, minPinLength: 4, maxPinLength: 8, weekDaySchedules: 1, yearDaySchedules: 1 });
    driver = createMatterDriver({ environment: peer.controllerEnvironment, hubKey: 'mt2', timeoutMs: 2_000, commissionTimeoutMs: 15_000 });
    id = await driver.commission(peer.pairingCode);
  });
  after(async () => {
    await driver?.close();
    await peer?.close();
  });

  it('offers every user as a slot, sees a keypad PIN on a high user, and calls a 5th PIN "full" by its PIN credentials', async () => {
    assert.equal((await driver.capabilities(id)).pin.slots, 8);
    await peer.setPinAtKeypad(7, '7007', 2);
    for (const slot of [1, 2, 3]) await driver.setPin(id, { slot, code: `900${slot}`, name: `p${slot}`, schedule: ALWAYS });
    assert.deepEqual((await driver.readCredentials(id)).pins.map((p) => p.slot).sort(), [1, 2, 3, 7]);
    await rejectsWith(driver.setPin(id, { slot: 5, code: '9005', name: 'p5', schedule: ALWAYS }), 'driver.slot_full', /no room for another PIN: all 4 of its PIN credentials are in use; slot 5 is empty, as it was/);
    assert.deepEqual(await peer.usersNow(), [1, 2, 3, 7]);
    // Clearing the keypad user frees a credential: slot 5 takes it.
    await driver.clearPin(id, 7);
    await driver.setPin(id, { slot: 5, code: '9005', name: 'p5', schedule: ALWAYS });
    assert.equal(await peer.pinOfUser(5), '9005');
  });
});
