/**
 * The lock's own code rules as data (issue 23): one checker naming the rule broken, the PIN
 * generator drawing only codes those rules allow, and the validation the services run before
 * anything is stored or sent.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkPinForLock, checkPinNameForLock, checkSchedule, generatePin } from '../../src/domain/credentials.js';
import { isAppError } from '../../src/domain/errors.js';
import { allowedPinLengths, generatedPinLength, pinCodeRuleBroken, pinNameRuleBroken, pinRuleBroken } from '../../src/domain/pin-rules.js';
import { canOperateRemotely, type DriverCapabilities } from '../../src/drivers/contract.js';

const base: DriverCapabilities = {
  pin: { slots: 20, minLength: 4, maxLength: 8, alphabet: 'digits' },
  schedules: { window: true, recurring: false },
  digitalKeys: false,
  controllers: false,
  biometrics: false,
  remoteLockUnlock: true,
  remoteFactoryReset: false,
  cloudBinding: true,
  events: true,
  enrollment: null,
  cloudUnbind: false,
};
const withPin = (pin: Partial<DriverCapabilities['pin']>, more: Partial<DriverCapabilities> = {}): DriverCapabilities => ({ ...base, ...more, pin: { ...base.pin, ...pin } });

const nuki = withPin({ minLength: 6, maxLength: 6, forbiddenDigits: ['0'], forbiddenPrefixes: ['12'], nameMaxLength: 20 });
const schlage = withPin({ minLength: 4, maxLength: 6, lengths: [4, 6] });
const ttlock = withPin({ forbiddenDigits: ['0', '8', '9'] });
const brivo = withPin({ rules: ['no_three_consecutive_digits'] });
const tedee = withPin({ rules: ['no_ascending_or_descending_sequence', 'at_least_three_unique_digits'] });

describe('a lock’s code rules', () => {
  it('names the rule a code breaks, and passes a code that breaks none', () => {
    assert.equal(pinCodeRuleBroken('305678', nuki), 'this lock refuses the digit 0 in a code');
    assert.equal(pinCodeRuleBroken('123456', nuki), 'this lock refuses codes that start with 12');
    assert.equal(pinCodeRuleBroken('3456', nuki), 'this lock takes codes of 6 digits');
    assert.equal(pinCodeRuleBroken('345678', nuki), null);
    assert.equal(pinCodeRuleBroken('52817', schlage), 'this lock takes codes of 4 or 6 digits');
    assert.equal(pinCodeRuleBroken('5281', schlage), null);
    assert.equal(pinCodeRuleBroken('528173', schlage), null);
    assert.equal(pinCodeRuleBroken('1234567', withPin({ lengths: [4, 6, 8] })), 'this lock takes codes of 4, 6 or 8 digits');
    assert.equal(pinCodeRuleBroken('123', base), 'this lock takes codes of 4-8 digits');
    assert.equal(pinCodeRuleBroken('571846', ttlock), 'this lock refuses the digits 0, 8 or 9 in a code');
    assert.equal(pinCodeRuleBroken('571346', ttlock), null);
    assert.equal(pinCodeRuleBroken('519876', brivo), 'this lock refuses codes with three consecutive digits in a row (such as 123 or 987)');
    assert.equal(pinCodeRuleBroken('512346', brivo), 'this lock refuses codes with three consecutive digits in a row (such as 123 or 987)');
    assert.equal(pinCodeRuleBroken('513246', brivo), null, 'two in a row is allowed');
    assert.equal(pinCodeRuleBroken('345678', tedee), 'this lock refuses codes that are one ascending or descending run of digits');
    assert.equal(pinCodeRuleBroken('121212', tedee), 'this lock needs at least three different digits in a code');
    assert.equal(pinCodeRuleBroken('345679', tedee), null);
    assert.equal(pinCodeRuleBroken('12a4', base), 'this lock takes codes of digits only');
    assert.equal(pinCodeRuleBroken('5281', withPin({ slots: 0 })), 'this lock takes no PIN codes');
  });

  it('checks the name against the lock’s name length, counting characters, not bytes', () => {
    assert.equal(pinNameRuleBroken('Housekeeping, 2nd floor east', nuki), 'this lock keeps names of at most 20 characters for a code');
    assert.equal(pinNameRuleBroken('Zoë Ødegård-Ünal 123', nuki), null, '20 characters, more bytes');
    assert.equal(pinNameRuleBroken('x'.repeat(200), base), null, 'no limit declared');
    assert.equal(pinRuleBroken('345678', 'Housekeeping, 2nd floor east', nuki), 'this lock keeps names of at most 20 characters for a code');
    assert.equal(pinRuleBroken('305678', 'Housekeeping, 2nd floor east', nuki), 'this lock refuses the digit 0 in a code', 'the code first');
    assert.equal(pinRuleBroken('345678', null, nuki), null);
  });

  it('lists the allowed lengths and picks a generated length the lock takes', () => {
    assert.deepEqual(allowedPinLengths(schlage), [4, 6]);
    assert.deepEqual(allowedPinLengths(base), [4, 5, 6, 7, 8]);
    assert.equal(generatedPinLength(base), 6);
    assert.equal(generatedPinLength(withPin({ lengths: [4, 8] })), 8, 'the nearest allowed above 6');
    assert.equal(generatedPinLength(withPin({ minLength: 4, maxLength: 5 })), 5);
    assert.equal(generatedPinLength(withPin({ lengths: [4, 8] }), 4), 4, 'what was asked');
  });

  it('the generator draws only codes the lock’s rules allow', () => {
    for (const caps of [nuki, ttlock, brivo, tedee]) {
      for (let i = 0; i < 300; i++) {
        const code = generatePin(6, randomInt, () => false, caps);
        assert.equal(pinCodeRuleBroken(code, caps), null, `${code} breaks a rule`);
      }
    }
    // Every digit the lock refuses is left out of the draw, not drawn and thrown away.
    const asked: number[] = [];
    generatePin(6, (max) => (asked.push(max), randomInt(max)), () => false, ttlock);
    assert.ok(asked.every((m) => m === 7), 'drawn from the 7 allowed digits');
    // One code for several locks (a turnover): it fits all of them.
    for (let i = 0; i < 100; i++) {
      const code = generatePin(6, randomInt, () => false, [nuki, ttlock]);
      assert.equal(pinCodeRuleBroken(code, nuki), null);
      assert.equal(pinCodeRuleBroken(code, ttlock), null);
    }
    // A length the lock does not take is refused with the rule, not after a thousand tries.
    assert.throws(() => generatePin(5, randomInt, () => false, schlage), (e: unknown) => isAppError(e, 'validation.failed') && /4 or 6 digits/.test((e as Error).message));
  });

  it('the service-side checks turn a broken rule into a validation error naming the field and the rule', () => {
    assert.throws(() => checkPinForLock('305678', nuki), (e: unknown) => isAppError(e, 'validation.failed') && (e as Error).message === 'Invalid input: code: this lock refuses the digit 0 in a code');
    assert.throws(() => checkPinForLock('52817', schlage), (e: unknown) => isAppError(e, 'validation.failed') && /4 or 6 digits/.test((e as Error).message));
    assert.throws(() => checkPinNameForLock('Housekeeping, 2nd floor east', nuki), (e: unknown) => isAppError(e, 'validation.failed') && /holder: this lock keeps names of at most 20/.test((e as Error).message));
    checkPinNameForLock('Front desk', nuki);
    const offlineOnly = withPin({}, { offlineCodes: 'only' });
    assert.throws(() => checkSchedule({ kind: 'always' }, offlineOnly), (e: unknown) => isAppError(e, 'validation.failed') && /only offline codes/.test((e as Error).message));
    checkSchedule({ kind: 'window', from: '2030-01-01T10:00:00Z', until: '2030-01-02T10:00:00Z' }, offlineOnly);
  });

  it('reads lock and unlock separately, falling back to the joint flag', () => {
    const lockOnly = { ...base, remoteLockUnlock: false, remoteLock: true, remoteUnlock: false };
    assert.equal(canOperateRemotely(lockOnly, 'lock'), true);
    assert.equal(canOperateRemotely(lockOnly, 'unlock'), false);
    assert.equal(canOperateRemotely(base, 'unlock'), true);
    assert.equal(canOperateRemotely({ ...base, remoteLockUnlock: false }, 'lock'), false);
  });
});
