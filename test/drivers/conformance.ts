/**
 * The driver conformance suite: what every lock driver must do against its real peer (the simulator,
 * zwave-js's mock controller, a matter.js virtual device, Seam's fake, a Zigbee2MQTT broker...).
 * Capabilities are data; behaviour that a device declares must work, and what it does not declare
 * must be refused with `driver.not_supported`. Optional peer abilities skip their tests, named.
 *
 * The harness is made once per suite; each test leaves the PIN slots it touched empty.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { generatePin } from '../../src/domain/credentials.js';
import { allowedPinLengths, generatedPinLength, pinCodeRuleBroken } from '../../src/domain/pin-rules.js';
import { DRIVER_ERROR_CODES, PIN_RULES, canOperateRemotely, isDriverError, type DriverCapabilities, type DriverError, type DriverErrorCode, type DriverEvent, type LockDriver, type ObservedPin } from '../../src/drivers/contract.js';

/** Faults a peer may be able to cause on the next command to its device. */
export type ConformanceFault = 'timeout' | 'lost_ack' | 'offline';

/** Acting on the device from outside lockwarden. */
export interface ConformancePeer {
  /**
   * Sets a PIN as someone at the keypad or another app would (lockwarden would call it unmanaged).
   * A device without native slots (a cloud such as Seam) places the PIN itself: its peer resolves
   * to the slot where lockwarden now sees it.
   */
  setPinOutOfBand(slot: number, code: string): Promise<void | number>;
  /** Pairs another controller with the device. */
  pairControllerOutOfBand?(label: string): Promise<void>;
  /**
   * Makes only the next command to the device fail as `kind` (`offline`: unreachable for exactly
   * that command). Resolves false when this peer cannot cause that fault.
   */
  injectFault?(kind: ConformanceFault): Promise<boolean>;
  /** Brings the device back under lockwarden after a factory reset (re-pairing); enables the reset test. */
  recoverFromReset?(): Promise<void>;
}

/** What a driver's conformance run needs. */
export interface ConformanceHarness {
  driver: LockDriver;
  /** A device that takes PINs (or declares 0 slots, in which case PIN tests check the refusal). */
  externalId: string;
  /** Whether the device refuses a code already held in another slot. */
  uniquePins: boolean;
  peer: ConformancePeer;
  close(): Promise<void>;
}

const UNKNOWN_DEVICE = 'conformance-no-such-device-4711';

/** Registers the conformance suite for one driver and its peer. */
export function describeDriverConformance(name: string, makeHarness: () => Promise<ConformanceHarness>): void {
  describe(`driver conformance: ${name}`, () => {
    let h: ConformanceHarness;
    let caps: DriverCapabilities;
    const touched = new Set<number>();
    const driver = () => h.driver;
    const id = () => h.externalId;

    before(async () => {
      h = await makeHarness();
      caps = await h.driver.capabilities(h.externalId);
    });
    after(() => h.close());
    afterEach(async () => {
      for (const slot of touched) await h.driver.clearPin(h.externalId, slot);
      touched.clear();
    });

    /**
     * A code the device accepts, different for each `n` (0..99). Where the device declares rules
     * (lengths, forbidden digits or prefixes, named rules), one drawn by them from a seed of `n`.
     */
    const code = (n: number): string => {
      const length = generatedPinLength(caps) ?? Math.min(Math.max(6, caps.pin.minLength), caps.pin.maxLength);
      const plain = String(n).padStart(2, '0').padStart(length, '5827391046');
      if (caps.pin.slots === 0 || pinCodeRuleBroken(plain, caps) === null) return plain;
      let seed = n + 1;
      const seeded = (max: number) => ((seed = (seed * 48271) % 2147483647), seed % max);
      return generatePin(length, seeded, () => false, caps);
    };
    const setPin = async (slot: number, pinCode: string, schedule: ObservedPin['schedule'] = { kind: 'always' }) => {
      touched.add(slot);
      // Within the name length the lock keeps, where it declares one.
      const name = `conformance ${slot}`;
      await driver().setPin(id(), { slot, code: pinCode, name: name.length > (caps.pin.nameMaxLength ?? Infinity) ? `c${slot}` : name, schedule });
    };
    const pinIn = async (slot: number) => (await driver().readCredentials(id())).pins.find((p) => p.slot === slot);
    const takesPins = () => caps.pin.slots >= 2;

    it('declares its capabilities as well-formed data', () => {
      assert.deepEqual(JSON.parse(JSON.stringify(caps)), caps, 'plain data, no functions or classes');
      assert.ok(Number.isInteger(caps.pin.slots) && caps.pin.slots >= 0, 'slots is a count');
      assert.ok(Number.isInteger(caps.pin.minLength) && Number.isInteger(caps.pin.maxLength));
      assert.ok(caps.pin.minLength <= caps.pin.maxLength, 'minLength <= maxLength');
      if (caps.pin.slots > 0) assert.ok(caps.pin.minLength >= 1, 'a lock with slots takes non-empty codes');
      assert.equal(caps.pin.alphabet, 'digits');
      for (const flag of [caps.schedules.window, caps.schedules.recurring, caps.digitalKeys, caps.controllers, caps.biometrics, caps.remoteLockUnlock, caps.remoteFactoryReset, caps.cloudBinding, caps.events]) {
        assert.equal(typeof flag, 'boolean');
      }
      // The optional rules, where declared, are consistent with the rest.
      const p = caps.pin;
      if (p.lengths) assert.ok(p.lengths.length > 0 && p.lengths.every((n) => Number.isInteger(n) && n >= p.minLength && n <= p.maxLength), 'lengths lie within minLength..maxLength');
      for (const d of p.forbiddenDigits ?? []) assert.match(d, /^\d$/, 'a forbidden digit is one digit');
      for (const x of p.forbiddenPrefixes ?? []) assert.match(x, /^\d+$/, 'a forbidden prefix is digits');
      for (const r of p.rules ?? []) assert.ok((PIN_RULES as readonly string[]).includes(r), `known rule ${r}`);
      if (p.nameMaxLength !== undefined) assert.ok(Number.isInteger(p.nameMaxLength) && p.nameMaxLength >= 0);
      for (const flag of [caps.remoteLock, caps.remoteUnlock]) assert.ok(flag === undefined || typeof flag === 'boolean');
      if (caps.remoteLock !== undefined && caps.remoteUnlock !== undefined) assert.equal(caps.remoteLockUnlock, caps.remoteLock && caps.remoteUnlock, 'remoteLockUnlock is both');
      assert.ok(caps.offlineCodes === undefined || ['supported', 'only'].includes(caps.offlineCodes));
    });

    it('reports a well-formed status', async () => {
      const s = await driver().status(id());
      assert.equal(s.online, true);
      assert.ok(['locked', 'unlocked', 'jammed', 'unknown'].includes(s.bolt));
      assert.ok(s.batteryPercent === null || (s.batteryPercent >= 0 && s.batteryPercent <= 100));
      assert.equal(typeof s.setupMode, 'boolean');
    });

    it('adds, reads back, overwrites and clears a PIN', async (t) => {
      if (!takesPins()) {
        await expectCode(driver().setPin(id(), { slot: 1, code: '482915', name: 'x', schedule: { kind: 'always' } }), ['driver.slot_full', 'driver.not_supported']);
        return t.skip('device takes no PINs: checked that it refuses one');
      }
      await setPin(1, code(1));
      let pin = await pinIn(1);
      assert.ok(pin, 'slot 1 holds a PIN');
      assert.ok(pin.code === null || pin.code === code(1), 'the code read back is the one written (or unreadable)');
      assert.equal(pin.enabled, true);
      assert.deepEqual(pin.schedule, { kind: 'always' });
      await setPin(1, code(2));
      const pins = (await driver().readCredentials(id())).pins.filter((p) => p.slot === 1);
      assert.equal(pins.length, 1, 'an overwrite replaces, never adds');
      assert.ok(pins[0]?.code === null || pins[0]?.code === code(2));
      await driver().clearPin(id(), 1);
      pin = await pinIn(1);
      assert.equal(pin, undefined, 'the slot is empty after clearing');
    });

    it('clears an empty slot without error', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      await driver().clearPin(id(), 2);
      await driver().clearPin(id(), 2);
      assert.equal(await pinIn(2), undefined);
    });

    it('rejects invalid PINs and out-of-range slots, writing nothing', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      const before = (await driver().readCredentials(id())).pins;
      const bad = [`${code(11).slice(0, -1)}a`, '9'.repeat(caps.pin.maxLength + 1)];
      if (caps.pin.minLength > 1) bad.push('7'.repeat(caps.pin.minLength - 1));
      // Codes breaking a rule the device declares: a length between the allowed ones, a forbidden digit or beginning.
      const good = code(12);
      const gap = Array.from({ length: caps.pin.maxLength - caps.pin.minLength + 1 }, (_, i) => caps.pin.minLength + i).find((n) => !allowedPinLengths(caps).includes(n));
      if (gap !== undefined) bad.push(code(13).padEnd(gap, code(13)).slice(0, gap));
      for (const d of caps.pin.forbiddenDigits ?? []) bad.push(`${good.slice(0, -1)}${d}`);
      for (const x of caps.pin.forbiddenPrefixes ?? []) bad.push(`${x}${good.slice(x.length)}`);
      for (const c of bad) assert.notEqual(pinCodeRuleBroken(c, caps), null, `${c} is meant to break a rule`);
      for (const c of bad) {
        touched.add(1);
        await expectCode(driver().setPin(id(), { slot: 1, code: c, name: 'bad', schedule: { kind: 'always' } }), ['driver.invalid_pin'], `code ${c}`);
      }
      for (const slot of [0, caps.pin.slots + 1]) {
        await expectCode(driver().setPin(id(), { slot, code: code(3), name: 'bad slot', schedule: { kind: 'always' } }), ['driver.invalid_pin'], `slot ${slot}`);
      }
      if (caps.pin.nameMaxLength !== undefined) {
        await expectCode(driver().setPin(id(), { slot: 1, code: code(3), name: 'n'.repeat(caps.pin.nameMaxLength + 1), schedule: { kind: 'always' } }), ['driver.invalid_pin'], 'a name longer than the lock keeps');
      }
      assert.deepEqual((await driver().readCredentials(id())).pins, before, 'nothing was written');
    });

    it('handles a PIN already held by another slot as the device declares', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      await setPin(1, code(4));
      touched.add(2);
      if (h.uniquePins) {
        await expectCode(driver().setPin(id(), { slot: 2, code: code(4), name: 'dup', schedule: { kind: 'always' } }), ['driver.duplicate_pin']);
        assert.equal(await pinIn(2), undefined, 'the duplicate was not written');
      } else {
        await driver().setPin(id(), { slot: 2, code: code(4), name: 'dup', schedule: { kind: 'always' } });
        assert.ok(await pinIn(2));
      }
    });

    it('round-trips a time-window schedule, or refuses it when not declared', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      const schedule = { kind: 'window' as const, from: '2030-01-02T10:00:00.000Z', until: '2030-01-09T10:00:00.000Z' };
      if (!caps.schedules.window) {
        touched.add(1);
        await expectCode(driver().setPin(id(), { slot: 1, code: code(5), name: 'w', schedule }), ['driver.not_supported']);
        assert.equal(await pinIn(1), undefined);
        return;
      }
      await setPin(1, code(5), schedule);
      const got = (await pinIn(1))?.schedule;
      assert.equal(got?.kind, 'window');
      assert.ok(got?.kind === 'window' && Date.parse(got.from) === Date.parse(schedule.from) && Date.parse(got.until) === Date.parse(schedule.until), JSON.stringify(got));
    });

    it('round-trips a recurring schedule, or refuses it when not declared', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      const schedule = { kind: 'recurring' as const, days: ['mon' as const, 'wed' as const, 'fri' as const], start: '08:00', end: '17:30' };
      if (!caps.schedules.recurring) {
        touched.add(1);
        await expectCode(driver().setPin(id(), { slot: 1, code: code(6), name: 'r', schedule }), ['driver.not_supported']);
        assert.equal(await pinIn(1), undefined);
        return;
      }
      await setPin(1, code(6), schedule);
      assert.deepEqual((await pinIn(1))?.schedule, schedule);
    });

    it('shows a PIN set outside lockwarden in a read', async (t) => {
      if (!takesPins()) return t.skip('device takes no PINs');
      touched.add(2);
      const slot = (await h.peer.setPinOutOfBand(2, code(7))) ?? 2;
      touched.add(slot);
      const pin = await pinIn(slot);
      assert.ok(pin, 'the out-of-band PIN is visible');
      assert.ok(pin.code === null || pin.code === code(7));
    });

    it('lists controllers and removes one, or refuses when not declared', async (t) => {
      if (!caps.controllers) {
        await expectCode(driver().listControllers(id()), ['driver.not_supported']);
        await expectCode(driver().removeController(id(), 'some-controller'), ['driver.not_supported']);
        return;
      }
      const before = await driver().listControllers(id());
      assert.ok(before.length >= 1, 'lockwarden itself is paired');
      for (const c of before) assert.ok(typeof c.id === 'string' && typeof c.label === 'string' && typeof c.admin === 'boolean' && ['hub', 'phone', 'fabric', 'cloud'].includes(c.kind));
      assert.deepEqual((await driver().readCredentials(id())).controllers, before, 'a read reports the same controllers');
      await expectCode(driver().removeController(id(), 'no-such-controller'), ['driver.unknown_device']);
      const self = before.find((c) => c.self);
      if (self) await expectCode(driver().removeController(id(), self.id), ['driver.refused']);
      assert.deepEqual(await driver().listControllers(id()), before, 'refused removals changed nothing');
      if (!h.peer.pairControllerOutOfBand) return t.skip('peer cannot pair a controller out of band');
      await h.peer.pairControllerOutOfBand('conformance phone');
      const added = (await driver().listControllers(id())).filter((c) => !before.some((b) => b.id === c.id));
      assert.equal(added.length, 1, 'the new controller is listed');
      assert.equal(added[0]!.label, 'conformance phone');
      assert.notEqual(added[0]!.self, true);
      await driver().removeController(id(), added[0]!.id);
      assert.deepEqual((await driver().listControllers(id())).map((c) => c.id), before.map((c) => c.id));
    });

    it('locks and unlocks where declared, refuses where not', async () => {
      // Lock and unlock apart: a lock may do one without the other.
      if (canOperateRemotely(caps, 'unlock')) {
        await driver().unlock(id());
        assert.equal((await driver().status(id())).bolt, 'unlocked');
      } else {
        await expectCode(driver().unlock(id()), ['driver.not_supported']);
      }
      if (canOperateRemotely(caps, 'lock')) {
        await driver().lock(id());
        assert.equal((await driver().status(id())).bolt, 'locked');
      } else {
        await expectCode(driver().lock(id()), ['driver.not_supported']);
      }
    });

    it('factory resets where declared (erasing PINs), refuses where not', async (t) => {
      if (!caps.remoteFactoryReset) {
        await expectCode(driver().factoryReset(id()), ['driver.not_supported']);
        return;
      }
      if (!h.peer.recoverFromReset) return t.skip('peer cannot bring the device back after a reset');
      if (takesPins()) await setPin(1, code(8));
      await driver().factoryReset(id());
      await h.peer.recoverFromReset();
      assert.equal(await pinIn(1), undefined, 'the reset erased the PIN');
      assert.equal((await driver().status(id())).setupMode, false, 'recovered out of setup mode');
    });

    it('answers driver.unknown_device for a device it does not know', async () => {
      await expectCode(driver().status(UNKNOWN_DEVICE), ['driver.unknown_device']);
      await expectCode(driver().readCredentials(UNKNOWN_DEVICE), ['driver.unknown_device']);
      await expectCode(driver().setPin(UNKNOWN_DEVICE, { slot: 1, code: '482915', name: 'x', schedule: { kind: 'always' } }), ['driver.unknown_device']);
      await expectCode(driver().clearPin(UNKNOWN_DEVICE, 1), ['driver.unknown_device']);
    });

    it('a timeout is a retryable DriverError', async (t) => {
      if (!takesPins() || !(await h.peer.injectFault?.('timeout'))) return t.skip('peer cannot inject a timeout');
      touched.add(1);
      const e = await expectCode(driver().setPin(id(), { slot: 1, code: code(9), name: 't', schedule: { kind: 'always' } }), ['driver.timeout']);
      assert.equal(e.retryable, true);
    });

    it('a lost acknowledgement is uncertain, and a re-read shows the write applied', async (t) => {
      if (!takesPins() || !(await h.peer.injectFault?.('lost_ack'))) return t.skip('peer cannot lose an acknowledgement');
      touched.add(1);
      const e = await expectCode(driver().setPin(id(), { slot: 1, code: code(10), name: 'l', schedule: { kind: 'always' } }), ['driver.timeout']);
      assert.equal(e.uncertain, true, 'the caller must re-read before retrying');
      const pin = await pinIn(1);
      assert.ok(pin && (pin.code === null || pin.code === code(10)), 'the write did reach the lock');
    });

    it('an offline device is driver.unreachable, not uncertain', async (t) => {
      if (!(await h.peer.injectFault?.('offline'))) return t.skip('peer cannot take the device offline');
      const e = await expectCode(driver().readCredentials(id()), ['driver.unreachable']);
      assert.equal(e.uncertain, false);
      assert.equal(e.retryable, true);
      await driver().readCredentials(id());
    });

    it('reports a change made outside lockwarden as an event', async (t) => {
      if (!caps.events) return t.skip('device declares no events');
      if (!takesPins()) return t.skip('device takes no PINs to change out of band');
      const seen: DriverEvent[] = [];
      const off = driver().onEvent((e) => seen.push(e));
      touched.add(2);
      try {
        // A subscription may become live a little after onEvent returns (a socket, a long poll): try a few times.
        for (let attempt = 0; attempt < 40 && !seen.some((e) => e.type === 'credentials_changed' && e.externalId === id()); attempt++) {
          const slot = await h.peer.setPinOutOfBand(2, code(20 + (attempt % 50)));
          if (typeof slot === 'number') touched.add(slot);
          await waitFor(() => seen.some((e) => e.type === 'credentials_changed' && e.externalId === id()), 100);
        }
      } finally {
        off();
      }
      const event = seen.find((e) => e.type === 'credentials_changed' && e.externalId === id());
      assert.ok(event, 'a credentials_changed event arrived');
      assert.ok(event.at instanceof Date && !Number.isNaN(event.at.getTime()));
      assert.ok(event.type === 'credentials_changed' && event.bySelf !== true, 'a change made outside lockwarden is not reported as its own');
    });
  });
}

/** Awaits a rejection with one of `codes` and returns the error. */
async function expectCode(p: Promise<unknown>, codes: DriverErrorCode[], what = ''): Promise<DriverError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isDriverError(e), `expected a DriverError ${what}, got ${String(e)}`);
    assert.ok(DRIVER_ERROR_CODES.includes(e.code), `a stable code ${what}`);
    assert.ok(codes.includes(e.code), `expected ${codes.join(' or ')} ${what}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${codes.join(' or ')} ${what}, but the command succeeded`);
}

async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!condition() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
}
