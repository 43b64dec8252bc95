/**
 * The throttling rules (src/domain/throttle.ts) with a fake clock: free allowance, doubling delays up
 * to a ceiling, a hard cap per window, windows rolling over, and the numbers chosen for reveals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { decide, delayFor, humanWait, NEVER, record, retryAfterSeconds, REVEAL_POLICY, SECRET_EXPORT_POLICY, type ThrottlePolicy, type ThrottleState } from '../../src/domain/throttle.js';
import { ACCOUNT_SIGN_IN_POLICY, DEVICE_SIGN_IN_POLICY } from '../../src/services/sign-in-throttle.js';

const MIN = 60_000;

/** Takes events as fast as allowed (waiting exactly as long as told) and returns the waits. */
function drive(policy: ThrottlePolicy, events: number, start = new Date('2026-03-01T09:00:00Z')) {
  const clock = fixedClock(start);
  let state: ThrottleState | null = null;
  const waits: number[] = [];
  for (let i = 0; i < events; i++) {
    const d = decide(policy, state, clock.now());
    if (!d.allowed) {
      if (d.reason === 'cap') return { waits, capped: i, state, clock, retryAt: d.retryAt };
      waits.push(d.retryAt.getTime() - clock.now().getTime());
      clock.advance(d.retryAt.getTime() - clock.now().getTime());
      assert.equal(decide(policy, state, clock.now()).allowed, true, 'allowed at exactly retryAt');
    } else waits.push(0);
    state = record(policy, state, clock.now());
  }
  return { waits, capped: null, state, clock, retryAt: null };
}

describe('throttle rules', () => {
  const p: ThrottlePolicy = { free: 3, windowMs: 10 * MIN, baseDelayMs: 1000, maxDelayMs: 8000, cap: 10, capWindowMs: 24 * 60 * MIN };

  it('lets the free allowance through, then doubles the wait up to the ceiling', () => {
    const { waits } = drive(p, 8);
    assert.deepEqual(waits, [0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
    assert.equal(delayFor(p, 2), 0);
    assert.equal(delayFor(p, 1000), 8000, 'no overflow far past the allowance');
  });

  it('refuses at the cap until the cap window ends, naming that time', () => {
    const { capped, retryAt, state, clock } = drive(p, 50);
    assert.equal(capped, 10);
    assert.equal(retryAt.getTime(), state!.capStart.getTime() + p.capWindowMs);
    clock.advance(retryAt.getTime() - clock.now().getTime() - 1);
    assert.equal(decide(p, state, clock.now()).allowed, false, 'still refused 1 ms before');
    clock.advance(1);
    assert.equal(decide(p, state, clock.now()).allowed, true, 'allowed when the window ends');
  });

  it('refills the allowance when the window has passed since its first event', () => {
    const { state, clock } = drive(p, 5);
    assert.equal(decide(p, state, clock.now()).allowed, false);
    clock.advance(10 * MIN);
    const d = decide(p, state, clock.now());
    assert.equal(d.allowed, true);
    const next = record(p, state, clock.now());
    assert.equal(next.count, 1, 'a fresh window');
    assert.equal(next.capCount, 6, 'the day keeps counting');
  });

  it('a cap that never ends by itself says NEVER', () => {
    let s: ThrottleState | null = null;
    const t = new Date('2026-03-01T00:00:00Z');
    for (let i = 0; i < ACCOUNT_SIGN_IN_POLICY.cap; i++) s = record(ACCOUNT_SIGN_IN_POLICY, s, t);
    const d = decide(ACCOUNT_SIGN_IN_POLICY, s, new Date('2030-01-01T00:00:00Z'));
    assert.deepEqual(d, { allowed: false, retryAt: NEVER, reason: 'cap' });
  });

  it('formats waits for people and for Retry-After', () => {
    const now = new Date('2026-03-01T09:00:00Z');
    assert.equal(retryAfterSeconds(new Date(now.getTime() + 1), now), 1);
    assert.equal(retryAfterSeconds(new Date(now.getTime() - 5000), now), 1);
    assert.equal(retryAfterSeconds(new Date(now.getTime() + 61_500), now), 62);
    assert.equal(humanWait(42), '42 s');
    assert.equal(humanWait(7 * 60), '7 min');
    assert.equal(humanWait(5 * 3600), '5 h');
  });
});

describe('the chosen numbers', () => {
  it('a technician revealing a code a minute through a two-hour turnover never waits, nor with a burst of 10', () => {
    const clock = fixedClock(new Date('2026-03-01T09:00:00Z'));
    let s: ThrottleState | null = null;
    for (let i = 0; i < 120; i++) {
      assert.equal(decide(REVEAL_POLICY, s, clock.now()).allowed, true, `reveal ${i + 1}`);
      s = record(REVEAL_POLICY, s, clock.now());
      clock.advance(MIN);
    }
    // Two codes at each of five doors, read out at once: no wait either.
    assert.deepEqual(drive(REVEAL_POLICY, 10).waits, Array(10).fill(0));
  });

  it('a script with a stolen session gets 10 at once, then waits that double to 5 min, and at most 300 a day', () => {
    const { waits, capped } = drive(REVEAL_POLICY, 1000);
    assert.deepEqual(waits.slice(0, 16), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5000, 10000, 20000, 40000, 80000, 160000]);
    assert.ok(waits.every((w) => w <= 5 * MIN));
    assert.equal(capped, 300);
  });

  it('three secret exports an hour are free, twenty a day at most', () => {
    const { waits, capped } = drive(SECRET_EXPORT_POLICY, 100);
    assert.deepEqual(waits.slice(0, 5), [0, 0, 0, MIN, 2 * MIN]);
    assert.equal(capped, 20);
  });

  it('sign-in: 100 consecutive failures per account at most (NIST), 20 per device cookie', () => {
    assert.equal(drive(ACCOUNT_SIGN_IN_POLICY, 1000).capped, 100);
    assert.equal(drive(DEVICE_SIGN_IN_POLICY, 1000).capped, 20);
  });
});
