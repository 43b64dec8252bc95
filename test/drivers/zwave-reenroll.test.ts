/**
 * Re-enrolling a Z-Wave lock after a factory reset, against the real stack: a real ZwavejsServer
 * (@zwave-js/server) on 127.0.0.1 in front of a real zwave-js Driver on @zwave-js/testing's
 * MockController. The lock is reset at the device (Device Reset Locally), then put in inclusion mode
 * (the mock stick's `nodePendingInclusion`); the driver includes it through the server's WebSocket API
 * with S2 (grant, DSK PIN: zwave-js and the mock node do the real ECDH key exchange) or S0.
 * One peer for the file; the tests run in order, each leaving the lock as the next one expects.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { Security2CCMessageEncapsulation, type CommandClass } from '@zwave-js/cc';
import { UserCodeCC } from '@zwave-js/cc/UserCodeCC';
import { MockZWaveFrameType, type MockZWaveFrame } from '@zwave-js/testing';
import { startZwavePeer, type ZwavePeer } from './zwave-peer.js';
import { isDriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { createZwaveDriver, type ZwaveDriver } from '../../src/drivers/zwave/index.js';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import type { ResetCommand } from '../../src/services/reset-case-service.js';
import { auditLog } from '../../src/store/schema.js';
import { roleActor } from '../helpers/actors.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { until } from '../helpers/wait.js';

const oldId = 'zjs-re:2';

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(p, (e) => {
    assert.ok(isDriverError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    caught = e;
    return true;
  });
  return caught!;
}

function nextEvent(d: ZwaveDriver, match: (e: DriverEvent) => boolean, ms = 8_000): Promise<DriverEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error('no matching event within ' + ms + ' ms'))), ms);
    const off = d.onEvent((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** The lock is reset at the device; resolves once the driver has seen it leave. */
async function resetAtTheLock(p: ZwavePeer, d: ZwaveDriver, externalId: string): Promise<void> {
  const reset = nextEvent(d, (e) => e.type === 'reset_detected' && e.externalId === externalId);
  await p.resetLocally();
  await reset;
}

/** A PIN that is not the label's (same length, digits only). */
const wrong = (pin: string) => String((Number(pin) + 1) % 100_000).padStart(5, '0');

describe('zwave re-enrollment after a factory reset', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await startZwavePeer({ slots: 10, battery: 87 });
    d = createZwaveDriver({ url: p.url, hubKey: 'zjs-re', backoff: { initialMs: 50, maxMs: 200 } });
    await d.connect();
  });
  after(async () => {
    await d?.close();
    await p?.close();
  });

  it('offers inclusion with the DSK PIN, S2 first, and says in plain words what to do', async () => {
    const { enrollment, cloudUnbind } = await d.capabilities(oldId);
    assert.equal(cloudUnbind, false);
    assert.ok(enrollment);
    assert.deepEqual({ ...enrollment, instructions: undefined }, { kind: 'inclusion', code: 'dsk_pin', security: ['s2', 's0', 'none'], instructions: undefined });
    assert.match(enrollment.instructions, /inclusion .*mode as its manual describes/);
    assert.match(enrollment.instructions, /5-digit PIN printed under the QR code/);
    assert.deepEqual(await d.prepareEnrollment(oldId), { instructions: enrollment.instructions, url: null });
    await rejectsWith(d.prepareEnrollment('other-hub:2'), 'driver.unknown_device');
  });

  it('refuses an S2 enrollment without a 5-digit PIN before starting anything, never echoing what was typed', async () => {
    for (const code of [undefined, '', '1234', '123456', '12a45']) {
      const e = await rejectsWith(d.enroll({ previousExternalId: oldId, code, security: 's2', timeoutMs: 5_000 }), 'driver.invalid_code', /5-digit PIN/);
      if (code) assert.ok(!e.message.includes(code), 'the typed PIN is not echoed');
    }
    assert.equal(p.isIncluding(), false, 'no inclusion was started');
  });

  it('with no lock in inclusion mode: times out within the bound and stops inclusion, so the next one can start', async () => {
    const started = Date.now();
    await rejectsWith(d.enroll({ previousExternalId: oldId, code: '12345', security: 's2', timeoutMs: 1_500 }), 'driver.timeout', /no lock joined within 1\.5 s; inclusion was stopped/);
    const took = Date.now() - started;
    assert.ok(took >= 1_400 && took < 4_000, `took ${took} ms`);
    assert.equal(p.isIncluding(), false, 'the stick is no longer including');
    // A second inclusion starts (the stick would refuse it while still including), and a cancel ends it too.
    const ac = new AbortController();
    const second = d.enroll({ previousExternalId: oldId, security: 'none', timeoutMs: 30_000, signal: ac.signal });
    const deadline = Date.now() + 3_000;
    while (!p.isIncluding() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.isIncluding(), true, 'the second inclusion started');
    await rejectsWith(d.enroll({ previousExternalId: oldId, security: 'none', timeoutMs: 1_000 }), 'driver.busy', /already running/);
    ac.abort();
    await rejectsWith(second, 'driver.timeout', /cancelled/);
    assert.equal(p.isIncluding(), false, 'cancelling stopped inclusion');
    assert.deepEqual(p.networkNodeIds(), [2], 'nothing joined');
  });

  it('after "Device Reset Locally" the old node reports setup mode instead of being unknown', async () => {
    await d.setPin(oldId, { slot: 4, code: '7351', name: 'before', schedule: { kind: 'always' } });
    await resetAtTheLock(p, d, oldId);
    assert.deepEqual(await d.status(oldId), { online: false, batteryPercent: 87, bolt: 'unknown', firmware: '4.12', setupMode: true, cloudBound: null });
    const caps = await d.capabilities(oldId);
    assert.equal(caps.enrollment?.kind, 'inclusion', 'the reset lock can still be re-enrolled');
    assert.equal(caps.pin.slots, 10, 'its PIN limits are what was learnt before it left');
    await rejectsWith(d.readCredentials(oldId), 'driver.unknown_device');
    assert.deepEqual(await d.discover(), []);
  });

  it('a wrong DSK PIN fails the S2 key exchange: invalid_code, inclusion stopped, the half-joined node is never offered as a lock', async () => {
    const label = await p.awaitInclusion({ nodeId: 3, security: 's2' });
    const typed = wrong(label.pin);
    const e = await rejectsWith(d.enroll({ previousExternalId: oldId, code: typed, security: 's2', timeoutMs: 30_000 }), 'driver.invalid_code', /PIN did not match the lock's label/);
    assert.ok(!e.message.includes(typed) && !e.message.includes(label.pin), 'neither PIN is echoed');
    assert.match(e.message, /joined the network without security as node 3; lockwarden did not enroll it/);
    assert.equal(p.isIncluding(), false);
    // What zwave-js does with a failed S2 bootstrap (a real stick too): the node stays, included insecurely.
    assert.deepEqual(p.networkNodeIds(), [3]);
    assert.deepEqual(await d.discover(), [], 'the insecure node is not offered for adoption');
    assert.equal((await d.status(oldId)).setupMode, true, 'the lock record still points at a lock in setup mode');
    // The person resets the lock again: it leaves the network by itself.
    await p.resetLocally();
    const deadline = Date.now() + 8_000;
    while (p.networkNodeIds().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(p.networkNodeIds(), [], 'the half-joined node left with the second reset');
    p.leaveInclusionMode();
  });

  it('with the PIN from the label: S2 inclusion binds a new node id with make and model, and PINs are set and read on it', async () => {
    const label = await p.awaitInclusion({ nodeId: 4, security: 's2' });
    assert.match(label.pin, /^[0-9]{5}$/);
    const started = Date.now();
    const device = await d.enroll({ previousExternalId: oldId, code: label.pin, security: 's2', timeoutMs: 30_000 });
    const took = Date.now() - started;
    assert.deepEqual(device, { externalId: 'zjs-re:4', manufacturer: 'Yale', model: 'YRD216 / YRC216', serial: null });
    assert.ok(took < 20_000, `included and interviewed in ${took} ms`);
    assert.equal(p.isIncluding(), false);
    assert.deepEqual(await d.discover(), [{ externalId: 'zjs-re:4', manufacturer: 'Yale', model: 'YRD216 / YRC216', label: 'Yale YRD216 / YRC216' }]);
    const status = await d.status('zjs-re:4');
    assert.equal(status.online, true);
    assert.equal(status.setupMode, false);
    // Factory-fresh: the code set before the reset is gone.
    assert.deepEqual((await d.readCredentials('zjs-re:4')).pins, []);
    await d.setPin('zjs-re:4', { slot: 4, code: '7351', name: 'rebuilt', schedule: { kind: 'always' } });
    const node = p.included;
    assert.ok(node && node.id === 4);
    assert.equal(node.state.get('UserCode_userCode_4'), '7351', 'the new node itself holds the PIN');
    node.clearReceivedControllerFrames();
    assert.deepEqual((await d.readCredentials('zjs-re:4')).pins.map((x) => [x.slot, x.code]), [[4, '7351']]);
    // Over S2: every User Code command reached the new node inside Security 2 encapsulation, none in the clear.
    const request = (f: MockZWaveFrame): CommandClass | null => (f.type === MockZWaveFrameType.Request ? (f.payload) : null);
    node.assertReceivedControllerFrame((f) => { const cc = request(f); return cc instanceof Security2CCMessageEncapsulation && cc.encapsulated instanceof UserCodeCC; }, { errorMessage: 'a User Code command came S2-encapsulated' });
    node.assertReceivedControllerFrame((f) => request(f) instanceof UserCodeCC, { noMatch: true, errorMessage: 'no User Code command came in the clear' });
    assert.equal((await d.status(oldId)).setupMode, true, 'the old node id still reads as the reset lock');
  });

  it('S0 re-inclusion (no PIN) binds the next node id', async () => {
    await resetAtTheLock(p, d, 'zjs-re:4');
    await p.awaitInclusion({ nodeId: 5, security: 's0' });
    const device = await d.enroll({ previousExternalId: 'zjs-re:4', security: 's0', timeoutMs: 30_000 });
    assert.equal(device.externalId, 'zjs-re:5');
    await d.setPin('zjs-re:5', { slot: 1, code: '2468', name: 's0', schedule: { kind: 'always' } });
    assert.equal(p.included?.state.get('UserCode_userCode_1'), '2468');
    assert.equal(p.isIncluding(), false);
  });
});

/**
 * A whole reset case for a Z-Wave lock adopted through an integration: the lock is reset at the
 * device, reports it (Device Reset Locally), is re-included through the Z-Wave JS server with the PIN
 * from its label under a new node id, and its snapshot's PIN is rebuilt on that node.
 */
describe('zwave lock through a whole reset case, re-enrolled under a new node id', () => {
  let env: TestEnv;
  let p: ZwavePeer;
  const MANAGER = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb1', email: 'mia@example.test' });
  const SECOND = roleActor('manager', { userId: '00000000-0000-4000-8000-00000000bbb2', email: 'sam@example.test' });
  const TECH = roleActor('technician', { userId: '00000000-0000-4000-8000-00000000bbb3', email: 'tess@example.test' });
  const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

  before(async () => {
    p = await startZwavePeer({ slots: 10, battery: 87 });
    env = await testServices('pglite');
    await loadDemoFleet(env.services.ctx);
  });
  after(async () => {
    await env?.close();
    await p?.close();
  });

  type CommandInput = { type: ResetCommand['type'] } & Record<string, unknown>;
  const step = (id: string, command: CommandInput, actor: Actor = MANAGER) => env.services.resetCases.step(actor, id, { idempotencyKey: randomUUID(), command });

  it('snapshot, reset at the lock, setup mode, re-enroll with the PIN, checks, rebuild on the new node, close', async () => {
    const unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
    const integration = await env.services.integrations.create(SYSTEM, { driver: 'zwave', name: 'Building A Z-Wave', config: { url: p.url } });
    assert.equal(integration.running, true, integration.error ?? '');
    const node = (await env.services.integrations.devices(SYSTEM, integration.id)).find((d) => d.externalId.endsWith(':2'));
    assert.ok(node);
    const lock = await env.services.integrations.adopt(SYSTEM, integration.id, { externalId: node.externalId, locationId: unitId, name: 'Unit door (Z-Wave)' });
    const oldExternalId = lock.externalId!;
    const { credential, code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ada' });
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    assert.equal(p.lock.state.get(`UserCode_userCode_${credential.slot}`), code, 'the PIN is on the lock before the reset');

    let v = await env.services.resetCases.open(MANAGER, { lockId: lock.id, reason: 'pairing_loop' });
    v = await step(v.case.id, { type: 'decide', remedy: 'full_reset', ...(v.case.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'the lock is to be re-enrolled' }) });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(v.case.id, { type: 'preflight_check', check, passed: true, note: 'done' });
    v = await step(v.case.id, { type: 'read_battery' }, TECH);
    assert.equal(v.case.preflight.battery_adequate?.passed, true, 'the battery was read from the Z-Wave node');
    if (v.missing.some((m) => m.startsWith('approval'))) v = await step(v.case.id, { type: 'approve', note: 'agreed' }, SECOND);
    v = await step(v.case.id, { type: 'complete_preflight' });
    v = await step(v.case.id, { type: 'take_snapshot' });
    assert.equal(v.case.state, 'physical_reset');
    for (let i = 1; i <= v.case.profile.procedureSteps; i++) {
      const s = v.procedure?.[i - 1];
      if (s?.kind === 'hold' && s.seconds) {
        v = await step(v.case.id, { type: 'start_hold', step: i }, TECH);
        env.clock.advance(s.seconds * 1000);
      }
      v = await step(v.case.id, { type: 'procedure_step', step: i }, TECH);
    }

    // At the lock: the reset button. zwave-js drops the node; the driver says it is in setup mode.
    const alert = until('the factory-reset alert', async () => (await env.services.alerts.list(SYSTEM, { lockId: lock.id })).find((a) => a.kind === 'factory_reset'));
    await p.resetLocally();
    await alert;
    v = await step(v.case.id, { type: 'confirm_reset' }, TECH);
    assert.equal(v.case.state, 'verification');
    assert.equal(v.case.verification.setup_mode?.passed, true, v.case.verification.setup_mode?.note);

    // A mistyped PIN: a clear error naming the code, the case and the lock record unchanged.
    const first = await p.awaitInclusion({ nodeId: 3, security: 's2' });
    // Steps people took (the lock's own reports arrive as device_observed steps whenever they are handled).
    const people = (x: { steps: { command: string }[] }) => x.steps.filter((s) => s.command !== 'device_observed').length;
    const before = people(await env.services.resetCases.get(SYSTEM, v.case.id));
    await assert.rejects(step(v.case.id, { type: 'reenroll', lockId: lock.id, code: wrong(first.pin), security: 's2', timeoutSeconds: 60 }, TECH), (e: unknown) => {
      assert.ok(isAppError(e, 'device.invalid_code'), String(e));
      assert.match(e.message, /PIN did not match the lock's label/);
      assert.deepEqual(e.fields.map((f) => f.path), ['command.code']);
      return true;
    });
    const unchanged = await env.services.resetCases.get(SYSTEM, v.case.id);
    assert.equal(unchanged.case.reenrollment, null);
    assert.equal(people(unchanged), before);
    assert.equal((await env.services.locks.get(SYSTEM, lock.id)).externalId, oldExternalId);
    // The lock joined in the clear (node 3): reset it again, and it leaves the network by itself.
    await p.resetLocally();
    await until('the half-joined node to leave', () => Promise.resolve(p.networkNodeIds().length === 0 ? true : null));

    // The technician puts the lock in inclusion mode again and types the PIN from its label.
    const label = await p.awaitInclusion({ nodeId: 4, security: 's2' });
    v = await step(v.case.id, { type: 'reenroll', lockId: lock.id, code: label.pin, security: 's2', timeoutSeconds: 60 }, TECH);
    const newExternalId = oldExternalId.replace(/:2$/, ':4');
    assert.notEqual(newExternalId, oldExternalId);
    assert.equal(v.case.reenrollment?.from, oldExternalId);
    assert.equal(v.case.reenrollment?.to, newExternalId);
    assert.equal(v.lock.externalId, newExternalId, 'the same lock record, bound to the new node');
    assert.equal((await env.services.locks.get(SYSTEM, lock.id)).externalId, newExternalId);
    const rebind = (await env.database.db.select().from(auditLog).where(eq(auditLog.action, 'lock.rebind'))).find((a) => a.targetId === lock.id);
    assert.ok(rebind, 'the rebind is audited');
    assert.deepEqual([(rebind.details as { from?: string }).from, (rebind.details as { to?: string }).to], [oldExternalId, newExternalId]);
    for (const check of ['admin_enrollment_accepted', 'prior_pins_gone', 'prior_controllers_refused'] as const) assert.equal(v.case.verification[check]?.passed, true, `${check}: ${v.case.verification[check]?.note}`);
    v = await step(v.case.id, { type: 'run_checks', lockId: lock.id }, TECH);
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true);

    for (const check of v.requiredChecks.filter((c) => ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'].includes(c))) {
      v = await step(v.case.id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'checked', evidence: [`photo-${check}.jpg`] }, TECH);
    }
    v = await step(v.case.id, { type: 'complete_verification' }, TECH);
    assert.equal(v.case.state, 'rebuild');
    v = await step(v.case.id, { type: 'rebuild' }, TECH);
    assert.deepEqual(v.lockedOut, []);
    assert.equal(p.included?.id, 4);
    assert.equal(p.included?.state.get(`UserCode_userCode_${credential.slot}`), code, "the snapshot's PIN is on the new node");
    v = await step(v.case.id, { type: 'complete_rebuild' }, TECH);
    v = await step(v.case.id, { type: 'close', note: 're-enrolled and verified' });
    assert.equal(v.case.state, 'closed');
    assert.equal(v.case.outcome, 'reset_verified');
    assert.equal(v.lock.serviceState, 'in_service');
  });
});
