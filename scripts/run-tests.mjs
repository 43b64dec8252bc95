// `npm test`: builds what the browser test needs, then runs every *.test.ts under test/ with Node's
// own test runner (through tsx). Extra arguments are test files or folders to run instead.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);

function collect(p, out) {
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p).sort()) collect(path.join(p, e), out);
  } else if (/\.test\.ts$/.test(p)) out.push(p);
  return out;
}
const targets = args.length ? args : [path.join(root, 'test')];
const files = targets.flatMap((t) => collect(path.resolve(t), []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

// The browser suites load the built web UI and the CLI suites run the built command: build first when stale.
if (files.some((f) => f.includes(`${path.sep}e2e${path.sep}`) || f.includes(`${path.sep}cli${path.sep}`) || f.includes(`${path.sep}crash${path.sep}`))) {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-if-stale.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// Each file's time in tests is collected by a second reporter and the slowest are printed at the end.
const concurrency = process.env.TEST_CONCURRENCY ?? 2;
const timings = mkdtempSync(path.join(tmpdir(), 'lw-test-times-'));
const durationsFile = path.join(timings, 'durations.jsonl');

// A file whose handles keep it alive after its last test must not hang the run (CI would wait
// forever): --test-force-exit ends it, and no single test may take more than ten minutes.
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(root, 'scripts', 'test-durations.mjs')}`,
    `--test-reporter-destination=${path.join(timings, 'reporter.out')}`,
    '--test-force-exit',
    '--test-timeout=600000',
    `--test-concurrency=${concurrency}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root, env: { ...process.env, NODE_ENV: 'test', TEST_DURATIONS_FILE: durationsFile } },
);
printSlowest();
rmSync(timings, { recursive: true, force: true });
process.exit(result.status ?? 1);

/** The slowest files of this run (TEST_SLOWEST of them, 15 by default), with the total over all files. */
function printSlowest() {
  let text = '';
  try {
    text = readFileSync(durationsFile, 'utf8');
  } catch {
    return;
  }
  const perFile = new Map();
  for (const line of text.split('\n').filter(Boolean)) {
    const { file, ms } = JSON.parse(line);
    perFile.set(file, (perFile.get(file) ?? 0) + ms);
  }
  if (perFile.size < 2) return;
  const rows = [...perFile].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  console.log(`\nslowest test files (of ${rows.length}; ${(total / 1000).toFixed(0)} s in tests over all files, run ${concurrency} at a time):`);
  for (const [file, ms] of rows.slice(0, Number(process.env.TEST_SLOWEST ?? 15))) console.log(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${path.relative(root, file)}`);
}
