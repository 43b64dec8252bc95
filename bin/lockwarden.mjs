#!/usr/bin/env node
// Entry point of the `lockwarden` command: runs the built CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('lockwarden: not built yet; run `npm run build` (or `npm start`, which builds first)\n');
  process.exit(1);
}
const { main } = await import(built);
await main(process.argv);
