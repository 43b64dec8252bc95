import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { dataKeys, handbookSecrets, secretReveals } from './schema.js';

export type DataKeyRow = typeof dataKeys.$inferSelect;
export type SecretRow = typeof handbookSecrets.$inferSelect;
export type RevealRow = typeof secretReveals.$inferSelect;

/** Reads and writes wrapped data keys, sealed handbook secrets and the record of their reveals. */
export class SecretRepository {
  constructor(private readonly db: Db) {}

  async dataKeyByScope(scope: string): Promise<DataKeyRow | null> {
    const [row] = await this.db.select().from(dataKeys).where(eq(dataKeys.scope, scope));
    return row ?? null;
  }

  async dataKeyById(id: string): Promise<DataKeyRow | null> {
    const [row] = await this.db.select().from(dataKeys).where(eq(dataKeys.id, id));
    return row ?? null;
  }

  /** Inserts a data key unless its scope already has one (a concurrent first use); returns the scope's key. */
  async insertDataKey(row: typeof dataKeys.$inferInsert): Promise<DataKeyRow> {
    await this.db.insert(dataKeys).values(row).onConflictDoNothing({ target: dataKeys.scope });
    return (await this.dataKeyByScope(row.scope))!;
  }

  /** Data keys wrapped under a master version older than `version`, locked for re-wrapping. */
  async dataKeysBelow(version: number): Promise<DataKeyRow[]> {
    return this.db.select().from(dataKeys).where(lt(dataKeys.masterVersion, version)).orderBy(asc(dataKeys.scope)).for('update');
  }

  async rewrap(id: string, fromMasterVersion: number, wrappedKey: string, masterVersion: number, at: Date): Promise<boolean> {
    const rows = await this.db
      .update(dataKeys)
      .set({ wrappedKey, masterVersion, rotatedAt: at })
      .where(and(eq(dataKeys.id, id), eq(dataKeys.masterVersion, fromMasterVersion)))
      .returning({ id: dataKeys.id });
    return rows.length === 1;
  }

  async countByMasterVersion(): Promise<{ masterVersion: number; n: number }[]> {
    return this.db.select({ masterVersion: dataKeys.masterVersion, n: sql<number>`count(*)::int` }).from(dataKeys).groupBy(dataKeys.masterVersion);
  }

  async insertSecret(row: typeof handbookSecrets.$inferInsert): Promise<void> {
    await this.db.insert(handbookSecrets).values(row);
  }

  async secretById(id: string): Promise<SecretRow | null> {
    const [row] = await this.db.select().from(handbookSecrets).where(eq(handbookSecrets.id, id));
    return row ?? null;
  }

  async secretsOf(entryId: string): Promise<SecretRow[]> {
    return this.db.select().from(handbookSecrets).where(eq(handbookSecrets.entryId, entryId)).orderBy(asc(handbookSecrets.createdAt), asc(handbookSecrets.id));
  }

  /** The secrets of many entries at once, in creation order. */
  async secretsOfEntries(entryIds: string[]): Promise<SecretRow[]> {
    if (entryIds.length === 0) return [];
    return this.db.select().from(handbookSecrets).where(inArray(handbookSecrets.entryId, entryIds)).orderBy(asc(handbookSecrets.createdAt), asc(handbookSecrets.id));
  }

  async deleteSecret(id: string): Promise<void> {
    await this.db.delete(handbookSecrets).where(eq(handbookSecrets.id, id));
  }

  async insertReveal(row: typeof secretReveals.$inferInsert): Promise<void> {
    await this.db.insert(secretReveals).values(row);
  }

  async reveals(filter: { secretId?: string; entryId?: string } = {}): Promise<RevealRow[]> {
    const conds = [filter.secretId ? eq(secretReveals.secretId, filter.secretId) : undefined, filter.entryId ? eq(secretReveals.entryId, filter.entryId) : undefined].filter((c) => c !== undefined);
    return this.db.select().from(secretReveals).where(conds.length ? and(...conds) : undefined).orderBy(desc(secretReveals.revealedAt)).limit(500);
  }
}
