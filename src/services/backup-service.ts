/**
 * Backup and restore. A backup is one encrypted archive (`crypto/backup-archive.ts`) of a gzip'd
 * stream of lines, each starting with its kind:
 *
 *   B {kind, format, version, createdAt, engine, keySources}   what made it
 *   F {path, mode, data}                                        a file of the data folder (base64): keys/*,
 *                                                               audit/checkpoints.jsonl, simulator.json
 *   H {migrations, tables}                                      the database's shape (store/backup-store.ts)
 *   T {name}                                                    the rows of this table follow
 *   R <row as JSON>                                             one row
 *   E {rows, files}                                             the end, with counts to check
 *
 * The files are read before the database snapshot, so every checkpoint in the checkpoint file is
 * also in the snapshot's table (verification accepts the table having more). A restore reads the
 * whole archive inside the load's one transaction and commits only after the end line and the
 * archive's last authenticated chunk, so a damaged archive changes nothing.
 */
import { requireStepUp } from '../domain/second-factor.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { VERSION } from '../config.js';
import { checkPassphrase, decryptingStream, encryptingStream } from '../crypto/backup-archive.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { assertEmptyDatabase, dumpDatabase, loadDatabase, type DumpMeta, type DumpTable, type LoadSection } from '../store/backup-store.js';
import { openEmbedded, openPostgres, type Database } from '../store/database.js';
import { authorize, actorId, type ServiceContext } from './context.js';

/** A file of the data folder carried in the archive (never written outside the target folder). */
interface ArchiveFile {
  path: string;
  mode: number;
  data: string;
}

/** What the archive says about where each key came from: a file it carries, or a variable it does not. */
type KeySources = Record<'secret' | 'master' | 'signing', 'file' | 'environment'>;

const FILE_PATHS = /^(keys\/[A-Za-z0-9._-]+|audit\/checkpoints\.jsonl|simulator\.json)$/;

export interface BackupFiles {
  /** The data folder whose keys, checkpoint file and simulator state the archive carries (null: none). */
  dataDir: string | null;
}

export interface RestoreReport {
  target: string;
  engine: 'pglite' | 'postgres';
  madeBy: string;
  createdAt: string;
  rows: number;
  tables: number;
  files: string[];
  notes: string[];
}

function keySources(env: NodeJS.ProcessEnv = process.env): KeySources {
  return {
    secret: env.LOCKWARDEN_SECRET_KEY ? 'environment' : 'file',
    master: env.LOCKWARDEN_MASTER_KEY ? 'environment' : 'file',
    signing: env.LOCKWARDEN_AUDIT_SIGNING_KEY ? 'environment' : 'file',
  };
}

/** Writes backups of the running deployment. */
export class BackupService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly files: BackupFiles,
  ) {}

  /**
   * Starts a backup: records it in the audit log, signs the log's head, reads the data folder's files,
   * then streams the database as one snapshot. The stream fails (and so never ends cleanly) if
   * anything goes wrong half way.
   */
  async create(actor: Actor, input: { passphrase?: unknown }): Promise<Readable> {
    authorize(actor, 'backup.create');
    requireStepUp(actor, 'backup.create', this.ctx.clock.now());
    const passphrase = checkPassphrase(typeof input.passphrase === 'string' ? input.passphrase : undefined);
    await this.ctx.audit.record(this.ctx.db, { actor, action: 'backup.create', target: { type: 'deployment', id: 'backup', label: 'backup archive' }, details: { engine: this.ctx.engine, by: actorId(actor) } });
    await this.ctx.audit.checkpoint();
    const files = this.readFiles();
    const gzip = createGzip({ level: 6 });
    const encrypt = await encryptingStream(passphrase);
    const out = new PassThrough();
    gzip.on('error', (e) => out.destroy(e));
    encrypt.on('error', (e) => out.destroy(e));
    gzip.pipe(encrypt).pipe(out);
    let closed = false;
    out.on('close', () => {
      closed = true;
      gzip.destroy();
    });
    const write = async (line: string) => {
      if (closed) throw new AppError('internal', 'the backup reader went away');
      if (!gzip.write(`${line}\n`)) {
        await new Promise<void>((resolve, reject) => {
          const done = () => {
            gzip.off('drain', done);
            out.off('close', gone);
            resolve();
          };
          const gone = () => {
            gzip.off('drain', done);
            reject(new AppError('internal', 'the backup reader went away'));
          };
          gzip.once('drain', done);
          out.once('close', gone);
        });
      }
    };
    void (async () => {
      const counts = { rows: 0, files: files.length };
      await write(`B${JSON.stringify({ kind: 'lockwarden-backup', format: 1, version: VERSION, createdAt: this.ctx.clock.now().toISOString(), engine: this.ctx.engine, keySources: keySources() })}`);
      for (const f of files) await write(`F${JSON.stringify(f)}`);
      await dumpDatabase(this.ctx.db, {
        begin: (meta) => write(`H${JSON.stringify(meta)}`),
        table: (t) => write(`T${JSON.stringify({ name: t.name })}`),
        rows: async (rows) => {
          counts.rows += rows.length;
          // One write per batch: each row is its own line.
          await write(rows.map((r) => `R${r}`).join('\n'));
        },
      });
      await write(`E${JSON.stringify(counts)}`);
      gzip.end();
    })().catch((e: unknown) => {
      out.destroy(e instanceof Error ? e : new Error(String(e)));
    });
    return out;
  }

  private readFiles(): ArchiveFile[] {
    const dir = this.files.dataDir;
    const out: ArchiveFile[] = [];
    const add = (abs: string, rel: string) => {
      if (!existsSync(abs) || !statSync(abs).isFile()) return;
      out.push({ path: rel, mode: statSync(abs).mode & 0o777, data: readFileSync(abs).toString('base64') });
    };
    if (dir) {
      const keys = path.join(dir, 'keys');
      if (existsSync(keys)) for (const name of readdirSync(keys).sort()) if (FILE_PATHS.test(`keys/${name}`)) add(path.join(keys, name), `keys/${name}`);
      add(path.join(dir, 'simulator.json'), 'simulator.json');
    }
    const checkpoints = this.ctx.audit.checkpointsFile;
    if (checkpoints) add(checkpoints, 'audit/checkpoints.jsonl');
    return out;
  }
}

/** Splits a byte stream into lines (UTF-8), passing on the stream's error. */
async function* linesOf(stream: Readable): AsyncGenerator<string> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let nl: number;
    while ((nl = buf.indexOf(10)) >= 0) {
      yield buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
    }
    rest = buf;
  }
  if (rest.length) yield rest.toString('utf8');
}

const damaged = (why: string) => new AppError('backup.corrupted', `the backup archive is damaged: ${why}; nothing was restored`);

function parseJson<T>(line: string, what: string): T {
  try {
    return JSON.parse(line.slice(1)) as T;
  } catch {
    throw damaged(`its ${what} line is not readable`);
  }
}

/** A folder that does not exist or holds nothing. */
function isEmptyFolder(dir: string): boolean {
  if (!existsSync(dir)) return true;
  if (!statSync(dir).isDirectory()) return false;
  return readdirSync(dir).length === 0;
}

export interface RestoreOptions {
  /** The archive's bytes. */
  archive: Readable;
  passphrase: string;
  /** The data folder: the target itself (embedded), or where the keys go (with `databaseUrl`). */
  dataDir: string;
  /** Restore into this PostgreSQL database (must be empty) instead of an embedded one in `dataDir`. */
  databaseUrl?: string | undefined;
}

/**
 * Restores an archive into an empty data folder (embedded database) or an empty PostgreSQL
 * database. Refuses a non-empty target, a wrong passphrase and a damaged archive with nothing
 * changed: the embedded database is built in a sibling folder renamed into place at the end, and
 * PostgreSQL's load is one transaction.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreReport> {
  const target = path.resolve(opts.dataDir);
  const embedded = !opts.databaseUrl;
  if (embedded && !isEmptyFolder(target)) {
    throw new AppError('backup.target_not_empty', `data folder ${target} is not empty: restore only into a new or empty folder; nothing was changed`);
  }
  const decrypt = decryptingStream(opts.passphrase);
  const gunzip = createGunzip();
  opts.archive.on('error', (e) => gunzip.destroy(e));
  decrypt.on('error', (e) => gunzip.destroy(e));
  opts.archive.pipe(decrypt).pipe(gunzip);
  const lines = linesOf(gunzip);
  const next = async (): Promise<string | null> => {
    try {
      const r = await lines.next();
      return r.done ? null : r.value;
    } catch (e) {
      if (isAppError(e)) throw e;
      throw damaged((e as Error).message);
    }
  };

  let work: string | null = null;
  let database: Database | null = null;
  try {
    const first = await next();
    if (!first?.startsWith('B')) throw damaged('it does not start with its description');
    const made = parseJson<{ kind: string; format: number; version: string; createdAt: string; keySources?: KeySources }>(first, 'description');
    if (made.kind !== 'lockwarden-backup' || made.format !== 1) throw new AppError('backup.incompatible', `this archive's format (${made.kind} ${made.format}) is not one this version reads; nothing was restored`);
    const files: ArchiveFile[] = [];
    let line = await next();
    while (line?.startsWith('F')) {
      const f = parseJson<ArchiveFile>(line, 'file');
      if (!FILE_PATHS.test(f.path)) throw damaged(`it names a file outside what a backup carries (${f.path})`);
      files.push(f);
      line = await next();
    }
    if (!line?.startsWith('H')) throw damaged('its database description is missing');
    const meta = parseJson<DumpMeta>(line, 'database description');
    if (!embedded) checkKeyConflicts(target, files);

    if (embedded) {
      work = `${target}.restoring-${process.pid}`;
      rmSync(work, { recursive: true, force: true });
      mkdirSync(path.dirname(target), { recursive: true });
      database = await openEmbedded(work, { purpose: 'restore', migrate: false });
    } else {
      database = await openPostgres(opts.databaseUrl!, { migrate: false, max: 2 });
      await assertEmptyDatabase(database.db, 'the PostgreSQL database');
    }

    let pending: string | null = await next();
    const end: { value: { rows: number; files: number } | null } = { value: null };
    async function* sections(): AsyncGenerator<LoadSection> {
      while (pending !== null) {
        if (pending.startsWith('E')) {
          end.value = parseJson<{ rows: number; files: number }>(pending, 'end');
          pending = await next();
          if (pending !== null) throw damaged('it goes on after its end');
          return;
        }
        if (!pending.startsWith('T')) throw damaged('a row comes before its table');
        const name = parseJson<{ name: string }>(pending, 'table').name;
        const table = meta.tables.find((t: DumpTable) => t.name === name);
        if (!table) throw damaged(`it holds table ${name} that its description does not list`);
        pending = await next();
        async function* rows(): AsyncGenerator<string[]> {
          let batch: string[] = [];
          while (pending?.startsWith('R')) {
            batch.push(pending.slice(1));
            if (batch.length >= 500) {
              yield batch;
              batch = [];
            }
            pending = await next();
          }
          if (batch.length) yield batch;
        }
        yield { table, rows: rows() };
      }
      throw damaged('its end line is missing');
    }
    const counts = await loadDatabase(database.db, meta, sections(), async (loaded) => {
      // Reached only once every line was read, so the archive's last chunk has authenticated.
      const theEnd = end.value;
      if (!theEnd) throw damaged('its end line is missing');
      const held = Object.values(loaded).reduce((a, b) => a + b, 0);
      if (theEnd.rows !== held || theEnd.files !== files.length) throw damaged(`it promised ${theEnd.rows} rows and ${theEnd.files} files, and held ${held} and ${files.length}`);
    });
    const rows = Object.values(counts).reduce((a, b) => a + b, 0);
    const where = embedded ? work! : target;
    writeFiles(where, files);
    await database.close();
    database = null;
    if (embedded) {
      if (existsSync(target)) rmdirSync(target);
      renameSync(work!, target);
      work = null;
    }
    const notes: string[] = [];
    const ks = made.keySources;
    if (ks) {
      for (const [k, v] of Object.entries(ks)) {
        if (v === 'environment') {
          const name = { secret: 'LOCKWARDEN_SECRET_KEY', master: 'LOCKWARDEN_MASTER_KEY', signing: 'LOCKWARDEN_AUDIT_SIGNING_KEY' }[k as keyof KeySources];
          notes.push(`the archive does not carry ${name} (the backed-up server had it from the environment): start the restored deployment with the same value`);
        }
      }
    }
    return { target: embedded ? target : 'PostgreSQL', engine: embedded ? 'pglite' : 'postgres', madeBy: made.version, createdAt: made.createdAt, rows, tables: Object.keys(counts).length, files: files.map((f) => f.path), notes };
  } catch (e) {
    throw isAppError(e) ? e : new AppError('backup.corrupted', `the backup could not be restored: ${(e as Error).message}; nothing was restored`);
  } finally {
    opts.archive.unpipe();
    gunzip.destroy();
    if (database) await database.close().catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

/** Keys already in the data folder must be the archive's own: a different key would make its secrets unreadable. */
function checkKeyConflicts(dir: string, files: ArchiveFile[]): void {
  for (const f of files) {
    const abs = path.join(dir, f.path);
    if (existsSync(abs) && !readFileSync(abs).equals(Buffer.from(f.data, 'base64'))) {
      throw new AppError('backup.target_not_empty', `${abs} already exists and differs from the archive's: move it away (the archive's key is the one its secrets need); nothing was changed`);
    }
  }
}

function writeFiles(dir: string, files: ArchiveFile[]): void {
  for (const f of files) {
    const abs = path.join(dir, f.path);
    mkdirSync(path.dirname(abs), { recursive: true, mode: 0o700 });
    writeFileSync(abs, Buffer.from(f.data, 'base64'), { mode: 0o600 });
  }
}
