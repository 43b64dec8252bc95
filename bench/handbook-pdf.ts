/**
 * Handbook PDF benchmark: N handbook entries (one per model, each the generic procedure of its family
 * plus a Greek step and a secret), then one whole-handbook export through the service, the way the
 * route runs it. Reports the export's wall time, the PDF's size and pages, and the process's peak RSS
 * (goal for 1,000 entries: < 10 s and < 400 MB).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Actor } from '../src/domain/identity.js';
import { FAMILY_TEMPLATES } from '../src/domain/handbook-templates.js';
import { startRuntime } from '../src/runtime.js';
import { loadDemoFleet } from '../src/services/demo-fleet.js';
import { PGLITE_EXTENSIONS, wrapPglite } from '../src/store/database.js';
import { lockModels } from '../src/store/schema.js';

export interface HandbookPdfResult {
  benchmark: 'handbook-pdf';
  entries: number;
  setupMs: number;
  exportMs: number;
  pdfMb: number;
  pages: number;
  /** RSS just before the export (PGlite and the setup's leftovers), to read the export's own share. */
  rssBeforeMb: number;
  rssMaxMb: number;
  heapUsedMb: number;
}

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** Builds `entries` handbook entries on a fresh embedded database and times one PDF export of them all. */
export async function runHandbookPdf(opts: { entries: number }): Promise<HandbookPdfResult> {
  const t0 = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-pdf-'));
  const pglite = await PGlite.create({ dataDir: path.join(dir, 'pglite'), extensions: PGLITE_EXTENSIONS });
  const database = await wrapPglite(pglite);
  try {
    const runtime = await startRuntime({ database, dataDir: dir, simulator: { kind: 'off' }, queue: false, worker: false, driftCheckSeconds: 0 });
    const { services, ctx } = runtime;
    await loadDemoFleet(ctx);
    const base = await ctx.db.select().from(lockModels);
    const existing = await services.handbook.list(SYSTEM);
    const rows = Array.from({ length: Math.max(0, opts.entries - existing.length) }, (_, i) => {
      const m = base[i % base.length]!;
      return { ...m, id: randomUUID(), manufacturer: `Bench Maker ${String(i % 40).padStart(2, '0')}`, modelNumber: `BM-${String(i).padStart(5, '0')}` };
    });
    for (let i = 0; i < rows.length; i += 500) await ctx.db.insert(lockModels).values(rows.slice(i, i + 500));
    for (const m of rows) {
      const t = FAMILY_TEMPLATES[m.family];
      const e = await services.handbook.create(SYSTEM, {
        modelId: m.id,
        content: { ...t, generic: false, steps: [...t.steps, { kind: 'verify', text: 'Ελέγξτε ότι η κλειδαριά είναι σε λειτουργία ρύθμισης.' }] },
      });
      await services.handbook.addSecret(SYSTEM, e.id, { kind: 'master_code', value: '739104' });
    }
    const setupMs = performance.now() - t0;
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
    const t1 = performance.now();
    const out = await services.handbook.exportPdf(SYSTEM, {});
    const exportMs = performance.now() - t1;
    clearInterval(sampler);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    await runtime.stop();
    return {
      benchmark: 'handbook-pdf',
      entries: out.entries,
      setupMs: Math.round(setupMs),
      exportMs: Math.round(exportMs),
      pdfMb: Math.round((out.pdf.length / 1048576) * 10) / 10,
      pages: (out.pdf.toString('latin1').match(/\/Type \/Page\b/g) ?? []).length,
      rssBeforeMb: Math.round(rssBefore / 1048576),
      rssMaxMb: Math.round(rssMax / 1048576),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
    };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
