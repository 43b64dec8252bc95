/**
 * The database side of backup and restore, portable between PGlite and PostgreSQL: a dump is every
 * table of the `public` schema as rows of JSON (PostgreSQL's own `row_to_json`, read through a cursor
 * in one REPEATABLE READ, READ ONLY transaction, so it is one consistent snapshot while the server
 * keeps writing), in foreign-key order, with the list of migrations the database had. A load runs in
 * ONE transaction on an empty database: the archive's migrations, its rows
 * (`json_populate_recordset`, so every type comes back through its own input function), then this
 * build's newer migrations. Anything wrong rolls all of it back.
 */
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { sql } from 'drizzle-orm';
import { AppError } from '../domain/errors.js';
import { inTransaction, migrationsFolder, queryRows, type Db } from './database.js';

/** One table as the dump carries it. Generated columns are left out (the target computes them). */
export interface DumpTable {
  name: string;
  columns: string[];
  /** Columns referencing the same table (a tree): its rows are loaded parents first. */
  selfRefs: Array<{ column: string; references: string }>;
}

/** One applied migration, as drizzle records it. */
export interface DumpMigration {
  hash: string;
  createdAt: number;
}

export interface DumpMeta {
  migrations: DumpMigration[];
  tables: DumpTable[];
}

/** Where a dump goes; each call may wait (back-pressure). */
export interface DumpSink {
  begin(meta: DumpMeta): Promise<void>;
  table(table: DumpTable): Promise<void>;
  /** Rows of the current table, each the JSON text of one row. */
  rows(json: string[]): Promise<void>;
}

const ident = (s: string) => sql.identifier(s);
const columnList = (cols: string[]) => sql.join(cols.map(ident), sql`, `);

async function readMeta(tx: Db): Promise<DumpMeta> {
  const tables = await queryRows<{ name: string }>(tx, sql`select c.relname as name from pg_class c where c.relkind in ('r', 'p') and c.relnamespace = 'public'::regnamespace order by c.relname`);
  const cols = await queryRows<{ table: string; column: string; bytea: boolean }>(
    tx,
    sql`select c.relname as "table", a.attname as "column" from pg_attribute a join pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
        order by c.relname, a.attnum`,
  );
  const fks = await queryRows<{ table: string; ref: string; column: string; refColumn: string }>(
    tx,
    sql`select c.relname as "table", r.relname as "ref", a.attname as "column", ra.attname as "refColumn"
        from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid
        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
        join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = k.confkey[1]
        where k.contype = 'f' and k.connamespace = 'public'::regnamespace`,
  );
  const byName = new Map<string, DumpTable>(tables.map((t) => [t.name, { name: t.name, columns: [], selfRefs: [] }]));
  for (const c of cols) byName.get(c.table)?.columns.push(c.column);
  const deps = new Map<string, Set<string>>(tables.map((t) => [t.name, new Set<string>()]));
  for (const f of fks) {
    if (f.table === f.ref) byName.get(f.table)?.selfRefs.push({ column: f.column, references: f.refColumn });
    else deps.get(f.table)?.add(f.ref);
  }
  // Referenced tables first (the schema has no cycles between tables; a tree within one is handled on load).
  const ordered: DumpTable[] = [];
  const seen = new Set<string>();
  const visit = (name: string, trail: string[]) => {
    if (seen.has(name)) return;
    if (trail.includes(name)) throw new AppError('internal', `foreign keys form a cycle: ${[...trail, name].join(' -> ')}`);
    for (const d of deps.get(name) ?? []) visit(d, [...trail, name]);
    seen.add(name);
    ordered.push(byName.get(name)!);
  };
  for (const t of tables) visit(t.name, []);
  const migrations = (await queryRows<{ hash: string; created_at: number | string }>(tx, sql`select hash, created_at from drizzle.__drizzle_migrations order by created_at, id`)).map((m) => ({
    hash: m.hash,
    createdAt: Number(m.created_at),
  }));
  return { migrations, tables: ordered };
}

/**
 * Reads the whole database as one snapshot into `sink`. The transaction stays open while the sink
 * takes the rows, so a slow sink holds it open (on PGlite, the one connection waits meanwhile).
 */
export async function dumpDatabase(db: Db, sink: DumpSink): Promise<void> {
  await inTransaction(db, async (tx) => {
    await tx.execute(sql`set transaction isolation level repeatable read, read only`);
    const meta = await readMeta(tx);
    await sink.begin(meta);
    for (const t of meta.tables) {
      await sink.table(t);
      if (t.columns.length === 0) continue;
      const hasBytes = (await queryRows<{ n: number }>(tx, sql`select count(*)::int as n from pg_attribute where attrelid = ${`public."${t.name}"`}::regclass and atttypid = 'bytea'::regtype and attnum > 0 and not attisdropped`))[0]!.n > 0;
      // Attachments hold up to 5 MB each: fetch few rows at a time there.
      const batch = hasBytes ? 8 : 1000;
      await tx.execute(sql`declare lw_backup no scroll cursor for select row_to_json(x)::text as j from (select ${columnList(t.columns)} from ${ident('public')}.${ident(t.name)}) x`);
      for (;;) {
        const rows = await queryRows<{ j: string }>(tx, sql.raw(`fetch ${batch} from lw_backup`));
        if (rows.length === 0) break;
        await sink.rows(rows.map((r) => r.j));
      }
      await tx.execute(sql`close lw_backup`);
    }
  });
}

/** The migrations this build ships, in order. */
function buildMigrations() {
  return readMigrationFiles({ migrationsFolder: migrationsFolder() });
}

/** Refuses a database that has any table, view or sequence outside PostgreSQL's own schemas. */
export async function assertEmptyDatabase(db: Db, where: string): Promise<void> {
  const [row] = await queryRows<{ n: number; example: string | null }>(
    db,
    sql`select count(*)::int as n, min(n.nspname || '.' || c.relname) as example from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'`,
  );
  if (row && row.n > 0) {
    throw new AppError('backup.target_not_empty', `${where} is not empty (it has ${row.n} table(s), ${row.example} among them): restore only into an empty database; nothing was changed`);
  }
}

async function applyMigrations(tx: Db, migrations: ReturnType<typeof buildMigrations>): Promise<void> {
  await tx.execute(sql`create schema if not exists drizzle`);
  await tx.execute(sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
  for (const m of migrations) {
    for (const stmt of m.sql) if (stmt.trim()) await tx.execute(sql.raw(stmt));
    await tx.execute(sql`insert into drizzle.__drizzle_migrations ("hash", "created_at") values (${m.hash}, ${m.folderMillis})`);
  }
}

/** Rows of one table as they come out of an archive. */
export interface LoadSection {
  table: DumpTable;
  rows: AsyncIterable<string[]>;
}

/** How many rows went into each table. */
export type LoadCounts = Record<string, number>;

/**
 * Loads a dump into an empty database in one transaction: the archive's migrations (which must be
 * the first ones of this build), its rows, then this build's newer migrations. `sections` is read
 * once, in order; `beforeCommit` runs last inside the transaction (to check the archive's end and counts).
 */
export async function loadDatabase(db: Db, meta: DumpMeta, sections: AsyncIterable<LoadSection>, beforeCommit: (counts: LoadCounts) => Promise<void>): Promise<LoadCounts> {
  const ours = buildMigrations();
  const theirs = meta.migrations;
  const prefix = theirs.length <= ours.length && theirs.every((m, i) => ours[i]!.hash === m.hash);
  if (!prefix) {
    throw new AppError(
      'backup.incompatible',
      `this archive was made by a lockwarden whose database has migrations this build does not (${theirs.length} in the archive, ${ours.length} here, first difference at #${theirs.findIndex((m, i) => ours[i]?.hash !== m.hash) + 1}): restore it with that version or a newer one; nothing was changed`,
    );
  }
  return inTransaction(db, async (tx) => {
    await assertEmptyDatabase(tx, 'the target database');
    await applyMigrations(tx, ours.slice(0, theirs.length));
    // Migrations may seed rows (the audit log's head): the archive's rows replace them.
    for (const t of meta.tables) {
      const [seeded] = await queryRows<{ n: number }>(tx, sql`select count(*)::int as n from ${ident('public')}.${ident(t.name)}`);
      if (seeded && seeded.n > 0) await tx.execute(sql`delete from ${ident('public')}.${ident(t.name)}`);
    }
    const counts: LoadCounts = {};
    for await (const section of sections) {
      const t = section.table;
      if (!meta.tables.some((m) => m.name === t.name)) throw new AppError('backup.corrupted', `the archive holds rows of table ${t.name} its header does not list; nothing was restored`);
      const insert = async (rows: string[]) => {
        if (rows.length === 0) return;
        await tx.execute(sql`insert into ${ident('public')}.${ident(t.name)} (${columnList(t.columns)}) select ${columnList(t.columns)} from json_populate_recordset(null::${ident('public')}.${ident(t.name)}, ${`[${rows.join(',')}]`}::json)`);
        counts[t.name] = (counts[t.name] ?? 0) + rows.length;
      };
      if (t.selfRefs.length) {
        // A tree: parents before children (the table is small: locations).
        const all: string[] = [];
        for await (const rows of section.rows) all.push(...rows);
        await insert(treeOrder(all, t.selfRefs));
        continue;
      }
      let pending: string[] = [];
      let bytes = 0;
      for await (const rows of section.rows) {
        for (const r of rows) {
          pending.push(r);
          bytes += r.length;
          if (pending.length >= 1000 || bytes > 4_000_000) {
            await insert(pending);
            pending = [];
            bytes = 0;
          }
        }
      }
      await insert(pending);
    }
    await applyMigrations(tx, ours.slice(theirs.length));
    await beforeCommit(counts);
    return counts;
  });
}

function treeOrder(rows: string[], refs: DumpTable['selfRefs']): string[] {
  const parsed = rows.map((text) => ({ text, row: JSON.parse(text) as Record<string, unknown> }));
  const out: string[] = [];
  const placed = new Set<string>();
  let rest = parsed;
  while (rest.length) {
    const next = rest.filter((r) => refs.some((ref) => r.row[ref.column] != null && !placed.has(String(r.row[ref.column]))));
    if (next.length === rest.length) throw new AppError('backup.corrupted', 'rows of a tree refer to parents the archive does not hold; nothing was restored');
    for (const r of rest) {
      if (next.includes(r)) continue;
      out.push(r.text);
      for (const ref of refs) placed.add(String(r.row[ref.references]));
    }
    rest = next;
  }
  return out;
}

/** Rows per table, for comparing a restored database with its source. */
export async function tableFingerprint(db: Db): Promise<Record<string, { rows: number; md5: string }>> {
  return inTransaction(db, async (tx) => {
  await tx.execute(sql`set local timezone = 'UTC'`);
  const out: Record<string, { rows: number; md5: string }> = {};
  const meta = await readMeta(tx);
  for (const t of meta.tables) {
    if (t.columns.length === 0) continue;
    const [r] = await queryRows<{ n: number; md5: string | null }>(
      tx,
      sql`select count(*)::int as n, md5(string_agg(j, E'\n' order by j)) as md5 from (select row_to_json(x)::text as j from (select ${columnList(t.columns)} from ${ident('public')}.${ident(t.name)}) x) y`,
    );
    out[t.name] = { rows: r!.n, md5: r!.md5 ?? '' };
  }
  return out;
  });
}
