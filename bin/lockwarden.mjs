#!/usr/bin/env node
// Entry point of the `lockwarden` command: runs the built CLI (npm run build makes dist/), bundled
// (dist/bundle/, a much shorter start) unless that bundle is missing or older than what tsc wrote.
import { existsSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node 22.1+ keeps V8's compiled code on disk (in the temp folder, or NODE_COMPILE_CACHE) for the
// next run: a cold `serve` on Node 22 starts ~80 ms sooner. Node 20 has no such cache.
module.enableCompileCache?.();

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const bundled = fileURLToPath(new URL('../dist/bundle/main.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('lockwarden: not built yet; run `npm run build` (or `npm start`, which builds first)\n');
  process.exit(1);
}
const entry = existsSync(bundled) && statSync(bundled).mtimeMs >= statSync(built).mtimeMs ? bundled : built;
const { main } = await import(entry);
await main(process.argv);
