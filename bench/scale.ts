/**
 * Turnover across processes: the fleet turnover of bench/turnover.ts (revoke 2 and issue 2 PINs on
 * every lock) run by a real deployment (bench/cluster.ts): `lockwarden sim` as its own process, one
 * api process that takes the bulk change over HTTP, and 1..N worker processes (PostgreSQL), or one
 * `serve` process on the embedded database. Device-bound: each simulated command takes `latencyMs`,
 * each worker holds `workerConcurrency` locks at once, so a second worker process adds capacity.
 *
 * Ideal bound: every lock needs 4 sequential commands; W workers holding C locks each work
 * ceil(locks / (W*C)) waves of 4 latencies; a hub of H locks, which each process reaches with L
 * commands at once, needs ceil(4H / (L*W)) latencies; the ideal is the larger.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { postTurnover, startCluster } from './cluster.js';

export interface ScaleTurnoverOptions {
  locks: number;
  /** Worker processes (PostgreSQL); ignored on the embedded database (one process). */
  workers: number;
  /** PostgreSQL URL of an empty database; unset: the embedded database. */
  databaseUrl?: string | undefined;
  latencyMs?: number;
  hubSize?: number;
  hubConcurrency?: number;
  workerConcurrency?: number;
}

export interface ScaleTurnoverResult {
  benchmark: 'turnover-processes';
  engine: 'pglite' | 'postgres';
  locks: number;
  workers: number;
  workerConcurrency: number;
  latencyMs: number;
  hubSize: number;
  hubConcurrency: number;
  commands: number;
  /** From the bulk change's request to the last credential settled. */
  wallMs: number;
  idealMs: number;
  ratio: number;
  /** Commands the simulator applied beyond one per change (0 when each applied once). */
  extraCommands: number;
  setupMs: number;
}

/** Runs one turnover on a fresh deployment of processes and returns its figures. */
export async function runScaleTurnover(o: ScaleTurnoverOptions): Promise<ScaleTurnoverResult> {
  const latencyMs = o.latencyMs ?? 100;
  const hubSize = o.hubSize ?? 10;
  const hubConcurrency = o.hubConcurrency ?? 2;
  const workerConcurrency = o.workerConcurrency ?? 50;
  const workers = o.databaseUrl ? o.workers : 1;
  const t0 = performance.now();
  const cluster = await startCluster({ databaseUrl: o.databaseUrl, locks: o.locks, hubSize, hubConcurrency, latencyMs, workers, workerConcurrency, apis: 1 });
  try {
    const session = await cluster.signIn(cluster.apiUrls[0]!);
    const setupMs = performance.now() - t0;
    const start = performance.now();
    await postTurnover(cluster.apiUrls[0]!, session, cluster.siteId);
    for (;;) {
      if ((await cluster.open()) === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const wallMs = performance.now() - start;
    const applied = (await cluster.simLog()).filter((e) => e.source === 'driver' && (e.op === 'set_pin' || e.op === 'clear_pin')).length;
    const waves = Math.ceil(o.locks / (workers * workerConcurrency));
    const hubRounds = Math.ceil((4 * Math.min(hubSize, o.locks)) / (hubConcurrency * workers));
    const idealMs = Math.max(waves * 4, hubRounds, 4) * latencyMs;
    return {
      benchmark: 'turnover-processes',
      engine: o.databaseUrl ? 'postgres' : 'pglite',
      locks: o.locks,
      workers,
      workerConcurrency,
      latencyMs,
      hubSize,
      hubConcurrency,
      commands: o.locks * 4,
      wallMs: Math.round(wallMs),
      idealMs,
      ratio: Number((wallMs / idealMs).toFixed(3)),
      extraCommands: applied - o.locks * 4,
      setupMs: Math.round(setupMs),
    };
  } finally {
    await cluster.stop();
  }
}

/** One size on one engine with 1 and with 3 workers, and the speedup of 3 over 1. */
export interface ScaleComparison {
  one: ScaleTurnoverResult;
  three: ScaleTurnoverResult;
  speedup: number;
}

/**
 * Runs the turnover with 1 and with 3 worker processes on PostgreSQL (`databaseUrl` names an empty
 * database; `freshDatabase` makes another empty one for each run) and returns both and the speedup.
 */
export async function runScaleComparison(o: Omit<ScaleTurnoverOptions, 'workers' | 'databaseUrl'> & { freshDatabase: () => Promise<string> }): Promise<ScaleComparison> {
  const one = await runScaleTurnover({ ...o, workers: 1, databaseUrl: await o.freshDatabase() });
  const three = await runScaleTurnover({ ...o, workers: 3, databaseUrl: await o.freshDatabase() });
  return { one, three, speedup: Number((one.wallMs / three.wallMs).toFixed(2)) };
}

/** Makes an empty database on the server `admin` names (a role that may create them) for each call. */
export function freshDatabaseOn(admin: string): () => Promise<string> {
  return async () => {
    const name = `lw_bench_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`create database ${name}`).finally(() => c.end());
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return u.toString();
  };
}
