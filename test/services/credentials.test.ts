/**
 * Credentials end to end below HTTP: the service writes desired state, the reconciler applies it to
 * simulated locks through the simulator driver, with drift, unmanaged codes, faults and bounded
 * retries. Jobs are recorded (not run) so each test drives reconciliation step by step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { MAX_ATTEMPTS } from '../../src/domain/credentials.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { credentials } from '../../src/store/schema.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import type { Lock } from '../../src/domain/locks.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('credentials on simulated locks', () => {
  let env: TestEnv;
  let lock: Lock;
  let other: Lock;

  before(async () => {
    env = await testServices();
    await loadDemoFleet(env.services.ctx);
    const all = (await env.services.locks.list(SYSTEM, { limit: 100 })).items;
    // A deadbolt that takes PINs and time-bound schedules.
    const withPins = [];
    for (const l of all) {
      const view = await env.services.credentials.forLock(SYSTEM, l.id);
      if (view.capabilities.pin.slots >= 10 && view.capabilities.schedules.window) withPins.push(l);
    }
    assert.ok(withPins.length >= 2, 'the demo fleet has locks that take scheduled PINs');
    lock = withPins[0]!;
    other = withPins[1]!;
    // Every lock has been read once, as the server's start-up drift check does.
    for (const l of [lock, other]) await env.runtime.reconciler.reconcile(l.id, { read: true });
  });
  after(() => env.close());

  const reconcile = (l: Lock = lock, read = false) => env.runtime.reconciler.reconcile(l.id, { read });
  const onLock = (l: Lock = lock) => env.fleet.get(l.externalId!);
  const countRows = async () => (await env.database.db.select().from(credentials)).length;
  const setsBySlot = (l: Lock, slot: number) => env.fleet.log.filter((e) => e.externalId === l.externalId && e.op === 'set_pin' && e.slot === slot && e.source === 'driver').length;

  it('adds a time-bound PIN: pending, then confirmed once the lock has it', async () => {
    const from = new Date(Date.now() + 3600_000).toISOString();
    const until = new Date(Date.now() + 7 * 86400_000).toISOString();
    const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ada', schedule: { kind: 'window', from, until } });
    assert.equal(credential.status, 'pending');
    assert.match(code, /^\d{6}$/, 'a generated 6-digit code');
    assert.ok(env.queued.some((q) => q.lockId === lock.id), 'a reconcile job was queued');
    const out = await reconcile();
    assert.equal(out.confirmed, 1);
    const pin = onLock().pins.find((p) => p.slot === credential.slot);
    assert.equal(pin?.code, code, 'the lock holds the code in that slot');
    assert.equal(pin?.schedule.kind, 'window');
    const view = await env.services.credentials.forLock(SYSTEM, lock.id);
    const slot = view.slots.find((s) => s.slot === credential.slot);
    assert.equal(slot?.state, 'in_sync');
    assert.equal(slot?.credential?.status, 'confirmed');
    assert.equal(JSON.stringify(view).includes(code), false, 'the view never carries the code');
    assert.deepEqual(await env.services.credentials.reveal(SYSTEM, credential.id, { reason: 'guest lost it' }), { code });
  });

  it('refuses bad input with a named field and writes nothing', async () => {
    const before = await countRows();
    const cases: [unknown, string][] = [
      [{ holder: 'X', code: '12' }, 'code'],
      [{ holder: 'X', code: '12ab56' }, 'code'],
      [{ holder: 'X', code: '482591', slot: 999 }, 'slot'],
      [{ holder: 'X', schedule: { kind: 'window', from: '2026-05-02T00:00:00Z', until: '2026-05-01T00:00:00Z' } }, 'schedule.until'],
      [{ holder: '' }, 'holder'],
    ];
    for (const [input, field] of cases) {
      await assert.rejects(env.services.credentials.addPin(SYSTEM, lock.id, input), (e: unknown) => isAppError(e, 'validation.failed') && e.fields.some((f) => f.path === field), JSON.stringify(input));
    }
    await assert.rejects(env.services.credentials.addPin(SYSTEM, crypto.randomUUID(), { holder: 'X' }), (e: unknown) => isAppError(e, 'lock.not_found'));
    assert.equal(await countRows(), before);
  });

  it('refuses a code already on the lock, managed or not', async () => {
    await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Bo', code: '739162' });
    await assert.rejects(env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Cy', code: '739162' }), (e: unknown) => isAppError(e, 'credential.duplicate_pin'));
    // The same code on another lock is that lock's business.
    await env.services.credentials.addPin(SYSTEM, other.id, { holder: 'Cy', code: '739162' });
    await reconcile();
  });

  it('detects drift and repairs it, applying the repair once', async () => {
    const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Dee' });
    await reconcile();
    const slot = credential.slot!;
    env.fleet.outOfBand.setPin(lock.externalId!, slot, '582047', 'changed at the keypad');
    const setsBefore = setsBySlot(lock, slot);
    const out = await reconcile(lock, true);
    assert.equal(out.commands, 1, 'one command repairs one drifted slot');
    assert.equal(onLock().pins.find((p) => p.slot === slot)?.code, code);
    assert.equal(setsBySlot(lock, slot), setsBefore + 1);
    const again = await reconcile(lock, true);
    assert.equal(again.commands, 0, 'nothing to do once in sync');
  });

  it('shows codes set outside lockwarden as unmanaged; adopts one and removes another', async () => {
    env.fleet.outOfBand.setPin(lock.externalId!, 20, '660481', 'cleaner');
    env.fleet.outOfBand.setPin(lock.externalId!, 21, '907316', 'unknown');
    await reconcile(lock, true);
    let view = await env.services.credentials.forLock(SYSTEM, lock.id);
    assert.deepEqual(view.slots.filter((s) => s.state === 'unmanaged').map((s) => s.slot), [20, 21]);
    const adopted = await env.services.credentials.adopt(SYSTEM, lock.id, { slot: 20, holder: 'Cleaning crew' });
    assert.equal(adopted.origin, 'adopted');
    assert.deepEqual(await env.services.credentials.reveal(SYSTEM, adopted.id, { reason: 'hand over to the crew' }), { code: '660481' });
    await env.services.credentials.removeUnmanaged(SYSTEM, lock.id, { slot: 21 });
    await reconcile();
    view = await env.services.credentials.forLock(SYSTEM, lock.id);
    assert.equal(view.slots.find((s) => s.slot === 20)?.state, 'in_sync');
    assert.equal(view.slots.some((s) => s.slot === 21), false);
    assert.equal(onLock().pins.some((p) => p.slot === 21), false, 'the unknown code is gone from the lock');
  });

  it('revokes a PIN: removing, then removed once the lock no longer has it', async () => {
    const { credential } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Eve' });
    await reconcile();
    const revoked = await env.services.credentials.revoke(SYSTEM, credential.id);
    assert.equal(revoked.status, 'removing');
    await reconcile();
    const [row] = await env.database.db.select().from(credentials).where(eq(credentials.id, credential.id));
    assert.equal(row?.status, 'removed');
    assert.equal(onLock().pins.some((p) => p.slot === credential.slot), false);
  });

  it('re-reads after a lost acknowledgement instead of writing twice', async () => {
    const { credential } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Fay' });
    const before = setsBySlot(lock, credential.slot!);
    env.fleet.injectFault(lock.externalId!, 'lost_ack', 1);
    const out = await reconcile();
    assert.equal(out.confirmed, 1, 'confirmed by the re-read');
    assert.equal(out.read, 1);
    assert.equal(setsBySlot(lock, credential.slot!), before + 1, 'applied exactly once');
    assert.equal((await reconcile(lock, true)).commands, 0, 'and not sent again later');
  });

  it('gives up after the bound with the reason, and tells the user', async () => {
    const { credential } = await env.services.credentials.addPin(SYSTEM, other.id, { holder: 'Gus' });
    env.fleet.injectFault(other.externalId!, 'timeout', 100);
    env.queued.length = 0;
    for (let i = 0; i < MAX_ATTEMPTS; i++) await reconcile(other);
    const [row] = await env.database.db.select().from(credentials).where(eq(credentials.id, credential.id));
    assert.equal(row?.status, 'failed');
    assert.match(row?.lastError ?? '', /^gave up after 5 attempts: \S.*/);
    assert.doesNotMatch(row?.lastError ?? '', /driver\.|_/, 'a sentence a person reads, not a code');
    assert.ok(env.queued.length >= MAX_ATTEMPTS - 1 && env.queued.every((q) => (q.delayMs ?? 0) > 0), 'retries were queued with backoff');
    env.queued.length = 0;
    await reconcile(other);
    assert.equal(env.queued.length, 0, 'no more retries once failed');
    env.fleet.injectFault(other.externalId!, 'timeout', 0);
    await env.services.credentials.retry(SYSTEM, credential.id);
    await reconcile(other, true);
    const [again] = await env.database.db.select().from(credentials).where(eq(credentials.id, credential.id));
    assert.equal(again?.status, 'confirmed', 'a person retried it and it went through');
  });

  it('bulk: adds a PIN on every lock under a location and reports progress', async () => {
    const loc = lock.locationPath.find((p) => p.kind === 'building' || p.kind === 'site')!;
    env.queued.length = 0;
    const bulk = await env.services.credentials.bulkChange(SYSTEM, { target: { locationId: loc.id }, add: [{ holder: 'Fire warden' }] });
    assert.ok(bulk.total >= 2);
    assert.equal(bulk.finished, false);
    for (const lockId of new Set(env.queued.map((q) => q.lockId))) await env.runtime.reconciler.reconcile(lockId, { read: true });
    const done = await env.services.credentials.bulk(SYSTEM, bulk.id);
    assert.equal(done.finished, true);
    // Locks that take no PINs are reported as failures with the reason, not silently skipped.
    assert.equal(done.done + done.failed, done.total);
    for (const f of done.failures) assert.match(f.error, /PIN|slot/);
  });
});
