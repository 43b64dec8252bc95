import { asc, inArray, sql } from 'drizzle-orm';
import type { ThrottleState } from '../domain/throttle.js';
import type { Db } from './database.js';
import { throttleCounters } from './schema.js';

/** Throttling counters by key. Call `lock` and `save` inside one transaction. */
export class ThrottleRepository {
  constructor(private readonly db: Db) {}

  /**
   * The counters of `keys`, each row locked until the transaction ends (a missing row is created
   * empty first, so two processes counting a new key's first events also wait for each other).
   */
  async lock(keys: string[], now: Date): Promise<Map<string, ThrottleState | null>> {
    const sorted = [...new Set(keys)].sort();
    await this.db
      .insert(throttleCounters)
      .values(sorted.map((key) => ({ key, count: 0, windowStart: now, capCount: 0, capStart: now, lastAt: now })))
      .onConflictDoNothing();
    const rows = await this.db.select().from(throttleCounters).where(inArray(throttleCounters.key, sorted)).orderBy(asc(throttleCounters.key)).for('update');
    const out = new Map<string, ThrottleState | null>();
    for (const r of rows) out.set(r.key, r.count === 0 && r.capCount === 0 ? null : { count: r.count, windowStart: r.windowStart, capCount: r.capCount, capStart: r.capStart, lastAt: r.lastAt });
    return out;
  }

  async save(key: string, s: ThrottleState): Promise<void> {
    await this.db
      .insert(throttleCounters)
      .values({ key, ...s })
      .onConflictDoUpdate({ target: throttleCounters.key, set: { count: s.count, windowStart: s.windowStart, capCount: s.capCount, capStart: s.capStart, lastAt: s.lastAt } });
  }

  /** The counter of one key, unlocked (for tests and status). */
  async get(key: string): Promise<ThrottleState | null> {
    const [r] = await this.db.select().from(throttleCounters).where(sql`${throttleCounters.key} = ${key}`);
    return r ? { count: r.count, windowStart: r.windowStart, capCount: r.capCount, capStart: r.capStart, lastAt: r.lastAt } : null;
  }

  async clear(keys: string[]): Promise<void> {
    if (keys.length) await this.db.delete(throttleCounters).where(inArray(throttleCounters.key, keys));
  }
}
