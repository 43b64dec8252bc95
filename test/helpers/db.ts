/**
 * Fresh migrated databases for tests, fast: migrations run once into a template, and each test gets
 * a copy. PGlite: a dumped data directory cached in the temp folder, loaded per test. PostgreSQL
 * (TEST_DATABASE_URL): CREATE DATABASE ... TEMPLATE, dropped again when the test closes it.
 */
import { BUILT_IN_FACTORIES, type DriverFactories } from '../../src/drivers/integration-host.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { fixedClock, systemIds, type Clock } from '../../src/domain/clock.js';
import { migrationsFolder, openPostgres, PGLITE_EXTENSIONS, wrapPglite, type Database, type Engine } from '../../src/store/database.js';
import type { Services } from '../../src/services/index.js';
import { SecretBox, staticKeySource } from '../../src/crypto/secret-box.js';
import { memoryMasterKeyring } from '../../src/crypto/envelope.js';
import { memoryCheckpointSigner, type CheckpointSigner } from '../../src/crypto/audit-chain.js';
import { JobQueue, type ReconcileRequest } from '../../src/jobs/queue.js';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { SimFleet } from '../../src/drivers/simulator/index.js';
import { outboundPolicy } from '../../src/net/outbound.js';

/**
 * An outbound policy with no private network allowed: start-up then records no allowance in the audit
 * log, so a suite that counts entries sees its own from seq 1.
 */
export const NO_PRIVATE = outboundPolicy();

/** Engines the storage suites run on: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export const ENGINES: Engine[] = ['pglite', ...(process.env.TEST_DATABASE_URL ? (['postgres'] as const) : [])];
if (process.env.LOCKWARDEN_REQUIRE_PG === '1' && !process.env.TEST_DATABASE_URL) {
  throw new Error('LOCKWARDEN_REQUIRE_PG=1 but TEST_DATABASE_URL is not set: the PostgreSQL suite cannot be skipped here');
}

function migrationsHash(): string {
  const dir = migrationsFolder();
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else h.update(f.name).update(readFileSync(p));
    }
  };
  walk(dir);
  h.update((JSON.parse(readFileSync(createRequire(import.meta.url).resolve('pg-boss/package.json'), 'utf8')) as { version: string }).version);
  return h.digest('hex').slice(0, 16);
}

async function pgliteTemplate(): Promise<Buffer> {
  const file = path.join(tmpdir(), `lockwarden-test-template-${migrationsHash()}.tar.gz`);
  if (existsSync(file)) return readFileSync(file);
  const client = new PGlite({ extensions: PGLITE_EXTENSIONS });
  await wrapPglite(client);
  // The job queue's schema is part of the template too, so tests that start a queue start fast.
  await (await JobQueue.open({ engine: 'pglite', client }, { supervise: false })).stop();
  const blob = await client.dumpDataDir('gzip');
  await client.close();
  const buf = Buffer.from(await blob.arrayBuffer());
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, buf);
  renameSync(tmp, file);
  return buf;
}

async function pgTemplate(adminUrl: string): Promise<string> {
  const name = `lw_tpl_${migrationsHash()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('select pg_advisory_lock(4242001)');
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) {
      await admin.query(`create database ${name}`);
      const db = await openPostgres(withDatabase(adminUrl, name));
      await (await JobQueue.open(db.jobConnection, { supervise: false })).stop();
      await db.close();
    }
  } finally {
    await admin.query('select pg_advisory_unlock(4242001)').catch(() => undefined);
    await admin.end();
  }
  return name;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A new, migrated, empty database on `engine`; closing it throws the copy away. */
export async function testDatabase(engine: Engine = 'pglite'): Promise<Database> {
  if (engine === 'pglite') {
    const tpl = await pgliteTemplate();
    const client = new PGlite({ loadDataDir: new Blob([new Uint8Array(tpl)]), extensions: PGLITE_EXTENSIONS });
    return wrapPglite(client, { migrate: false });
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const template = await pgTemplate(adminUrl);
  const name = `lw_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const db = await openPostgres(withDatabase(adminUrl, name), { migrate: false, max: 4 });
  return {
    ...db,
    close: async () => {
      await db.close();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`drop database if exists ${name}`).finally(() => a.end());
    },
  };
}

/** A fixed key for tests: ciphertexts differ per run (random IVs), the key does not. */
export const TEST_SECRETS = new SecretBox(staticKeySource(Buffer.alloc(32, 7)));

export interface TestEnv {
  database: Database;
  services: Services;
  runtime: Runtime;
  /** The in-process simulator the services reach simulated locks through. */
  fleet: SimFleet;
  clock: Clock & { advance(ms: number): void };
  /** Reconcile jobs queued so far when no real queue runs (`queue: false`, the default). */
  queued: ReconcileRequest[];
  /** The audit log's checkpoint signer and file, private to this environment. */
  audit: { signer: CheckpointSigner; checkpointsFile: string };
  close(): Promise<void>;
}

export interface TestServicesOptions {
  /** Start the real durable queue and a worker (default: no queue; jobs are recorded in `queued`). */
  queue?: boolean;
  fleet?: SimFleet;
  clock?: Clock & { advance(ms: number): void };
  runtime?: Partial<RuntimeOptions>;
}

/** The drivers tests start integrations with: all this build ships except Matter's real-network one. */
export const TEST_DRIVER_FACTORIES: DriverFactories = Object.fromEntries(Object.entries(BUILT_IN_FACTORIES).filter(([name]) => name !== 'matter'));

/** Services over a fresh database with a clock the test controls and an in-process simulator. */
export async function testServices(engine: Engine = 'pglite', opts: TestServicesOptions = {}): Promise<TestEnv> {
  const database = await testDatabase(engine);
  const clock = opts.clock ?? fixedClock(new Date('2026-03-01T09:00:00Z'));
  const fleet = opts.fleet ?? new SimFleet();
  const queued: ReconcileRequest[] = [];
  const auditDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-audit-'));
  const audit = { signer: memoryCheckpointSigner(), checkpointsFile: path.join(auditDir, 'checkpoints.jsonl') };
  try {
    const runtime = await startRuntime({
      database,
      dataDir: tmpdir(),
      simulator: { kind: 'in-process', fleet },
      secrets: TEST_SECRETS,
      // A keyring per environment, so a rotation in one test never touches another.
      masterKeys: memoryMasterKeyring(Buffer.alloc(32, 9)),
      clock,
      ids: systemIds,
      queue: opts.queue ?? false,
      worker: opts.queue ?? false,
      driftCheckSeconds: 0,
      // No real Matter controller in tests: it would advertise and listen on the machine's own network.
      // A test that wants one passes a factory on matter.js's simulated network.
      driverFactories: TEST_DRIVER_FACTORIES,
      audit: { ...audit, checkpointSeconds: 0, checkpointOnStop: false },
      // The test peers of integrations and SMTP listen on 127.0.0.1, as an owner's LAN servers would:
      // those kinds are allowed a private network, as LOCKWARDEN_ALLOW_PRIVATE_TARGETS would; feeds and webhooks are not.
      outbound: outboundPolicy({ allowPrivate: ['integration', 'smtp', 'sso'] }),
      ...(opts.queue ? {} : { jobs: { enqueue: async (r: ReconcileRequest[]) => void queued.push(...r) } }),
      ...opts.runtime,
    });
    return {
      database,
      services: runtime.services,
      runtime,
      fleet,
      clock,
      queued,
      audit,
      close: async () => {
        await runtime.stop();
        await database.close();
        rmSync(auditDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(auditDir, { recursive: true, force: true });
    await database.close();
    throw e;
  }
}
