import { and, asc, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { ResetCase, ResetState } from '../domain/reset-case.js';
import type { Db } from './database.js';
import { pathIn } from './scope-sql.js';
import { locations, locks, resetCaseSteps, resetCases, resetSnapshots } from './schema.js';

export type ResetCaseRow = typeof resetCases.$inferSelect;
export type ResetStepRow = typeof resetCaseSteps.$inferSelect;
export type ResetSnapshotRow = typeof resetSnapshots.$inferSelect;

/** Reset cases, their append-only step log and their sealed snapshots. */
export class ResetCaseRepository {
  constructor(private readonly db: Db) {}

  async insert(c: ResetCase, at: Date): Promise<void> {
    await this.db.insert(resetCases).values({ id: c.id, lockId: c.lockId, reason: c.reason, state: c.state, data: c, version: 1, openedBy: c.openedBy, openedAt: at, updatedAt: at, closedAt: null });
  }

  async byId(id: string): Promise<ResetCaseRow | null> {
    const [row] = await this.db.select().from(resetCases).where(eq(resetCases.id, id));
    return row ?? null;
  }

  /** The case locked for this transaction: steps of one case run one at a time. */
  async lockForStep(id: string): Promise<ResetCaseRow | null> {
    const [row] = await this.db.select().from(resetCases).where(eq(resetCases.id, id)).for('update');
    return row ?? null;
  }

  /** The open case of a lock, if any. */
  async openForLock(lockId: string): Promise<ResetCaseRow | null> {
    const [row] = await this.db
      .select()
      .from(resetCases)
      .where(and(eq(resetCases.lockId, lockId), sql`${resetCases.state} not in ('closed','cancelled')`));
    return row ?? null;
  }

  /** Writes the case's next state, only at the version it was read at. */
  async save(c: ResetCase, version: number, at: Date): Promise<boolean> {
    const rows = await this.db
      .update(resetCases)
      .set({ state: c.state, data: c, version: version + 1, updatedAt: at, closedAt: c.closedAt ? new Date(c.closedAt) : null })
      .where(and(eq(resetCases.id, c.id), eq(resetCases.version, version)))
      .returning({ id: resetCases.id });
    return rows.length === 1;
  }

  /** Cases in scope (`null` = everywhere), newest first. */
  async list(filter: { lockId?: string | undefined; states?: ResetState[] | undefined; limit: number }, scope: string[] | null): Promise<ResetCaseRow[]> {
    const conds: (SQL | undefined)[] = [
      filter.lockId ? eq(resetCases.lockId, filter.lockId) : undefined,
      filter.states?.length ? inArray(resetCases.state, filter.states) : undefined,
      pathIn(locations.path, scope),
    ];
    const rows = await this.db
      .select({ c: resetCases })
      .from(resetCases)
      .innerJoin(locks, eq(locks.id, resetCases.lockId))
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(and(...conds.filter((x) => x !== undefined)))
      .orderBy(desc(resetCases.openedAt), desc(resetCases.id))
      .limit(filter.limit);
    return rows.map((r) => r.c);
  }

  async steps(caseId: string): Promise<ResetStepRow[]> {
    return this.db.select().from(resetCaseSteps).where(eq(resetCaseSteps.caseId, caseId)).orderBy(asc(resetCaseSteps.seq));
  }

  /** The step written for this key and phase, if any (a retried request). */
  async stepByKey(caseId: string, key: string, phase: 'intent' | 'done'): Promise<ResetStepRow | null> {
    const [row] = await this.db
      .select()
      .from(resetCaseSteps)
      .where(and(eq(resetCaseSteps.caseId, caseId), eq(resetCaseSteps.idempotencyKey, key), eq(resetCaseSteps.phase, phase)));
    return row ?? null;
  }

  /** Intents with no `done` row: device commands that may or may not have happened. */
  async openIntents(caseId: string): Promise<ResetStepRow[]> {
    const done = this.db.select({ k: resetCaseSteps.idempotencyKey }).from(resetCaseSteps).where(and(eq(resetCaseSteps.caseId, caseId), eq(resetCaseSteps.phase, 'done')));
    return this.db
      .select()
      .from(resetCaseSteps)
      .where(and(eq(resetCaseSteps.caseId, caseId), eq(resetCaseSteps.phase, 'intent'), sql`${resetCaseSteps.idempotencyKey} not in (${done})`))
      .orderBy(asc(resetCaseSteps.seq));
  }

  /** Open intents of every unfinished case, oldest first: steps a crash may have left half done. */
  async allOpenIntents(): Promise<ResetStepRow[]> {
    const rows = await this.db
      .select({ s: resetCaseSteps })
      .from(resetCaseSteps)
      .innerJoin(resetCases, eq(resetCases.id, resetCaseSteps.caseId))
      .where(
        and(
          eq(resetCaseSteps.phase, 'intent'),
          sql`${resetCases.state} not in ('closed','cancelled')`,
          sql`not exists (select 1 from reset_case_steps d where d.case_id = ${resetCaseSteps.caseId} and d.idempotency_key = ${resetCaseSteps.idempotencyKey} and d.phase = 'done')`,
        ),
      )
      .orderBy(asc(resetCaseSteps.at), asc(resetCaseSteps.seq));
    return rows.map((r) => r.s);
  }

  async appendStep(row: Omit<ResetStepRow, 'seq'>): Promise<number> {
    const [{ next } = { next: 1 }] = await this.db
      .select({ next: sql<number>`coalesce(max(${resetCaseSteps.seq}), 0)::int + 1` })
      .from(resetCaseSteps)
      .where(eq(resetCaseSteps.caseId, row.caseId));
    await this.db.insert(resetCaseSteps).values({ ...row, seq: next });
    return next;
  }

  async snapshot(caseId: string): Promise<ResetSnapshotRow | null> {
    const [row] = await this.db.select().from(resetSnapshots).where(eq(resetSnapshots.caseId, caseId));
    return row ?? null;
  }

  async insertSnapshot(row: ResetSnapshotRow): Promise<void> {
    await this.db.insert(resetSnapshots).values(row);
  }
}
