import { and, asc, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { LockFilter } from '../domain/locks.js';
import type { Db } from './database.js';
import { locations, lockModels, locks } from './schema.js';
import { pathIn } from './scope-sql.js';

/** A lock row joined with what the list and detail views need from its model and location. */
export interface LockRow {
  lock: typeof locks.$inferSelect;
  manufacturer: string;
  modelNumber: string;
  family: (typeof lockModels.$inferSelect)['family'];
  locationPathIds: string;
}

const SORTS: Record<LockFilter['sort'], SQL[]> = {
  name: [sql`lower(${locks.name})`],
  location: [asc(locations.path), sql`lower(${locks.name})`],
  model: [asc(lockModels.manufacturer), asc(lockModels.modelNumber), sql`lower(${locks.name})`],
  state: [asc(locks.serviceState), sql`lower(${locks.name})`],
  battery: [sql`${locks.batteryPercent} asc nulls last`, sql`lower(${locks.name})`],
  updated: [desc(locks.updatedAt)],
};

/** Reads and writes locks. */
export class LockRepository {
  constructor(private readonly db: Db) {}

  private select() {
    return this.db
      .select({
        lock: locks,
        manufacturer: lockModels.manufacturer,
        modelNumber: lockModels.modelNumber,
        family: lockModels.family,
        locationPathIds: locations.path,
      })
      .from(locks)
      .innerJoin(lockModels, eq(lockModels.id, locks.modelId))
      .innerJoin(locations, eq(locations.id, locks.locationId));
  }

  private where(f: LockFilter, scope: string[] | null = null): SQL | undefined {
    const conds: SQL[] = [];
    const inScope = pathIn(locations.path, scope);
    if (inScope) conds.push(inScope);
    if (f.siteId) conds.push(sql`${locations.path} like ${`%/${f.siteId}/%`}`);
    if (f.locationId) conds.push(sql`${locations.path} like ${`%/${f.locationId}/%`}`);
    if (f.modelId) conds.push(eq(locks.modelId, f.modelId));
    if (f.family?.length) conds.push(inArray(lockModels.family, f.family));
    if (f.state?.length) conds.push(inArray(locks.serviceState, f.state));
    else if (!f.includeRetired) conds.push(sql`${locks.serviceState} <> 'retired'`);
    if (f.q) {
      const pattern = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      conds.push(
        sql`(${locks.name} ilike ${pattern} or ${locks.serial} ilike ${pattern} or ${locks.externalId} ilike ${pattern} or ${lockModels.modelNumber} ilike ${pattern} or ${lockModels.manufacturer} ilike ${pattern})`,
      );
    }
    return conds.length ? and(...conds) : undefined;
  }

  /** One page of locks matching `f`, and the total count. */
  async list(f: LockFilter, scope: string[] | null = null): Promise<{ rows: LockRow[]; total: number }> {
    const where = this.where(f, scope);
    const rows = await this.select()
      .where(where)
      .orderBy(...SORTS[f.sort], asc(locks.id))
      .limit(f.limit)
      .offset(f.offset);
    const [count] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(locks)
      .innerJoin(lockModels, eq(lockModels.id, locks.modelId))
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(where);
    return { rows, total: Number(count?.n ?? 0) };
  }

  /** Every lock (retired ones too when asked), ordered by location path then name: for exports and imports. */
  async all(opts: { includeRetired: boolean; scope?: string[] | null }): Promise<LockRow[]> {
    return this.select()
      .where(and(opts.includeRetired ? undefined : sql`${locks.serviceState} <> 'retired'`, pathIn(locations.path, opts.scope ?? null)))
      .orderBy(asc(locations.path), sql`lower(${locks.name})`, asc(locks.id));
  }

  /** Inserts many locks in one statement per chunk (spreadsheet imports). */
  async insertMany(rows: (typeof locks.$inferInsert)[], chunk = 500): Promise<void> {
    for (let i = 0; i < rows.length; i += chunk) await this.db.insert(locks).values(rows.slice(i, i + chunk));
  }

  async byId(id: string): Promise<LockRow | null> {
    const [row] = await this.select().where(eq(locks.id, id));
    return row ?? null;
  }

  async byExternalId(driver: string, externalId: string): Promise<{ id: string } | null> {
    const [row] = await this.db
      .select({ id: locks.id })
      .from(locks)
      .where(and(eq(locks.driver, driver as never), eq(locks.externalId, externalId)));
    return row ?? null;
  }

  async insert(row: typeof locks.$inferInsert): Promise<void> {
    await this.db.insert(locks).values(row);
  }

  /**
   * Applies `patch` only if the lock is still at `version`; returns false when someone else saved
   * first, so the caller can refuse instead of overwriting their change.
   */
  async updateAtVersion(id: string, version: number, patch: Partial<typeof locks.$inferInsert>): Promise<boolean> {
    const updated = await this.db
      .update(locks)
      .set({ ...patch, version: version + 1 })
      .where(and(eq(locks.id, id), eq(locks.version, version)))
      .returning({ id: locks.id });
    return updated.length === 1;
  }
}
