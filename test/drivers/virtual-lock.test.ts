/**
 * One virtual lock's own rules: PIN format, slots, duplicates and schedules; refusing lockwarden in
 * setup mode; the physical reset gating of seed 000 (every refusal, and that a refusal changes
 * nothing); and what each reset variant leaves behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { familyDefaults } from '../../src/domain/lock-models.js';
import { isDriverError, type DriverErrorCode, type PinWrite } from '../../src/drivers/contract.js';
import { RESET_BLOCKS, VirtualLock, scheduleAllows, specFromModel } from '../../src/drivers/simulator/index.js';
import { testModel, testSpec } from './fixtures.js';

const pin = (slot: number, code: string, schedule: PinWrite['schedule'] = { kind: 'always' }): PinWrite => ({ slot, code, name: `p${slot}`, schedule });

function throwsCode(fn: () => unknown, code: DriverErrorCode, slot?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isDriverError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (slot !== undefined) assert.equal(e.details.slot, slot);
    return true;
  });
}

const deadbolt = () => VirtualLock.fromSpec(testSpec('lock-1', 'electronic_deadbolt'));

describe('virtual lock: PIN rules', () => {
  it('stores, overwrites and clears PINs by slot, sorted', () => {
    const lock = deadbolt();
    lock.setPin(pin(3, '482915'));
    lock.setPin(pin(1, '730264', { kind: 'recurring', days: ['mon'], start: '08:00', end: '12:00' }));
    lock.setPin(pin(3, '591037'));
    assert.deepEqual(lock.credentials().pins.map((p) => [p.slot, p.code, p.enabled]), [[1, '730264', true], [3, '591037', true]]);
    lock.clearPin(3);
    lock.clearPin(3);
    assert.deepEqual(lock.credentials().pins.map((p) => p.slot), [1]);
  });

  it('refuses bad codes, slots, duplicates and schedules it cannot run, changing nothing', () => {
    const lock = deadbolt();
    lock.setPin(pin(1, '482915'));
    const before = lock.snapshot();
    throwsCode(() => lock.setPin(pin(2, '123')), 'driver.invalid_pin', 2);
    throwsCode(() => lock.setPin(pin(2, '123456789')), 'driver.invalid_pin', 2);
    throwsCode(() => lock.setPin(pin(2, '12a456')), 'driver.invalid_pin', 2);
    throwsCode(() => lock.setPin(pin(0, '730264')), 'driver.invalid_pin', 0);
    throwsCode(() => lock.setPin(pin(31, '730264')), 'driver.invalid_pin', 31);
    throwsCode(() => lock.setPin(pin(2, '482915')), 'driver.duplicate_pin', 2);
    throwsCode(() => lock.setPin(pin(2, '730264', { kind: 'window', from: '2026-05-02T00:00:00Z', until: '2026-05-01T00:00:00Z' })), 'driver.invalid_pin');
    throwsCode(() => lock.setPin(pin(2, '730264', { kind: 'recurring', days: [], start: '08:00', end: '09:00' })), 'driver.invalid_pin');
    throwsCode(() => lock.clearPin(0), 'driver.invalid_pin', 0);
    assert.deepEqual(lock.snapshot(), before);
    // The same code into its own slot is an overwrite, not a duplicate.
    lock.setPin(pin(1, '482915'));
  });

  it('refuses schedules the model cannot run, and PINs on a lock without slots', () => {
    const safe = VirtualLock.fromSpec(testSpec('safe-1', 'safe_cabinet'));
    throwsCode(() => safe.setPin(pin(1, '482915', { kind: 'window', from: '2026-05-01T00:00:00Z', until: '2026-05-02T00:00:00Z' })), 'driver.not_supported');
    throwsCode(() => safe.setPin(pin(1, '482915', { kind: 'recurring', days: ['tue'], start: '08:00', end: '09:00' })), 'driver.not_supported');
    assert.equal(safe.credentials().pins.length, 0);
    const app = VirtualLock.fromSpec(testSpec('app-1', 'app_controlled'));
    throwsCode(() => app.setPin(pin(1, '482915')), 'driver.slot_full');
  });

  it('a partial write keeps the code but neither schedule nor enabled flag', () => {
    const lock = deadbolt();
    lock.setPin(pin(4, '482915', { kind: 'window', from: '2026-05-01T00:00:00Z', until: '2026-05-02T00:00:00Z' }), { partial: true });
    assert.deepEqual(lock.credentials().pins[0], { slot: 4, code: '482915', name: 'p4', schedule: { kind: 'always' }, enabled: false });
  });

  it('opens for a code only within its schedule', () => {
    const lock = deadbolt();
    lock.setPin(pin(1, '482915', { kind: 'recurring', days: ['mon', 'tue'], start: '08:00', end: '17:00' }));
    assert.equal(lock.usePin('482915', new Date('2026-03-02T09:00:00Z')), 1, 'Monday 09:00');
    assert.equal(lock.usePin('482915', new Date('2026-03-02T17:00:00Z')), null, 'the end time is exclusive');
    assert.equal(lock.usePin('482915', new Date('2026-03-04T09:00:00Z')), null, 'Wednesday');
    assert.equal(lock.usePin('000000', new Date('2026-03-02T09:00:00Z')), null, 'wrong code');
    assert.equal(scheduleAllows({ kind: 'window', from: '2026-03-01T00:00:00Z', until: '2026-03-02T00:00:00Z' }, new Date('2026-03-01T12:00:00Z')), true);
    assert.equal(scheduleAllows({ kind: 'window', from: '2026-03-01T00:00:00Z', until: '2026-03-02T00:00:00Z' }, new Date('2026-03-02T00:00:00Z')), false);
  });
});

describe('virtual lock: bolt and mechanical override', () => {
  it('jams on a misaligned door, and the mechanical key opens it and is counted', () => {
    const lock = deadbolt();
    lock.remoteUnlock();
    lock.setDoorAligned(false);
    lock.remoteLock();
    assert.equal(lock.status().bolt, 'jammed');
    lock.useMechanicalOverride();
    assert.equal(lock.status().bolt, 'unlocked');
    assert.equal(lock.snapshot().mechanicalOverride.timesUsed, 1);
    const app = VirtualLock.fromSpec(testSpec('app-1', 'app_controlled'));
    throwsCode(() => app.useMechanicalOverride(), 'driver.not_supported');
    const keypad = VirtualLock.fromSpec(testSpec('kp-1', 'keypad_entry'));
    throwsCode(() => keypad.remoteLock(), 'driver.not_supported');
  });
});

describe('virtual lock: physical reset gating', () => {
  it('refuses every gating failure and changes nothing when it does', () => {
    const cases = [
      { lock: VirtualLock.fromSpec(testSpec('kp', 'keypad_entry')), gesture: { sequence: 'program + #', holdSeconds: 0 }, reason: 'wrong_sequence' },
      { lock: VirtualLock.fromSpec(testSpec('kp', 'keypad_entry')), gesture: { holdSeconds: 0 }, reason: 'wrong_sequence' },
      { lock: deadbolt(), gesture: { holdSeconds: 9.5 }, reason: 'hold_too_short' },
      { lock: VirtualLock.fromSpec(testSpec('low', 'electronic_deadbolt', {}, 15)), gesture: { holdSeconds: 10 }, reason: 'battery_low' },
      { lock: VirtualLock.fromSpec(testSpec('safe', 'safe_cabinet')), gesture: { holdSeconds: 5 }, reason: 'still_on_door' },
    ];
    for (const c of cases) {
      c.lock.setPin(pin(1, '482915'));
      const before = c.lock.snapshot();
      assert.deepEqual(c.lock.physicalReset(c.gesture), { ok: false, reason: c.reason });
      assert.deepEqual(c.lock.snapshot(), before, `${c.reason} changed nothing`);
    }
    for (const reason of RESET_BLOCKS) {
      const lock = deadbolt();
      lock.blockReset(reason);
      const before = lock.snapshot();
      assert.deepEqual(lock.physicalReset({ holdSeconds: 60 }), { ok: false, reason });
      assert.deepEqual(lock.snapshot(), before);
      lock.blockReset(null);
      assert.deepEqual(lock.physicalReset({ holdSeconds: 60 }), { ok: true });
    }
  });

  it('accepts the right gesture: sequence (spacing and case aside), hold, battery, off the door', () => {
    const keypad = VirtualLock.fromSpec(testSpec('kp', 'keypad_entry'));
    assert.deepEqual(keypad.physicalReset({ sequence: '  Program +  MASTER code + # ', holdSeconds: 0 }), { ok: true });
    assert.deepEqual(deadbolt().physicalReset({ holdSeconds: 10 }), { ok: true });
    const safe = VirtualLock.fromSpec(testSpec('safe', 'safe_cabinet'));
    safe.setOnDoor(false);
    assert.deepEqual(safe.physicalReset({ holdSeconds: 5 }), { ok: true });
    const low = VirtualLock.fromSpec(testSpec('low', 'electronic_deadbolt', {}, 15));
    low.setBattery(80);
    assert.deepEqual(low.physicalReset({ holdSeconds: 10 }), { ok: true });
    assert.equal(low.snapshot().resetCount, 1);
  });
});

describe('virtual lock: reset variants', () => {
  it('local_only_keeps_cloud: local trust erased, cloud binding and cloud keys kept until unbound on the account', () => {
    const base = familyDefaults('app_controlled');
    const lock = VirtualLock.fromSpec(testSpec('app', 'app_controlled', { capabilities: { ...base.capabilities, pinSlots: 10, pinLengthMin: 4, pinLengthMax: 8 } }));
    lock.setPin(pin(1, '482915'));
    lock.pairController('Old phone', 'phone');
    const key = lock.issueDigitalKey('Tenant');
    assert.equal(key.storedOn, 'cloud');
    assert.deepEqual(lock.physicalReset({ holdSeconds: 0 }), { ok: true });
    const s = lock.snapshot();
    assert.deepEqual(s.pins, []);
    assert.deepEqual(s.controllers.map((c) => c.kind), ['cloud'], 'local controllers (lockwarden too) and admin are gone');
    assert.deepEqual(s.digitalKeys.map((k) => k.id), [key.id]);
    assert.equal(s.cloudBound, true);
    assert.equal(s.setupMode, true);
    assert.equal(lock.acceptsLockwarden(), false);
    lock.removeCloudBinding();
    const after = lock.snapshot();
    assert.equal(after.cloudBound, false);
    assert.deepEqual(after.controllers, []);
    assert.deepEqual(after.digitalKeys, []);
  });

  it('full_trust_anchor_erase: everything erased, cloud binding included; re-enrollment required', () => {
    const base = familyDefaults('electronic_deadbolt');
    const lock = VirtualLock.fromSpec(
      testSpec('full', 'electronic_deadbolt', { credentialStorage: 'cloud', capabilities: { ...base.capabilities, digitalKeys: true, fingerprints: true } }),
    );
    assert.equal(lock.snapshot().cloudBound, true);
    lock.setPin(pin(1, '482915'));
    lock.issueDigitalKey('Tenant');
    lock.enrollBiometric('Tenant', 'fingerprint');
    lock.physicalReset({ holdSeconds: 10 });
    const s = lock.snapshot();
    assert.deepEqual([s.pins, s.controllers, s.digitalKeys, s.biometrics], [[], [], [], []]);
    assert.equal(s.cloudBound, false);
    assert.equal(s.setupMode, true);
  });

  it('split: the lock side is erased, the controller/cloud side survives', () => {
    const lock = VirtualLock.fromSpec(testSpec('bio', 'biometric'));
    lock.setPin(pin(1, '482915'));
    lock.pairController('Installer hub', 'hub');
    const key = lock.issueDigitalKey('Tenant');
    const bio = lock.enrollBiometric('Tenant', 'fingerprint');
    lock.physicalReset({ holdSeconds: 10 });
    const s = lock.snapshot();
    assert.deepEqual(s.pins, []);
    assert.deepEqual(s.controllers.map((c) => c.kind), ['cloud']);
    assert.deepEqual(s.digitalKeys.map((k) => k.id), [key.id]);
    assert.deepEqual(s.biometrics, [bio]);
    assert.equal(s.cloudBound, true);
    assert.equal(s.setupMode, true);
  });

  it('refuses lockwarden in setup mode and when unpaired; admin enrollment and re-pairing bring it back', () => {
    const lock = deadbolt();
    lock.physicalReset({ holdSeconds: 10 });
    throwsCode(() => lock.requireLockwarden(), 'driver.refused');
    const admin = lock.enrollAdmin('New owner');
    assert.deepEqual({ kind: admin.kind, admin: admin.admin }, { kind: 'phone', admin: true });
    assert.equal(lock.status().setupMode, false);
    throwsCode(() => lock.requireLockwarden(), 'driver.refused');
    throwsCode(() => lock.enrollAdmin('Someone else'), 'driver.refused');
    lock.pairLockwarden();
    lock.requireLockwarden();
    lock.removeController('lockwarden');
    throwsCode(() => lock.requireLockwarden(), 'driver.refused');
  });

  it('a remote reset needs the capability and behaves as a physical one', () => {
    throwsCode(() => deadbolt().remoteFactoryReset(), 'driver.not_supported');
    const app = VirtualLock.fromSpec(testSpec('app', 'app_controlled'));
    app.remoteFactoryReset();
    assert.equal(app.status().setupMode, true);
    assert.equal(app.status().cloudBound, true);
  });
});

describe('specFromModel', () => {
  it('maps the catalogue model to the device spec', () => {
    const model = testModel('biometric');
    const spec = specFromModel({ externalId: 'x-7', hub: 'h', model, firmware: null, batteryPercent: null });
    assert.deepEqual(spec, {
      externalId: 'x-7',
      hub: 'h',
      manufacturer: 'Acme',
      model: 'BIOMETRIC-1',
      capabilities: {
        pin: { slots: 30, minLength: 4, maxLength: 8, alphabet: 'digits' },
        schedules: { window: true, recurring: true },
        digitalKeys: true,
        controllers: true,
        biometrics: true,
        remoteLockUnlock: true,
        remoteFactoryReset: false,
        cloudBinding: true,
        events: true,
      },
      resetBehaviour: 'split',
      gating: { holdSeconds: 10, batteryMinPercent: 20, needsLockOffDoor: false },
      firmware: null,
      batteryPercent: 100,
      mechanicalOverride: true,
      cloudBound: true,
    });
    assert.equal(testSpec('k', 'keypad_entry').gating.buttonSequence, 'program + master code + #');
    assert.equal(testSpec('d', 'electronic_deadbolt').cloudBound, false, 'local storage, full erase: no cloud');
  });
});
