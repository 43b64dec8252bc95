/**
 * A full reset case for a Matter lock reached through an integration, against the real stack (a
 * virtual matter.js door lock and lockwarden's matter.js controller on matter.js's NetworkSimulator):
 * the lock is commissioned with its pairing code, adopted, takes a PIN; the case is opened, its PIN
 * sealed in the snapshot, the lock factory reset at the door (erase, start); the lock's setup mode is
 * seen from its fabric being gone, it is enrolled again with its pairing code under a new node id
 * bound to the same lock record, the checks pass on the new node, the rebuild writes the snapshot's
 * PIN there, and the case closes. One lock pair for the file (matter.js costs ~240 MB a pair).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Logger, LogLevel, Time } from '@matter/main';
import { ManualPairingCodeCodec } from '@matter/main/types';
import { eq } from 'drizzle-orm';
import { isAppError, type ErrorCode } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import { createMatterDriver } from '../../src/drivers/matter/index.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import type { ResetCaseView, ResetCommand } from '../../src/services/reset-case-service.js';
import { auditLog } from '../../src/store/schema.js';
import { roleActor } from '../helpers/actors.js';
import { TEST_DRIVER_FACTORIES, testServices, type TestEnv } from '../helpers/db.js';
import { LOCK_DISCRIMINATOR, LOCK_PASSCODE, startMatterPeer, type MatterPeer } from './matter-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const MANAGER = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aaa1', email: 'mia@example.test' });
const SECOND = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000aaa2', email: 'sam@example.test' });
const TECH = roleActor('technician', { userId: '00000000-0000-4000-8000-00000000aaa3', email: 'tess@example.test' });
Logger.level = LogLevel.FATAL;

type CommandInput = { type: ResetCommand['type'] } & Record<string, unknown>;

describe('a Matter lock through a full reset case', () => {
  let env: TestEnv;
  let matter: MatterPeer;

  before(async () => {
    matter = await startMatterPeer();
    env = await testServices('pglite', {
      runtime: {
        driverFactories: {
          ...TEST_DRIVER_FACTORIES,
          matter: async () => createMatterDriver({ environment: matter.controllerEnvironment, hubKey: 'mt', timeoutMs: 2_000, commissionTimeoutMs: 15_000 }),
        },
      },
    });
    await loadDemoFleet(env.services.ctx);
  });
  after(async () => {
    await env?.close();
    await matter?.close();
    // After a device erase() matter.js leaves timers running past every close (see matter.test.ts).
    for (const timer of [...Time.timers]) timer.stop();
  });

  const svc = () => env.services.resetCases;
  const step = (id: string, command: CommandInput, actor: Actor = MANAGER) => svc().step(actor, id, { idempotencyKey: randomUUID(), command });
  const refuses = async (p: Promise<unknown>, code: ErrorCode, message?: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(isAppError(e, code), String(e));
      if (message) assert.match(e.message, message);
      return true;
    });

  it('reset at the lock, setup mode seen, enrolled again under a new node with its pairing code, the PIN rebuilt there, closed', async () => {
    // Commissioned into lockwarden's fabric and adopted, with a PIN on the lock.
    const integrations = env.services.integrations;
    const m = await integrations.create(SYSTEM, { driver: 'matter', name: 'Matter fabric' });
    assert.equal(m.running, true, m.error ?? '');
    const device = await integrations.commission(SYSTEM, m.id, { pairingCode: matter.pairingCode });
    const unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
    const lock = await integrations.adopt(SYSTEM, m.id, { externalId: device.externalId, locationId: unitId, name: 'Unit door (Matter)' });
    const oldExternalId = lock.externalId!;
    const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ada' });
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    const slot = (await env.services.credentials.forLock(SYSTEM, lock.id)).credentials.find((c) => c.id === credential.id)!.slot!;
    assert.equal(await matter.pinAt(slot), code, 'the PIN is on the lock');

    // Triage, preflight (the battery read from the lock's PowerSource cluster), snapshot.
    let v = await svc().open(MANAGER, { lockId: lock.id, reason: 'pairing_loop', description: 'the app keeps losing the lock' });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset', ...(v.case.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'start over on this lock' }) });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true, note: 'done' });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, true, v.case.preflight.battery_adequate?.note);
    if (v.missing.some((x) => x.startsWith('approval'))) v = await step(v.case.id, { type: 'approve', note: 'agreed' }, SECOND);
    v = await step(v.case.id, { type: 'complete_preflight' });
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.deepEqual(v.lockedOut.map((i) => i.key), [credential.id]);
    if (v.case.state === 'account_unbind') v = await step(v.case.id, { type: 'confirm_account_unbound', note: 'no vendor account' });
    assert.equal(v.case.state, 'physical_reset');
    v = await tickProcedure(v);

    // The reset at the lock: its fabrics are gone and it waits to be commissioned again.
    await matter.factoryReset();
    assert.equal(matter.fabricCount(), 0);
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.verification.setup_mode?.passed, true, v.case.verification.setup_mode?.note);
    assert.match(v.case.verification.setup_mode.note, /reported its factory reset and left the network/);

    // How to enroll it, then a wrong pairing code: refused, nothing bound, the case still waits for it.
    const how = await svc().enrollment(TECH, v.case.id);
    assert.deepEqual([how.method?.kind, how.method?.code, how.unavailable, how.preparation?.url], ['commissioning', 'pairing_code', null, null]);
    assert.match(how.preparation?.instructions ?? '', /11-digit manual pairing code/);
    const wrong = ManualPairingCodeCodec.encode({ discriminator: LOCK_DISCRIMINATOR, passcode: LOCK_PASSCODE + 1 });
    await refuses(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: wrong, timeoutSeconds: 30 }, TECH), 'device.invalid_code', /did not accept this pairing code/);
    v = await svc().get(TECH, v.case.id);
    assert.equal(v.case.reenrollment, null);
    assert.equal(v.lock.externalId, oldExternalId);
    assert.equal(matter.fabricCount(), 0);

    // The right code: the lock is commissioned under a new node id, bound to the same lock record.
    v = await step(v.case.id, { type: 'reenroll', lockId: lock.id, code: matter.pairingCode, timeoutSeconds: 30 }, TECH);
    const newExternalId = v.lock.externalId!;
    assert.notEqual(newExternalId, oldExternalId);
    assert.match(newExternalId, /\/mt:peer\d+$/);
    assert.deepEqual([v.case.reenrollment?.from, v.case.reenrollment?.to, v.case.reenrollment?.method], [oldExternalId, newExternalId, 'commissioning']);
    assert.equal(matter.fabricCount(), 1);
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true, v.case.verification.admin_enrollment_accepted?.note);
    assert.equal(v.case.verification.prior_pins_gone?.passed, true, v.case.verification.prior_pins_gone?.note);
    for (const check of v.requiredChecks.filter((c) => ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'].includes(c))) {
      v = await step(v.case.id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'checked', evidence: [`photo-${check}.jpg`] }, TECH);
    }
    const unpassed = v.requiredChecks.filter((c) => !v.case.verification[c]?.passed);
    assert.deepEqual(unpassed, [], JSON.stringify(v.case.verification));
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    assert.equal(v.case.state, 'rebuild');

    // The rebuild writes the snapshot's PIN to the new node: the same code in the same slot.
    assert.equal(await matter.pinAt(slot), null, 'the reset emptied the lock');
    v = await step(v.case.id, { type: 'rebuild', reissue: [] }, TECH);
    assert.deepEqual(v.lockedOut, []);
    assert.equal(await matter.pinAt(slot), code);
    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    v = await step(v.case.id, { type: 'close', note: 'commissioned again, PIN back' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.case.outcome, 'reset_verified');
    assert.equal(v.lock.serviceState, 'in_service');
    assert.equal((await env.services.locks.get(SYSTEM, lock.id)).externalId, newExternalId);

    // The rebind is audited with both identities; the PIN and the pairing code appear nowhere.
    const rebind = (await env.database.db.select().from(auditLog).where(eq(auditLog.action, 'lock.rebind'))).find((a) => a.targetId === lock.id);
    assert.ok(rebind, 'lock.rebind audited');
    assert.deepEqual([(rebind.details as { from?: string }).from, (rebind.details as { to?: string }).to], [oldExternalId, newExternalId]);
    const record = await svc().record(SYSTEM, v.case.id);
    assert.equal(record.verified, true);
    for (const secret of [code, matter.pairingCode, wrong]) assert.equal(record.canonical.includes(secret), false);
  });

  /** Ticks every procedure step; a timed hold is started and ticked once the server's clock has passed it. */
  async function tickProcedure(v: ResetCaseView): Promise<ResetCaseView> {
    for (let i = 1; i <= v.case.profile.procedureSteps; i++) {
      const s = v.procedure?.[i - 1];
      if (s?.kind === 'hold' && s.seconds) {
        v = await step(v.case.id, { type: 'start_hold', step: i }, TECH);
        env.clock.advance(s.seconds * 1000);
      }
      v = await step(v.case.id, { type: 'procedure_step', step: i }, TECH);
    }
    return v;
  }
});
