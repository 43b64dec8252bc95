/**
 * A full reset case on a Zigbee lock adopted through a Zigbee2MQTT integration, against the aedes
 * broker and the simulated bridge on the real converters: the lock holds a PIN set by lockwarden, the
 * case is opened and prepared, the technician resets the lock (it leaves the network), setup mode
 * passes from the bridge's `device_leave`, the case re-enrolls it (lockwarden opens joining through
 * the bridge, the lock joins, joining is closed again), the checks pass, the PIN is rebuilt on the
 * lock under its new enrollment, and the case closes signed. A re-enrollment that nobody answers is
 * refused with words and changes nothing; a replacement lock of the same model is bound under its
 * own IEEE address.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import type { ResetCommand, ResetCaseView } from '../../src/services/reset-case-service.js';
import { auditLog } from '../../src/store/schema.js';
import { roleActor } from '../helpers/actors.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { until } from '../helpers/wait.js';
import { startZigbee2MqttPeer, type Zigbee2MqttPeer } from './z2m-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const MANAGER = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb1', email: 'mia@example.test' });
const SECOND = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb2', email: 'sam@example.test' });
const TECH = roleActor('technician', { userId: '00000000-0000-4000-8000-00000000bbb3', email: 'tess@example.test' });

type CommandInput = { type: ResetCommand['type'] } & Record<string, unknown>;

describe('reset case on a Zigbee lock through Zigbee2MQTT', () => {
  let env: TestEnv;
  let z2m: Zigbee2MqttPeer;

  before(async () => {
    [env, z2m] = await Promise.all([testServices('pglite'), startZigbee2MqttPeer({ baseTopic: 'z2m-case' })]);
    await loadDemoFleet(env.services.ctx);
  });
  after(async () => {
    await env.close();
    await z2m.close();
  });

  const step = (id: string, command: CommandInput, actor: Actor = MANAGER) => env.services.resetCases.step(actor, id, { idempotencyKey: randomUUID(), command });

  /** Gives the adopted lock a PIN through lockwarden, then takes a case through preflight, the door and the reset. */
  async function resetThroughCase(lockId: string, name: string, holder: string): Promise<{ v: ResetCaseView; lockId: string; oldExternalId: string; slot: number; code: string }> {
    const device = z2m.lock(name);
    const { credential, code } = await env.services.credentials.addPin(SYSTEM, lockId, { holder });
    await env.runtime.reconciler.reconcile(lockId, { read: true });
    assert.equal(device.endpoint.users.get(credential.slot! - 1)?.pin, code, 'the PIN is on the lock before the reset');
    const lock = await env.services.locks.get(SYSTEM, lockId);

    // Triage, preflight (the battery is read from the lock through the bridge), snapshot.
    let v: ResetCaseView = await env.services.resetCases.open(MANAGER, { lockId, reason: 'ownership_transfer' });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset', ...(v.case.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'new owner' }) });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true, note: 'done' });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, true, v.case.preflight.battery_adequate?.note);
    if (v.missing.some((m) => m.startsWith('approval'))) v = await step(v.case.id, { type: 'approve', note: 'agreed' }, SECOND);
    v = await step(v.case.id, { type: 'complete_preflight' });
    v = await step(v.case.id, { type: 'take_snapshot' });
    if (v.case.state === 'account_unbind') v = await step(v.case.id, { type: 'confirm_account_unbound', note: 'no vendor account' });
    assert.equal(v.case.state, 'physical_reset');

    // At the door: the procedure, then the factory reset (the lock leaves the Zigbee network).
    for (let i = 1; i <= v.case.profile.procedureSteps; i++) {
      const s = v.procedure?.[i - 1];
      if (s?.kind === 'hold' && s.seconds) {
        v = await step(v.case.id, { type: 'start_hold', step: i }, TECH);
        env.clock.advance(s.seconds * 1000);
      }
      v = await step(v.case.id, { type: 'procedure_step', step: i }, TECH);
    }
    // The driver hears the bridge's device_leave: the lock's history says so.
    const resets = async () => (await env.services.lockEvents.list(SYSTEM, lockId)).filter((e) => e.summary === 'Factory reset reported').length;
    const before = await resets();
    z2m.leave(name);
    await until('the reset reported', async () => (await resets()) > before);
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.verification.setup_mode?.passed, true);
    assert.match(v.case.verification.setup_mode.note, /left the network: enroll it again/);
    return { v, lockId, oldExternalId: lock.externalId!, slot: credential.slot!, code };
  }

  /** After the re-enrollment: the checks pass, the manual ones are ticked, the PIN is rebuilt on `onLock`, the case closes signed. */
  async function finishCase(v: ResetCaseView, lockId: string, rebuiltOn: () => Map<number, { pin: string }>, slot: number, code: string): Promise<void> {
    assert.equal(v.case.verification.prior_pins_gone?.passed, true, v.case.verification.prior_pins_gone?.note);
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true, v.case.verification.admin_enrollment_accepted?.note);
    assert.match(v.case.verification.admin_enrollment_accepted.note, /lockwarden enrolled the lock again \(join\)/);
    const rebinds = await env.database.db.select().from(auditLog).where(eq(auditLog.targetId, lockId));
    assert.ok(rebinds.some((a) => a.action === 'lock.rebind'), 'the binding is audited');
    for (const check of v.requiredChecks.filter((c) => ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'].includes(c))) {
      v = await step(v.case.id, { type: 'manual_check', lockId, check, passed: true, note: 'checked', evidence: [`photo-${check}.jpg`] }, TECH);
    }
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    assert.equal(v.case.state, 'rebuild');
    assert.equal(rebuiltOn().size, 0, 'the reset lock holds no code');
    v = await step(v.case.id, { type: 'rebuild' }, TECH);
    assert.deepEqual(v.lockedOut, []);
    assert.equal(rebuiltOn().get(slot - 1)?.pin, code, 'the PIN is rebuilt on the lock under its new enrollment');
    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    v = await step(v.case.id, { type: 'close', note: 'reset and re-enrolled' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.case.outcome, 'reset_verified');
    assert.equal(v.lock.serviceState, 'in_service');
    const record = await env.services.resetCases.record(SYSTEM, v.case.id);
    assert.equal(record.verified, true);
    assert.equal(record.canonical.includes(code), false, 'no code in the record');
  }

  let bridgeId = '';
  let frontLockId = '';

  it('the lock rejoins: re-enrolled through permit join (a join nobody answers refused first), PIN rebuilt, case closed', async () => {
    const bridge = await env.services.integrations.create(SYSTEM, { driver: 'zigbee2mqtt', name: 'Zigbee bridge', config: { url: z2m.url, username: z2m.username, baseTopic: z2m.baseTopic }, secret: z2m.password });
    assert.equal(bridge.running, true, bridge.error ?? '');
    bridgeId = bridge.id;
    const front = z2m.lock('front door');
    const unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
    await until('the bridge’s devices', async () => (await env.services.integrations.devices(SYSTEM, bridge.id)).find((d) => d.externalId === front.ieee));
    frontLockId = (await env.services.integrations.adopt(SYSTEM, bridge.id, { externalId: front.ieee, locationId: unitId, name: 'Front door (Zigbee)' })).id;
    const r = await resetThroughCase(frontLockId, 'front door', 'Guest Bo');
    const { lockId, oldExternalId, slot, code } = r;
    let v = r.v;

    // Nobody joins in time: refused with words, joining closed, nothing bound.
    await assert.rejects(step(v.case.id, { type: 'reenroll', lockId, timeoutSeconds: 5 }, TECH), (e: unknown) => isAppError(e, 'device.timeout') && /pairing mode/.test(e.message));
    assert.equal(z2m.joiningOpen, false);
    v = await env.services.resetCases.get(TECH, v.case.id);
    assert.equal(v.case.reenrollment, null);
    assert.equal(v.lock.externalId, oldExternalId);

    // The lock is put in pairing mode; the case opens joining and the lock joins (same radio, same IEEE address).
    const pairing = z2m.pairingMode('front door');
    v = await step(v.case.id, { type: 'reenroll', lockId, timeoutSeconds: 60 }, TECH);
    await pairing.joined;
    assert.equal(z2m.joiningOpen, false, 'joining is closed again');
    assert.equal(v.case.reenrollment?.method, 'join');
    assert.equal(v.case.reenrollment?.from, oldExternalId);
    assert.equal(v.lock.externalId, `${bridge.id}/${front.ieee}`);
    await finishCase(v, lockId, () => z2m.lock('front door').endpoint.users, slot, code);
  });

  it('a replacement of the same model joins: bound under its new IEEE address, PIN rebuilt on it, case closed', async () => {
    // The same lock record, a second case: this time a new lock of the same model is fitted and joins.
    const r = await resetThroughCase(frontLockId, 'front door', 'Guest Cy');
    const { lockId, oldExternalId, slot, code } = r;
    let v = r.v;
    const newIeee = '0x000d6f0011ee6605';
    const pairing = z2m.pairingMode('front door', { newIeee });
    v = await step(v.case.id, { type: 'reenroll', lockId, timeoutSeconds: 60 }, TECH);
    await pairing.joined;
    assert.equal(z2m.joiningOpen, false, 'joining is closed again');
    assert.equal(v.case.reenrollment?.from, oldExternalId);
    assert.equal(v.case.reenrollment?.to, `${bridgeId}/${newIeee}`);
    assert.equal(v.lock.externalId, `${bridgeId}/${newIeee}`);
    assert.equal(v.case.reenrollment?.model, 'YRD226HA2619');
    await finishCase(v, lockId, () => z2m.lock(newIeee).endpoint.users, slot, code);
  });
});
