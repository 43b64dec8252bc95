/**
 * Handbook search ranking on more entries than it ranks (every engine the storage suites use): an
 * exact model number comes first, a typo still finds it, a phrase every entry shares returns a capped
 * page in rank then title order, and secret values are found by neither the words nor the trigrams.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import type { HandbookContent } from '../../src/domain/handbook.js';
import { FAMILY_TEMPLATES } from '../../src/domain/handbook-templates.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { entryDerivedColumns, type SearchHit } from '../../src/services/handbook-service.js';
import { SEARCH_WORD_CANDIDATES } from '../../src/store/handbook-repository.js';
import { handbookEntries, handbookRevisions, lockModels } from '../../src/store/schema.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
/** More entries sharing the deadbolt template's phrases than search ranks. */
const EXTRA = SEARCH_WORD_CANDIDATES + 50;

for (const engine of ENGINES) {
  describe(`handbook search (${engine})`, () => {
    let env: TestEnv;
    const search = (q: string, limit?: number): Promise<SearchHit[]> => env.services.handbook.search(SYSTEM, limit ? { q, limit } : { q });
    const models = async (q: string, limit?: number) => (await search(q, limit)).map((h) => h.modelNumber);

    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
      const db = env.services.ctx.db;
      const [base] = await db.select().from(lockModels).limit(1);
      const now = new Date();
      const t = FAMILY_TEMPLATES.electronic_deadbolt;
      const modelRows: (typeof lockModels.$inferInsert)[] = [];
      const entryRows: (typeof handbookEntries.$inferInsert)[] = [];
      const revisionRows: (typeof handbookRevisions.$inferInsert)[] = [];
      for (let i = 0; i < EXTRA; i++) {
        const modelNumber = `QX-${1000 + i}`;
        const manufacturer = i % 2 ? 'Tarnwick Hardware' : 'Osterby Locks';
        const content: HandbookContent = { ...t, generic: false, title: `Factory reset: ${manufacturer} ${modelNumber}` };
        const modelId = randomUUID();
        const entryId = randomUUID();
        modelRows.push({ ...base!, id: modelId, manufacturer, modelNumber, family: 'electronic_deadbolt', isDemo: false, createdAt: now, updatedAt: now });
        entryRows.push({ id: entryId, modelId, lockId: null, currentRevision: 1, ...entryDerivedColumns(manufacturer, modelNumber, content), isDemo: false, createdAt: now, updatedAt: now });
        revisionRows.push({ entryId, revision: 1, content, reason: 'test load', authorId: 'system:test', authorLabel: 'test', createdAt: now });
      }
      await db.insert(lockModels).values(modelRows);
      await db.insert(handbookEntries).values(entryRows);
      await db.insert(handbookRevisions).values(revisionRows);
    });
    after(() => env.close());

    it('puts the exact model number first, with or without its dash, among many near ones', async () => {
      assert.equal((await models('QX-1042'))[0], 'QX-1042');
      assert.equal((await models('qx1042'))[0], 'QX-1042');
      assert.equal((await models('QX 1042'))[0], 'QX-1042');
      const hits = await search('QX-1042');
      assert.ok(hits[0]!.rank > hits[1]!.rank, 'the exact model ranks strictly above its neighbours');
    });

    it('finds a model number typed with one typo', async () => {
      assert.ok((await models('QX-1O42')).includes('QX-1042'), 'letter O for zero');
      assert.ok((await models('QXX-1042')).includes('QX-1042'), 'a doubled letter');
    });

    it('returns a capped page for a phrase every entry shares, in rank then title order', async () => {
      const page = await search('interior reset button', 100);
      assert.equal(page.length, Math.min(100, SEARCH_WORD_CANDIDATES), 'capped, yet a full page');
      for (let i = 1; i < page.length; i++) {
        const [a, b] = [page[i - 1]!, page[i]!];
        assert.ok(a.rank >= b.rank, `ranks do not increase at ${i}`);
        if (a.rank === b.rank && a.title.startsWith('Factory reset: ') && b.title.startsWith('Factory reset: ')) assert.ok(a.title <= b.title, `equal ranks by title at ${i}`);
      }
      const twenty = await search('interior reset button');
      assert.equal(twenty.length, 20);
      assert.ok(twenty.every((h) => h.family === 'electronic_deadbolt'), 'every hit holds the phrase');
      assert.ok((await models('interior reset butt')).length > 0, 'the last word is a prefix');
      assert.equal((await search('Osterby Locks', 100)).filter((h) => h.manufacturer !== 'Osterby Locks').length, 0);
      assert.equal((await search('Osterby', 100)).length, Math.min(100, Math.ceil(EXTRA / 2)));
    });

    it('keeps secret values out of the words and the trigrams', async () => {
      const [hit] = await search('QX-1007');
      await env.services.handbook.addSecret(SYSTEM, hit!.id, { kind: 'master_code', label: 'master', value: 'ZEPHYRQUILL 884213' });
      await env.services.handbook.addSecret(SYSTEM, hit!.id, { kind: 'installer_code', value: 'QV-77310' });
      for (const q of ['ZEPHYRQUILL', 'zephyrquill 884213', '884213', 'QV-77310', 'qv77310', 'QV-7731O']) {
        assert.deepEqual(await models(q), [], `"${q}" finds nothing`);
      }
    });
  });
}
