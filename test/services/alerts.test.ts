/**
 * Alerts on locks: a factory reset (or tamper) the device reports through its driver becomes an open
 * alert on that lock at once, audited; the same report while it is open counts up; acknowledging needs
 * lock.operate where the lock is and a note; lists are scoped to where the reader may read locks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { isAppError } from '../../src/domain/errors.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { roleActor } from '../helpers/actors.js';
import { until } from '../helpers/wait.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };


for (const engine of ENGINES) {
  describe(`alerts on locks (${engine})`, () => {
    let env: TestEnv;
    let lock: { id: string; externalId: string; locationPath: string; siblingPath: string };

    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
      const all = await env.services.locks.list(SYSTEM, {});
      const l = all.items.find((x) => x.driver === 'simulator' && x.externalId)!;
      const locs = await env.services.locations.list(SYSTEM);
      const here = locs.find((x) => x.id === l.locationId)!;
      const sibling = locs.find((x) => x.parentId === here.parentId && x.id !== here.id && x.kind === here.kind)!;
      lock = { id: l.id, externalId: l.externalId!, locationPath: here.path, siblingPath: sibling.path };
    });
    after(() => env.close());

    /** A technician's physical factory reset on the simulated lock, done right for its model. */
    function resetAtTheDoor(): void {
      const state = env.fleet.get(lock.externalId);
      if (state.gating.needsLockOffDoor) env.fleet.physical.setOnDoor(lock.externalId, false);
      const r = env.fleet.physical.reset(lock.externalId, { holdSeconds: state.gating.holdSeconds, ...(state.gating.buttonSequence ? { sequence: state.gating.buttonSequence } : {}) });
      assert.deepEqual(r, { ok: true });
    }

    it('a reset the device reports is an open alert on the lock at once, and in the audit log', async () => {
      assert.deepEqual(await env.services.alerts.list(SYSTEM, { lockId: lock.id }), []);
      resetAtTheDoor();
      const [alert] = await until('the alert', async () => {
        const a = await env.services.alerts.list(SYSTEM, { lockId: lock.id });
        return a.length ? a : undefined;
      });
      assert.equal(alert!.kind, 'factory_reset');
      assert.equal(alert!.source, 'simulator');
      assert.equal(alert!.count, 1);
      assert.equal(alert!.acknowledgedAt, null);
      const audit = await env.services.audit.list(SYSTEM, { action: 'alert.raise' });
      assert.ok(audit.items.some((e) => e.targetId === lock.id && e.actorLabel === 'device-events'), 'the raise is audited');
      const history = await env.services.lockEvents.list(SYSTEM, lock.id);
      assert.equal(history[0]?.summary, 'Factory reset reported', 'the reset is in the lock’s device history');
    });

    it('the same report while the alert is open counts up on it instead of opening another', async () => {
      await env.services.alerts.raiseForDevice('simulator', lock.externalId, 'factory_reset', 'again');
      const open = await env.services.alerts.list(SYSTEM, { lockId: lock.id });
      assert.equal(open.length, 1);
      assert.equal(open[0]!.count, 2);
      assert.deepEqual(await env.services.alerts.raiseForDevice('simulator', 'no-such-device', 'factory_reset', 'x'), []);
    });

    it('lists only alerts on locks the reader may read', async () => {
      const here = roleActor('technician', { locationPath: lock.locationPath });
      const elsewhere = roleActor('technician', { locationPath: lock.siblingPath });
      assert.equal((await env.services.alerts.list(here)).filter((a) => a.lockId === lock.id).length, 1);
      assert.equal((await env.services.alerts.list(elsewhere)).filter((a) => a.lockId === lock.id).length, 0);
      // A lock outside the reader's grants is not known to exist: the same not-found as a random id.
      await assert.rejects(env.services.alerts.list(elsewhere, { lockId: lock.id }), (e) => isAppError(e, 'lock.not_found'));
      await assert.rejects(env.services.alerts.list(elsewhere, { lockId: '6b0d6a3e-0000-4000-8000-000000000000' }), (e) => isAppError(e, 'lock.not_found'));
    });

    it('acknowledging needs lock.operate where the lock is and a note; then it is closed, once', async () => {
      const [alert] = await env.services.alerts.list(SYSTEM, { lockId: lock.id });
      const auditor = roleActor('auditor', { locationPath: lock.locationPath });
      await assert.rejects(env.services.alerts.acknowledge(auditor, alert!.id, { note: 'seen it' }), (e) => isAppError(e, 'auth.forbidden'));
      // The auditor can see the alert but not act on it (403); a technician at another site cannot see it at all (404, as a random id).
      await assert.rejects(env.services.alerts.acknowledge(roleActor('technician', { locationPath: lock.siblingPath }), alert!.id, { note: 'seen it' }), (e) => isAppError(e, 'alert.not_found'));
      const tech = roleActor('technician', { locationPath: lock.locationPath });
      await assert.rejects(env.services.alerts.acknowledge(tech, alert!.id, { note: 'x' }), (e) => isAppError(e, 'validation.failed') && /at least 3 characters/.test(e.message));
      assert.equal((await env.services.alerts.list(SYSTEM, { lockId: lock.id }))[0]!.acknowledgedAt, null, 'a refused acknowledgement changes nothing');
      const done = await env.services.alerts.acknowledge(tech, alert!.id, { note: 'reset was ours: case opened' });
      assert.equal(done.acknowledgedBy, 'technician@example.test');
      assert.equal(done.note, 'reset was ours: case opened');
      await assert.rejects(env.services.alerts.acknowledge(tech, alert!.id, { note: 'again' }), (e) => isAppError(e, 'alert.already_acknowledged'));
      assert.deepEqual(await env.services.alerts.list(SYSTEM, { lockId: lock.id }), []);
      assert.equal((await env.services.alerts.list(SYSTEM, { lockId: lock.id, state: 'all' })).length, 1);
      // A new report after acknowledgement opens a new alert.
      await env.services.alerts.raiseForDevice('simulator', lock.externalId, 'factory_reset', 'a second reset');
      assert.equal((await env.services.alerts.list(SYSTEM, { lockId: lock.id })).length, 1);
      await assert.rejects(env.services.alerts.acknowledge(tech, '6b0d6a3e-0000-4000-8000-000000000000', { note: 'nothing' }), (e) => isAppError(e, 'alert.not_found'));
    });

    it('device history older than the kept days is pruned, newer history stays', async () => {
      const fromDevice = (at: string) => env.services.lockEvents.record('simulator', { type: 'tamper', externalId: lock.externalId, at: new Date(at) });
      await fromDevice('2024-01-10T10:00:00Z');
      await fromDevice('2024-02-10T10:00:00Z');
      const before = await env.services.lockEvents.list(SYSTEM, lock.id, 500);
      assert.ok(before.some((e) => e.at.toISOString() === '2024-01-10T10:00:00.000Z'));
      assert.equal(await env.services.lockEvents.prune(new Date('2024-02-01T00:00:00Z'), 1), 1, 'older than the cut, one batch of one and an empty one');
      const afterPrune = await env.services.lockEvents.list(SYSTEM, lock.id, 500);
      assert.equal(afterPrune.length, before.length - 1);
      assert.ok(!afterPrune.some((e) => e.at.toISOString() === '2024-01-10T10:00:00.000Z'));
      assert.ok(afterPrune.some((e) => e.at.toISOString() === '2024-02-10T10:00:00.000Z'));
      assert.equal(await env.services.lockEvents.prune(new Date('2024-02-01T00:00:00Z')), 0);
    });

    it('people cannot raise alerts', async () => {
      await assert.rejects(env.services.alerts.raise(roleActor('owner'), lock.id, 'tamper', { detail: 'x', source: 'me' }), (e) => isAppError(e, 'auth.forbidden'));
    });
  });
}
