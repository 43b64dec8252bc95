/**
 * `npm run bench [-- <name> [flags]]`: runs the benchmarks (all when no name is given), prints one
 * table and writes the figures as JSON to bench-results/<name>.json.
 *
 * turnover flags: --locks N (10000), --latency MS (250), --hub-size N (100), --hub-limit N (2),
 * --postgres (use DATABASE_URL, an empty database).
 * handbook-pdf flags: --entries N (1000).
 * xlsx-import flags: --rows N (10000), --postgres.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runHandbookPdf, type HandbookPdfResult } from './handbook-pdf.js';
import { runTurnover, type TurnoverResult } from './turnover.js';
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
    entries: { type: 'string', default: '1000' },
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
const BENCHMARKS = ['turnover', 'handbook-pdf', 'xlsx-import'];
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
for (const name of wanted) {
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
  if (name === 'handbook-pdf') pdfResults.push(await runHandbookPdf({ entries: int('entries', values.entries) }));
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
if (pdfResults.length) {
  console.table(
    pdfResults.map((r) => ({
      bench: r.benchmark,
      entries: r.entries,
      pages: r.pages,
      'export s': (r.exportMs / 1000).toFixed(2),
      'goal s': 10,
      'pdf MB': r.pdfMb,
      'rss before MB': r.rssBeforeMb,
      'rss MB': r.rssMaxMb,
      'goal rss MB': 400,
      'setup s': (r.setupMs / 1000).toFixed(1),
    })),
  );
}
mkdirSync('bench-results', { recursive: true });
for (const r of [...results, ...pdfResults]) writeFileSync(`bench-results/${r.benchmark}.json`, `${JSON.stringify({ ...r, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
for (const r of [...results, ...sheetResults]) writeFileSync(`bench-results/${r.benchmark}.json`, `${JSON.stringify({ ...r, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
console.log('written to bench-results/');
