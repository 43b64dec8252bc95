// Bundles the built command (dist/cli/main.js, what tsc wrote) with the packages its start needs into
// dist/bundle/, which bin/lockwarden.mjs runs. Node 20 spends much of a cold start loading modules one
// by one (resolving, reading, compiling each): a cold `serve` loaded about 950 from dist/ and
// node_modules, about 200 with the bundle, and reaches its first 200 about 0.25 s sooner on 2 cores
// (docs/benchmarks.md, cold start). Code split: what the command loads lazily (the server, PDF
// export, protocol drivers) stays in chunks loaded on demand.
//
// A bundled package runs from dist/bundle/, so one that finds its own files at run time (beside its
// modules) must stay external; the build fails naming any bundled module that does.
import { build } from 'esbuild';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outdir = path.join(root, 'dist', 'bundle');

/** Left to Node's loader, each for the reason given. */
const EXTERNAL = [
  // Loads its WebAssembly and file-system image from beside its own modules.
  '@electric-sql/pglite',
  // Native code.
  '@node-rs/argon2',
  'sharp',
  'pg-native',
  // Read their own files: the docs page's assets (swagger-ui), worker threads started from their
  // files (pino's transports).
  '@fastify/swagger-ui',
  'pino',
  // Loaded only by what uses them (exports, email, protocol drivers): no start pays for them, and
  // pdfkit reads its font metrics from beside itself.
  'pdfkit',
  'dejavu-fonts-ttf',
  'exceljs',
  'nodemailer',
  'mqtt',
  '@seamapi/*',
  'zwave-js',
  '@zwave-js/*',
  '@matter/*',
];

// Finding files relative to the module itself, which breaks once the module is bundled.
const SELF_RELATIVE = /__dirname|__filename|require\.resolve|require\.main|process\.mainModule|import\.meta\.(url|dirname|filename)/g;
/** Bundled modules that do, checked one by one: why each still behaves the same from the bundle. */
const SELF_RELATIVE_CHECKED = {
  // Reads @fastify/swagger's own package.json for the document's default info; bundled, the read
  // fails inside its try/catch (no __dirname in an ES module) and gives {}, and the app always passes
  // its own info, which replaces the default whole (prepareOpenapiObject).
  'node_modules/@fastify/swagger/lib/util/read-package-json.js': '__dirname',
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/cli/main.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // Bundled CommonJS code calls require() (Node built-ins, optional peers): give each chunk one.
  banner: { js: "import { createRequire as __lwCreateRequire } from 'node:module'; const require = __lwCreateRequire(import.meta.url);" },
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

const problems = [];
for (const input of Object.keys(result.metafile.inputs)) {
  if (!input.includes('node_modules/')) continue;
  const code = readFileSync(path.join(root, input), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const hits = new Set([...code.matchAll(SELF_RELATIVE)].map((m) => m[0]));
  hits.delete(SELF_RELATIVE_CHECKED[input]);
  if (hits.size) problems.push(`${input}: ${[...hits].join(', ')}`);
}
// An external must resolve from dist/bundle/ to the same copy its importer would have loaded.
const packageDir = (fromDir, name) => {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(candidate)) return candidate;
    if (dir === path.dirname(dir)) return null;
  }
};
for (const [input, { imports }] of Object.entries(result.metafile.inputs)) {
  for (const i of imports) {
    if (!i.external || i.path.startsWith('node:') || !/^[@a-z]/.test(i.path)) continue;
    const name = i.path.split('/').slice(0, i.path.startsWith('@') ? 2 : 1).join('/');
    if (packageDir(path.dirname(path.join(root, input)), name) !== packageDir(outdir, name)) problems.push(`${input}: imports ${i.path}, another copy than dist/bundle/ would load`);
  }
}
if (problems.length) {
  rmSync(outdir, { recursive: true, force: true });
  console.error(`bundle-server: these would break once bundled; add their packages to EXTERNAL:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
