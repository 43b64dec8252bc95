import { eq } from 'drizzle-orm';
import type { Db } from './database.js';
import { instanceMeta } from './schema.js';

/** Small instance facts kept as key/value rows. */
export class MetaRepository {
  constructor(private readonly db: Db) {}

  async get<T>(key: string): Promise<T | null> {
    const [row] = await this.db.select().from(instanceMeta).where(eq(instanceMeta.key, key));
    return row ? (row.value as T) : null;
  }

  async set(key: string, value: unknown, now: Date): Promise<void> {
    await this.db
      .insert(instanceMeta)
      .values({ key, value, updatedAt: now, revision: 1 })
      .onConflictDoUpdate({ target: instanceMeta.key, set: { value, updatedAt: now } });
  }
}
