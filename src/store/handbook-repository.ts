import { and, asc, desc, eq, getTableColumns, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from './database.js';
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
   * Ranked search in one statement (no transaction, no session settings): full text over
   * `search_text` plus trigram similarity of the normalized model number, so "db22ow" still finds
   * DB-220W; each hit comes with the columns a summary shows and its site.
   */
  async search(text: string, modelKey: string, limit: number): Promise<SearchRow[]> {
    return searchStatement(this.db, text, modelKey, limit);
  }

}

export type SearchEntry = Omit<EntryRecord, 'searchText' | 'modelKey'>;

/** An entry found by search, with what `list` gives, its site (overrides only) and its rank. */
export interface SearchRow extends Omit<EntryRow, 'entry'> {
  /** The entry's columns a summary shows (not its search text). */
  entry: SearchEntry;
  siteId: string | null;
  rank: number;
}

/**
 * At most this many entries matching the words are ranked. A phrase common to a whole family of
 * templates ("interior reset button") matches thousands; ranking all of them cost ~350 ms at 50,000
 * entries. The candidates are the first ones the scan meets (table order, not a relevance order), so a
 * broad query shows the best-ranked of those, not of every match.
 */
export const SEARCH_WORD_CANDIDATES = 100;
/** At most this many model numbers similar to the query (the most similar) are ranked. */
export const SEARCH_MODEL_CANDIDATES = 50;
/** The least trigram similarity for a model number to count as a typo of the query (pg_trgm's default `%` threshold). */
export const SEARCH_MODEL_SIMILARITY = 0.3;

/**
 * The tsqueries for `text`: every word as typed (`exact`), and the same with the last word as a prefix
 * (`prefix`, the user may still be typing). Exact words use GIN's fast AND scan; a prefix has to
 * collect every posting of every lexeme it starts ("locks:*" in "Beldor Locks": ~10,000), so it only
 * runs when the exact words find less than a page. With several words the normalized model number is
 * an alternative, because the parser keeps "KK-40159" as "kk" and "-40159", which "kk & 40159" would
 * not match, while `search_text` also holds "kk40159". Empty when there is no word.
 */
export function searchTsqueries(text: string, modelKey: string): { exact: string; prefix: string } {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 12);
  if (words.length === 0) return { exact: '', prefix: '' };
  const withModel = (q: string, suffix: string) => (words.length > 1 && modelKey.length >= 3 ? `(${q}) | ${modelKey}${suffix}` : q);
  return {
    exact: withModel(words.join(' & '), ''),
    prefix: withModel(words.map((w, i) => (i === words.length - 1 ? `${w}:*` : w)).join(' & '), ':*'),
  };
}

/**
 * The search statement, on its own so a benchmark can EXPLAIN exactly what `search` runs. Candidates
 * come from the indexes and are scored where the scan meets them: up to `SEARCH_WORD_CANDIDATES` from
 * the GIN index on `search_vector` (1 + ts_rank + twice the model similarity), and the model numbers
 * within trigram similarity 0.3 of the query (the GIN trigram index; `%` at its default threshold plus
 * the same cut-off spelled out, so no session setting is needed; twice the similarity). An exact model
 * number (similarity 1, and its words match) comes first. The trigram stage runs when the query has a
 * digit (a model number) or the words found nothing (a typo); a word or name query does not pay for
 * it. Only the best page is joined back to its entries, models, locks and sites. Ties go by title.
 */
export function searchStatement(db: Db, text: string, modelKey: string, limit: number) {
  const page = Math.min(limit, SEARCH_WORD_CANDIDATES);
  const { exact, prefix } = searchTsqueries(text, modelKey);
  const exactQuery = sql`to_tsquery('simple'::regconfig, ${exact})`;
  const prefixQuery = sql`to_tsquery('simple'::regconfig, ${prefix})`;
  const useTrgm = modelKey.length >= 3;
  // Each candidate is scored where the scan meets it (its vector and model key are at hand there):
  // a word match 1 + ts_rank (under the prefix query, the looser one) plus twice the model similarity.
  const similarity = useTrgm ? sql`2 * similarity(model_key, ${modelKey})` : sql`0`;
  const wordScore = sql`ts_rank(search_vector, ${prefixQuery}) + 1 + ${similarity}`;
  const none = sql`select id, title, 0::real as rank from handbook_entries where false`;
  const exactWords = exact ? sql`select id, title, ${wordScore} as rank from handbook_entries where search_vector @@ ${exactQuery} limit ${SEARCH_WORD_CANDIDATES}` : none;
  const prefixWords = prefix
    ? sql`select id, title, ${wordScore} from handbook_entries where (select count(*) from exact) < ${page} and search_vector @@ ${prefixQuery} limit ${SEARCH_WORD_CANDIDATES}`
    : none;
  const gate = /\d/.test(modelKey) ? sql`` : sql`not exists (select 1 from words) and `;
  const models = useTrgm
    ? sql`select id, title, ${similarity} as rank from handbook_entries
          where ${gate}model_key % ${modelKey} and similarity(model_key, ${modelKey}) >= ${SEARCH_MODEL_SIMILARITY}
          order by rank desc limit ${SEARCH_MODEL_CANDIDATES}`
    : none;
  // The entry's summary columns come out of the ranked subquery: joining handbook_entries again
  // would cost the planner another relation (planning is a good part of a search on PGlite).
  const e = handbookEntries;
  const columns = [e.id, e.modelId, e.lockId, e.currentRevision, e.title, e.generic, e.verificationWindowDays, e.verifiedAt, e.verifiedBy, e.verifiedRevision, e.isDemo, e.createdAt, e.updatedAt];
  const hits = sql`(
    with exact as (${exactWords}),
    words as (select * from exact union (${prefixWords})),
    models as (${models}),
    ranked as (
      select id, max(rank) as rank, min(title) as title from (select * from words union all select * from models) c
      group by id order by rank desc, title, id limit ${page}
    )
    select ${sql.join(
      columns.map((c) => sql`e.${sql.identifier(c.name)}`),
      sql`, `,
    )}, ranked.rank
    from ranked join handbook_entries e on e.id = ranked.id
  ) hits`;
  const hit = <K extends keyof SearchEntry>(k: K) => sql<SearchEntry[K]>`hits.${sql.identifier(e[k].name)}`.mapWith(e[k]);
  // The first site on the lock's location path, as `HandbookService` summaries define it.
  const siteId = sql<string | null>`case when hits.lock_id is null then null else (
    select s.id from unnest(string_to_array(${locations.path}, '/')) with ordinality as p(id, n)
    join locations s on s.id::text = p.id and s.kind = 'site' order by p.n limit 1) end`;
  return db
    .select({
      entry: {
        id: hit('id'),
        modelId: hit('modelId'),
        lockId: hit('lockId'),
        currentRevision: hit('currentRevision'),
        title: hit('title'),
        generic: hit('generic'),
        verificationWindowDays: hit('verificationWindowDays'),
        verifiedAt: hit('verifiedAt'),
        verifiedBy: hit('verifiedBy'),
        verifiedRevision: hit('verifiedRevision'),
        isDemo: hit('isDemo'),
        createdAt: hit('createdAt'),
        updatedAt: hit('updatedAt'),
      },
      manufacturer: lockModels.manufacturer,
      modelNumber: lockModels.modelNumber,
      family: lockModels.family,
      lockName: locks.name,
      locationPath: locations.path,
      siteId,
      rank: sql<number>`hits.rank`.mapWith(Number),
    })
    .from(hits)
    .innerJoin(lockModels, sql`${lockModels.id} = hits.model_id`)
    .leftJoin(locks, sql`${locks.id} = hits.lock_id`)
    .leftJoin(locations, eq(locations.id, locks.locationId))
    .orderBy(sql`hits.rank desc`, sql`hits.title`, sql`hits.id`);
}
