/**
 * Handbook search benchmark: N handbook entries (default 50,000) loaded in bulk — models, entries and
 * their first revisions in multi-row inserts, with the derived columns (`search_text`, `model_key`)
 * computed by the service's own `entryDerivedColumns`, so the rows are what `HandbookService.create`
 * would write — then a few hundred warm `HandbookService.search` calls of four kinds: exact model
 * numbers, model numbers with one typo, words from steps, manufacturer names. Reports p50/p95/p99 per
 * kind and overall (goal: p50 < 5 ms, p99 < 25 ms), and how often the model searched for is among
 * the hits. `explain` gives the plan of one query of each kind.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { HandbookContent } from '../src/domain/handbook.js';
import { normalizeModelNumber } from '../src/domain/handbook.js';
import { FAMILY_TEMPLATES } from '../src/domain/handbook-templates.js';
import type { Actor } from '../src/domain/identity.js';
import { startRuntime } from '../src/runtime.js';
import { loadDemoFleet } from '../src/services/demo-fleet.js';
import { entryDerivedColumns } from '../src/services/handbook-service.js';
import { openPostgres, PGLITE_EXTENSIONS, queryRows, wrapPglite, type Database } from '../src/store/database.js';
import { searchStatement } from '../src/store/handbook-repository.js';
import { handbookEntries, handbookRevisions, lockModels } from '../src/store/schema.js';

export type QueryKind = 'exact' | 'typo' | 'steps' | 'manufacturer';

export interface LatencyFigures {
  queries: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface HandbookSearchResult {
  benchmark: 'handbook-search';
  engine: 'pglite' | 'postgres';
  entries: number;
  setupMs: number;
  overall: LatencyFigures;
  byKind: Record<QueryKind, LatencyFigures & { found?: number }>;
  rssMaxMb: number;
  plans?: Record<QueryKind, string>;
}

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** A small deterministic generator, so every run searches the same data with the same queries. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ar', 'vel', 'to', 'rin', 'ka', 'mos', 'en', 'tri', 'lu', 'dor', 'sa', 'pex', 'o', 'na', 'quin', 'bel', 'zar', 'ith', 'col', 've', 'mar', 'sen', 'tal', 'gro'];
const LETTERS = 'ABCDEFGHJKLMNPRSTVWXZ';

function word(r: () => number, syllables: number): string {
  return Array.from({ length: syllables }, () => SYLLABLES[Math.floor(r() * SYLLABLES.length)]).join('');
}

/** One typo: a character replaced, dropped, doubled, or two neighbours swapped. */
function typo(r: () => number, s: string): string {
  const i = 1 + Math.floor(r() * (s.length - 2));
  switch (Math.floor(r() * 4)) {
    case 0:
      return s.slice(0, i) + (/\d/.test(s[i]!) ? String((Number(s[i]) + 1) % 10) : 'X') + s.slice(i + 1);
    case 1:
      return s.slice(0, i) + s.slice(i + 1);
    case 2:
      return s.slice(0, i) + s[i] + s.slice(i);
    default:
      return s.slice(0, i - 1) + s[i] + s[i - 1] + s.slice(i + 1);
  }
}

function figures(ms: number[]): LatencyFigures {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100;
  return { queries: s.length, p50Ms: at(50), p95Ms: at(95), p99Ms: at(99), maxMs: at(100) };
}

/** Loads `entries` handbook entries in bulk and times warm searches over them. */
export async function runHandbookSearch(opts: { entries: number; queries?: number; databaseUrl?: string | undefined; explain?: boolean }): Promise<HandbookSearchResult> {
  const t0 = performance.now();
  const r = rng(4242);
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-search-'));
  let database: Database;
  if (opts.databaseUrl) database = await openPostgres(opts.databaseUrl);
  else database = await wrapPglite(await PGlite.create({ dataDir: path.join(dir, 'pglite'), extensions: PGLITE_EXTENSIONS }));
  let rssMax = process.memoryUsage().rss;
  try {
    const runtime = await startRuntime({ database, dataDir: dir, simulator: { kind: 'off' }, queue: false, worker: false, driftCheckSeconds: 0 });
    const { services, ctx } = runtime;
    await loadDemoFleet(ctx);
    const base = await ctx.db.select().from(lockModels);
    const existing = (await services.handbook.list(SYSTEM)).length;
    const manufacturers = Array.from({ length: 400 }, (_, i) => {
      const w = word(r, 2 + (i % 2));
      return `${w[0]!.toUpperCase()}${w.slice(1)} ${['Locks', 'Security', 'Systems', 'Hardware', 'Access'][i % 5]}`;
    });
    const prefixes = Array.from({ length: 600 }, () => LETTERS[Math.floor(r() * LETTERS.length)]! + LETTERS[Math.floor(r() * LETTERS.length)]! + (r() < 0.4 ? LETTERS[Math.floor(r() * LETTERS.length)]! : ''));
    const vocabulary = Array.from({ length: 3000 }, () => word(r, 3));
    const now = new Date();
    const n = Math.max(0, opts.entries - existing);
    const models: { modelNumber: string; manufacturer: string; words: string[] }[] = [];
    for (let start = 0; start < n; start += 1000) {
      const modelRows: (typeof lockModels.$inferInsert)[] = [];
      const entryRows: (typeof handbookEntries.$inferInsert)[] = [];
      const revisionRows: (typeof handbookRevisions.$inferInsert)[] = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        const m = base[i % base.length]!;
        const manufacturer = manufacturers[Math.floor(r() * manufacturers.length)]!;
        // The index makes each model number unique; the prefix and suffix make them look like real ones.
        const modelNumber = `${prefixes[Math.floor(r() * prefixes.length)]}-${1000 + i}${r() < 0.3 ? LETTERS[Math.floor(r() * LETTERS.length)] : ''}`;
        const words = [0, 1, 2].map(() => vocabulary[Math.floor(r() * vocabulary.length)]!);
        const t = FAMILY_TEMPLATES[m.family];
        const content: HandbookContent = {
          ...t,
          generic: false,
          title: `Factory reset: ${manufacturer} ${modelNumber}`,
          steps: [...t.steps, { kind: 'other', text: `Check the ${words[0]} and ${words[1]} before closing the ${words[2]} cover.` }],
        };
        const modelId = randomUUID();
        const entryId = randomUUID();
        models.push({ modelNumber, manufacturer, words });
        modelRows.push({ ...m, id: modelId, manufacturer, modelNumber, isDemo: false, createdAt: now, updatedAt: now });
        entryRows.push({ id: entryId, modelId, lockId: null, currentRevision: 1, ...entryDerivedColumns(manufacturer, modelNumber, content), isDemo: false, createdAt: now, updatedAt: now });
        revisionRows.push({ entryId, revision: 1, content, reason: 'bench load', authorId: 'system:bench', authorLabel: 'bench', createdAt: now });
      }
      await ctx.db.insert(lockModels).values(modelRows);
      await ctx.db.insert(handbookEntries).values(entryRows);
      await ctx.db.insert(handbookRevisions).values(revisionRows);
    }
    await queryRows(ctx.db, sql`analyze`);
    const setupMs = performance.now() - t0;
    console.error(`handbook-search: ${existing + n} entries loaded in ${(setupMs / 1000).toFixed(1)} s on ${database.engine}; searching`);

    const total = opts.queries ?? 400;
    const pick = <T>(list: T[]) => list[Math.floor(r() * list.length)]!;
    const STEP_PHRASES = ['interior reset button', 'fingerprint enroll', 'master code', 'indicator light flashes', 'programming mode'];
    const plan: { kind: QueryKind; q: string; want?: string }[] = [];
    for (let i = 0; i < total; i++) {
      const kind = (['exact', 'typo', 'steps', 'manufacturer'] as const)[i % 4]!;
      const m = pick(models);
      if (kind === 'exact') plan.push({ kind, q: r() < 0.5 ? m.modelNumber : normalizeModelNumber(m.modelNumber), want: m.modelNumber });
      else if (kind === 'typo') plan.push({ kind, q: typo(r, m.modelNumber), want: m.modelNumber });
      else if (kind === 'steps') plan.push({ kind, q: r() < 0.3 ? pick(STEP_PHRASES) : r() < 0.5 ? m.words[0]! : `${m.words[1]} ${m.words[2]}` });
      else plan.push({ kind, q: r() < 0.5 ? m.manufacturer : m.manufacturer.split(' ')[0]! });
    }

    // Warm up: the first calls pay for plan caches and pages being read in.
    for (const p of plan.slice(0, 40)) await services.handbook.search(SYSTEM, { q: p.q });
    const times: Record<QueryKind, number[]> = { exact: [], typo: [], steps: [], manufacturer: [] };
    const found: Record<QueryKind, number> = { exact: 0, typo: 0, steps: 0, manufacturer: 0 };
    for (const p of plan) {
      const t = performance.now();
      const hits = await services.handbook.search(SYSTEM, { q: p.q });
      times[p.kind].push(performance.now() - t);
      if (p.want && hits.some((h) => h.modelNumber === p.want)) found[p.kind]++;
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }

    let plans: Record<QueryKind, string> | undefined;
    if (opts.explain) {
      plans = {} as Record<QueryKind, string>;
      for (const kind of ['exact', 'typo', 'steps', 'manufacturer'] as const) {
        const q = plan.find((p) => p.kind === kind)!.q;
        const rows = await queryRows<Record<string, string>>(ctx.db, sql`explain (analyze, costs off) ${searchStatement(ctx.db, q, normalizeModelNumber(q), 20).getSQL()}`);
        plans[kind] = `-- ${kind}: ${q}\n${rows.map((row) => Object.values(row)[0]).join('\n')}`;
      }
    }
    await runtime.stop();
    const byKind = Object.fromEntries(
      (Object.keys(times) as QueryKind[]).map((k) => [k, { ...figures(times[k]), ...(k === 'exact' || k === 'typo' ? { found: found[k] } : {}) }]),
    ) as HandbookSearchResult['byKind'];
    return {
      benchmark: 'handbook-search',
      engine: database.engine,
      entries: existing + n,
      setupMs: Math.round(setupMs),
      overall: figures(Object.values(times).flat()),
      byKind,
      rssMaxMb: Math.round(rssMax / 1048576),
      ...(plans ? { plans } : {}),
    };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
