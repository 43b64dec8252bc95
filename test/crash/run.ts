/**
 * `npm run crash -- --seeds 200 [--from 1] [--kill-between 0.08] [--kill-random 0.05] [--faults 0.04]`:
 * the reset-case crash harness over many seeds (see reset-crash.ts). Prints the counts as JSON and
 * exits 1 when any check failed.
 */
import { parseArgs } from 'node:util';
import { runCrashHarness } from './reset-crash.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    from: { type: 'string', default: '1' },
    'kill-between': { type: 'string', default: '0.08' },
    'kill-random': { type: 'string', default: '0.05' },
    'arm-point': { type: 'string', default: '0.5' },
    faults: { type: 'string', default: '0.04' },
    quiet: { type: 'boolean', default: false },
  },
});
const n = Number(values.seeds);
const from = Number(values.from);
const t0 = performance.now();
const counts = await runCrashHarness({
  seeds: Array.from({ length: n }, (_, i) => from + i),
  killBetween: Number(values['kill-between']),
  killRandom: Number(values['kill-random']),
  armPoint: Number(values['arm-point']),
  faultRate: Number(values.faults),
  log: values.quiet ? undefined : (line) => console.error(line),
});
console.log(JSON.stringify({ ...counts, seconds: Math.round((performance.now() - t0) / 100) / 10 }, null, 2));
process.exit(counts.problems.length === 0 && counts.duplicates === 0 && counts.casesClosed === counts.cases ? 0 : 1);
