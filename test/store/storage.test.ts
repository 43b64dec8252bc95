/**
 * The storage suite, run on every engine in ENGINES: PGlite always, PostgreSQL when
 * TEST_DATABASE_URL is set (CI sets it and LOCKWARDEN_REQUIRE_PG=1 so it cannot skip).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { AppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { inTransaction, queryRows } from '../../src/store/database.js';
import { MetaRepository } from '../../src/store/meta-repository.js';
import { instanceMeta, locks } from '../../src/store/schema.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

const system: Actor = { kind: 'system', name: 'local-cli' };

async function rejectsWith(p: Promise<unknown>, code: string): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AppError, `expected AppError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

for (const engine of ENGINES) {
  describe(`storage on ${engine}`, () => {
    let env: TestEnv;
    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
    });
    after(() => env.close());

    it('starts from a migrated template and loads the demo fleet', async () => {
      const page = await env.services.locks.list(system, { limit: 500 });
      assert.equal(page.total, 40);
      const families = new Set(page.items.map((l) => l.family));
      assert.deepEqual([...families].sort(), ['app_controlled', 'biometric', 'electronic_deadbolt', 'keypad_entry', 'safe_cabinet']);
      assert.ok(page.items.every((l) => l.isDemo && l.driver === 'simulator'));
    });

    it('returns the same JS types on both engines: Date, number for int8, string for date', async () => {
      const [lock] = (await env.services.locks.list(system, { limit: 1 })).items;
      assert.ok(lock!.createdAt instanceof Date);
      assert.equal(typeof lock!.installedOn, 'string');
      assert.match(lock!.installedOn!, /^\d{4}-\d{2}-\d{2}$/);
      await new MetaRepository(env.database.db).set('probe', { a: 1 }, new Date('2026-01-02T03:04:05.678Z'));
      const [meta] = await env.database.db.select().from(instanceMeta).where(eq(instanceMeta.key, 'probe'));
      assert.equal(typeof meta!.revision, 'number');
      assert.equal(meta!.updatedAt.toISOString(), '2026-01-02T03:04:05.678Z');
      const raw = await queryRows(env.database.db, sql`select count(*) as n, 9007199254740991::int8 as big`);
      assert.deepEqual(raw[0], { n: 1, big: 9007199254740991 });
    });

    it('filters by family, state, site and text, and pages with a stable total', async () => {
      const all = (await env.services.locks.list(system, { limit: 500 })).items;
      const bio = await env.services.locks.list(system, { family: 'biometric' });
      assert.deepEqual(bio.items.map((l) => l.id).sort(), all.filter((l) => l.family === 'biometric').map((l) => l.id).sort());
      const attention = await env.services.locks.list(system, { state: 'needs_attention' });
      assert.equal(attention.total, all.filter((l) => l.serviceState === 'needs_attention').length);
      assert.ok(attention.total > 0);
      const site = all[0]!.siteId!;
      const bySite = await env.services.locks.list(system, { siteId: site, limit: 500 });
      assert.equal(bySite.total, all.filter((l) => l.siteId === site).length);
      const q = await env.services.locks.list(system, { q: 'fp-300' });
      assert.ok(q.total > 0 && q.items.every((l) => l.modelNumber === 'FP-300'));
      const p1 = await env.services.locks.list(system, { limit: 15, offset: 0 });
      const p3 = await env.services.locks.list(system, { limit: 15, offset: 30 });
      assert.equal(p1.total, 40);
      assert.equal(p3.items.length, 10);
      assert.equal(new Set([...p1.items, ...p3.items].map((l) => l.id)).size, 25);
      const byBattery = (await env.services.locks.list(system, { sort: 'battery', limit: 500 })).items.map((l) => l.batteryPercent ?? Infinity);
      assert.deepEqual(byBattery, [...byBattery].sort((a, b) => a - b));
      const literal = await env.services.locks.list(system, { q: '%' });
      assert.equal(literal.total, 0, 'a % in the search is a character, not a wildcard');
    });

    it('writes nothing when any part of a change fails (transaction rollback)', async () => {
      const before = (await env.services.locks.list(system, { limit: 1 })).total;
      const [model] = await env.services.models.list(system);
      const tree = await env.services.locations.tree(system);
      const siteId = tree[0]!.children[0]!.id;
      await assert.rejects(
        inTransaction(env.database.db, async (tx) => {
          await tx.insert(locks).values({
            id: '11111111-1111-4111-8111-111111111111', name: 'half', modelId: model!.id, locationId: siteId, driver: 'simulator', credentialStorage: 'local',
            mechanicalOverride: false, serviceState: 'in_service', createdAt: new Date(), updatedAt: new Date(),
          });
          throw new Error('boom after the insert');
        }),
        /boom/,
      );
      assert.equal((await env.services.locks.list(system, { limit: 1 })).total, before);
      await rejectsWith(env.services.locks.create(system, { name: 'x', modelId: '22222222-2222-4222-8222-222222222222', locationId: siteId }), 'model.not_found');
      assert.equal((await env.services.locks.list(system, { limit: 1 })).total, before);
    });

    it('enforces constraints in the database itself, not only in services', async () => {
      const [lock] = (await env.services.locks.list(system, { limit: 1 })).items;
      await assert.rejects(env.database.db.update(locks).set({ batteryPercent: 150 }).where(eq(locks.id, lock!.id)));
      await assert.rejects(env.database.db.update(locks).set({ serviceState: 'lost' as never }).where(eq(locks.id, lock!.id)));
      const [other] = (await env.services.locks.list(system, { limit: 1, offset: 1 })).items;
      await assert.rejects(env.database.db.update(locks).set({ externalId: lock!.externalId }).where(eq(locks.id, other!.id)), 'driver + external id is unique');
    });

    it('lets exactly one of two concurrent edits of the same version win', async () => {
      const [lock] = (await env.services.locks.list(system, { limit: 1, offset: 2 })).items;
      const results = await Promise.allSettled([
        env.services.locks.update(system, lock!.id, { notes: 'first', expectedVersion: lock!.version }),
        env.services.locks.update(system, lock!.id, { notes: 'second', expectedVersion: lock!.version }),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(ok.length, 1);
      assert.equal(failed.length, 1);
      assert.equal((failed[0]!.reason as AppError).code, 'lock.version_conflict');
      const now = await env.services.locks.get(system, lock!.id);
      assert.equal(now.version, lock!.version + 1);
    });

    it('rolls location lock counts up the tree and keeps sibling names unique', async () => {
      const tree = await env.services.locations.tree(system);
      assert.equal(tree[0]!.lockCount, 40);
      assert.equal(tree[0]!.children.reduce((n, s) => n + s.lockCount, 0), 40);
      const site = tree[0]!.children[0]!;
      const e = await rejectsWith(env.services.locations.create(system, { parentId: tree[0]!.id, kind: 'site', name: site.name.toUpperCase() }), 'validation.failed');
      assert.equal(e.fields[0]!.path, 'name');
    });
  });
}
