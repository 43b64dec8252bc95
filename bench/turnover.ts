/**
 * Turnover benchmark: N simulated locks, each holding two PINs; one bulk change revokes both and
 * issues two new ones on every lock, with a fixed device latency per command and a per-hub command
 * limit. Reports wall time against the ideal bound those limits allow, and the orchestrating
 * process's CPU and memory.
 *
 * Ideal bound: every lock needs 4 commands; a hub of H locks with limit L needs ceil(4H / L) rounds
 * of `latency`, and no lock can finish faster than its own 4 sequential commands. Hubs run in
 * parallel, so the bound is the slowest hub's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { SecretBox, staticKeySource } from '../src/crypto/secret-box.js';
import type { Actor } from '../src/domain/identity.js';
import { SimFleet } from '../src/drivers/simulator/index.js';
import { startRuntime } from '../src/runtime.js';
import { openPostgres, PGLITE_EXTENSIONS, queryRows, wrapPglite, type Database } from '../src/store/database.js';
import { seedTurnoverFleet, turnoverChange } from './fleet.js';

export interface TurnoverOptions {
  locks: number;
  latencyMs: number;
  hubSize: number;
  hubLimit: number;
  databaseUrl?: string | undefined;
}

export interface TurnoverResult {
  benchmark: 'turnover';
  engine: 'pglite' | 'postgres';
  locks: number;
  latencyMs: number;
  hubSize: number;
  hubLimit: number;
  commands: number;
  wallMs: number;
  idealMs: number;
  ratio: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  rssMaxMb: number;
  heapUsedMb: number;
  setupMs: number;
  /** Time to record the bulk change and queue its jobs (part of the wall time). */
  bulkMs: number;
  /** Median over hubs of the time to its first change, and of the time from its first to its last; the last change of all. */
  hubFirstMs: number;
  hubSpanMs: number;
  hubLastMs: number;
  failed: number;
}

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** Runs one turnover and returns its figures. */
export async function runTurnover(opts: TurnoverOptions): Promise<TurnoverResult> {
  const t0 = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-'));
  let database: Database;
  if (opts.databaseUrl) database = await openPostgres(opts.databaseUrl);
  else database = await wrapPglite(new PGlite(path.join(dir, 'pglite'), { extensions: PGLITE_EXTENSIONS }));
  const secrets = new SecretBox(staticKeySource(Buffer.alloc(32, 9)));
  const fleet = new SimFleet();
  try {
    // Setup, untimed: a model, a site, N locks, each with 2 PINs already on the lock and confirmed.
    const boot = await startRuntime({ database, dataDir: dir, simulator: { kind: 'in-process', fleet }, secrets, queue: false, worker: false, driftCheckSeconds: 0, jobs: { enqueue: async () => undefined } });
    const seeded = await seedTurnoverFleet(database, boot.services, secrets, { locks: opts.locks, hubSize: opts.hubSize, name: 'Bench' });
    await boot.stop();
    // The simulated locks get their PINs with nobody listening, so no setup change reaches the run as an event.
    seeded.provision(fleet);
    fleet.configure({ latencyMs: opts.latencyMs });
    const hubConcurrency = opts.hubLimit;

    const runtime = await startRuntime({ database, dataDir: dir, simulator: { kind: 'in-process', fleet, hubConcurrency }, secrets, queue: true, worker: true, driftCheckSeconds: 0 });
    const setupMs = performance.now() - t0;
    const cpu0 = process.cpuUsage();
    let rssMax = process.memoryUsage().rss;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
    const start = performance.now();
    await runtime.services.credentials.bulkChange(SYSTEM, turnoverChange(seeded.siteId, 'bench turnover'));
    const bulkMs = performance.now() - start;
    // Done when no credential is still on its way (a cheap probe; the count comes once at the end).
    for (;;) {
      const open = await queryRows<{ one: number }>(database.db, sql`select 1 as one from credentials where status in ('pending','removing') limit 1`);
      if (open.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const wallMs = performance.now() - start;
    // Per hub: when its first and last change landed, from the simulator's own log.
    const startedAt = Date.now() - wallMs;
    const spans = new Map<string, { first: number; last: number }>();
    const hubs = new Map(fleet.discover().map((d) => [d.externalId, d.hub]));
    for (const e of fleet.logSince(0)) {
      if (e.source !== 'driver') continue;
      const hub = hubs.get(e.externalId) ?? '';
      const t = Date.parse(e.at) - startedAt;
      const span = spans.get(hub);
      if (!span) spans.set(hub, { first: t, last: t });
      else {
        span.first = Math.min(span.first, t);
        span.last = Math.max(span.last, t);
      }
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const hubFirstMs = median([...spans.values()].map((x) => x.first));
    const hubSpanMs = median([...spans.values()].map((x) => x.last - x.first));
    const hubLastMs = Math.max(0, ...[...spans.values()].map((x) => x.last));
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    const [counted] = await queryRows<{ failed: number }>(database.db, sql`select count(*)::int as failed from credentials where status = 'failed'`);
    const failed = counted?.failed ?? 0;
    const biggestHub = Math.min(opts.hubSize, opts.locks);
    const idealMs = Math.max(Math.ceil((4 * biggestHub) / opts.hubLimit), 4) * opts.latencyMs;
    await runtime.stop();
    return {
      benchmark: 'turnover',
      engine: database.engine,
      locks: opts.locks,
      latencyMs: opts.latencyMs,
      hubSize: opts.hubSize,
      hubLimit: opts.hubLimit,
      commands: opts.locks * 4,
      wallMs: Math.round(wallMs),
      idealMs,
      ratio: Number((wallMs / idealMs).toFixed(3)),
      cpuUserMs: Math.round(cpu.user / 1000),
      cpuSystemMs: Math.round(cpu.system / 1000),
      rssMaxMb: Math.round(rssMax / 1048576),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
      setupMs: Math.round(setupMs),
      bulkMs: Math.round(bulkMs),
      hubFirstMs: Math.round(hubFirstMs),
      hubSpanMs: Math.round(hubSpanMs),
      hubLastMs: Math.round(hubLastMs),
      failed,
    };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
