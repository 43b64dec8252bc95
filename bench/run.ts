/**
 * `npm run bench [-- <name>... [flags]]`: runs the benchmarks (every one when no name is given),
 * prints ONE table (each figure with its goal and pass/fail) and writes the figures as JSON:
 * bench-results/<name>.json per benchmark and bench-results/all.json (table, raw results, machine).
 * Defaults are the issue's sizes; `--quick` shrinks every size for a run of a few minutes.
 *
 * names: turnover, service (cold start, API latency under load, RSS), audit, handbook-search,
 * handbook-pdf, xlsx-import, drivers, zwave-table; `handbook` = the three handbook ones; `all`.
 * turnover: --locks N[,N...] (1000,10000), --latency MS (250), --hub-size N (100), --hub-limit N (2);
 * at each size: in one process (the engine of --postgres), then as a deployment of processes of the
 * built CLI (bench/scale.ts; `npm run build` first): embedded (one serve process) and PostgreSQL
 * with 1 and 3 worker processes and the speedup of 3 over 1 (each run on its own database, dropped
 * after; see Engines below). --one-process: only the in-process rows.
 * The in-process turnover runs on the embedded database only (the deployment rows cover PostgreSQL).
 * service: --rate N (500 req/s), --seconds N (20), --connections N (10), --cold-starts N (5).
 * audit: --audit-entries N (1000000), --batch N (500).
 * handbook-search: --entries N (50000), --queries N (400), --explain. handbook-pdf: --entries N (1000).
 * xlsx-import: --rows N (10000). drivers: --rounds N (50). zwave-table: --slots N (250), --frame-ms MS (150).
 * Engines: turnover (as a deployment), service and audit run on the embedded database AND on PostgreSQL, each on a
 * fresh database of its own: ADMIN_DATABASE_URL (a role that may create databases) or, without it, a
 * throwaway local cluster with fsync on (bench/postgres.ts; Debian's pg_createcluster, as root).
 * `--no-postgres` skips PostgreSQL. `--postgres`: turnover, service, audit, handbook-search and
 * xlsx-import on DATABASE_URL only (an empty database; run one benchmark at a time there).
 * --details: also print each benchmark's own detailed table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runAudit, type AuditResult } from './audit.js';
import { benchPostgres } from './postgres.js';
import { runDriverLatency, type DriversResult } from './drivers.js';
import { runHandbookPdf, type HandbookPdfResult } from './handbook-pdf.js';
import { runHandbookSearch, type HandbookSearchResult } from './handbook-search.js';
import { runService } from './service.js';
import { runTurnover, type TurnoverResult } from './turnover.js';
import { runScaleComparison, runScaleTurnover, type ScaleTurnoverResult } from './scale.js';
import { runXlsxImport, type SheetsResult } from './sheets.js';
import { runZwaveTable } from './zwave-table.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    details: { type: 'boolean', default: false },
    locks: { type: 'string' },
    rows: { type: 'string' },
    latency: { type: 'string', default: '250' },
    'hub-size': { type: 'string', default: '100' },
    'hub-limit': { type: 'string', default: '2' },
    postgres: { type: 'boolean', default: false },
    'no-postgres': { type: 'boolean', default: false },
    entries: { type: 'string' },
    queries: { type: 'string' },
    explain: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '10' },
    'cold-starts': { type: 'string' },
    'audit-entries': { type: 'string' },
    batch: { type: 'string', default: '500' },
    'one-process': { type: 'boolean', default: false },
    slots: { type: 'string' },
    'frame-ms': { type: 'string', default: '150' },
  },
});
const q = values.quick;

function int(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number of at least 1 (got "${raw}")`);
    process.exit(2);
  }
  return n;
}

const ALL = ['turnover', 'service', 'audit', 'handbook-search', 'handbook-pdf', 'xlsx-import', 'drivers', 'zwave-table'];
const BENCHMARKS = [...ALL, 'handbook', 'all'];
const wanted = positionals.length ? positionals : ['all'];
const unknown = wanted.filter((w) => !BENCHMARKS.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
if (values.postgres && !process.env.DATABASE_URL) {
  console.error('--postgres needs DATABASE_URL pointing at an empty database');
  process.exit(2);
}
const databaseUrl = values.postgres ? process.env.DATABASE_URL : undefined;
// PostgreSQL beside the embedded database for the benchmarks that compare engines (not with --postgres).
const pgBench = values.postgres || values['no-postgres'] ? null : await benchPostgres();
const pgServer = pgBench && 'adminUrl' in pgBench ? pgBench : null;
if (pgBench && !pgServer) console.error(`PostgreSQL rows skipped: ${(pgBench as { missing: string }).missing}`);
process.on('exit', () => pgServer?.stop());
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

/**
 * Runs `fn` on each engine: the embedded database (undefined URL), then PostgreSQL on a fresh
 * database dropped afterwards; with --postgres only on DATABASE_URL. Without PostgreSQL a pending
 * row says why.
 */
async function onEngines<T>(benchmark: string, fn: (url: string | undefined) => Promise<T>): Promise<T[]> {
  if (values.postgres) return [await fn(databaseUrl)];
  const out = [await fn(undefined)];
  if (pgServer) {
    const db = await pgServer.fresh();
    try {
      out.push(await fn(db.url));
    } finally {
      await db.drop();
    }
  } else if (pgBench && !values['no-postgres']) {
    rows.push({ benchmark, measure: 'on PostgreSQL', engine: 'postgres', figure: (pgBench as { missing: string }).missing, goal: '', pass: 'pending' });
  }
  return out;
}
const expanded = [...new Set(wanted.flatMap((w) => (w === 'all' ? ALL : w === 'handbook' ? ['handbook-search', 'handbook-pdf', 'xlsx-import'] : [w])))];

/** One line of the table: a figure, its goal and whether it meets it. */
export interface BenchRow {
  benchmark: string;
  measure: string;
  engine: string;
  figure: string;
  goal: string;
  pass: 'pass' | 'FAIL' | '' | 'pending';
}
const rows: BenchRow[] = [];
const row = (r: Omit<BenchRow, 'pass'> & { ok?: boolean | null }) => rows.push({ benchmark: r.benchmark, measure: r.measure, engine: r.engine, figure: r.figure, goal: r.goal, pass: r.ok === undefined || r.ok === null ? '' : r.ok ? 'pass' : 'FAIL' });

const results: { benchmark: string }[] = [];
const turnovers: TurnoverResult[] = [];
for (const name of expanded) {
  const started = performance.now();
  console.error(`== ${name}`);
  if (name === 'turnover') {
    const sizes = (values.locks ?? (q ? '1000' : '1000,10000')).split(',').map((s) => int('locks', s.trim()));
    const shape = { latencyMs: int('latency', values.latency), hubSize: int('hub-size', values['hub-size']), hubConcurrency: int('hub-limit', values['hub-limit']) };
    const secs = (ms: number) => (ms / 1000).toFixed(1);
    const admin = pgServer?.adminUrl;
    // Wall / ideal of a deployment run: the ideal is the device bound (bench/scale.ts); every change applied exactly once.
    const deploymentRow = (r: ScaleTurnoverResult) =>
      row({ benchmark: 'turnover', measure: `${r.locks} locks, ${r.workers} worker process${r.workers > 1 ? 'es' : ''}: wall / ideal`, engine: r.engine, figure: `${r.ratio} (${secs(r.wallMs)} s vs ${secs(r.idealMs)} s; ${r.extraCommands} extra commands)`, goal: '<= 1.10', ok: r.ratio <= 1.1 && r.extraCommands === 0 });
    for (const locks of sizes) {
      const r = await runTurnover({ locks, latencyMs: shape.latencyMs, hubSize: shape.hubSize, hubLimit: shape.hubConcurrency, databaseUrl });
      turnovers.push(r);
      results.push(r);
      row({ benchmark: 'turnover', measure: `${locks} locks, in one process: wall / ideal`, engine: r.engine, figure: `${r.ratio} (${secs(r.wallMs)} s vs ${secs(r.idealMs)} s)`, goal: '<= 1.10', ok: r.ratio <= 1.1 });
      if (values['one-process']) continue;
      // The deployment: `lockwarden sim`, and the built CLI's serve processes (bench/scale.ts).
      const embedded = await runScaleTurnover({ locks, workers: 1, ...shape });
      results.push(embedded);
      deploymentRow(embedded);
      row({ benchmark: 'turnover', measure: `${locks} locks, 3 worker processes`, engine: 'pglite', figure: 'n/a: the embedded database belongs to one process (use PostgreSQL)', goal: '', ok: null });
      if (admin) {
        const cmp = await runScaleComparison({ locks, ...shape, admin });
        results.push(cmp.one, cmp.three);
        deploymentRow(cmp.one);
        deploymentRow(cmp.three);
        row({ benchmark: 'turnover', measure: `${locks} locks, 3 workers vs 1 worker (device bound)`, engine: 'postgres', figure: `${cmp.speedup}x`, goal: '>= 2.5x', ok: cmp.speedup >= 2.5 });
      } else {
        row({ benchmark: 'turnover', measure: `${locks} locks, 1 and 3 worker processes, 3 vs 1`, engine: 'postgres', figure: pgBench && 'missing' in pgBench ? pgBench.missing : 'needs PostgreSQL (not with --postgres or --no-postgres)', goal: '<= 1.10; >= 2.5x', ok: null });
        rows[rows.length - 1]!.pass = 'pending';
      }
    }
  }
  if (name === 'service') {
    for (const r of await onEngines('service', (url) => runService({ rate: int('rate', values.rate), seconds: int('seconds', values.seconds ?? (q ? '5' : '20')), connections: int('connections', values.connections), coldStarts: int('cold-starts', values['cold-starts'] ?? (q ? '2' : '5')), databaseUrl: url }))) {
    results.push(r);
    row({ benchmark: 'cold start', measure: `spawn to first 200 on /healthz, median of ${r.coldStartMs.length}`, engine: r.engine, figure: `${r.coldStartMedianMs} ms (server cpu ${r.coldStartCpuMedianMs} ms)`, goal: '< 2000 ms', ok: r.coldStartMedianMs < 2000 });
    for (const l of r.latency) {
      const clean = l.errors === 0 && l.non2xx === 0;
      const held = l.sustainable ? `; p99 < 25 ms up to ${l.sustainable.rate} req/s` : '; p99 >= 25 ms even at 50 req/s';
      row({ benchmark: 'API latency', measure: `${l.endpoint} at ${l.rate} req/s (got ${l.achievedRate}${clean ? '' : `, ${l.errors} errors, ${l.non2xx} non-2xx`})`, engine: r.engine, figure: `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (server cpu ${l.serverCpuMsPerRequest} ms/req${l.sustainable?.rate === l.rate ? '' : held})`, goal: 'p99 < 25 ms', ok: clean && l.p99Ms < 25 && l.achievedRate >= l.rate * 0.95 });
    }
    row({ benchmark: 'RSS', measure: 'server after the load / peak', engine: r.engine, figure: `${r.rssAfterLoadMb} / ${r.rssPeakMb} MB`, goal: '', ok: null });
    }
  }
  if (name === 'audit') {
    for (const r of await onEngines('audit', (url): Promise<AuditResult> => runAudit({ entries: int('audit-entries', values['audit-entries'] ?? (q ? '100000' : '1000000')), batch: int('batch', values.batch), databaseUrl: url }))) {
    results.push(r);
    row({ benchmark: 'audit append', measure: `events/s in transactions of ${r.batch}`, engine: r.engine, figure: `${r.batchedPerSecond}/s`, goal: '>= 2000/s', ok: r.batchedPerSecond >= 2000 });
    row({ benchmark: 'audit append', measure: 'events/s, one transaction each, one after another', engine: r.engine, figure: `${r.singlePerSecond}/s`, goal: '', ok: null });
    const measured = r.entries >= 1_000_000;
    row({ benchmark: 'audit verify', measure: measured ? `${r.entries} entries` : `1M entries, scaled from ${r.entries}`, engine: r.engine, figure: `${(r.verify1MEstimateMs / 1000).toFixed(1)} s (${r.verifyPerSecond}/s, cpu ${(r.verifyCpuMs / 1000).toFixed(1)} s for ${r.entries})`, goal: '< 15 s', ok: r.ok && r.verify1MEstimateMs < 15_000 });
    }
  }
  if (name === 'handbook-search') {
    const r: HandbookSearchResult = await runHandbookSearch({ entries: int('entries', values.entries ?? (q ? '5000' : '50000')), queries: int('queries', values.queries ?? (q ? '100' : '400')), databaseUrl, explain: values.explain });
    if (r.plans) for (const p of Object.values(r.plans)) console.log(`${p}\n`);
    results.push(r);
    row({ benchmark: 'handbook search', measure: `${r.entries} entries, ${r.overall.queries} queries`, engine: r.engine, figure: `p50 ${r.overall.p50Ms} ms, p99 ${r.overall.p99Ms} ms`, goal: 'p50 < 5, p99 < 25 ms', ok: r.overall.p50Ms < 5 && r.overall.p99Ms < 25 });
  }
  if (name === 'handbook-pdf') {
    const r: HandbookPdfResult = await runHandbookPdf({ entries: int('entries', values.entries ?? (q ? '200' : '1000')) });
    results.push(r);
    row({ benchmark: 'handbook PDF', measure: `${r.entries} entries, ${r.pages} pages, CLI process`, engine: 'pglite', figure: `${(r.exportProcessMs / 1000).toFixed(1)} s, ${r.rssMaxMb} MB peak`, goal: '< 10 s, < 400 MB', ok: r.exportProcessMs < 10_000 && r.rssMaxMb < 400 });
  }
  if (name === 'zwave-table') {
    const r = await runZwaveTable({ slots: int('slots', values.slots ?? (q ? '60' : '250')), frameMs: int('frame-ms', values['frame-ms']) });
    results.push(r);
    const load = `load ${r.loadavgBefore[0]} -> ${r.loadavgAfter[0]}`;
    row({ benchmark: 'Z-Wave table', measure: `${r.slots}-slot lock, ${r.frameMs} ms a frame: one setPin`, engine: 'zwave-js mock', figure: `${r.writeFrames.length} frames (${r.writeFrames.join(' + ')}), ${r.writeMs} ms`, goal: '<= 3 frames', ok: r.writeFrames.length <= 3 });
    row({ benchmark: 'Z-Wave table', measure: `${r.slots}-slot lock, ${r.frameMs} ms a frame: full read`, engine: 'zwave-js mock', figure: r.readError ? `failed after ${(r.readMs / 1000).toFixed(1)} s: ${r.readError}` : `${(r.readMs / 1000).toFixed(1)} s vs ${(r.readIdealMs / 1000).toFixed(1)} s radio-bound (${(r.readMs / r.readIdealMs).toFixed(2)}x; ${load})`, goal: 'no timeout, <= 1.5x', ok: r.readError === null && r.readMs <= r.readIdealMs * 1.5 });
  }
  if (name === 'xlsx-import') {
    const r: SheetsResult = await runXlsxImport({ rows: int('rows', values.rows ?? (q ? '2000' : '10000')), databaseUrl });
    results.push(r);
    row({ benchmark: 'xlsx import', measure: `${r.rows} rows (${r.fileMb} MB)`, engine: r.engine, figure: `import ${(r.importMs / 1000).toFixed(1)} s, re-import ${(r.reimportMs / 1000).toFixed(1)} s, export ${(r.exportMs / 1000).toFixed(1)} s`, goal: '', ok: null });
  }
  if (name === 'drivers') {
    const r: DriversResult = await runDriverLatency({ rounds: int('rounds', values.rounds ?? (q ? '10' : '50')) });
    results.push(r);
    for (const p of r.peers) row({ benchmark: 'driver round trip', measure: `${p.peer}: set / read / clear p50`, engine: '', figure: `${p.set.p50Ms} / ${p.read.p50Ms} / ${p.clear.p50Ms} ms`, goal: '', ok: null });
  }
  console.error(`== ${name}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

if (values.details) {
  for (const r of results) console.log(JSON.stringify(r, null, 2));
}
console.table(rows);

const cpu = cpus();
const machine = { cpuModel: cpu[0]?.model ?? 'unknown', cpus: cpu.length, memoryGb: Math.round(totalmem() / 2 ** 30), loadAverage: loadavg().map((l) => Number(l.toFixed(2))), node: process.version, platform: process.platform, postgres: values.postgres ? 'DATABASE_URL' : pgServer ? pgServer.source : null };
mkdirSync('bench-results', { recursive: true });
const at = new Date().toISOString();
for (const r of results) writeFileSync(`bench-results/${r.benchmark}.json`, `${JSON.stringify({ ...r, node: process.version, at }, null, 2)}\n`);
writeFileSync('bench-results/all.json', `${JSON.stringify({ at, machine, quick: q, table: rows, results }, null, 2)}\n`);
console.log(`machine: ${machine.cpuModel}, ${machine.cpus} cpus, load ${machine.loadAverage.join(' ')} (at the end)${machine.postgres ? `; PostgreSQL: ${machine.postgres}` : ''}; written to bench-results/all.json`);
