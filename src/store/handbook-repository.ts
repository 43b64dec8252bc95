import { and, asc, desc, eq, getTableColumns, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from './database.js';
import { inTransaction, queryRows } from './database.js';
import { handbookEntries, handbookRevisions, handbookVerifications, locations, lockModels, locks } from './schema.js';

/** An entry's columns but its search vector (the database's own, only search reads it). */
const { searchVector: _searchVector, ...entryColumns } = getTableColumns(handbookEntries);
export type EntryRecord = Omit<typeof handbookEntries.$inferSelect, 'searchVector'>;
export type RevisionRow = typeof handbookRevisions.$inferSelect;

/** An entry joined with its model and, for an override, its lock and the lock's location path. */
export interface EntryRow {
  entry: EntryRecord;
  manufacturer: string;
  modelNumber: string;
  family: string;
  lockName: string | null;
  locationPath: string | null;
}

export interface EntryQuery {
  manufacturer?: string | undefined;
  modelId?: string | undefined;
  lockId?: string | undefined;
  /** Only overrides of locks under this location id. */
  underLocationId?: string | undefined;
  /** Only entries never verified or verified longer ago than their window, as of `now`. */
  needsVerificationAt?: Date | undefined;
  ids?: string[] | undefined;
}

/** Reads and writes handbook entries, their revisions and verifications. Revisions are only ever inserted. */
export class HandbookRepository {
  constructor(private readonly db: Db) {}

  private select() {
    return this.db
      .select({
        entry: entryColumns,
        manufacturer: lockModels.manufacturer,
        modelNumber: lockModels.modelNumber,
        family: lockModels.family,
        lockName: locks.name,
        locationPath: locations.path,
      })
      .from(handbookEntries)
      .innerJoin(lockModels, eq(lockModels.id, handbookEntries.modelId))
      .leftJoin(locks, eq(locks.id, handbookEntries.lockId))
      .leftJoin(locations, eq(locations.id, locks.locationId));
  }

  /** Entries matching `q`, ordered manufacturer > model > model entry before overrides. */
  async list(q: EntryQuery = {}): Promise<EntryRow[]> {
    const conds: SQL[] = [];
    if (q.manufacturer) conds.push(sql`lower(${lockModels.manufacturer}) = lower(${q.manufacturer})`);
    if (q.modelId) conds.push(eq(handbookEntries.modelId, q.modelId));
    if (q.lockId) conds.push(eq(handbookEntries.lockId, q.lockId));
    if (q.underLocationId) conds.push(sql`${locations.path} like ${`%/${q.underLocationId}/%`}`);
    if (q.ids) conds.push(q.ids.length ? inArray(handbookEntries.id, q.ids) : sql`false`);
    if (q.needsVerificationAt) {
      conds.push(
        sql`(${handbookEntries.verifiedAt} is null or ${handbookEntries.verifiedAt} + make_interval(days => ${handbookEntries.verificationWindowDays}) <= ${q.needsVerificationAt})`,
      );
    }
    return this.select()
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(asc(lockModels.manufacturer), asc(lockModels.modelNumber), sql`${handbookEntries.lockId} is not null`, asc(locks.name), asc(handbookEntries.id));
  }

  async byId(id: string): Promise<EntryRow | null> {
    const [row] = await this.select().where(eq(handbookEntries.id, id));
    return row ?? null;
  }

  /** The model-level entry of a model, if any. */
  async forModel(modelId: string): Promise<EntryRecord | null> {
    const [row] = await this.db.select(entryColumns).from(handbookEntries).where(and(eq(handbookEntries.modelId, modelId), isNull(handbookEntries.lockId)));
    return row ?? null;
  }

  async forLock(lockId: string): Promise<EntryRecord | null> {
    const [row] = await this.db.select(entryColumns).from(handbookEntries).where(eq(handbookEntries.lockId, lockId));
    return row ?? null;
  }

  async insertEntry(row: typeof handbookEntries.$inferInsert): Promise<void> {
    await this.db.insert(handbookEntries).values(row);
  }

  /**
   * Moves an entry from `expected` to the next revision; false when another save got there first, so
   * the caller refuses instead of silently overwriting it.
   */
  async advance(id: string, expected: number, patch: Partial<typeof handbookEntries.$inferInsert>): Promise<boolean> {
    const rows = await this.db
      .update(handbookEntries)
      .set({ ...patch, currentRevision: expected + 1 })
      .where(and(eq(handbookEntries.id, id), eq(handbookEntries.currentRevision, expected)))
      .returning({ id: handbookEntries.id });
    return rows.length === 1;
  }

  async update(id: string, patch: Partial<typeof handbookEntries.$inferInsert>): Promise<void> {
    await this.db.update(handbookEntries).set(patch).where(eq(handbookEntries.id, id));
  }

  async insertRevision(row: typeof handbookRevisions.$inferInsert): Promise<void> {
    await this.db.insert(handbookRevisions).values(row);
  }

  /** The current revision's content of every entry (spreadsheet exports and imports). */
  async currentContents(): Promise<Map<string, RevisionRow['content']>> {
    const rows = await this.db
      .select({ entryId: handbookRevisions.entryId, content: handbookRevisions.content })
      .from(handbookRevisions)
      .innerJoin(handbookEntries, and(eq(handbookEntries.id, handbookRevisions.entryId), eq(handbookEntries.currentRevision, handbookRevisions.revision)));
    return new Map(rows.map((r) => [r.entryId, r.content]));
  }

  async revision(entryId: string, revision: number): Promise<RevisionRow | null> {
    const [row] = await this.db.select().from(handbookRevisions).where(and(eq(handbookRevisions.entryId, entryId), eq(handbookRevisions.revision, revision)));
    return row ?? null;
  }

  /** The current revision (with content) of each of `ids`, in one query. */
  async currentRevisions(ids: string[]): Promise<RevisionRow[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({ entryId: handbookRevisions.entryId, revision: handbookRevisions.revision, content: handbookRevisions.content, reason: handbookRevisions.reason, authorId: handbookRevisions.authorId, authorLabel: handbookRevisions.authorLabel, createdAt: handbookRevisions.createdAt })
      .from(handbookRevisions)
      .innerJoin(handbookEntries, and(eq(handbookEntries.id, handbookRevisions.entryId), eq(handbookEntries.currentRevision, handbookRevisions.revision)))
      .where(inArray(handbookRevisions.entryId, ids));
  }

  /** Revisions of an entry, newest first, without their content. */
  async revisions(entryId: string): Promise<Omit<RevisionRow, 'content' | 'entryId'>[]> {
    return this.db
      .select({ revision: handbookRevisions.revision, reason: handbookRevisions.reason, authorId: handbookRevisions.authorId, authorLabel: handbookRevisions.authorLabel, createdAt: handbookRevisions.createdAt })
      .from(handbookRevisions)
      .where(eq(handbookRevisions.entryId, entryId))
      .orderBy(desc(handbookRevisions.revision));
  }

  async insertVerification(row: typeof handbookVerifications.$inferInsert): Promise<void> {
    await this.db.insert(handbookVerifications).values(row);
  }

  async verifications(entryId: string): Promise<(typeof handbookVerifications.$inferSelect)[]> {
    return this.db.select().from(handbookVerifications).where(eq(handbookVerifications.entryId, entryId)).orderBy(desc(handbookVerifications.verifiedAt));
  }

  /**
   * Ranked search: full text over `search_text` (simple configuration, prefix matching on the last
   * word) plus trigram similarity of the normalized model number, so "db22ow" still finds DB-220W.
   */
  async search(text: string, modelKey: string, limit: number): Promise<{ id: string; rank: number; headline: string }[]> {
    return inTransaction(this.db, async (tx) => {
      await tx.execute(SEARCH_TRGM_SETTINGS);
      return queryRows(tx, searchQuery(text, modelKey, limit));
    });
  }
}

/**
 * The search statement, on its own so a benchmark can EXPLAIN exactly what `search` runs. Candidates
 * come from the indexes only — the GIN index on `search_vector` for the words, the trigram GIN index
 * on `model_key` for the model number (`%` and `<%` with the thresholds `SEARCH_TRGM_SETTINGS` sets)
 * — and only they are scored, so the cost follows the matches, not the size of the handbook.
 */
export function searchQuery(text: string, modelKey: string, limit: number): SQL {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 12);
  const tsquery = words.map((w) => `${w}:*`).join(' & ');
  const e = handbookEntries;
  const query = sql`to_tsquery('simple'::regconfig, ${tsquery || 'x'})`;
  const useTrgm = modelKey.length >= 3;
  const fts = tsquery ? sql`${e.searchVector} @@ ${query}` : sql`false`;
  const trgm = useTrgm ? sql`greatest(similarity(${e.modelKey}, ${modelKey}), word_similarity(${modelKey}, ${e.modelKey}))` : sql`0`;
  // One scan: the planner ORs the bitmaps of the two indexes, then scores only those rows.
  const byModel = useTrgm ? sql`(${e.modelKey} % ${modelKey} or ${modelKey} <% ${e.modelKey})` : sql`false`;
  return sql`select id, rank, headline from (
          select ${e.id} as id,
                 (case when ${fts} then ts_rank(${e.searchVector}, ${query}) + 1 else 0 end) + ${trgm} as rank,
                 ${fts} as fts_match, ${trgm} as trgm_score,
                 ${e.title} as headline
          from ${e}
          where ${fts} or ${byModel}
        ) s
        where fts_match or trgm_score >= 0.3
        order by rank desc, id
        limit ${limit}`;
}

/**
 * The trigram thresholds the index conditions of `searchQuery` use, matching its score cut-off (0.3
 * for both; PostgreSQL's default for `<%` is 0.6). Set per transaction.
 */
export const SEARCH_TRGM_SETTINGS = sql`select set_config('pg_trgm.similarity_threshold', '0.3', true), set_config('pg_trgm.word_similarity_threshold', '0.3', true)`;
