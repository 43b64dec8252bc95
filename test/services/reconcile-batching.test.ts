/**
 * The reconciler's batched storage: many locks reconciled at once share queries and transactions
 * and each still ends right on the simulated lock and in the database; an outcome is not written
 * over a credential a person changed while its command was on the way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq, inArray } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { SimFleet } from '../../src/drivers/simulator/index.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { credentials, lockObservations } from '../../src/store/schema.js';
import { testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

async function pinLocks(env: TestEnv): Promise<Lock[]> {
  const out: Lock[] = [];
  for (const l of (await env.services.locks.list(SYSTEM, { limit: 100 })).items) {
    if ((await env.services.credentials.forLock(SYSTEM, l.id)).capabilities.pin.slots >= 10) out.push(l);
  }
  return out;
}

describe('batched reconciliation', () => {
  it('reconciles many locks at once, each confirmed on its own lock', async () => {
    const env = await testServices('pglite');
    try {
      await loadDemoFleet(env.services.ctx);
      const locks = await pinLocks(env);
      assert.ok(locks.length >= 10, `enough PIN locks in the demo fleet (${locks.length})`);
      const added: ({ lock: Lock } & Awaited<ReturnType<TestEnv['services']['credentials']['addPin']>>)[] = [];
      for (const l of locks) added.push({ lock: l, ...(await env.services.credentials.addPin(SYSTEM, l.id, { holder: `Guest ${l.name}` })) });
      const outcomes = await Promise.all(locks.map((l) => env.runtime.reconciler.reconcile(l.id, { read: true })));
      assert.deepEqual(
        outcomes.map((o) => [o.commands, o.confirmed, o.failed]),
        locks.map(() => [1, 1, 0]),
      );
      const rows = await env.database.db.select().from(credentials).where(inArray(credentials.id, added.map((a) => a.credential.id)));
      assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['confirmed']));
      for (const a of added) {
        assert.equal(env.fleet.get(a.lock.externalId!).pins.find((p) => p.slot === a.credential.slot)?.code, a.code, `${a.lock.name} holds its own new code`);
      }
      const observed = await env.database.db.select().from(lockObservations).where(inArray(lockObservations.lockId, locks.map((l) => l.id)));
      assert.equal(observed.length, locks.length);
      for (const o of observed) {
        assert.equal(o.inDoubt, false);
        assert.ok(o.readAt, 'read this time');
        assert.ok(o.pins.some((p) => added.find((a) => a.lock.id === o.lockId)!.credential.slot === p.slot), 'the new slot is observed');
      }
    } finally {
      await env.close();
    }
  });

  it('records two reconciliations of one lock that land in one batch (a read beside a job)', async () => {
    const env = await testServices('pglite');
    try {
      await loadDemoFleet(env.services.ctx);
      const [lock] = await pinLocks(env);
      const { credential } = await env.services.credentials.addPin(SYSTEM, lock!.id, { holder: 'Twice' });
      const [a, b] = await Promise.all([env.runtime.reconciler.reconcile(lock!.id, { read: true }), env.runtime.reconciler.reconcile(lock!.id, { read: true })]);
      assert.equal(a.read + b.read, 2);
      const [row] = await env.database.db.select().from(credentials).where(eq(credentials.id, credential.id));
      assert.equal(row!.status, 'confirmed');
      const sets = env.fleet.log.filter((e) => e.op === 'set_pin' && e.source === 'driver' && e.externalId === lock!.externalId);
      assert.ok(sets.length >= 1 && sets.length <= 2, `the PIN reached the lock (${sets.length} writes)`);
    } finally {
      await env.close();
    }
  });

  it('leaves a credential alone when a person changed it while its command was on the way', async () => {
    let hold = false;
    const held: (() => void)[] = [];
    const fleet = new SimFleet({ sleep: () => (hold ? new Promise<void>((r) => held.push(r)) : Promise.resolve()), config: { latencyMs: 1 } });
    const env = await testServices('pglite', { fleet });
    try {
      await loadDemoFleet(env.services.ctx);
      const [lock] = await pinLocks(env);
      await env.runtime.reconciler.reconcile(lock!.id, { read: true });
      const { credential } = await env.services.credentials.addPin(SYSTEM, lock!.id, { holder: 'Before' });
      hold = true;
      const running = env.runtime.reconciler.reconcile(lock!.id, { read: false });
      while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
      // The PIN is edited while the lock is still taking the first version.
      const edited = await env.services.credentials.updatePin(SYSTEM, credential.id, { version: credential.version, holder: 'After' });
      hold = false;
      held.splice(0).forEach((r) => r());
      const out = await running;
      assert.equal(out.commands, 1);
      const [row] = await env.database.db.select().from(credentials).where(eq(credentials.id, credential.id));
      assert.equal(row!.holder, 'After');
      assert.equal(row!.version, edited.version, 'the outcome of the older version was not written over the edit');
      assert.equal(row!.status, 'pending', 'the edit still waits for its own job');
    } finally {
      await env.close();
    }
  });
});
