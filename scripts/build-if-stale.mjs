// Builds the server (tsc) and the web UI (vite) when their output is missing or older than the
// sources, so `npm start` on a fresh clone just works and a second start is instant.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const configs = ['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => mtime(path.join(root, f)));

const serverOut = path.join(root, 'dist', 'cli', 'main.js');
const serverSrc = Math.max(
  ...configs,
  ...['domain', 'services', 'store', 'server', 'cli', 'crypto', 'drivers', 'export', 'media', 'sheets', 'jobs'].map((d) => newest(path.join(root, 'src', d))),
  ...readdirSync(path.join(root, 'src')).filter((f) => f.endsWith('.ts')).map((f) => mtime(path.join(root, 'src', f))),
  mtime(path.join(root, 'scripts', 'bundle-server.mjs')),
);
// The bundle bin/lockwarden.mjs runs (it falls back to dist/cli/ when the bundle is missing or older).
const bundleOut = path.join(root, 'dist', 'bundle', 'main.js');
const webOut = path.join(root, 'dist', 'web', 'index.html');
const webSrc = Math.max(...configs, newest(path.join(root, 'src', 'web')), newest(path.join(root, 'src', 'domain')));

const run = (script) => execSync(`npm run --silent ${script}`, { cwd: root, stdio: 'inherit' });
if (mtime(serverOut) < serverSrc || mtime(bundleOut) < mtime(serverOut)) {
  console.log('building the server (tsc, then the bundle)...');
  run('build:server');
}
if (mtime(webOut) < webSrc || process.argv.includes('--force-web')) {
  console.log('building the web UI (vite)...');
  run('build:web');
}
