import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { CredentialStatus } from '../domain/credentials.js';
import type { Db } from './database.js';
import { bulkOperationItems, bulkOperations, credentials, lockObservations } from './schema.js';

export type CredentialRow = typeof credentials.$inferSelect;
export type ObservationRow = typeof lockObservations.$inferSelect;

/** Reads and writes desired credentials, lock observations and bulk operations. */
export class CredentialRepository {
  constructor(private readonly db: Db) {}

  /** Live credentials of a lock (everything not yet removed), plus removed ones when asked. */
  async forLock(lockId: string, opts: { includeRemoved?: boolean } = {}): Promise<CredentialRow[]> {
    return this.db
      .select()
      .from(credentials)
      .where(and(eq(credentials.lockId, lockId), opts.includeRemoved ? undefined : ne(credentials.status, 'removed')))
      .orderBy(credentials.kind, credentials.slot, credentials.createdAt);
  }

  async forLocks(lockIds: string[]): Promise<CredentialRow[]> {
    if (lockIds.length === 0) return [];
    return this.db
      .select()
      .from(credentials)
      .where(and(inArray(credentials.lockId, lockIds), ne(credentials.status, 'removed')));
  }

  async byId(id: string): Promise<CredentialRow | null> {
    const [row] = await this.db.select().from(credentials).where(eq(credentials.id, id));
    return row ?? null;
  }

  async insert(rows: (typeof credentials.$inferInsert)[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) await this.db.insert(credentials).values(rows.slice(i, i + 500));
  }

  /** Updates a credential if it is still at `version`; false when someone changed it first. */
  async updateAtVersion(id: string, version: number, patch: Partial<typeof credentials.$inferInsert>): Promise<boolean> {
    const done = await this.db
      .update(credentials)
      .set({ ...patch, version: version + 1 })
      .where(and(eq(credentials.id, id), eq(credentials.version, version)))
      .returning({ id: credentials.id });
    return done.length === 1;
  }

  async observation(lockId: string): Promise<ObservationRow | null> {
    const [row] = await this.db.select().from(lockObservations).where(eq(lockObservations.lockId, lockId));
    return row ?? null;
  }

  async observations(lockIds: string[]): Promise<ObservationRow[]> {
    if (lockIds.length === 0) return [];
    return this.db.select().from(lockObservations).where(inArray(lockObservations.lockId, lockIds));
  }

  async createBulk(row: typeof bulkOperations.$inferInsert, items: (typeof bulkOperationItems.$inferInsert)[]): Promise<void> {
    await this.db.insert(bulkOperations).values(row);
    for (let i = 0; i < items.length; i += 500) await this.db.insert(bulkOperationItems).values(items.slice(i, i + 500));
  }

  async createBulkItems(items: (typeof bulkOperationItems.$inferInsert)[]): Promise<void> {
    for (let i = 0; i < items.length; i += 500) await this.db.insert(bulkOperationItems).values(items.slice(i, i + 500));
  }

  async bulk(id: string): Promise<typeof bulkOperations.$inferSelect | null> {
    const [row] = await this.db.select().from(bulkOperations).where(eq(bulkOperations.id, id));
    return row ?? null;
  }

  /** A bulk operation's items with their credential's status. */
  async bulkItems(id: string): Promise<{ lockId: string; credentialId: string | null; target: 'confirmed' | 'removed' | null; error: string | null; status: CredentialStatus | null; lastError: string | null }[]> {
    return this.db
      .select({
        lockId: bulkOperationItems.lockId,
        credentialId: bulkOperationItems.credentialId,
        target: bulkOperationItems.target,
        error: bulkOperationItems.error,
        status: credentials.status,
        lastError: credentials.lastError,
      })
      .from(bulkOperationItems)
      .leftJoin(credentials, eq(credentials.id, bulkOperationItems.credentialId))
      .where(eq(bulkOperationItems.bulkId, id));
  }

  async recentBulks(limit: number): Promise<(typeof bulkOperations.$inferSelect)[]> {
    return this.db.select().from(bulkOperations).orderBy(sql`${bulkOperations.createdAt} desc`).limit(limit);
  }
}
