// `npm test`: builds what the browser test needs, then runs every *.test.ts under test/ with Node's
// own test runner (through tsx). Extra arguments are test files or folders to run instead.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

// A file whose handles keep it alive after its last test must not hang the run (CI would wait
// forever): --test-force-exit ends it, and no single test may take more than ten minutes.
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-force-exit',
    '--test-timeout=600000',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root, env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
