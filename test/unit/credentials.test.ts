import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BulkChangeSchema,
  PinCreateSchema,
  checkPinForLock,
  compareSlots,
  generatePin,
  planCommands,
  retryDelayMs,
  weakness,
  type DesiredPin,
  type ObservedPinPrint,
} from '../../src/domain/credentials.js';
import type { DriverCapabilities } from '../../src/drivers/contract.js';
import { isAppError } from '../../src/domain/errors.js';
import { SecretBox, staticKeySource } from '../../src/crypto/secret-box.js';

const caps: DriverCapabilities = {
  pin: { slots: 10, minLength: 4, maxLength: 8, alphabet: 'digits' },
  schedules: { window: true, recurring: false },
  digitalKeys: false,
  controllers: true,
  biometrics: false,
  remoteLockUnlock: true,
  remoteFactoryReset: false,
  cloudBinding: false,
  events: true,
  enrollment: null,
  cloudUnbind: false,
};

describe('PIN rules', () => {
  it('names weak codes: runs up and down, one digit repeated, a repeated pair', () => {
    assert.equal(weakness('1234'), 'a sequence of digits');
    assert.equal(weakness('987654'), 'a sequence of digits');
    assert.equal(weakness('8901'), 'a sequence of digits', 'runs wrap around 9 -> 0');
    assert.equal(weakness('0000'), 'one digit repeated');
    assert.equal(weakness('121212'), 'a repeated pair of digits');
    assert.equal(weakness('4825'), null);
    assert.equal(weakness('739162'), null);
  });

  it('checks length and alphabet against the lock and names the field', () => {
    for (const [code, why] of [
      ['12a4', /digits only/],
      ['482', /4-8 digits/],
      ['482591736', /4-8 digits/],
      ['1111', /weak PIN/],
    ] as const) {
      assert.throws(
        () => checkPinForLock(code, caps),
        (e: unknown) => isAppError(e, 'validation.failed') && e.fields[0]?.path === 'code' && why.test(e.message),
        code,
      );
    }
    assert.doesNotThrow(() => checkPinForLock('4825', caps));
    assert.throws(() => checkPinForLock('4825', { ...caps, pin: { ...caps.pin, slots: 0 } }), (e: unknown) => isAppError(e, 'credential.not_supported'));
  });

  it('generates strong codes of the asked length that are not already on the lock', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const code = generatePin(6, randomInt, (c) => taken.has(c));
      assert.match(code, /^\d{6}$/);
      assert.equal(weakness(code), null);
      assert.ok(!taken.has(code));
      taken.add(code);
    }
  });

  it('gives up with a clear error when no strong code is free', () => {
    // A "random" source that only ever yields 1 makes every candidate "1111".
    assert.throws(() => generatePin(4, () => 1, () => false), (e: unknown) => isAppError(e, 'credential.no_code_available'));
  });

  it('refuses a schedule that ends before it starts, naming the field', () => {
    const r = PinCreateSchema.safeParse({ holder: 'A', schedule: { kind: 'window', from: '2026-05-02T10:00:00Z', until: '2026-05-01T10:00:00Z' } });
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues[0]?.path, ['schedule', 'until']);
    const rec = PinCreateSchema.safeParse({ holder: 'A', schedule: { kind: 'recurring', days: ['mon'], start: '18:00', end: '09:00' } });
    assert.deepEqual(rec.error?.issues[0]?.path, ['schedule', 'end']);
  });

  it('bulk changes must say what to do and to which locks', () => {
    assert.equal(BulkChangeSchema.safeParse({ target: { locationId: crypto.randomUUID() } }).success, false);
    assert.equal(BulkChangeSchema.safeParse({ target: {}, add: [{ holder: 'A' }] }).success, false);
    assert.equal(BulkChangeSchema.safeParse({ target: { locationId: crypto.randomUUID() }, add: [{ holder: 'A' }] }).success, true);
  });

  it('backs off exponentially, capped at five minutes', () => {
    assert.deepEqual([1, 2, 3, 4].map(retryDelayMs), [2000, 4000, 8000, 16000]);
    assert.equal(retryDelayMs(30), 300_000);
  });
});

describe('desired vs observed', () => {
  const always = { kind: 'always' } as const;
  const desired: DesiredPin[] = [
    { id: 'a', slot: 1, fingerprint: 'fa', schedule: always, status: 'confirmed' },
    { id: 'b', slot: 2, fingerprint: 'fb', schedule: always, status: 'pending' },
    { id: 'c', slot: 3, fingerprint: 'fc', schedule: always, status: 'confirmed' },
    { id: 'd', slot: 4, fingerprint: 'fd', schedule: always, status: 'removing' },
    { id: 'e', slot: 5, fingerprint: 'fe', schedule: { kind: 'window', from: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z' }, status: 'confirmed' },
    { id: 'f', slot: 6, fingerprint: 'ff', schedule: always, status: 'failed' },
  ];
  const observed: ObservedPinPrint[] = [
    { slot: 1, fingerprint: 'fa', schedule: always, enabled: true, name: '' },
    { slot: 3, fingerprint: 'zz', schedule: always, enabled: true, name: '' },
    { slot: 4, fingerprint: 'fd', schedule: always, enabled: true, name: '' },
    { slot: 5, fingerprint: 'fe', schedule: always, enabled: true, name: '' },
    { slot: 9, fingerprint: 'fx', schedule: always, enabled: true, name: 'set at the keypad' },
  ];

  it('marks each slot', () => {
    const states = Object.fromEntries(compareSlots(desired, observed).map((c) => [c.slot, c.state]));
    assert.deepEqual(states, { 1: 'in_sync', 2: 'missing', 3: 'code_mismatch', 4: 'pending_removal', 5: 'schedule_mismatch', 6: 'missing', 9: 'unmanaged' });
  });

  it('plans clears before sets, leaves failed and unmanaged slots to people', () => {
    const plan = planCommands(desired, observed, [], []);
    assert.deepEqual(
      plan.map((p) => `${p.op}:${'slot' in p ? p.slot : ''}`),
      ['clear_pin:4', 'set_pin:2', 'set_pin:3', 'set_pin:5'],
    );
  });

  it('plans a controller removal only while the lock still lists it', () => {
    const removals = [{ id: 'r', controllerId: 'phone-1', status: 'removing' as const }];
    assert.equal(planCommands([], [], removals, [{ id: 'phone-1', label: 'Phone', kind: 'phone', admin: false }]).length, 1);
    assert.equal(planCommands([], [], removals, []).length, 0);
  });
});

describe('secret box', () => {
  const box = new SecretBox(staticKeySource(Buffer.alloc(32, 1)));
  it('round-trips, and refuses ciphertext moved to another record', () => {
    const sealed = box.encrypt('482591', 'credential:a');
    assert.ok(!sealed.includes('482591'));
    assert.equal(box.decrypt(sealed, 'credential:a'), '482591');
    assert.throws(() => box.decrypt(sealed, 'credential:b'), /integrity/);
  });
  it('fingerprints equal codes equally within a scope only', () => {
    assert.equal(box.fingerprint('4825', 'lock-1'), box.fingerprint('4825', 'lock-1'));
    assert.notEqual(box.fingerprint('4825', 'lock-1'), box.fingerprint('4825', 'lock-2'));
    const other = new SecretBox(staticKeySource(Buffer.alloc(32, 2)));
    assert.notEqual(other.fingerprint('4825', 'lock-1'), box.fingerprint('4825', 'lock-1'), 'keyed: another key gives another print');
  });
});
