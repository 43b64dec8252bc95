/**
 * Handbook PDF benchmark: N handbook entries (one per model, each the generic procedure of its family
 * plus a Greek step and a secret) seeded in this process, which then closes the data
 * folder. The export runs the way a user runs it, in a fresh process: `lockwarden handbook export
 * --pdf` on the data folder (the built CLI). That process's peak RSS is the kernel's high-water mark
 * (getrusage maxRSS, /proc/self/status VmHWM), read at its exit by bench/max-rss.mjs. For comparison
 * the same is measured for a command that only opens the folder (`handbook stale`), and this
 * process's RSS is recorded at each seeding stage. Goal for 1,000 entries: < 10 s and < 400 MB.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Actor } from '../src/domain/identity.js';
import { FAMILY_TEMPLATES } from '../src/domain/handbook-templates.js';
import { startRuntime } from '../src/runtime.js';
import { loadDemoFleet } from '../src/services/demo-fleet.js';
import { openDatabase } from '../src/store/database.js';
import { lockModels } from '../src/store/schema.js';

export interface HandbookPdfResult {
  benchmark: 'handbook-pdf';
  entries: number;
  setupMs: number;
  /** Wall time of the exporting process, start to exit (opening the folder included). */
  exportProcessMs: number;
  pdfMb: number;
  pages: number;
  /** Peak RSS of the exporting process. */
  rssMaxMb: number;
  /** Peak RSS of a process that only opens the folder and lists stale entries (the floor under the export). */
  rssOpenOnlyMb: number;
  /** Wall time of that open-only process. */
  openOnlyMs: number;
  /** RSS of the seeding process: after opening the database, after the runtime and demo fleet, after seeding. */
  seedRssMb: { opened: number; runtime: number; seeded: number };
}

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const root = path.resolve(import.meta.dirname, '..');
const mb = (bytes: number) => Math.round(bytes / 1048576);

/** Runs the built CLI with `args` in a fresh process; returns its wall time and peak RSS. */
function cli(dir: string, args: string[]): { ms: number; maxRssMb: number; stdout: string } {
  const rssFile = path.join(dir, `rss-${randomUUID()}.json`);
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', path.join(root, 'bench', 'max-rss.mjs'), path.join(root, 'bin', 'lockwarden.mjs'), '--data', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOCKWARDEN_BENCH_RSS_FILE: rssFile },
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`lockwarden ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rss = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRssKb: number; vmHwmKb: number };
  return { ms, maxRssMb: Math.round(Math.max(rss.maxRssKb, rss.vmHwmKb) / 1024), stdout: r.stdout };
}

/** Seeds `entries` handbook entries into a fresh data folder, then times one PDF export of them all in a fresh CLI process. */
export async function runHandbookPdf(opts: { entries: number }): Promise<HandbookPdfResult> {
  // The export runs the built CLI: build it if the sources are newer.
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-if-stale.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const t0 = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-pdf-'));
  try {
    const database = await openDatabase({ dataDir: dir, purpose: 'bench' });
    const seedRssMb = { opened: mb(process.memoryUsage().rss), runtime: 0, seeded: 0 };
    try {
      const runtime = await startRuntime({ database, dataDir: dir, simulator: { kind: 'off' }, queue: false, worker: false, driftCheckSeconds: 0 });
      const { services, ctx } = runtime;
      await loadDemoFleet(ctx);
      seedRssMb.runtime = mb(process.memoryUsage().rss);
      const base = await ctx.db.select().from(lockModels);
      const existing = await services.handbook.list(SYSTEM);
      const rows = Array.from({ length: Math.max(0, opts.entries - existing.length) }, (_, i) => {
        const m = base[i % base.length]!;
        return { ...m, id: randomUUID(), manufacturer: `Bench Maker ${String(i % 40).padStart(2, '0')}`, modelNumber: `BM-${String(i).padStart(5, '0')}` };
      });
      for (let i = 0; i < rows.length; i += 500) await ctx.db.insert(lockModels).values(rows.slice(i, i + 500));
      for (const m of rows) {
        const t = FAMILY_TEMPLATES[m.family];
        const steps = [...t.steps, { kind: 'verify' as const, text: 'Ελέγξτε ότι η κλειδαριά είναι σε λειτουργία ρύθμισης.' }];
        const e = await services.handbook.create(SYSTEM, { modelId: m.id, content: { ...t, generic: false, steps } });
        await services.handbook.addSecret(SYSTEM, e.id, { kind: 'master_code', value: '739104' });
      }
      seedRssMb.seeded = mb(process.memoryUsage().rss);
      await runtime.stop();
    } finally {
      await database.close();
    }
    const setupMs = performance.now() - t0;

    const openOnly = cli(dir, ['handbook', 'stale', '--json']);
    const file = path.join(dir, 'handbook.pdf');
    const run = cli(dir, ['--json', 'handbook', 'export', '--pdf', file]);
    const out = JSON.parse(run.stdout) as { entries: number; bytes: number };
    const pdf = readFileSync(file);
    return {
      benchmark: 'handbook-pdf',
      entries: out.entries,
      setupMs: Math.round(setupMs),
      exportProcessMs: Math.round(run.ms),
      pdfMb: Math.round((statSync(file).size / 1048576) * 10) / 10,
      pages: (pdf.toString('latin1').match(/\/Type \/Page\b/g) ?? []).length,
      rssMaxMb: run.maxRssMb,
      rssOpenOnlyMb: openOnly.maxRssMb,
      openOnlyMs: Math.round(openOnly.ms),
      seedRssMb,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
