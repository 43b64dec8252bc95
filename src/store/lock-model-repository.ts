import { asc, eq, sql } from 'drizzle-orm';
import type { LockModel } from '../domain/lock-models.js';
import type { Db } from './database.js';
import { lockModels, locks } from './schema.js';

type Row = typeof lockModels.$inferSelect;
const toModel = (r: Row): LockModel => ({ ...r });

/** Reads and writes the model catalogue. */
export class LockModelRepository {
  constructor(private readonly db: Db) {}

  async all(): Promise<LockModel[]> {
    return (await this.db.select().from(lockModels).orderBy(asc(lockModels.manufacturer), asc(lockModels.modelNumber))).map(toModel);
  }

  async byId(id: string): Promise<LockModel | null> {
    const [row] = await this.db.select().from(lockModels).where(eq(lockModels.id, id));
    return row ? toModel(row) : null;
  }

  /** The model with this manufacturer and model number (case-insensitive), if any. */
  async byIdentity(manufacturer: string, modelNumber: string): Promise<LockModel | null> {
    const [row] = await this.db
      .select()
      .from(lockModels)
      .where(sql`lower(${lockModels.manufacturer}) = lower(${manufacturer}) and lower(${lockModels.modelNumber}) = lower(${modelNumber})`);
    return row ? toModel(row) : null;
  }

  async insert(row: typeof lockModels.$inferInsert): Promise<LockModel> {
    const [created] = await this.db.insert(lockModels).values(row).returning();
    return toModel(created!);
  }

  async update(id: string, patch: Partial<typeof lockModels.$inferInsert>): Promise<LockModel> {
    const [updated] = await this.db.update(lockModels).set(patch).where(eq(lockModels.id, id)).returning();
    return toModel(updated!);
  }

  async delete(id: string): Promise<void> {
    await this.db.delete(lockModels).where(eq(lockModels.id, id));
  }

  async lockCount(id: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(locks).where(eq(locks.modelId, id));
    return Number(row?.n ?? 0);
  }
}
