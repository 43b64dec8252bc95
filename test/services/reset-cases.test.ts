/**
 * Reset cases end to end below HTTP, driving the in-process simulator through the driver contract:
 * each vendor reset variant (full trust-anchor erase, local-only erase whose cloud binding must be
 * removed on the account, split storage), physical gating refusals, a lock that does not return to
 * setup mode, a remote reset whose acknowledgement is lost, and a rebuild cut short by a device fault;
 * physical gating (battery read at preflight, a lock still on its door, a hold too short); the resumer
 * finishing a step left after its intent (two at once); the lock's own reset report kept on its case;
 * retiring a lock with an open case refused.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { isAppError, type ErrorCode } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { ResetCaseService, type ResetCommand, type ResetCaseView } from '../../src/services/reset-case-service.js';
import { auditLog, credentials, resetCaseSteps, resetCases, resetSnapshots } from '../../src/store/schema.js';
import { roleActor } from '../helpers/actors.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';
import { simSetupCode } from '../../src/drivers/simulator/lock-spec.js';
import { until } from '../helpers/wait.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const MANAGER = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aaa1', email: 'mia@example.test' });
const SECOND = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aaa2', email: 'sam@example.test' });
const TECH = roleActor('technician', { userId: '00000000-0000-4000-8000-00000000aaa3', email: 'tess@example.test' });

type CommandInput = { type: ResetCommand['type'] } & Record<string, unknown>;

for (const engine of ENGINES) describe(`reset cases on simulated locks (${engine})`, () => {
  let env: TestEnv;
  const locks: Record<string, Lock> = {};

  before(async () => {
    env = await testServices(engine);
    await loadDemoFleet(env.services.ctx);
    const models = await env.services.models.list(SYSTEM);
    const place = (await env.services.locks.list(SYSTEM, { limit: 1 })).items[0]!.locationId;
    let n = 0;
    for (const modelNumber of ['DB-100', 'DB-220W', 'KP-80C', 'CB-2 Pro', 'FP-300', 'SC-10']) {
      for (const use of modelNumber === 'CB-2 Pro' ? ['a', 'b', 'c', 'd', 'e'] : ['a', 'b']) {
        const model = models.find((m) => m.modelNumber === modelNumber)!;
        locks[`${modelNumber}/${use}`] = await env.services.locks.create(SYSTEM, {
          name: `${modelNumber} reset test ${use}`,
          modelId: model.id,
          locationId: place,
          driver: 'simulator',
          externalId: `sim-reset-${String(++n).padStart(2, '0')}`,
          batteryPercent: 90,
        });
      }
    }
  });
  after(() => env.close());

  const svc = () => env.services.resetCases;
  const step = (id: string, command: CommandInput, actor: Actor = MANAGER, idempotencyKey: string = randomUUID()) => svc().step(actor, id, { idempotencyKey, command });
  const refuses = async (p: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
    assert.rejects(p, (e: unknown) => isAppError(e, code) && (message === undefined || message.test(e.message)));
  const ext = (l: Lock) => l.externalId!;

  /** Adds PINs through lockwarden and lets the reconciler put them on the lock. */
  async function withPins(lock: Lock, holders: string[]): Promise<{ id: string; code: string; slot: number }[]> {
    const out = [];
    for (const holder of holders) {
      const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder });
      out.push({ id: credential.id, code, slot: credential.slot! });
    }
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    for (const p of out) assert.equal(env.fleet.get(ext(lock)).pins.find((x) => x.slot === p.slot)?.code, p.code);
    return out;
  }

  /** Triage and preflight done; the case waits for its snapshot. */
  async function throughPreflight(lock: Lock, reason: string): Promise<ResetCaseView> {
    let v = await svc().open(MANAGER, { lockId: lock.id, reason });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset', ...(v.case.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'policy for this lock' }) });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true, note: 'done' });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, true);
    assert.match(v.case.preflight.battery_adequate.note, /read from the lock: 90%/);
    if (v.missing.some((m) => m.startsWith('approval'))) v = await step(v.case.id, { type: 'approve', note: 'seen the incident report' }, SECOND);
    return step(v.case.id, { type: 'complete_preflight' });
  }

  /** Ticks every procedure step; a timed hold is started, refused while it runs, and ticked once the server's clock has passed it. */
  async function tickProcedure(v: ResetCaseView): Promise<ResetCaseView> {
    for (let i = 1; i <= v.case.profile.procedureSteps; i++) {
      const s = v.procedure?.[i - 1];
      if (s?.kind === 'hold' && s.seconds) {
        await refuses(step(v.case.id, { type: 'procedure_step', step: i }, TECH), 'reset.incomplete', /start its timer/);
        v = await step(v.case.id, { type: 'start_hold', step: i }, TECH);
        env.clock.advance((s.seconds - 1) * 1000);
        await refuses(step(v.case.id, { type: 'procedure_step', step: i }, TECH), 'reset.incomplete', /1 s of the/);
        env.clock.advance(1000);
      }
      v = await step(v.case.id, { type: 'procedure_step', step: i }, TECH);
    }
    return v;
  }

  /** The new owner enrolls with the vendor app, then lockwarden enrolls the lock again with the code on its label; the checks run with it. */
  async function enrollAndCheck(v: ResetCaseView, lock: Lock): Promise<ResetCaseView> {
    env.fleet.outOfBand.enrollAdmin(ext(lock), 'new owner phone');
    v = await step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(lock)) }, TECH);
    assert.equal(v.case.reenrollment?.to, ext(lock));
    assert.equal(v.lock.externalId, ext(lock));
    return v;
  }

  async function manualChecks(v: ResetCaseView, lock: Lock): Promise<ResetCaseView> {
    for (const check of v.requiredChecks.filter((c) => ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'].includes(c))) {
      v = await step(v.case.id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'checked', evidence: [`photo-${check}.jpg`] }, TECH);
    }
    return v;
  }

  it('full trust-anchor erase, compromise: triage to signed close-out, with a second approver and rebuilt credentials', async () => {
    const lock = locks['DB-100/a']!;
    const pins = await withPins(lock, ['Guest Ada', 'Cleaner Bo']);
    const rogue = env.fleet.outOfBand.pairController(ext(lock), 'unknown phone');

    let v = await svc().open(MANAGER, { lockId: lock.id, reason: 'credential_compromise', description: 'code shared online' });
    assert.equal(v.case.state, 'triage');
    assert.equal(v.case.recommendation.remedy, 'full_reset');
    assert.match(v.case.recommendation.why, /passwords/);
    assert.ok(v.procedure && v.procedure.length === v.case.profile.procedureSteps && v.procedure.length > 0, 'the handbook procedure of the model is pinned');
    await refuses(svc().open(MANAGER, { lockId: lock.id, reason: 'pairing_loop' }), 'reset.case_open');
    await refuses(step(v.case.id, { type: 'decide', remedy: 'full_reset' }, TECH), 'auth.forbidden');
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset' });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    await refuses(step(v.case.id, { type: 'complete_preflight' }), 'reset.incomplete', /second person/);
    await refuses(step(v.case.id, { type: 'approve' }, MANAGER), 'reset.self_approval');
    await refuses(step(v.case.id, { type: 'approve' }, TECH), 'auth.forbidden');
    v = await step(v.case.id, { type: 'approve', note: 'agreed' }, SECOND);
    await refuses(step(v.case.id, { type: 'confirm_reset' }, TECH), 'reset.wrong_state', /cannot take "reset_performed"/);
    v = await step(v.case.id, { type: 'complete_preflight' });

    // The snapshot is sealed before anything destructive; the same key again changes nothing.
    const snapKey = randomUUID();
    v = await step(v.case.id, { type: 'take_snapshot' }, MANAGER, snapKey);
    assert.equal(v.case.state, 'physical_reset', 'a full erase needs no account step');
    assert.equal(v.lock.serviceState, 'reset_in_progress');
    assert.deepEqual(v.lockedOut.map((i) => i.key).sort(), pins.map((p) => p.id).sort());
    const stepsBefore = v.steps.length;
    assert.equal((await step(v.case.id, { type: 'take_snapshot' }, MANAGER, snapKey)).steps.length, stepsBefore);
    await refuses(step(v.case.id, { type: 'cancel', note: 'x' }, MANAGER, snapKey), 'reset.idempotency_conflict');
    const [snapRow] = await env.database.db.select().from(resetSnapshots).where(eq(resetSnapshots.caseId, v.case.id));
    assert.equal(snapRow?.items, 2);
    for (const p of pins) assert.equal(snapRow.cipher.includes(p.code), false, 'the snapshot is sealed');

    // At the door: steps in order, the reset, then the lock is read.
    await refuses(step(v.case.id, { type: 'confirm_reset' }, TECH), 'reset.incomplete', /procedure step 1/);
    if (v.case.profile.procedureSteps > 1) await refuses(step(v.case.id, { type: 'procedure_step', step: 2 }, TECH), 'reset.incomplete');
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 12 }), { ok: true });
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.verification.setup_mode?.passed, true);

    // A result for another lock is refused and changes nothing. (The lock's own report of its reset
    // reaches the case as a device step whenever its event is handled: those are not counted.)
    const people = (x: ResetCaseView) => x.steps.filter((s) => s.command !== 'device_observed').length;
    const seq = people(v);
    await refuses(step(v.case.id, { type: 'run_checks', lockId: locks['DB-100/b']!.id }, TECH), 'reset.wrong_lock');
    await refuses(step(v.case.id, { type: 'manual_check', lockId: locks['DB-100/b']!.id, check: 'latch_and_door', passed: true }, TECH), 'reset.wrong_lock');
    assert.equal(people(await svc().get(TECH, v.case.id)), seq);

    // Before a new admin enrolls, the lock refuses lockwarden: the check says so.
    v = await step(v.case.id, { type: 'run_checks', lockId: lock.id }, TECH);
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, false);
    assert.match(v.case.verification.admin_enrollment_accepted.note, /enroll the lock again/);
    v = await enrollAndCheck(v, lock);
    for (const check of ['admin_enrollment_accepted', 'prior_pins_gone', 'prior_controllers_refused'] as const) assert.equal(v.case.verification[check]?.passed, true, check);
    assert.equal(env.fleet.get(ext(lock)).controllers.some((c) => c.id === rogue.id), false);
    await refuses(step(v.case.id, { type: 'complete_verification' }, TECH), 'reset.incomplete', /passwords changed/);
    v = await manualChecks(v, lock);
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    assert.equal(v.case.state, 'rebuild');
    assert.equal(v.lockedOut.length, 2, 'both people are locked out until the rebuild');

    // Rebuild: Ada's code restored, Bo's reissued (it was the compromised one).
    const rebuildKey = randomUUID();
    v = await step(v.case.id, { type: 'rebuild', reissue: [pins[1]!.id] }, TECH, rebuildKey);
    assert.deepEqual(v.lockedOut, []);
    const onLock = env.fleet.get(ext(lock)).pins;
    assert.equal(onLock.find((p) => p.slot === pins[0]!.slot)?.code, pins[0]!.code);
    const newCode = onLock.find((p) => p.slot === pins[1]!.slot)?.code;
    assert.ok(newCode && newCode !== pins[1]!.code, 'a new code for the reissued PIN');
    assert.deepEqual(await env.services.credentials.reveal(SYSTEM, pins[1]!.id, { reason: 'give the cleaner the new code' }), { code: newCode });
    const sets = env.fleet.log.filter((e) => e.externalId === ext(lock) && e.op === 'set_pin').length;
    await step(v.case.id, { type: 'rebuild', reissue: [pins[1]!.id] }, TECH, rebuildKey);
    assert.equal(env.fleet.log.filter((e) => e.externalId === ext(lock) && e.op === 'set_pin').length, sets, 'a retried rebuild writes nothing again');

    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    await refuses(step(v.case.id, { type: 'close' }, TECH), 'auth.forbidden');
    v = await step(v.case.id, { type: 'close', note: 'all verified' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.case.outcome, 'reset_verified');
    assert.equal(v.lock.serviceState, 'in_service');
    assert.ok(env.queued.some((q) => q.lockId === lock.id && q.read), 'a read of the lock is queued at close-out');

    const record = await svc().record(SYSTEM, v.case.id);
    assert.equal(record.verified, true);
    const steps = record.record.steps as { command: string; actor: string }[];
    assert.ok(steps.some((s) => s.command === 'approve' && s.actor === 'sam@example.test'));
    assert.equal(record.canonical.includes(pins[0]!.code), false, 'no code in the record');
    assert.equal(record.canonical.includes(newCode), false);
    // Every step is in the audit log, in its own transaction's entry.
    const audited = await env.database.db.select().from(auditLog).where(eq(auditLog.targetId, v.case.id));
    assert.ok(audited.some((a) => a.action === 'reset.approve'));
    assert.ok(audited.some((a) => a.action === 'reset.close'));
    assert.equal(JSON.stringify(audited).includes(pins[0]!.code), false);
  });

  it('local-only erase: verification fails until the cloud binding is removed on the account', async () => {
    const lock = locks['DB-220W/a']!;
    await withPins(lock, ['Tenant']);
    // A PIN lockwarden manages without knowing its code (adopted from a lock that does not read codes back).
    const unknown = randomUUID();
    const now = env.clock.now();
    await env.database.db.insert(credentials).values({ id: unknown, lockId: lock.id, kind: 'pin', slot: 9, controllerId: null, holder: 'Night porter', codeCipher: null, codeMac: null, schedule: { kind: 'always' }, status: 'confirmed', origin: 'adopted', createdBy: 'test', createdAt: now, updatedAt: now });
    let v = await throughPreflight(lock, 'ownership_transfer');
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.case.state, 'account_unbind');
    await refuses(env.services.locks.update(SYSTEM, lock.id, { serviceState: 'in_service' }), 'reset.case_open');
    await refuses(step(v.case.id, { type: 'procedure_step', step: 1 }, TECH), 'reset.wrong_state');
    // Someone ticks the account step without doing it: verification will catch it.
    v = await step(v.case.id, { type: 'confirm_account_unbound', note: 'done (it was not)' });
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 10 }), { ok: true });
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(env.fleet.get(ext(lock)).cloudBound, true, 'a local reset keeps the cloud binding');
    v = await enrollAndCheck(v, lock);
    assert.equal(v.case.verification.cloud_unbound?.passed, false);
    // While the case owns the lock, reconciliation leaves it alone (it would put the old PINs back).
    const rec = await env.runtime.reconciler.reconcile(lock.id, { read: true });
    assert.equal(rec.skipped, 'reset in progress');
    assert.deepEqual(env.fleet.get(ext(lock)).pins, []);
    v = await manualChecks(v, lock);
    await refuses(step(v.case.id, { type: 'complete_verification' }, TECH), 'reset.incomplete', /cloud unbound/);
    // The fix is offered where the check failed: the manager removes the binding through the driver, and the lock is read again.
    await refuses(step(v.case.id, { type: 'unbind_cloud' }, TECH), 'auth.forbidden');
    v = await step(v.case.id, { type: 'unbind_cloud' });
    assert.equal(env.fleet.get(ext(lock)).cloudBound, false);
    assert.equal(v.case.verification.cloud_unbound?.passed, true);
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    assert.equal(v.lockedOut.length, 2);
    v = await step(v.case.id, { type: 'rebuild' }, TECH);
    assert.equal(v.case.state, 'rebuild');
    assert.deepEqual(v.lockedOut, []);
    assert.equal(v.case.rebuilt[unknown]?.how, 'reissued', 'a code nobody knew is reissued, not left out');
    const porter = env.fleet.get(ext(lock)).pins.find((p) => p.slot === 9);
    assert.match(porter?.code ?? '', /^\d{6}$/);
    assert.deepEqual(await env.services.credentials.reveal(SYSTEM, unknown, { reason: 'tell the porter' }), { code: porter!.code });
  });

  it('remote reset of a local-only lock: the cloud is unbound through the driver, re-enrollment refuses a wrong code, an early try, a device bound elsewhere and a second time, changing nothing', async () => {
    const lock = locks['CB-2 Pro/d']!;
    const other = locks['DB-100/b']!;
    let v = await throughPreflight(lock, 'ownership_transfer');
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.case.state, 'account_unbind');
    const view = await svc().enrollment(TECH, v.case.id);
    assert.equal(view.method?.code, 'pairing_code');
    assert.equal(view.cloudUnbind, true);
    v = await step(v.case.id, { type: 'unbind_cloud' });
    assert.equal(v.case.state, 'physical_reset');
    assert.match(v.case.accountUnbind?.note ?? '', /through lockwarden/);
    assert.equal(env.fleet.get(ext(lock)).cloudBound, false);
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(lock)) }, TECH), 'reset.wrong_state');
    v = await step(v.case.id, { type: 'remote_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, true);

    const people = (x: ResetCaseView) => x.steps.filter((s) => s.command !== 'device_observed').length;
    const unchanged = async (what: string) => {
      const now = await svc().get(TECH, v.case.id);
      assert.equal(people(now), people(v), `${what}: no step recorded`);
      assert.equal(now.case.reenrollment, null, `${what}: not enrolled`);
      assert.equal(now.lock.externalId, ext(lock), `${what}: the binding is unchanged`);
    };
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id }, TECH), 'reset.invalid', /pairing code/);
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: '0000-000-0000' }, TECH), 'device.invalid_code', /label/);
    await unchanged('a wrong code');
    // Another lock, reset and waiting in setup mode, answers its own code: it is bound elsewhere (and of another model).
    assert.deepEqual(env.fleet.physical.reset(ext(other), { holdSeconds: 12 }), { ok: true });
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(other)) }, TECH), 'reset.device_mismatch', /manufacturer "Demo Hardware Co"/);
    await unchanged('a lock of another model');
    const twin = locks['CB-2 Pro/e']!;
    assert.deepEqual(env.fleet.physical.reset(ext(twin), { holdSeconds: 0 }), { ok: true });
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(twin)) }, TECH), 'reset.device_bound_elsewhere', /CB-2 Pro reset test e/);
    await unchanged('a device bound to another lock');
    // The lock enrolls but its acknowledgement is lost: the person is told it may have gone through, and trying again takes it as it is.
    env.fleet.injectFault(ext(lock), 'lost_ack');
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(lock)) }, TECH), 'device.timeout', /may have enrolled all the same: try again/);
    await unchanged('an enrollment not acknowledged');
    v = await step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(lock)) }, TECH);
    assert.equal(v.case.reenrollment?.method, 'setup_code');
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true);
    assert.match(v.case.verification.admin_enrollment_accepted.note, /lockwarden enrolled the lock again/);
    assert.equal(v.case.verification.cloud_unbound?.passed, true);
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext(lock)) }, TECH), 'reset.already_reenrolled');
    const rebinds = await env.database.db.select().from(auditLog).where(eq(auditLog.targetId, lock.id));
    assert.ok(rebinds.some((a) => a.action === 'lock.rebind'), 'the binding is audited');
    v = await manualChecks(v, lock);
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    v = await step(v.case.id, { type: 'close', note: 'handed over' });
    assert.equal(v.case.state, 'closed');
  });

  it('a blocked reset that is not replaced after all ends with a reason: the case is cancelled and the lock needs attention', async () => {
    const lock = locks['SC-10/a']!;
    let v = await throughPreflight(lock, 'firmware_inconsistent');
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.lock.serviceState, 'reset_in_progress');
    await refuses(step(v.case.id, { type: 'cancel', note: 'x' }), 'reset.wrong_state');
    v = await step(v.case.id, { type: 'report_blocked', reason: 'damaged', note: 'the housing is cracked' }, TECH);
    assert.equal(v.case.state, 'replace_device');
    assert.ok(v.next.includes('cancel'), 'cancelling is offered');
    await refuses(step(v.case.id, { type: 'cancel', note: '' }), 'validation.failed');
    v = await step(v.case.id, { type: 'cancel', note: 'the owner will replace the whole door next month' });
    assert.equal(v.case.state, 'cancelled');
    assert.equal(v.lock.serviceState, 'needs_attention');
  });

  it('split storage with a physical gating failure: a wrong sequence leaves the lock as it was; retry with the right one', async () => {
    const lock = locks['KP-80C/a']!;
    await withPins(lock, ['Mail carrier']);
    let v = await throughPreflight(lock, 'firmware_inconsistent');
    v = await step(v.case.id, { type: 'take_snapshot' });
    env.fleet.outOfBand.removeCloudBinding(ext(lock));
    v = await step(v.case.id, { type: 'confirm_account_unbound' });
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { sequence: '* + 1234 + #', holdSeconds: 0 }), { ok: false, reason: 'wrong_sequence' });
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, false);
    assert.match(v.case.verification.setup_mode.note, /did not return to setup mode/);
    v = await step(v.case.id, { type: 'run_checks', lockId: lock.id }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, false, 'read again: still not in setup mode');
    assert.equal(v.case.verification.prior_pins_gone, undefined, 'nothing else is checked before setup mode');
    await refuses(step(v.case.id, { type: 'complete_verification' }, TECH), 'reset.incomplete');
    v = await step(v.case.id, { type: 'retry_reset', note: 'wrong sequence keyed' }, TECH);
    assert.equal(v.case.state, 'physical_reset');
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { sequence: '* + master code + # then 9 9 #', holdSeconds: 0 }), { ok: true });
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, true);
    assert.equal(v.case.attempts, 2);
    v = await enrollAndCheck(v, lock);
    for (const check of ['admin_enrollment_accepted', 'prior_pins_gone', 'prior_controllers_refused', 'cloud_unbound'] as const) assert.equal(v.case.verification[check]?.passed, true, check);
  });

  it('a lock that does not return to setup mode: retried, then recorded as blocked and replaced, not a dead end', async () => {
    const lock = locks['DB-100/b']!;
    let v = await throughPreflight(lock, 'pairing_loop');
    v = await step(v.case.id, { type: 'take_snapshot' });
    env.fleet.physical.failSetupMode(ext(lock), true);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt) v = await step(v.case.id, { type: 'retry_reset' }, TECH);
      v = await tickProcedure(v);
      assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 12 }), { ok: true });
      v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
      assert.equal(v.case.verification.setup_mode?.passed, false);
    }
    v = await step(v.case.id, { type: 'report_blocked', reason: 'does_not_enter_setup_mode', note: 'two resets, no setup mode' }, TECH);
    assert.equal(v.case.state, 'replace_device');
    assert.deepEqual(v.next, ['device_replaced', 'cancel'], 'replace the device, or end the case with a reason');
    v = await step(v.case.id, { type: 'confirm_device_replaced', note: 'new unit fitted' });
    assert.equal(v.case.state, 'verification');
  });

  it('a blocked physical reset (board fault) leads to replacement', async () => {
    const lock = locks['FP-300/a']!;
    let v = await throughPreflight(lock, 'unknown_admin_detected');
    v = await step(v.case.id, { type: 'take_snapshot' });
    if (v.case.state === 'account_unbind') v = await step(v.case.id, { type: 'confirm_account_unbound' });
    env.fleet.physical.blockReset(ext(lock), 'board_fault');
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 60 }), { ok: false, reason: 'board_fault' });
    v = await step(v.case.id, { type: 'report_blocked', reason: 'board_fault', note: 'no LED at all' }, TECH);
    assert.equal(v.case.state, 'replace_device');
    assert.equal(v.case.block?.reason, 'board_fault');
  });

  it('a remote reset whose acknowledgement is lost is not sent again when the step is retried', async () => {
    const lock = locks['CB-2 Pro/a']!;
    await withPins(lock, ['Host']);
    let v = await throughPreflight(lock, 'management_app_replaced');
    assert.equal(v.case.decision?.overrideReason, 'policy for this lock');
    v = await step(v.case.id, { type: 'take_snapshot' });
    env.fleet.outOfBand.removeCloudBinding(ext(lock));
    v = await step(v.case.id, { type: 'confirm_account_unbound' });
    await refuses(step(v.case.id, { type: 'remote_reset' }, TECH, 'short'), 'validation.failed');
    env.fleet.injectFault(ext(lock), 'lost_ack', 1);
    const key = randomUUID();
    await refuses(step(v.case.id, { type: 'remote_reset' }, TECH, key), 'device.unreachable');
    v = await svc().get(TECH, v.case.id);
    assert.equal(v.case.state, 'physical_reset', 'nothing recorded as done');
    assert.deepEqual(v.openIntents.map((i) => i.command), ['remote_reset']);
    assert.equal(env.fleet.get(ext(lock)).resetCount, 1, 'the reset did happen on the lock');
    v = await step(v.case.id, { type: 'remote_reset' }, TECH, key);
    assert.equal(env.fleet.get(ext(lock)).resetCount, 1, 'and was not sent again');
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.reset?.method, 'remote');
    assert.deepEqual(v.openIntents, []);
    await refuses(step(v.case.id, { type: 'remote_reset' }, TECH), 'reset.wrong_state');
  });

  it('a rebuild cut short by a device fault resumes with the same reissued code, from a fresh service (a restart)', async () => {
    const lock = locks['CB-2 Pro/b']!;
    const pins = await withPins(lock, ['Owner', 'Guest']);
    let v = await throughPreflight(lock, 'credential_compromise');
    v = await step(v.case.id, { type: 'take_snapshot' });
    env.fleet.outOfBand.removeCloudBinding(ext(lock));
    v = await step(v.case.id, { type: 'confirm_account_unbound' });
    v = await step(v.case.id, { type: 'remote_reset' }, TECH);
    v = await enrollAndCheck(v, lock);
    v = await manualChecks(v, lock);
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    // The second write times out (uncertain): the step fails, nothing is recorded as rebuilt.
    const key = randomUUID();
    let writes = 0;
    const off = env.fleet.onEvent((e) => {
      if (e.type === 'credentials_changed' && ++writes === 1) env.fleet.injectFault(ext(lock), 'timeout', 1);
    });
    await refuses(step(v.case.id, { type: 'rebuild', reissue: [pins[0]!.id] }, TECH, key), 'device.unreachable');
    off();
    const firstAttempt = env.fleet.get(ext(lock)).pins.map((p) => ({ ...p }));
    assert.equal(firstAttempt.length, 1, 'the first write (the reissued code) reached the lock before the fault');
    assert.equal((await svc().get(TECH, v.case.id)).lockedOut.length, 2);
    // A restart: a new service over the same database and devices finishes the step.
    v = await new ResetCaseService(env.services.ctx).step(TECH, v.case.id, { idempotencyKey: key, command: { type: 'rebuild', reissue: [pins[0]!.id] } });
    assert.deepEqual(v.lockedOut, []);
    const finalPins = env.fleet.get(ext(lock)).pins;
    for (const p of firstAttempt) assert.equal(finalPins.find((x) => x.slot === p.slot)?.code, p.code, 'what the first attempt wrote stays');
    const reissued = finalPins.find((p) => p.slot === pins[0]!.slot)!.code;
    assert.notEqual(reissued, pins[0]!.code);
    assert.equal(finalPins.find((p) => p.slot === pins[1]!.slot)?.code, pins[1]!.code, 'the other PIN restored as it was');
    assert.deepEqual(await env.services.credentials.reveal(SYSTEM, pins[0]!.id, { reason: 'check' }), { code: reissued });
    const doneSteps = (await env.database.db.select().from(resetCaseSteps).where(eq(resetCaseSteps.caseId, v.case.id))).filter((s) => s.idempotencyKey === key);
    assert.deepEqual(doneSteps.map((s) => s.phase).sort(), ['done', 'intent']);
  });

  it('bad input: a retired lock, an unknown case, a lighter fix, an override without a reason; nothing changes', async () => {
    const lock = locks['KP-80C/b']!;
    await env.services.locks.retire(SYSTEM, lock.id, { reason: 'removed from the door' });
    await refuses(svc().open(MANAGER, { lockId: lock.id, reason: 'pairing_loop' }), 'lock.retired');
    await refuses(svc().open(MANAGER, { lockId: randomUUID(), reason: 'pairing_loop' }), 'lock.not_found');
    await refuses(svc().open(MANAGER, { lockId: locks['FP-300/b']!.id, reason: 'bored' }), 'validation.failed');
    await refuses(svc().open(TECH, { lockId: locks['FP-300/b']!.id, reason: 'pairing_loop' }), 'auth.forbidden');
    await refuses(svc().get(MANAGER, randomUUID()), 'reset.not_found');
    let v = await svc().open(MANAGER, { lockId: locks['FP-300/b']!.id, reason: 'door_does_not_latch' });
    assert.equal(v.case.recommendation.remedy, 'fix_door_alignment');
    await refuses(step(v.case.id, { type: 'decide', remedy: 'full_reset' }), 'reset.override_reason');
    v = await step(v.case.id, { type: 'decide', remedy: 'fix_door_alignment' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.case.outcome, 'lighter_fix');
    // Someone scoped to another site sees none of these cases, and cannot open one here.
    const here = locks['FP-300/b']!;
    const sites = (await env.services.locations.list(SYSTEM)).filter((l) => l.kind === 'site');
    const elsewhere = sites.find((l) => l.id !== here.siteId)!;
    const away = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aaa9', locationPath: elsewhere.path, locationId: elsewhere.id });
    assert.deepEqual((await svc().list(away, {})).items, []);
    // To them the case does not exist: the same not-found as a random id (no 403 to confirm it is real).
    await refuses(svc().get(away, v.case.id), 'reset.not_found');
    await refuses(svc().enrollment(away, v.case.id), 'reset.not_found');
    await refuses(svc().open(away, { lockId: here.id, reason: 'pairing_loop' }), 'lock.not_found');
    const list = await svc().list(MANAGER, { lockId: locks['FP-300/b']!.id });
    assert.equal(list.items.length, 1);
    assert.equal((await svc().list(MANAGER, { state: 'closed,cancelled' })).items.every((c) => c.state === 'closed' || c.state === 'cancelled'), true);
  });

  it('dashboard: open cases by state, cases per week by reason and failed checks, counted in SQL within the reader\'s scope', async () => {
    // Two cases at another site: one left in triage, one cancelled. A manager scoped there sees only those.
    const here = locks['FP-300/a']!;
    const sites = (await env.services.locations.list(SYSTEM)).filter((l) => l.kind === 'site');
    const elsewhere = sites.find((l) => l.id !== here.siteId)!;
    const there = (await env.services.locks.list(SYSTEM, { limit: 500 })).items.filter((l) => l.siteId === elsewhere.id && l.serviceState === 'in_service' && l.driver === 'simulator');
    assert.ok(there.length >= 2, 'two demo locks at another site');
    await svc().open(MANAGER, { lockId: there[0]!.id, reason: 'pairing_loop' });
    const cancelled = await svc().open(MANAGER, { lockId: there[1]!.id, reason: 'ownership_transfer' });
    await step(cancelled.case.id, { type: 'cancel', note: 'the sale fell through' });
    const away = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aab1', locationPath: elsewhere.path, locationId: elsewhere.id });
    const mine = await env.services.dashboard.get(away);
    assert.deepEqual(mine.casesByState.filter((s) => s.count > 0), [{ state: 'triage', count: 1 }]);
    assert.equal(mine.resetsByWeek.length, 12);
    assert.equal(mine.resetsByWeek.at(-1)!.week, '2026-02-23', 'the last row is this week (Monday, UTC)');
    assert.equal(mine.since, '2025-12-08');
    assert.deepEqual(mine.resetsByWeek.at(-1)!.byReason, { pairing_loop: 1, ownership_transfer: 1 });
    assert.equal(mine.resetsByWeek.reduce((n, w) => n + w.total, 0), 2);
    assert.deepEqual(mine.verificationFailures, { count: 0, latest: [] }, 'no failure from outside the scope');
    assert.deepEqual(mine.turnoversToday, []);

    // Everywhere: the same figures as counting the rows by hand.
    const all = await env.services.dashboard.get(SYSTEM);
    const cases = await env.database.db.select().from(resetCases);
    const open = new Map<string, number>();
    for (const c of cases) if (c.state !== 'closed' && c.state !== 'cancelled') open.set(c.state, (open.get(c.state) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(all.casesByState.filter((s) => s.count > 0).map((s) => [s.state, s.count])), Object.fromEntries(open));
    assert.equal(all.resetsByWeek.at(-1)!.total, cases.length);
    const failed = (await env.database.db.select().from(resetCaseSteps))
      .filter((s) => s.phase === 'done')
      .flatMap((s) => s.events.filter((e) => e.type === 'check_result' && e.passed === false).map((e) => ({ caseId: s.caseId, check: e.check })));
    assert.ok(failed.length > 0, 'earlier cases recorded failed checks (a lock that stayed out of setup mode)');
    assert.equal(all.verificationFailures.count, failed.length);
    assert.equal(all.verificationFailures.latest.length, Math.min(10, failed.length));
    for (const f of all.verificationFailures.latest) assert.ok(failed.some((x) => x.caseId === f.caseId && x.check === f.check), `${f.check} on ${f.lockName}`);
    await refuses(env.services.dashboard.get(roleActor('occupant')), 'auth.forbidden');
  });

  it('the resumer finishes a remote reset left after its intent, sends nothing twice (two resumers at once), and the lock\'s own reset report is kept on the case', async () => {
    const lock = locks['CB-2 Pro/c']!;
    await withPins(lock, ['Host']);
    let v = await throughPreflight(lock, 'pairing_loop');
    v = await step(v.case.id, { type: 'take_snapshot' });
    env.fleet.outOfBand.removeCloudBinding(ext(lock));
    v = await step(v.case.id, { type: 'confirm_account_unbound' });
    // Nothing to resume on a case between steps: it is left for people.
    assert.deepEqual(await svc().resumeOpenIntents(), { resumed: 0, busy: 0, failed: 0 });
    // The reset reaches the lock, its answer is lost, and the client never comes back.
    env.fleet.injectFault(ext(lock), 'lost_ack', 1);
    const key = randomUUID();
    await refuses(step(v.case.id, { type: 'remote_reset' }, TECH, key), 'device.unreachable');
    assert.equal(env.fleet.get(ext(lock)).resetCount, 1);
    assert.deepEqual((await svc().get(TECH, v.case.id)).openIntents.map((i) => i.idempotencyKey), [key]);
    // Two resumers at once (a second process on PostgreSQL is the same code under the advisory lock).
    const results = await Promise.all([svc().resumeOpenIntents(), new ResetCaseService(env.services.ctx).resumeOpenIntents()]);
    assert.ok(results.every((r) => r.failed === 0), JSON.stringify(results));
    assert.ok(results.some((r) => r.resumed === 1), JSON.stringify(results));
    assert.equal(env.fleet.get(ext(lock)).resetCount, 1, 'the reset was not sent again');
    v = await svc().get(TECH, v.case.id);
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.verification.setup_mode?.passed, true);
    assert.deepEqual(v.openIntents, []);
    const done = v.steps.filter((s) => s.command === 'remote_reset' && s.phase === 'done');
    assert.equal(done.length, 1);
    assert.equal(done[0]!.actor, 'reset-resumer', 'finished under the resumer\'s own name');
    // The technician's retry with the same key is answered as done; nothing is sent.
    const again = await step(v.case.id, { type: 'remote_reset' }, TECH, key);
    assert.equal(again.steps.filter((s) => s.command === 'remote_reset' && s.phase === 'done').length, 1);
    assert.equal(env.fleet.get(ext(lock)).resetCount, 1);
    // The simulated lock reported its reset as a device event: the case keeps it, by the device.
    v = await until('the reported reset on the case', async () => {
      const x = await svc().get(TECH, v.case.id);
      return x.case.observations?.length ? x : null;
    });
    assert.deepEqual(
      v.case.observations!.map((o) => [o.kind, o.by]),
      [['reset_detected', `device:simulator/${ext(lock)}`]],
    );
    // The event is handled on its own: the case may already have moved on to verification by then.
    assert.ok(['physical_reset', 'verification'].includes(v.case.observations![0]!.state), v.case.observations![0]!.state);
    assert.ok(v.steps.some((s) => s.command === 'device_observed' && s.actor.includes(ext(lock))));
    assert.ok(!v.next.includes('device_observed'), 'not offered to people');
    const alerts = await env.services.alerts.list(SYSTEM, { lockId: lock.id });
    assert.ok(JSON.stringify(alerts).includes('factory_reset'), 'the factory-reset alert is raised as before');
  });

  it('a lock with an open case cannot be retired (clear error, nothing changed); once the case is cancelled it can', async () => {
    const lock = locks['DB-220W/b']!;
    const v = await svc().open(MANAGER, { lockId: lock.id, reason: 'pairing_loop' });
    await refuses(env.services.locks.retire(SYSTEM, lock.id, { reason: 'removed' }), 'reset.case_open', new RegExp(`open reset case \\(${v.case.id}, triage\\).*close or cancel it`));
    const still = await env.services.locks.get(SYSTEM, lock.id);
    assert.equal(still.serviceState, 'in_service');
    assert.equal(still.version, lock.version);
    await step(v.case.id, { type: 'cancel', note: 'the lock is being removed' });
    assert.equal((await env.services.locks.retire(SYSTEM, lock.id, { reason: 'removed' })).serviceState, 'retired');
    await refuses(svc().open(MANAGER, { lockId: lock.id, reason: 'pairing_loop' }), 'lock.retired', /retired/);
  });
  it('physical gating: a low battery read from the lock fails preflight; a cabinet lock still on its door and a hold too short refuse the reset and change nothing', async () => {
    const cab = (await env.services.models.list(SYSTEM)).find((m) => m.modelNumber === 'CAB-4')!;
    const lock = await env.services.locks.create(SYSTEM, { name: 'CAB-4 reset test', modelId: cab.id, locationId: locks['DB-100/a']!.locationId, driver: 'simulator', externalId: 'sim-reset-cab4', batteryPercent: 90 });
    const [pin] = await withPins(lock, ['Minibar']);
    env.fleet.outOfBand.setBattery(ext(lock), 12);
    let v = await svc().open(MANAGER, { lockId: lock.id, reason: 'firmware_inconsistent' });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset' });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, false);
    assert.match(v.case.preflight.battery_adequate.note, /12% \(the reset needs at least 20%\)/);
    await refuses(step(v.case.id, { type: 'complete_preflight' }), 'reset.incomplete', /battery adequate/);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 5 }), { ok: false, reason: 'still_on_door' }, 'checked before the battery');
    env.fleet.physical.setOnDoor(ext(lock), false);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 5 }), { ok: false, reason: 'battery_low' });
    env.fleet.outOfBand.setBattery(ext(lock), 80);
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    v = await step(v.case.id, { type: 'complete_preflight' });
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.case.state, 'physical_reset');
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 2 }), { ok: false, reason: 'hold_too_short' });
    assert.equal(env.fleet.get(ext(lock)).pins.find((p) => p.slot === pin!.slot)?.code, pin!.code, 'a refused reset leaves the lock as it was');
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, false, 'a reset that did not happen is not taken for one');
    v = await step(v.case.id, { type: 'retry_reset', note: 'held too briefly' }, TECH);
    v = await tickProcedure(v);
    assert.deepEqual(env.fleet.physical.reset(ext(lock), { holdSeconds: 5 }), { ok: true });
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.verification.setup_mode?.passed, true);
    assert.equal(v.case.attempts, 2);
    v = await enrollAndCheck(v, lock);
    assert.equal(v.case.verification.prior_pins_gone?.passed, true);
  });
});
