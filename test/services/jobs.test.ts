/**
 * The durable queue and worker on the embedded database: changes reach simulated locks without
 * anyone calling the reconciler, drift reported by a lock is repaired, and a worker that dies in the
 * middle of a job is replaced without any change reaching the lock twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { SimFleet } from '../../src/drivers/simulator/index.js';
import { startRuntime } from '../../src/runtime.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { credentials } from '../../src/store/schema.js';
import { TEST_SECRETS, testDatabase, testServices } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function pinLock(services: Awaited<ReturnType<typeof testServices>>['services']) {
  for (const l of (await services.locks.list(SYSTEM, { limit: 100 })).items) {
    const v = await services.credentials.forLock(SYSTEM, l.id);
    if (v.capabilities.pin.slots >= 10) return l;
  }
  throw new Error('no demo lock takes PINs');
}

describe('durable reconcile jobs', () => {
  it('applies a new PIN through the queue and repairs drift the lock reports', async () => {
    const env = await testServices('pglite', { queue: true });
    try {
      await loadDemoFleet(env.services.ctx);
      const lock = await pinLock(env.services);
      const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Ida' });
      await until('the PIN confirmed', async () => (await env.services.credentials.forLock(SYSTEM, lock.id)).credentials.find((c) => c.id === credential.id && c.status === 'confirmed'));
      assert.equal(env.fleet.get(lock.externalId!).pins.find((p) => p.slot === credential.slot)?.code, code);
      // Someone changes the code at the keypad; the lock's event makes lockwarden read and repair it.
      env.fleet.outOfBand.setPin(lock.externalId!, credential.slot!, '583920', 'keypad');
      await until('the drifted code repaired', async () => env.fleet.get(lock.externalId!).pins.find((p) => p.slot === credential.slot)?.code === code);
    } finally {
      await env.close();
    }
  });

  it("reads a lock again after a change made elsewhere, not after the echo of its own write", async () => {
    const env = await testServices('pglite');
    try {
      await loadDemoFleet(env.services.ctx);
      const lock = await pinLock(env.services);
      const { credential } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Jo' });
      const reasons = () => env.queued.filter((r) => r.lockId === lock.id).map((r) => r.reason);
      const before = reasons().length;
      const out = await env.runtime.reconciler.reconcile(lock.id, { read: false });
      assert.equal(out.commands, 1);
      assert.equal(out.confirmed, 1);
      // The lock reported lockwarden's own write; that report queues nothing.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(reasons().length, before);
      env.fleet.outOfBand.setPin(lock.externalId!, credential.slot!, '583920', 'keypad');
      await until('a read queued for the keypad change', async () => reasons().length > before);
      assert.deepEqual(reasons().slice(before), ['credentials_changed']);
    } finally {
      await env.close();
    }
  });

  it('resumes after a worker dies mid-job, applying each change exactly once', async () => {
    const database = await testDatabase('pglite');
    // Commands wait on a gate the test controls; the first worker's last command never returns.
    let hold = false;
    const held: (() => void)[] = [];
    const fleet = new SimFleet({ sleep: () => (hold ? new Promise<void>((r) => held.push(r)) : Promise.resolve()), config: { latencyMs: 1 } });
    const common = { database, dataDir: '/tmp', simulator: { kind: 'in-process' as const, fleet }, secrets: TEST_SECRETS, driftCheckSeconds: 0, onError: () => undefined };
    const first = await startRuntime({ ...common, queue: true, worker: true });
    let second: Awaited<ReturnType<typeof startRuntime>> | null = null;
    try {
      await loadDemoFleet(first.ctx);
      const lock = await pinLock(first.services);
      const ext = lock.externalId!;
      // Read once so the job goes straight to writing.
      await first.reconciler.reconcile(lock.id, { read: true });
      const seq0 = fleet.log.length;
      let writes = 0;
      const stop = fleet.onEvent((e) => {
        if (e.type === 'credentials_changed' && e.externalId === ext && ++writes === 2) hold = true;
      });
      for (const holder of ['Jo', 'Kim', 'Lee']) await first.services.credentials.addPin(SYSTEM, lock.id, { holder });
      await until('two of three PINs written', async () => held.length > 0);
      stop();
      first.worker!.abandon();
      await first.queue!.stop();
      const appliedBefore = fleet.log.slice(seq0).filter((e) => e.op === 'set_pin' && e.source === 'driver').length;
      assert.equal(appliedBefore, 2, 'the first worker got two writes through before it died');
      hold = false;
      second = await startRuntime({ ...common, queue: true, worker: true });
      await until(
        'all three PINs confirmed by the second worker',
        async () => (await database.db.select().from(credentials).where(eq(credentials.lockId, lock.id))).filter((c) => c.status === 'confirmed').length === 3,
        45_000,
      );
      const sets = fleet.log.slice(seq0).filter((e) => e.op === 'set_pin' && e.source === 'driver');
      assert.equal(sets.length, 3, 'three PINs, three writes: none repeated after the restart');
      assert.equal(new Set(sets.map((s) => s.slot)).size, 3);
    } finally {
      await second?.stop();
      await database.close();
    }
  });
});
