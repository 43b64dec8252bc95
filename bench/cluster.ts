/**
 * A lockwarden deployment of several processes on this machine, for the multi-process test and the
 * scale benchmark: `lockwarden sim` as its own process (its devices seeded through a state file), api
 * and worker processes of the built CLI (`bin/lockwarden.mjs`) on one database, and a fleet turnover
 * driven through the HTTP API. Every child is ended by its PID at `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { SecretBox, staticKeySource } from '../src/crypto/secret-box.js';
import type { Actor } from '../src/domain/identity.js';
import { SimFleet, type SimLogEntry } from '../src/drivers/simulator/index.js';
import { startRuntime } from '../src/runtime.js';
import { openDatabase, queryRows, type Database } from '../src/store/database.js';
import { seedTurnoverFleet, turnoverChange } from './fleet.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
const ENTRY = path.join(ROOT, 'bin', 'lockwarden.mjs');
const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
export const OWNER = { email: 'scale-owner@example.test', password: 'correct horse battery staple' };
/** How long a child may take to say it is ready (a busy 2-core machine opening PostgreSQL). */
const READY_MS = 45_000;

/** One child process of the deployment. */
export interface Child {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ClusterOptions {
  /** PostgreSQL URL of an empty (or migrated) database; unset: the embedded database in the data folder (one `all` process only). */
  databaseUrl?: string | undefined;
  locks: number;
  hubSize: number;
  /** Commands each process sends at once to one simulated hub. */
  hubConcurrency: number;
  latencyMs: number;
  /** Worker processes (`--role worker`); 0 with `databaseUrl` unset runs one `--role all` process. */
  workers: number;
  /** Jobs one worker holds at once (LOCKWARDEN_WORKER_CONCURRENCY). */
  workerConcurrency?: number;
  /** Api processes (`--role api`; default 1). */
  apis?: number;
}

export interface Cluster {
  simUrl: string;
  sim: Child;
  apiUrls: string[];
  apis: Child[];
  workers: Child[];
  siteId: string;
  database: Database;
  /** The deployment's secret box (every process gets the same key). */
  secrets: SecretBox;
  /** Starts one more worker process. */
  addWorker(): Promise<Child>;
  /** Signs in as the owner on `apiUrl`: the session cookie and CSRF token. */
  signIn(apiUrl: string): Promise<{ cookie: string; csrf: string }>;
  /** The simulator's own log of applied changes. */
  simLog(): Promise<SimLogEntry[]>;
  /** Credentials still on their way. */
  open(): Promise<number>;
  stop(): Promise<void>;
}

export { OLD_HOLDERS } from './fleet.js';

/** Seeds the database and a simulator state file, then starts the simulator, the api and the workers. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cluster-'));
  const dataDir = path.join(dir, 'data');
  const secretKey = randomBytes(32);
  const children: Child[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, LOCKWARDEN_DATA: dataDir, DATABASE_URL: o.databaseUrl ?? '', LOCKWARDEN_SECRET_KEY: secretKey.toString('base64'), LOG_LEVEL: 'warn', NO_COLOR: '1', LOCKWARDEN_NO_DEMO: '1', LOCKWARDEN_SIM_HUB_CONCURRENCY: String(o.hubConcurrency) };
  if (o.workerConcurrency) env.LOCKWARDEN_WORKER_CONCURRENCY = String(o.workerConcurrency);
  for (const k of ['LOCKWARDEN_TOKEN', 'LOCKWARDEN_URL', 'LOCKWARDEN_SIM_URL', 'LOCKWARDEN_ROLE', 'NODE_TEST_CONTEXT', 'TEST_DATABASE_URL']) delete env[k];

  const start = async (name: string, args: string[], ready: RegExp, extra: NodeJS.ProcessEnv = {}): Promise<{ child: Child; match: RegExpExecArray }> => {
    // BENCH_CHILD_NODE_ARGS: Node flags for every child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
    const nodeArgs = process.env.BENCH_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...nodeArgs, ENTRY, ...args], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const c: Child = { name, child, output: () => out, exited };
    children.push(c);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not get ready in ${READY_MS} ms:\n${out}`)), READY_MS);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = ready.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${out}`));
      });
    });
    return { child: c, match };
  };
  const killAll = () => {
    for (const c of children) {
      if (c.child.pid === undefined || c.child.exitCode !== null || c.child.signalCode !== null) continue;
      try {
        process.kill(c.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };

  let database: Database | null = null;
  try {
    // Seed, with nothing else running: the owner, then the fleet (bench/fleet.ts).
    const secrets = new SecretBox(staticKeySource(secretKey));
    database = await openDatabase({ databaseUrl: o.databaseUrl, dataDir, purpose: 'cluster seed' });
    const fleet = new SimFleet();
    const seed = await startRuntime({ database, dataDir, simulator: { kind: 'in-process', fleet }, secrets, queue: false, worker: false, driftCheckSeconds: 0, jobs: { enqueue: async () => undefined }, driverFactories: {} });
    await seed.services.auth.createUser(SYSTEM, { email: OWNER.email, displayName: 'Owner', role: 'owner', locationId: null, password: OWNER.password });
    const seeded = await seedTurnoverFleet(database, seed.services, secrets, { locks: o.locks, hubSize: o.hubSize, name: 'Scale' });
    await seed.stop();
    seeded.provision(fleet);
    fleet.configure({ latencyMs: o.latencyMs });
    const stateFile = path.join(dir, 'simulator.json');
    fleet.save(stateFile);
    if (!o.databaseUrl) {
      // The embedded database belongs to the one server process from here on.
      await database.close();
      database = null;
    }

    const sim = await start('sim', ['sim', '--port', '0', '--state', stateFile], /listening on (http:\/\/\S+)/);
    const simUrl = sim.match[1]!;
    env.LOCKWARDEN_SIM_URL = simUrl;
    const embedded = !o.databaseUrl;
    const apiCount = embedded ? 1 : (o.apis ?? 1);
    const apis: Child[] = [];
    const apiUrls: string[] = [];
    // The first api process creates the key files in the shared data folder; the rest start together.
    for (let i = 0; i < apiCount; i++) {
      if (i === 1) break;
      const api = await start(`api-${i + 1}`, ['serve', '--port', '0', ...(embedded ? [] : ['--role', 'api'])], /listening on (http:\/\/\S+)/);
      apis.push(api.child);
      apiUrls.push(api.match[1]!);
    }
    const workers: Child[] = [];
    let workerCount = 0;
    const addWorker = async () => {
      const w = await start(`worker-${++workerCount}`, ['serve', '--role', 'worker'], /worker running/);
      workers.push(w.child);
      return w.child;
    };
    const more = Array.from({ length: apiCount - 1 }, (_, i) => start(`api-${i + 2}`, ['serve', '--port', '0', '--role', 'api'], /listening on (http:\/\/\S+)/));
    const started = await Promise.all([Promise.all(more), embedded ? [] : Promise.all(Array.from({ length: o.workers }, () => addWorker()))]);
    for (const api of started[0]) {
      apis.push(api.child);
      apiUrls.push(api.match[1]!);
    }
    // A database of our own to watch progress (the embedded one is the server's: ask it over HTTP instead).
    const watch = database ?? null;

    const signIn = async (apiUrl: string) => {
      const res = await fetch(`${apiUrl}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(OWNER) });
      if (res.status !== 200) throw new Error(`sign-in on ${apiUrl} answered ${res.status}: ${await res.text()}`);
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('lw_session='))?.split(';')[0];
      if (!cookie) throw new Error('sign-in set no session cookie');
      const body = (await res.json()) as { csrfToken: string };
      return { cookie, csrf: body.csrfToken };
    };
    let session: { cookie: string; csrf: string } | null = null;
    return {
      simUrl,
      sim: sim.child,
      apiUrls,
      apis,
      workers,
      siteId: seeded.siteId,
      secrets,
      get database(): Database {
        if (!watch) throw new Error('the embedded database belongs to the server process');
        return watch;
      },
      addWorker,
      signIn,
      simLog: async () => {
        const res = await fetch(`${simUrl}/log?after=0`);
        return ((await res.json()) as { entries: SimLogEntry[] }).entries;
      },
      open: async () => {
        if (watch) {
          const [row] = await queryRows<{ n: number }>(watch.db, sql`select count(*)::int as n from credentials where status in ('pending','removing')`);
          return row?.n ?? 0;
        }
        session ??= await signIn(apiUrls[0]!);
        const res = await fetch(`${apiUrls[0]}/api/bulk`, { headers: { cookie: session.cookie } });
        const { items } = (await res.json()) as { items: { pending: number }[] };
        return items.reduce((n, b) => n + b.pending, 0);
      },
      stop: async () => {
        for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
        const killer = setTimeout(killAll, 10_000);
        await Promise.all(children.map((c) => c.exited));
        clearTimeout(killer);
        await watch?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    killAll();
    await Promise.all(children.map((c) => c.exited));
    await database?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Starts the turnover through the HTTP API: revoke both old PINs and issue two new ones on every lock
 * of the site. Sent with node:http and no time limit: on a loaded machine a 10,000-lock change took
 * longer than fetch's 300 s wait for response headers.
 */
export async function postTurnover(apiUrl: string, session: { cookie: string; csrf: string }, siteId: string): Promise<void> {
  const body = JSON.stringify(turnoverChange(siteId, 'scale turnover'));
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`${apiUrl}/api/bulk`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), cookie: session.cookie, 'x-csrf-token': session.csrf } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  if (status !== 202) throw new Error(`bulk change answered ${status}: ${text}`);
}
