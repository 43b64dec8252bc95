/**
 * Opens the database: embedded PGlite in the data folder (default) or PostgreSQL when a URL is given.
 * Both are wrapped in the same Drizzle type, run the same migrations, and return the same JS types.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { AppError } from '../domain/errors.js';
import * as schema from './schema.js';
import { acquireDataFolderLock, type DataFolderLock } from './data-folder-lock.js';

export type Schema = typeof schema;
/** The query builder every repository receives; identical for both engines. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export type Engine = 'pglite' | 'postgres';

/** How the job queue (pg-boss) reaches the same database: the embedded instance or the URL. */
export type JobConnection = { engine: 'pglite'; client: PGlite } | { engine: 'postgres'; url: string };

export interface Database {
  db: Db;
  engine: Engine;
  jobConnection: JobConnection;
  /** Closes the connection and releases the data-folder lock. */
  close(): Promise<void>;
}

/** Where the migration folder lives, from `src/` (tsx), `dist/` (built) and `dist/bundle/` (the bundled command). */
export function migrationsFolder(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.resolve(here, '../../drizzle'), path.resolve(here, '../../../drizzle')]) {
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
  }
  throw new AppError('store.unavailable', `migration folder not found near ${here}`);
}

// int8 comes back as a number, as PGlite returns it (numeric stays a string on both). Drizzle's node-postgres session
// passes its own per-query parsers that fall back to pg's global table, so the global table is
// where this must be set. Our int8 columns are counters, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
// `date` stays 'YYYY-MM-DD' (pg would build a local-midnight Date; PGlite gives the string).
pg.types.setTypeParser(pg.types.builtins.DATE, (v: string) => v);

/** Extensions every PGlite instance loads (the migrations create them): trigram search for model numbers. */
export const PGLITE_EXTENSIONS = { pg_trgm };

/** Serializes concurrent migration runs (several processes starting on one PostgreSQL). */
const MIGRATION_LOCK_KEY = 7_215_004_221;

/** Opens PostgreSQL at `url` and runs the migrations. */
export async function openPostgres(url: string, opts: { migrate?: boolean; max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  try {
    await pool.query('select 1');
  } catch (e) {
    await pool.end();
    throw new AppError('store.unavailable', `cannot connect to PostgreSQL: ${(e as Error).message}`);
  }
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  if (opts.migrate !== false) {
    const client = await pool.connect();
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      await migratePg(drizzlePg(client, { schema }), { migrationsFolder: migrationsFolder() });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
      client.release();
    }
  }
  return { db, engine: 'postgres', jobConnection: { engine: 'postgres', url }, close: () => pool.end() };
}

/** Wraps an open PGlite instance (file-backed or in memory) and migrates it. */
export async function wrapPglite(client: PGlite, opts: { migrate?: boolean; onClose?: () => void } = {}): Promise<Database> {
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  if (opts.migrate !== false) await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder: migrationsFolder() });
  return {
    db,
    engine: 'pglite',
    jobConnection: { engine: 'pglite', client },
    close: async () => {
      try {
        await client.close();
      } finally {
        opts.onClose?.();
      }
    },
  };
}

/**
 * PostgreSQL's buffer pool inside PGlite, in MB. PostgreSQL touches all of it at start, so it is
 * resident for the life of the process (128 MB at PostgreSQL's default): a long-running server keeps
 * the default, a one-shot CLI command takes 16 MB (its reads fall through to the OS page cache).
 */
export const SHARED_BUFFERS_MB = { server: 128, cli: 16 } as const;

/**
 * Runs `fn` with a timer holding the event loop open. PGlite's start awaits WebAssembly compilation,
 * which V8 settles from a background thread and no libuv handle represents: with nothing else open
 * (a process that does not listen yet) the loop runs dry, Node then waits for EVERY queued V8
 * background task (optimizing compiles of the code that just ran) and the rest of the start runs from
 * inside that wait, so its own file reads and timers are served only when all of them are done. That
 * stalled `serve` by 0.3-0.6 s on 2 cores (measured in the job queue's start, right after this).
 */
async function holdingTheEventLoop<T>(fn: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 60_000);
  try {
    return await fn();
  } finally {
    clearInterval(hold);
  }
}

/**
 * Opens the embedded database in `dataDir/pglite`, after taking the data folder's lock: exactly one
 * process may own it, a second fails at once naming the owner's PID.
 */
export async function openEmbedded(dataDir: string, info: { purpose: string; sharedBuffersMb?: number; migrate?: boolean }): Promise<Database & { lock: DataFolderLock }> {
  mkdirSync(dataDir, { recursive: true });
  const lock = acquireDataFolderLock(dataDir, info.purpose);
  try {
    // PGlite writes this as the folder's postgresql.conf on every open: always pass it, so one
    // opener's setting never carries over to the next.
    const postgresqlconf = `shared_buffers=${info.sharedBuffersMb ?? SHARED_BUFFERS_MB.server}MB\n`;
    const client = await holdingTheEventLoop(() => PGlite.create(path.join(dataDir, 'pglite'), { extensions: PGLITE_EXTENSIONS, postgresqlconf }));
    const database = await wrapPglite(client, { onClose: () => lock.release(), migrate: info.migrate !== false });
    return { ...database, lock };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Opens whichever database the configuration names. */
export async function openDatabase(cfg: { databaseUrl?: string | undefined; dataDir: string; purpose: string; sharedBuffersMb?: number }): Promise<Database & { lock?: DataFolderLock }> {
  if (cfg.databaseUrl) return openPostgres(cfg.databaseUrl);
  return openEmbedded(cfg.dataDir, { purpose: cfg.purpose, ...(cfg.sharedBuffersMb ? { sharedBuffersMb: cfg.sharedBuffersMb } : {}) });
}

/** Runs `fn` in a transaction; everything it writes lands together or not at all. */
export function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction((tx) => fn(tx as unknown as Db));
}

/** Runs raw SQL and returns its rows (both engines put them in `.rows`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (result as { rows: T[] }).rows;
}

/** A cheap liveness probe for /healthz. */
export async function ping(db: Db): Promise<void> {
  await queryRows(db, sql`select 1`);
}
