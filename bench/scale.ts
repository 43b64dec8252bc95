/**
 * Turnover across processes: the fleet turnover of bench/turnover.ts (revoke 2 and issue 2 PINs on
 * every lock) run by a real deployment (bench/cluster.ts): `lockwarden sim` as its own process, one
 * api process that takes the bulk change over HTTP, and 1..N worker processes (PostgreSQL), or one
 * `serve` process on the embedded database.
 *
 * Device bound: each simulated command takes `latencyMs`, and each worker process sends at most
 * `hubConcurrency` commands at once to one hub (the hub gate is per process), so with W workers a
 * hub of H locks takes 4H commands in ceil(4H / (L*W)) rounds of one latency. That is the ideal: the
 * wall time if lockwarden cost nothing and the devices were the only bound. Two other bounds enter
 * it where they are larger: every lock's own 4 commands in sequence (4 latencies), and, when a
 * worker holds at most C locks at once (LOCKWARDEN_WORKER_CONCURRENCY), ceil(locks / (W*C)) waves of
 * 4 latencies. A second and third worker add hub capacity, so "3 workers vs 1" is device bound.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { postTurnover, startCluster, type Cluster } from './cluster.js';

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
  /** Time for the api process to answer the bulk change (recorded and queued; part of the wall time). */
  bulkMs: number;
  /** Median over hubs of the time to its first change, and from its first to its last. */
  hubFirstMs: number;
  hubSpanMs: number;
  /** CPU time (user + system) each process spent during the run, by process name. */
  cpuMs: Record<string, number>;
}

/** CPU time so far (user + system, ms) of each child process, from /proc (empty where there is none). */
function childCpu(cluster: Cluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of [cluster.sim, ...cluster.apis, ...cluster.workers]) {
    try {
      const fields = readFileSync(`/proc/${c.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out[c.name] = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      /* no /proc here */
    }
  }
  return out;
}

/**
 * The benchmark's shape, the same as the one-process turnover (bench/turnover.ts): 250 ms per
 * command, hubs of 100 locks taking 2 commands at a time from each process, and a worker holding as
 * many locks as the product's default lets it (2,000), so the hubs are the bound.
 */
export const SCALE_SHAPE = { latencyMs: 250, hubSize: 100, hubConcurrency: 2, workerConcurrency: 2000 } as const;

/** Runs one turnover on a fresh deployment of processes and returns its figures. */
export async function runScaleTurnover(o: ScaleTurnoverOptions): Promise<ScaleTurnoverResult> {
  const latencyMs = o.latencyMs ?? SCALE_SHAPE.latencyMs;
  const hubSize = o.hubSize ?? SCALE_SHAPE.hubSize;
  const hubConcurrency = o.hubConcurrency ?? SCALE_SHAPE.hubConcurrency;
  const workerConcurrency = o.workerConcurrency ?? SCALE_SHAPE.workerConcurrency;
  const workers = o.databaseUrl ? o.workers : 1;
  const t0 = performance.now();
  const cluster = await startCluster({ databaseUrl: o.databaseUrl, locks: o.locks, hubSize, hubConcurrency, latencyMs, workers, workerConcurrency, apis: 1 });
  try {
    const session = await cluster.signIn(cluster.apiUrls[0]!);
    const setupMs = performance.now() - t0;
    const cpu0 = childCpu(cluster);
    const startedAt = Date.now();
    const start = performance.now();
    await postTurnover(cluster.apiUrls[0]!, session, cluster.siteId);
    const bulkMs = performance.now() - start;
    for (;;) {
      if ((await cluster.open()) === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const wallMs = performance.now() - start;
    const cpu1 = childCpu(cluster);
    const cpuMs = Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, v - (cpu0[k] ?? 0)]));
    const log = (await cluster.simLog()).filter((e) => e.source === 'driver' && (e.op === 'set_pin' || e.op === 'clear_pin'));
    const applied = log.length;
    // Per hub (locks in hubs of hubSize, in device-id order): when its first and last change landed.
    const spans = new Map<number, { first: number; last: number }>();
    for (const e of log) {
      const hub = Math.floor(Number(/(\d+)$/.exec(e.externalId)?.[1] ?? 0) / hubSize);
      const t = Date.parse(e.at) - startedAt;
      const span = spans.get(hub);
      if (!span) spans.set(hub, { first: t, last: t });
      else {
        span.first = Math.min(span.first, t);
        span.last = Math.max(span.last, t);
      }
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
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
      bulkMs: Math.round(bulkMs),
      hubFirstMs: Math.round(median([...spans.values()].map((x) => x.first))),
      hubSpanMs: Math.round(median([...spans.values()].map((x) => x.last - x.first))),
      cpuMs,
    };
  } finally {
    await cluster.stop();
  }
}

/** One size on PostgreSQL with 1 and with 3 workers, and the speedup of 3 over 1. */
export interface ScaleComparison {
  one: ScaleTurnoverResult;
  three: ScaleTurnoverResult;
  speedup: number;
}

/**
 * Runs the turnover with 1 and with 3 worker processes on PostgreSQL, each on an empty database of
 * its own made on the server `admin` names (a role that may create databases) and dropped after.
 */
export async function runScaleComparison(o: Omit<ScaleTurnoverOptions, 'workers' | 'databaseUrl'> & { admin: string }): Promise<ScaleComparison> {
  const one = await withFreshDatabase(o.admin, (databaseUrl) => runScaleTurnover({ ...o, workers: 1, databaseUrl }));
  const three = await withFreshDatabase(o.admin, (databaseUrl) => runScaleTurnover({ ...o, workers: 3, databaseUrl }));
  return { one, three, speedup: Number((one.wallMs / three.wallMs).toFixed(2)) };
}

/** Runs `fn` on an empty database made on the server `admin` names, and drops it after, whatever happened. */
export async function withFreshDatabase<T>(admin: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `lw_bench_${randomBytes(5).toString('hex')}`;
  const run = async (statement: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(statement).finally(() => c.end());
  };
  await run(`create database ${name}`);
  try {
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return await fn(u.toString());
  } finally {
    await run(`drop database if exists ${name} with (force)`).catch((e: unknown) => console.error(`could not drop ${name}: ${e instanceof Error ? e.message : String(e)}`));
  }
}
