/**
 * The handbook PDF export below HTTP, read back with pdf.js: entries with their revision and
 * verification, contents and bookmarks, scopes, Greek text intact, the recipient on every page, and
 * secrets redacted unless the exporter may reveal them and asked (then each is recorded as a reveal).
 */
import assert from 'node:assert/strict';
import { roleActor } from '../helpers/actors.js';
import { after, before, describe, it } from 'node:test';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import type { HandbookEntry } from '../../src/domain/handbook.js';
import { REDACTED } from '../../src/export/handbook-pdf.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { secretReveals } from '../../src/store/schema.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';
import { readPdf, type ReadPdf } from '../helpers/pdf.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const TECH: Actor = roleActor('technician', { userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test' });
const AUDITOR: Actor = roleActor('auditor', { userId: '00000000-0000-4000-8000-000000000002', email: 'audit@example.test' });
const DAY = 86_400_000;
const GREEK = 'Κρατήστε πατημένο το κουμπί επαναφοράς για 15 δευτερόλεπτα';

async function rejects(p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAppError(e), `expected AppError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (field) assert.ok(e.fields.some((f) => f.path === field), `${field} in ${JSON.stringify(e.fields)}`);
    return;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

for (const engine of ENGINES) {
  describe(`handbook PDF export (${engine})`, () => {
    let env: TestEnv;
    let byModel: Map<string, HandbookEntry>;
    let all: ReadPdf;
    let secretId: string;
    const hb = () => env.services.handbook;
    const text = (pdf: ReadPdf) => pdf.pages.join('\n');

    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
      byModel = new Map();
      for (const s of await hb().list(SYSTEM)) byModel.set(s.modelNumber, await hb().get(SYSTEM, s.id));
      // DB-100: a Greek step, a second revision, verified, then left to go stale. KP-80C: verified, current.
      const db = byModel.get('DB-100')!;
      await hb().save(SYSTEM, db.id, { content: { ...db.content, steps: [...db.content.steps, { kind: 'hold', text: GREEK, seconds: 15 }] }, reason: 'added the Greek step', expectedRevision: 1 });
      await hb().verify(TECH, db.id, { note: 'on site' });
      env.clock.advance(200 * DAY);
      await hb().verify(TECH, byModel.get('KP-80C')!.id, {});
      secretId = (await hb().addSecret(SYSTEM, byModel.get('SC-10')!.id, { kind: 'master_code', label: 'Factory master', value: '739104' })).id;
      all = await readPdf((await hb().exportPdf(TECH, {})).pdf);
    });
    after(() => env.close());

    it('lists every entry in the contents with a link, and bookmarks each under its manufacturer', () => {
      const contents = all.pages[1]!;
      assert.match(contents, /^Contents/);
      const entries = [...byModel.values()];
      for (const e of entries) {
        assert.ok(contents.includes(`${e.modelNumber} — `), `${e.modelNumber} in the contents`);
        assert.ok(all.destinations.includes(`entry-${e.id}`), `a destination for ${e.modelNumber}`);
        assert.ok(all.links[1]!.includes(`entry-${e.id}`), `the contents link to ${e.modelNumber}`);
      }
      const titles = all.outline.map((o) => o.title);
      assert.deepEqual(titles.slice(0, 2), ['Cover', 'Contents']);
      const keystone = all.outline.find((o) => o.title === 'Keystone Demo');
      assert.deepEqual(keystone?.items.map((i) => i.title.split(' — ')[0]), ['KP-50', 'KP-80C']);
      assert.equal(all.outline.reduce((n, o) => n + o.items.length, 0), entries.length, 'one bookmark per entry');
    });

    it('prints each entry with revision, verification, STALE marker, generic notice and numbered steps', () => {
      const page = all.pages.find((p) => p.includes('Model: DB-100 '))!;
      assert.ok(page, 'the DB-100 page');
      assert.match(page, /Revision: 2 — saved 2026-03-01 by local-cli: added the Greek step/);
      assert.match(page, /Last verified: 2026-03-01 by tech@example\.test \(at revision 2\); window 180 days, due 2026-08-28/);
      assert.match(page, /STALE: verification window passed on 2026-08-28/);
      assert.match(page, /GENERIC TEMPLATE/);
      assert.match(page, /Steps 1\. \[Other\] .* 4\. \[Enter a sequence\] .* — enter: 1-2-3/);
      assert.match(page, /Estimated time: 10 min/);
      assert.match(page, /\[Hold · 15 s\]/);
      assert.match(page, /Safety warnings/);
      assert.match(page, /Resources — Manufacturer/);
      const kp = all.pages.find((p) => p.includes('Model: KP-80C '))!;
      assert.match(kp, /Last verified: 2026-09-17 by tech@example\.test/);
      assert.doesNotMatch(kp, /STALE/);
    });

    it('prints the page each entry starts on in the contents, and "page i of n" on every page', () => {
      const contents = all.pages[1]!;
      for (const e of byModel.values()) {
        const printed = new RegExp(`${e.modelNumber} — .*?· rev \\d+(?: STALE| NEVER VERIFIED)? (\\d+)`).exec(contents)?.[1];
        const actual = all.pages.findIndex((p) => p.includes(`Model: ${e.modelNumber} `)) + 1;
        assert.ok(actual > 2, `${e.modelNumber} is after the cover and contents`);
        assert.equal(Number(printed), actual, `${e.modelNumber}: contents say page ${printed}, it starts on ${actual}`);
      }
      assert.ok(Math.max(...[...byModel.values()].map((e) => all.pages.findIndex((p) => p.includes(`Model: ${e.modelNumber} `)))) >= 5, 'some entry well past page 2');
      all.pages.forEach((p, i) => assert.ok(p.includes(`page ${i + 1} of ${all.pages.length}`), `page ${i + 1} footer`));
    });

    it('keeps non-Latin text intact', () => {
      assert.ok(text(all).includes(GREEK), 'the Greek step extracts as written');
    });

    it('puts the recipient and the export time on every page', () => {
      assert.ok(all.pages.length >= 11);
      all.pages.forEach((p, i) => assert.ok(p.includes('Prepared for tech@example.test · exported 2026-09-17 09:00 UTC'), `page ${i + 1}: ${p.slice(-160)}`));
      assert.match(all.pages[0]!, /Prepared for: tech@example\.test/);
    });

    it('redacts secrets unless asked for; refuses secrets to whoever may not reveal them', async () => {
      assert.ok(!text(all).includes('739104'));
      assert.ok(text(all).includes(`Master code (Factory master): ${REDACTED}`));
      const before = await env.database.db.select().from(secretReveals);
      await rejects(hb().exportPdf(AUDITOR, { includeSecrets: true, reason: 'audit copy' }), 'auth.forbidden');
      await rejects(hb().exportPdf(TECH, { includeSecrets: true }), 'validation.failed', 'reason');
      const auditorCopy = await readPdf((await hb().exportPdf(AUDITOR, {})).pdf);
      assert.ok(!text(auditorCopy).includes('739104'));
      assert.deepEqual(await env.database.db.select().from(secretReveals), before, 'nothing recorded');
    });

    it('prints secrets when allowed and asked, and records each as a reveal', async () => {
      // A technician prints a secret only with a reveal grant for its entry (an approved request).
      await assert.rejects(hb().exportPdf(TECH, { scope: 'manufacturer', manufacturer: 'vaultline demo', includeSecrets: 'true', reason: 'no grant yet' }));
      const granted: Actor = { ...TECH, grants: [...(TECH as Extract<Actor, { kind: 'user' }>).grants, { kind: 'reveal', id: 'r-sc10', entryId: byModel.get('SC-10')!.id, expiresAt: null }] } as Actor;
      const out = await hb().exportPdf(granted, { scope: 'manufacturer', manufacturer: 'vaultline demo', includeSecrets: 'true', reason: 'reset of the cash safe' });
      const pdf = await readPdf(out.pdf);
      assert.ok(text(pdf).includes('Master code (Factory master): 739104'));
      assert.match(pdf.pages[0]!, /CONTAINS SECRETS/);
      const reveals = await hb().reveals(SYSTEM, byModel.get('SC-10')!.id);
      assert.equal(reveals.length, 1);
      assert.equal(reveals[0]!.secretId, secretId);
      assert.equal(reveals[0]!.actorLabel, 'tech@example.test');
      assert.match(reveals[0]!.reason, /PDF export \(Manufacturer: Vaultline Demo\): reset of the cash safe/);
    });

    it('exports one manufacturer, or the effective entries of the locks under a location', async () => {
      const keystone = await readPdf((await hb().exportPdf(SYSTEM, { scope: 'manufacturer', manufacturer: 'Keystone Demo' })).pdf);
      assert.deepEqual(keystone.outline.flatMap((o) => o.items.map((i) => i.title.split(' — ')[0])), ['KP-50', 'KP-80C']);
      assert.match(keystone.pages[0]!, /Manufacturer: Keystone Demo/);

      const tree = await env.services.locations.tree(SYSTEM);
      const site = tree.flatMap((o) => [o, ...o.children]).find((l) => l.kind === 'site')!;
      const lockList = (await env.services.locks.list(SYSTEM, { locationId: site.id, limit: 500 })).items;
      const models = new Set(lockList.map((l) => l.modelId));
      const pdf = await readPdf((await hb().exportPdf(SYSTEM, { scope: 'site', locationId: site.id })).pdf);
      const shown = pdf.outline.flatMap((o) => o.items.map((i) => i.title.split(' — ')[0]));
      const expected = [...byModel.values()].filter((e) => models.has(e.modelId)).map((e) => e.modelNumber);
      assert.deepEqual(shown.sort(), expected.sort());
      assert.match(pdf.pages[0]!, new RegExp(`Location: .*${site.name}`));
      assert.match(text(pdf), /Applies here to: /);
      assert.ok(text(pdf).includes(lockList[0]!.name), 'names the locks it applies to');
    });

    it('names the bad parameter', async () => {
      await rejects(hb().exportPdf(SYSTEM, { scope: 'site' }), 'validation.failed', 'locationId');
      await rejects(hb().exportPdf(SYSTEM, { scope: 'site', locationId: '00000000-0000-4000-8000-00000000000f' }), 'validation.failed', 'locationId');
      await rejects(hb().exportPdf(SYSTEM, { scope: 'manufacturer', manufacturer: 'Nobody Inc' }), 'validation.failed', 'manufacturer');
      await rejects(hb().exportPdf(SYSTEM, { scope: 'region' }), 'validation.failed', 'scope');
      await rejects(hb().exportPdf(SYSTEM, { includeSecrets: 'maybe', reason: 'x y z' }), 'validation.failed', 'includeSecrets');
    });
  });
}
