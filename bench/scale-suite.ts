/**
 * `node --import tsx bench/scale-suite.ts [--latency MS] [--worker-concurrency N] [--no-embedded] [sizes...]`: the multi-process turnover figures of issue 9 —
 * at each size (default 1000 and 10000 locks) one embedded run (one process) and PostgreSQL runs with
 * 1 and 3 worker processes, and the speedup of 3 over 1. PostgreSQL: ADMIN_DATABASE_URL (a role that
 * may create databases; each run gets an empty database, dropped after). Prints JSON lines and writes
 * bench-results/turnover-processes-suite.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freshDatabaseOn, runScaleComparison, runScaleTurnover, type ScaleComparison, type ScaleTurnoverResult } from './scale.js';

const admin = process.env.ADMIN_DATABASE_URL;
if (!admin) {
  console.error('ADMIN_DATABASE_URL must name a PostgreSQL role that may create databases (e.g. eval "$(bash .ci/pg-cluster.sh start bench)" and use TEST_DATABASE_URL)');
  process.exit(2);
}
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    latency: { type: 'string', default: '100' },
    'worker-concurrency': { type: 'string', default: '50' },
    'no-embedded': { type: 'boolean', default: false },
  },
});
const sizes = positionals.map(Number).filter((n) => n > 0);
const shape = { latencyMs: Number(values.latency), workerConcurrency: Number(values['worker-concurrency']) };
const made: string[] = [];
const makeFresh = freshDatabaseOn(admin);
const fresh = async () => {
  const url = await makeFresh();
  made.push(new URL(url).pathname.slice(1));
  return url;
};
const out: { embedded: ScaleTurnoverResult[]; postgres: ScaleComparison[]; machine: Record<string, unknown> } = {
  embedded: [],
  postgres: [],
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg(), node: process.version },
};
try {
  for (const locks of sizes.length ? sizes : [1000, 10000]) {
    if (!values['no-embedded']) {
      const e = await runScaleTurnover({ locks, workers: 1, ...shape });
      console.log(JSON.stringify(e));
      out.embedded.push(e);
    }
    const cmp = await runScaleComparison({ locks, freshDatabase: fresh, ...shape });
    console.log(JSON.stringify(cmp));
    out.postgres.push(cmp);
  }
} finally {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  for (const name of made) await c.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
  await c.end();
}
out.machine.loadavgAtEnd = loadavg();
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/turnover-processes-suite.json', `${JSON.stringify({ ...out, at: new Date().toISOString() }, null, 2)}\n`);
console.log('written to bench-results/turnover-processes-suite.json');
