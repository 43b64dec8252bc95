/**
 * `npm run bench [-- <name> [flags]]`: runs the benchmarks (all when no name is given), prints one
 * table and writes the figures as JSON to bench-results/<name>.json.
 *
 * turnover flags: --locks N (10000), --latency MS (250), --hub-size N (100), --hub-limit N (2),
 * --postgres (use DATABASE_URL, an empty database).
 * handbook-pdf flags: --entries N (1000).
 * xlsx-import flags: --rows N (10000), --postgres.
 * handbook-search flags: --entries N (50000), --queries N (400), --explain (print the plan of one
 * query of each kind), --postgres.
 * handbook: handbook-search (50,000 entries), handbook-pdf (1,000 entries) and xlsx-import;
 * --entries sets both when given.
 * drivers flags: --rounds N (50): set/read/clear round trips against Seam's fake and Zigbee2MQTT.
 * turnover-processes flags (bench/scale.ts: the turnover run by a `lockwarden sim` process, an api
 * process and worker processes of the built CLI): --locks, --workers N (1; PostgreSQL only),
 * --worker-concurrency N (50), --latency, --hub-size, --hub-limit, --postgres.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDriverLatency, type DriversResult } from './drivers.js';
import { runHandbookPdf, type HandbookPdfResult } from './handbook-pdf.js';
import { runHandbookSearch, type HandbookSearchResult } from './handbook-search.js';
import { runTurnover, type TurnoverResult } from './turnover.js';
import { runScaleTurnover, type ScaleTurnoverResult } from './scale.js';
import { runXlsxImport, type SheetsResult } from './sheets.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    locks: { type: 'string', default: '10000' },
    rows: { type: 'string', default: '10000' },
    latency: { type: 'string', default: '250' },
    'hub-size': { type: 'string', default: '100' },
    'hub-limit': { type: 'string', default: '2' },
    postgres: { type: 'boolean', default: false },
    entries: { type: 'string' },
    queries: { type: 'string', default: '400' },
    explain: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '50' },
    workers: { type: 'string', default: '1' },
    'worker-concurrency': { type: 'string', default: '50' },
  },
});

function int(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number of at least 1 (got "${raw}")`);
    process.exit(2);
  }
  return n;
}

const wanted = positionals.length ? positionals : ['turnover'];
const BENCHMARKS = ['turnover', 'turnover-processes', 'handbook-pdf', 'handbook-search', 'handbook', 'xlsx-import', 'drivers'];
const unknown = wanted.filter((w) => !BENCHMARKS.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
if (values.postgres && !process.env.DATABASE_URL) {
  console.error('--postgres needs DATABASE_URL pointing at an empty database');
  process.exit(2);
}

const results: TurnoverResult[] = [];
const pdfResults: HandbookPdfResult[] = [];
const sheetResults: SheetsResult[] = [];
const searchResults: HandbookSearchResult[] = [];
const driverResults: DriversResult[] = [];
const processResults: ScaleTurnoverResult[] = [];
const expanded = wanted.flatMap((w) => (w === 'handbook' ? ['handbook-search', 'handbook-pdf', 'xlsx-import'] : [w]));
for (const name of expanded) {
  if (name === 'xlsx-import') {
    sheetResults.push(await runXlsxImport({ rows: int('rows', values.rows), databaseUrl: values.postgres ? process.env.DATABASE_URL : undefined }));
  }
  if (name === 'turnover') {
    const r = await runTurnover({
      locks: int('locks', values.locks),
      latencyMs: int('latency', values.latency),
      hubSize: int('hub-size', values['hub-size']),
      hubLimit: int('hub-limit', values['hub-limit']),
      databaseUrl: values.postgres ? process.env.DATABASE_URL : undefined,
    });
    results.push(r);
  }
  if (name === 'turnover-processes') {
    const r = await runScaleTurnover({
      locks: int('locks', values.locks),
      workers: int('workers', values.workers),
      workerConcurrency: int('worker-concurrency', values['worker-concurrency']),
      latencyMs: int('latency', values.latency),
      hubSize: int('hub-size', values['hub-size']),
      hubConcurrency: int('hub-limit', values['hub-limit']),
      databaseUrl: values.postgres ? process.env.DATABASE_URL : undefined,
    });
    // The table is bench/run.ts's owner's to lay out; until then, the figures as one line.
    console.log(JSON.stringify(r));
    processResults.push(r);
  }
  if (name === 'drivers') driverResults.push(await runDriverLatency({ rounds: int('rounds', values.rounds) }));
  if (name === 'handbook-pdf') pdfResults.push(await runHandbookPdf({ entries: int('entries', values.entries ?? '1000') }));
  if (name === 'handbook-search') {
    const r = await runHandbookSearch({
      entries: int('entries', values.entries ?? '50000'),
      queries: int('queries', values.queries),
      databaseUrl: values.postgres ? process.env.DATABASE_URL : undefined,
      explain: values.explain,
    });
    if (r.plans) for (const p of Object.values(r.plans)) console.log(`${p}\n`);
    searchResults.push(r);
  }
}
if (sheetResults.length) {
  console.table(
    sheetResults.map((r) => ({
      bench: r.benchmark,
      engine: r.engine,
      rows: r.rows,
      'file MB': r.fileMb,
      'import s': (r.importMs / 1000).toFixed(2),
      're-import s': (r.reimportMs / 1000).toFixed(2),
      'export s': (r.exportMs / 1000).toFixed(2),
      'write file s': (r.writeFileMs / 1000).toFixed(2),
      locks: r.locksAfter,
      'rss before/max MB': `${r.rssBeforeImportMb}/${r.rssMaxMb}`,
    })),
  );
}
if (results.length) console.table(
  results.map((r) => ({
    bench: r.benchmark,
    engine: r.engine,
    locks: r.locks,
    'latency ms': r.latencyMs,
    'hub size/limit': `${r.hubSize}/${r.hubLimit}`,
    'wall s': (r.wallMs / 1000).toFixed(1),
    'bulk s': (r.bulkMs / 1000).toFixed(1),
    'hub first/span/last s': [r.hubFirstMs, r.hubSpanMs, r.hubLastMs].map((ms) => (ms / 1000).toFixed(1)).join('/'),
    'ideal s': (r.idealMs / 1000).toFixed(1),
    ratio: r.ratio,
    'cpu s': ((r.cpuUserMs + r.cpuSystemMs) / 1000).toFixed(1),
    'rss MB': r.rssMaxMb,
    failed: r.failed,
  })),
);
if (searchResults.length) {
  console.table(
    searchResults.flatMap((r) =>
      [['all', r.overall] as const, ...Object.entries(r.byKind)].map(([kind, f]) => ({
        bench: r.benchmark,
        engine: r.engine,
        entries: r.entries,
        queries: kind,
        n: f.queries,
        'p50 ms': f.p50Ms,
        'p95 ms': f.p95Ms,
        'p99 ms': f.p99Ms,
        'max ms': f.maxMs,
        found: 'found' in f && f.found !== undefined ? `${f.found}/${f.queries}` : '',
        goal: kind === 'all' ? 'p50 < 5, p99 < 25' : '',
      })),
    ),
  );
}
if (pdfResults.length) {
  console.table(
    pdfResults.map((r) => ({
      bench: r.benchmark,
      entries: r.entries,
      pages: r.pages,
      'export process s': (r.exportProcessMs / 1000).toFixed(2),
      'goal s': 10,
      'pdf MB': r.pdfMb,
      'export rss MB': r.rssMaxMb,
      'goal rss MB': 400,
      'open-only rss MB / s': `${r.rssOpenOnlyMb} / ${(r.openOnlyMs / 1000).toFixed(2)}`,
      'seeding rss MB (opened/runtime/seeded)': `${r.seedRssMb.opened}/${r.seedRssMb.runtime}/${r.seedRssMb.seeded}`,
      'setup s': (r.setupMs / 1000).toFixed(1),
    })),
  );
}
if (driverResults.length) {
  console.table(
    driverResults.flatMap((r) =>
      r.peers.flatMap((p) =>
        (['set', 'read', 'clear'] as const).map((op) => ({ bench: r.benchmark, peer: p.peer, op, n: p[op].n, 'p50 ms': p[op].p50Ms, 'p95 ms': p[op].p95Ms, 'max ms': p[op].maxMs, 'setup ms': p.setupMs })),
      ),
    ),
  );
}
mkdirSync('bench-results', { recursive: true });
for (const r of [...driverResults, ...processResults, ...results, ...pdfResults, ...searchResults, ...sheetResults]) writeFileSync(`bench-results/${r.benchmark}.json`, `${JSON.stringify({ ...r, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
console.log('written to bench-results/');
