/**
 * `npm run bench -- xlsx-import`: imports an XLSX inventory of N new locks (10,000 by default,
 * generated over the demo fleet's locations and models) into a fresh embedded database, then imports
 * the same file again (every row unchanged) and exports the inventory back as XLSX. Reports the time
 * of each step and the process's peak RSS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { count } from 'drizzle-orm';
import { SecretBox, staticKeySource } from '../src/crypto/secret-box.js';
import type { Actor } from '../src/domain/identity.js';
import { INVENTORY_COLUMNS, type Table } from '../src/domain/sheets.js';
import { startRuntime } from '../src/runtime.js';
import { loadDemoFleet } from '../src/services/demo-fleet.js';
import { writeXlsx } from '../src/sheets/files.js';
import { openPostgres, PGLITE_EXTENSIONS, wrapPglite, type Database } from '../src/store/database.js';
import { locks } from '../src/store/schema.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

export interface SheetsResult {
  benchmark: 'xlsx-import';
  engine: string;
  rows: number;
  fileMb: number;
  writeFileMs: number;
  importMs: number;
  reimportMs: number;
  exportMs: number;
  locksAfter: number;
  /** RSS after setup (database, demo fleet, the generated file), before the first import. */
  rssBeforeImportMb: number;
  rssMaxMb: number;
}

export async function runXlsxImport(opts: { rows: number; databaseUrl?: string | undefined }): Promise<SheetsResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-sheets-'));
  const database: Database = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await wrapPglite(new PGlite(path.join(dir, 'pglite'), { extensions: PGLITE_EXTENSIONS }));
  let rssMax = process.memoryUsage().rss;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 100);
  try {
    const runtime = await startRuntime({
      database,
      dataDir: dir,
      simulator: { kind: 'off' },
      secrets: new SecretBox(staticKeySource(Buffer.alloc(32, 9))),
      queue: false,
      worker: false,
      driftCheckSeconds: 0,
      jobs: { enqueue: async () => undefined },
    });
    const { services } = runtime;
    await loadDemoFleet(runtime.ctx);
    // Rows: new locks spread over the places the demo's locks are, with the demo's models and steps.
    const demo = await services.sheets.exportInventory(SYSTEM);
    const c = (name: (typeof INVENTORY_COLUMNS)[number]) => INVENTORY_COLUMNS.indexOf(name);
    const table: Table = {
      headers: demo.headers,
      rows: Array.from({ length: opts.rows }, (_, i) => {
        const r = [...demo.rows[i % demo.rows.length]!];
        r[c('id')] = '';
        r[c('name')] = `Bench door ${String(i + 1).padStart(5, '0')}`;
        r[c('driver')] = 'none';
        r[c('external id')] = `bench-${i + 1}`;
        r[c('serial')] = `SN-${100000 + i}`;
        return r;
      }),
    };
    let t = performance.now();
    const file = await writeXlsx(table, 'Inventory');
    const writeFileMs = performance.now() - t;
    const rssBeforeImport = process.memoryUsage().rss;
    t = performance.now();
    const first = await services.sheets.importFile(SYSTEM, 'inventory', file, { format: 'xlsx' });
    const importMs = performance.now() - t;
    if (first.created !== opts.rows) throw new Error(`expected ${opts.rows} created, got ${JSON.stringify(first)}`);
    t = performance.now();
    const second = await services.sheets.importFile(SYSTEM, 'inventory', file, { format: 'xlsx' });
    const reimportMs = performance.now() - t;
    if (second.unchanged !== opts.rows) throw new Error(`expected the re-import to change nothing, got ${JSON.stringify(second)}`);
    t = performance.now();
    await services.sheets.exportFile(SYSTEM, 'inventory', 'xlsx');
    const exportMs = performance.now() - t;
    const [n] = await database.db.select({ n: count() }).from(locks);
    await runtime.stop();
    return {
      benchmark: 'xlsx-import',
      engine: database.engine,
      rows: opts.rows,
      fileMb: Math.round((file.length / 1048576) * 100) / 100,
      writeFileMs: Math.round(writeFileMs),
      importMs: Math.round(importMs),
      reimportMs: Math.round(reimportMs),
      exportMs: Math.round(exportMs),
      locksAfter: Number(n!.n),
      rssBeforeImportMb: Math.round(rssBeforeImport / 1048576),
      rssMaxMb: Math.round(rssMax / 1048576),
    };
  } finally {
    clearInterval(sampler);
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
