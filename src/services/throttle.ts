/**
 * Throttles kept in the database (`throttle_counters`), so every process on one PostgreSQL counts
 * together: the rules are in src/domain/throttle.ts, this module counts under a row lock and turns
 * a refusal into a `ThrottledError` that names when to retry and nothing else.
 */
import type { Actor } from '../domain/identity.js';
import { decide, humanWait, record, retryAfterSeconds, REVEAL_POLICY, SECRET_EXPORT_POLICY, ThrottledError, type ThrottleDecision, type ThrottlePolicy } from '../domain/throttle.js';
import { inTransaction } from '../store/database.js';
import { ThrottleRepository } from '../store/throttle-repository.js';
import type { ServiceContext } from './context.js';

/** One key to count an event on, with the rules that apply to it. */
export interface ThrottleKey {
  key: string;
  policy: ThrottlePolicy;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAt: Date; reason: 'delay' | 'cap'; key: string };

/** Counters in the database, taken and cleared atomically across processes. */
export class Throttle {
  constructor(private readonly ctx: Pick<ServiceContext, 'db' | 'clock'>) {}

  /**
   * Counts one event on every key if each of them allows it now; otherwise counts nothing and
   * returns the refusal that lasts longest. Concurrent callers on a key wait for each other.
   */
  async take(keys: ThrottleKey[]): Promise<TakeResult> {
    const now = this.ctx.clock.now();
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new ThrottleRepository(tx);
      const states = await repo.lock(
        keys.map((k) => k.key),
        now,
      );
      let refusal: (ThrottleDecision & { allowed: false; key: string }) | null = null;
      for (const k of keys) {
        const d = decide(k.policy, states.get(k.key) ?? null, now);
        if (!d.allowed && (!refusal || d.retryAt > refusal.retryAt)) refusal = { ...d, key: k.key };
      }
      if (refusal) return refusal;
      for (const k of keys) await repo.save(k.key, record(k.policy, states.get(k.key) ?? null, now));
      return { allowed: true };
    });
  }

  /** Forgets the counters of `keys` (after a successful sign-in, a password reset). */
  async clear(keys: string[]): Promise<void> {
    await new ThrottleRepository(this.ctx.db).clear(keys);
  }
}

/** The throttling key of an account's reveals. */
export const revealKey = (userId: string) => `reveal:user:${userId}`;
/** The throttling key of an account's PDF exports with secrets. */
export const secretExportKey = (userId: string) => `reveal-export:user:${userId}`;

/**
 * Counts one reveal (a PIN code or a handbook secret) or one export with secrets for `actor`, or
 * throws `reveal.throttled` naming when to retry. Call it after authorizing and before opening
 * anything. The local CLI (a system actor) holds the data folder and its keys, so it is not counted.
 */
export async function takeReveal(ctx: Pick<ServiceContext, 'db' | 'clock'>, actor: Actor, kind: 'reveal' | 'export'): Promise<void> {
  if (actor.kind !== 'user') return;
  const key = kind === 'reveal' ? { key: revealKey(actor.userId), policy: REVEAL_POLICY } : { key: secretExportKey(actor.userId), policy: SECRET_EXPORT_POLICY };
  const result = await new Throttle(ctx).take([key]);
  if (result.allowed) return;
  const seconds = retryAfterSeconds(result.retryAt, ctx.clock.now());
  const what = kind === 'reveal' ? 'secret reveals' : 'exports with secrets';
  const why = result.reason === 'cap' ? `the daily limit of ${key.policy.cap} ${what} for this account is reached` : `too many ${what} in a short time`;
  throw new ThrottledError('reveal.throttled', `${why}; try again in ${humanWait(seconds)} (at ${result.retryAt.toISOString()})`, result.retryAt, seconds);
}
