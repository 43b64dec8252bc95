/**
 * Throttling rules as pure functions of a counter and the time (NIST SP 800-63B 5.2.2: limit
 * guessing; OWASP ASVS 5.0 V6.3). No I/O: the services keep the counters in the database and pass
 * `now` from their clock, so these rules are tested with a fake clock.
 */
import { AppError } from './errors.js';

/** How many events a key may have before it is refused, and how the wait grows. */
export interface ThrottlePolicy {
  /** Events allowed in a window without any wait. */
  free: number;
  /** Length of the window the free allowance refills in. */
  windowMs: number;
  /** Wait after the first event beyond the allowance; each further one doubles it. */
  baseDelayMs: number;
  /** The wait never grows beyond this. */
  maxDelayMs: number;
  /** Events allowed per `capWindowMs` at all; then refused until that window ends. */
  cap: number;
  capWindowMs: number;
}

/** A key's counter: events in the current window and the current cap window, and the last one. */
export interface ThrottleState {
  count: number;
  windowStart: Date;
  capCount: number;
  capStart: Date;
  lastAt: Date;
}

/** The retry time of a cap that does not end by itself (the latest time a Date can hold). */
export const NEVER = new Date(8.64e15);

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAt: Date; reason: 'delay' | 'cap' };

/** The state with windows that have ended rolled over (their counts back to zero). */
export function rollOver(policy: ThrottlePolicy, state: ThrottleState | null, now: Date): ThrottleState | null {
  if (!state) return null;
  const t = now.getTime();
  const windowEnded = t >= state.windowStart.getTime() + policy.windowMs;
  const capEnded = t >= state.capStart.getTime() + policy.capWindowMs;
  if (windowEnded && capEnded) return null;
  return {
    count: windowEnded ? 0 : state.count,
    windowStart: windowEnded ? now : state.windowStart,
    capCount: capEnded ? 0 : state.capCount,
    capStart: capEnded ? now : state.capStart,
    lastAt: state.lastAt,
  };
}

/** The wait required after the last event when `count` events are already in the window. */
export function delayFor(policy: ThrottlePolicy, count: number): number {
  if (count < policy.free) return 0;
  const doublings = Math.min(count - policy.free, 40);
  return Math.min(policy.baseDelayMs * 2 ** doublings, policy.maxDelayMs);
}

/** May one more event happen now? When not, says until when (never reveals anything else). */
export function decide(policy: ThrottlePolicy, state: ThrottleState | null, now: Date): ThrottleDecision {
  const s = rollOver(policy, state, now);
  if (!s) return { allowed: true };
  if (s.capCount >= policy.cap) return { allowed: false, retryAt: Number.isFinite(policy.capWindowMs) ? new Date(s.capStart.getTime() + policy.capWindowMs) : NEVER, reason: 'cap' };
  const delay = delayFor(policy, s.count);
  const retryAt = s.lastAt.getTime() + delay;
  if (delay > 0 && retryAt > now.getTime()) return { allowed: false, retryAt: new Date(retryAt), reason: 'delay' };
  return { allowed: true };
}

/** The state after one more event at `now`. */
export function record(policy: ThrottlePolicy, state: ThrottleState | null, now: Date): ThrottleState {
  const s = rollOver(policy, state, now);
  if (!s) return { count: 1, windowStart: now, capCount: 1, capStart: now, lastAt: now };
  return { ...s, count: s.count + 1, capCount: s.capCount + 1, lastAt: now };
}

/** Whole seconds until `retryAt`, at least 1 (the value of a Retry-After header). */
export function retryAfterSeconds(retryAt: Date, now: Date): number {
  return Math.max(1, Math.ceil((retryAt.getTime() - now.getTime()) / 1000));
}

/** "in 42 s", "in 7 min", "in 3 h", for messages. */
export function humanWait(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Reveals of secrets (a PIN code, a handbook master/programming code), per account, PIN and
 * handbook reveals together. A turnover or a reset needs a few reveals per lock at the pace of
 * someone walking from door to door: about one a minute, which never waits (the window refills every
 * ten minutes). Ten at once are free too (two codes on each of five locks read out before leaving
 * the office). Beyond ten in ten minutes each reveal waits 5 s, then 10 s, 20 s ... up to 5 min, so a
 * script holding a stolen session gets a handful of extra values, not the vault. 300 a day is more
 * than any one person's shift (a 50-unit building with three codes per unit is 150) and bounds what
 * one account can read in a day.
 */
export const REVEAL_POLICY: ThrottlePolicy = { free: 10, windowMs: 10 * MINUTE, baseDelayMs: 5_000, maxDelayMs: 5 * MINUTE, cap: 300, capWindowMs: 24 * HOUR };

/**
 * PDF exports that print secrets, per account: each opens every secret in scope at once, so they are
 * counted on their own. Printing the binder for a site or two before a job, and a reprint, is
 * normal; 3 an hour without waiting, then 1 min, 2 min ... up to 30 min, at most 20 a day.
 */
export const SECRET_EXPORT_POLICY: ThrottlePolicy = { free: 3, windowMs: HOUR, baseDelayMs: MINUTE, maxDelayMs: 30 * MINUTE, cap: 20, capWindowMs: 24 * HOUR };

/** A refusal by a throttle: an `AppError` that also says when to retry (for Retry-After). */
export class ThrottledError extends AppError {
  constructor(
    code: 'auth.throttled' | 'reveal.throttled',
    message: string,
    /** When the next attempt may succeed; null when only someone else can lift the block. */
    readonly retryAt: Date | null,
    /** Seconds until `retryAt` (null with it). */
    readonly retryAfterSeconds: number | null,
  ) {
    super(code, message);
  }
}
