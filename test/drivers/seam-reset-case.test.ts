/**
 * A whole reset case on a Seam lock, against Seam's own fake (in this process, on 127.0.0.1): the
 * lock is adopted from a Seam workspace integration and holds PINs; the case takes its snapshot,
 * removes it from the workspace through lockwarden (unbind_cloud), the technician resets it at the
 * door (Seam drops it), the owner reconnects the account through the case's Connect Webview link
 * (played through the fake as its seeding plays a completed webview), and lockwarden finds the
 * lock again under a new device id, binds it to the same lock record and runs the checks.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import type { ResetCaseView, ResetCommand } from '../../src/services/reset-case-service.js';
import { auditLog } from '../../src/store/schema.js';
import { roleActor } from '../helpers/actors.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { startFakeSeam, type FakeSeam, type SeamLockFixture } from './seam-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const MANAGER = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb1', email: 'mia@example.test' });
const SECOND = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb2', email: 'sam@example.test' });
const TECH = roleActor('technician', { userId: '00000000-0000-4000-8000-00000000bbb3', email: 'tess@example.test' });

const FRONT: SeamLockFixture = { deviceId: 'yale_case_old', name: 'Front door', manufacturer: 'yale', model: 'Assure Lock 2', provider: 'yale', account: 'case_owner_yale', serial: 'YRD256-0777' };
const FRONT_AGAIN: SeamLockFixture = { ...FRONT, deviceId: 'yale_case_new', account: 'case_owner_yale_2' };

type CommandInput = { type: ResetCommand['type'] } & Record<string, unknown>;

describe('a reset case on a Seam lock, against fake-seam-connect', () => {
  let env: TestEnv;
  let seam: FakeSeam;
  let unitId = '';
  /** The case as the first test leaves it (verification, re-enrolled), for the close-out. */
  let v: ResetCaseView;
  let lockId = '';
  let codes: string[] = [];
  let newId = '';

  before(async () => {
    [env, seam] = await Promise.all([testServices('pglite'), startFakeSeam()]);
    seam.addLock(FRONT);
    await loadDemoFleet(env.services.ctx);
    unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
  });
  after(async () => {
    await env.close();
    await seam.close();
  });

  const step = (id: string, command: CommandInput, actor: Actor = MANAGER) => env.services.resetCases.step(actor, id, { idempotencyKey: randomUUID(), command });

  it('snapshot, reset at the door, unbind, reconnect, re-enroll under the new device id, checks', async () => {
    const ws = await env.services.integrations.create(SYSTEM, { driver: 'seam', name: 'Seam workspace', config: { endpoint: seam.url }, secret: seam.apiKey });
    assert.equal(ws.running, true, ws.error ?? '');
    const lock = await env.services.integrations.adopt(SYSTEM, ws.id, { externalId: FRONT.deviceId, locationId: unitId, name: 'Front door (Seam)' });
    const oldId = lock.externalId!;
    const pins = [];
    for (const holder of ['Guest Ada', 'Cleaner Bo']) pins.push(await env.services.credentials.addPin(SYSTEM, lock.id, { holder }));
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    const onDevice = (deviceId: string) => seam.db.getState().access_codes.filter((c) => c.device_id === deviceId).map((c) => c.code).sort();
    assert.deepEqual(onDevice(FRONT.deviceId), pins.map((p) => p.code).sort(), 'the PINs are on the Seam device');

    lockId = lock.id;
    codes = pins.map((p) => p.code).sort();
    v = await env.services.resetCases.open(MANAGER, { lockId: lock.id, reason: 'ownership_transfer' });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset', ...(v.case.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'the new owner wants a clean lock' }) });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true, note: 'done' });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, true, v.case.preflight.battery_adequate?.note);
    if (v.missing.some((m) => m.startsWith('approval'))) v = await step(v.case.id, { type: 'approve', note: 'seen' }, SECOND);
    v = await step(v.case.id, { type: 'complete_preflight' });
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.case.profile.cloudBound, true, 'a Seam lock is bound to its maker’s cloud account');

    const view = await env.services.resetCases.enrollment(TECH, v.case.id);
    assert.equal(view.method?.kind, 'reconnect');
    assert.equal(view.method?.code, 'none');
    assert.equal(view.cloudUnbind, true);

    // At the door: the technician follows the model's procedure; the reset lock is out of its maker's
    // account, and Seam drops it from the workspace with its codes.
    assert.equal(v.case.state, 'physical_reset', 'the model erases its trust anchors: no account step before the reset');
    for (let i = 1; i <= v.case.profile.procedureSteps; i++) v = await step(v.case.id, { type: 'procedure_step', step: i }, TECH);
    seam.lockLeaves(FRONT.deviceId);
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, true, v.case.verification.setup_mode?.note);

    // What is left of the binding is removed through lockwarden (the lock is gone already: that succeeds).
    v = await step(v.case.id, { type: 'unbind_cloud' });
    assert.equal(v.case.verification.cloud_unbound?.passed, true, v.case.verification.cloud_unbound?.note);
    assert.equal(seam.db.getState().devices.some((d) => d.device_id === FRONT.deviceId), false, 'Seam no longer lists the lock');

    // The owner reconnects the account through the link the case shows; Seam lists the lock as a new device.
    const prep = (await env.services.resetCases.enrollment(TECH, v.case.id)).preparation;
    assert.ok(prep?.url, 'a Connect Webview link');
    assert.match(prep.instructions, /Yale account/);
    seam.ownerReconnects(prep.url, FRONT_AGAIN);
    v = await step(v.case.id, { type: 'reenroll', lockId: lock.id, timeoutSeconds: 10 }, TECH);
    newId = `${ws.id}/${FRONT_AGAIN.deviceId}`;
    assert.deepEqual(
      { from: v.case.reenrollment?.from, to: v.case.reenrollment?.to, method: v.case.reenrollment?.method, serial: v.case.reenrollment?.serial },
      { from: oldId, to: newId, method: 'reconnect', serial: FRONT.serial },
    );
    assert.equal(v.lock.externalId, newId, 'the same lock record, bound to the new device');
    const rebinds = await env.database.db.select().from(auditLog).where(eq(auditLog.targetId, lock.id));
    assert.ok(rebinds.some((a) => a.action === 'lock.rebind'), 'the binding is audited');

    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true, v.case.verification.admin_enrollment_accepted?.note);
    assert.match(v.case.verification.admin_enrollment_accepted.note, /lockwarden enrolled the lock again \(reconnect\)/);
    assert.equal(v.case.verification.prior_pins_gone?.passed, true, v.case.verification.prior_pins_gone?.note);
    assert.equal(v.case.verification.prior_controllers_refused?.passed, true, v.case.verification.prior_controllers_refused?.note);
    assert.deepEqual(onDevice(FRONT_AGAIN.deviceId), [], 'the new device starts without codes');
  });

  // The reconnected device is bound to the account the owner reconnected (that is how Seam reaches
  // it): the case keeps the cloud check that passed before the re-enrollment, when the binding that
  // survived the reset was gone.
  it('closes the case with the snapshot’s PINs rebuilt on the new device', async () => {
    const lock = { id: lockId };
    const onDevice = (deviceId: string) => seam.db.getState().access_codes.filter((c) => c.device_id === deviceId).map((c) => c.code).sort();
    for (const check of v.requiredChecks.filter((c) => ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'].includes(c))) {
      v = await step(v.case.id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'checked at the door', evidence: [] }, TECH);
    }
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    v = await step(v.case.id, { type: 'rebuild' }, TECH);
    assert.deepEqual(onDevice(FRONT_AGAIN.deviceId), codes, 'the snapshot’s PINs are on the new device');
    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    v = await step(v.case.id, { type: 'close', note: 'handed over' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.lock.externalId, newId);
  });
});
