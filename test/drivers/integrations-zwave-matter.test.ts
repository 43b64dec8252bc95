/**
 * Z-Wave and Matter locks through integrations, against the real stacks, as a user runs them: a Z-Wave
 * JS server (a real ZwavejsServer on zwave-js's mock controller) is added by its URL, its lock node is
 * adopted and takes a PIN set by lockwarden, and the node's "Device Reset Locally" shows as a
 * factory-reset alert on the lock and on its open reset case. A Matter lock (a virtual matter.js door lock) is commissioned into
 * lockwarden's fabric with its pairing code, adopted, takes a PIN, and its factory reset is detected,
 * alerted and kept on its open reset case. The Matter integration's controller runs on matter.js's simulated network (the driver's
 * factory gets that environment here; real UDP is covered in matter-udp.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger, LogLevel, Time } from '@matter/main';
import type { Actor } from '../../src/domain/identity.js';
import { createMatterDriver } from '../../src/drivers/matter/index.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { until } from '../helpers/wait.js';
import { TEST_DRIVER_FACTORIES, testServices, type TestEnv } from '../helpers/db.js';
import { LOCK_BATTERY_PERCENT, startMatterPeer, type MatterPeer } from './matter-peer.js';
import { startZwavePeer, type ZwavePeer } from './zwave-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
Logger.level = LogLevel.ERROR;


describe('Z-Wave and Matter locks through integrations', () => {
  let env: TestEnv;
  let zwave: ZwavePeer;
  let matter: MatterPeer;
  let unitId = '';

  before(async () => {
    [zwave, matter] = await Promise.all([startZwavePeer(), startMatterPeer()]);
    env = await testServices('pglite', {
      runtime: {
        driverFactories: {
          ...TEST_DRIVER_FACTORIES,
          matter: async () => createMatterDriver({ environment: matter.controllerEnvironment, hubKey: 'mt', timeoutMs: 2_000, commissionTimeoutMs: 15_000 }),
        },
      },
    });
    await loadDemoFleet(env.services.ctx);
    unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
  });
  after(async () => {
    await env?.close();
    await Promise.all([zwave?.close(), matter?.close()]);
    // After a device erase() matter.js leaves timers running past every close (see matter.test.ts).
    for (const timer of [...Time.timers]) timer.stop();
  });

  const svc = () => env.services.integrations;
  /** A PIN added through lockwarden and reconciled: the slot the lock now reports as lockwarden's. */
  async function pinReachesTheLock(lockId: string): Promise<void> {
    const { credential } = await env.services.credentials.addPin(SYSTEM, lockId, { holder: 'Guest Cy' });
    await env.runtime.reconciler.reconcile(lockId, { read: true });
    const view = await env.services.credentials.forLock(SYSTEM, lockId);
    const slot = view.slots.find((s) => s.slot === view.credentials.find((c) => c.id === credential.id)?.slot);
    assert.equal(slot?.state, 'in_sync', JSON.stringify(view.slots));
  }
  const alertOf = (lockId: string, kind: string) =>
    until(`a ${kind} alert`, async () => (await env.services.alerts.list(SYSTEM, { lockId })).find((a) => a.kind === kind));

  /** Waits until the case records a reported reset by `by`. */
  const observedOn = (caseId: string, by: string) =>
    until(`the reported reset on case ${caseId}`, async () => {
      const v = await env.services.resetCases.get(SYSTEM, caseId);
      return v.case.observations?.some((o) => o.kind === 'reset_detected' && o.by === by && o.state === 'triage') ? v : null;
    });

  it('Z-Wave: a wrong server address is the integration’s error; the right one lists its lock node', async () => {
    const wrong = await svc().create(SYSTEM, { driver: 'zwave', name: 'Nowhere', config: { url: 'ws://127.0.0.1:1' } });
    assert.equal(wrong.running, false);
    assert.match(wrong.error ?? '', /could not connect to the Z-Wave JS server at ws:\/\/127\.0\.0\.1:1/);
  });

  it('Z-Wave: adopts the lock node, sets a PIN, and a local reset is a factory-reset alert', async () => {
    const z = await svc().create(SYSTEM, { driver: 'zwave', name: 'Building A Z-Wave', config: { url: zwave.url } });
    assert.equal(z.running, true, z.error ?? '');
    const devices = await svc().devices(SYSTEM, z.id);
    const node = devices.find((d) => d.externalId.endsWith(`:${zwave.nodeId}`));
    assert.ok(node, JSON.stringify(devices));
    const lock = await svc().adopt(SYSTEM, z.id, { externalId: node.externalId, locationId: unitId, name: 'Unit door (Z-Wave)' });
    assert.equal(lock.driver, 'zwave');
    await pinReachesTheLock(lock.id);
    const open = await env.services.resetCases.open(SYSTEM, { lockId: lock.id, reason: 'pairing_loop' });
    await zwave.resetLocally();
    const alert = await alertOf(lock.id, 'factory_reset');
    assert.equal(alert.source, 'zwave');
    // The lock's open reset case keeps the reset the node reported, by the device.
    await observedOn(open.case.id, `device:zwave/${lock.externalId}`);
  });

  it('Matter: a bad pairing code changes nothing; the right one commissions the lock into our fabric', async () => {
    const m = await svc().create(SYSTEM, { driver: 'matter', name: 'Matter fabric' });
    assert.equal(m.running, true, m.error ?? '');
    await assert.rejects(svc().commission(SYSTEM, m.id, { pairingCode: 'hello' }), /pairingCode is the 11- or 21-digit manual code/);
    const device = await svc().commission(SYSTEM, m.id, { pairingCode: matter.pairingCode });
    assert.equal(device.lockId, null);
    const lock = await svc().adopt(SYSTEM, m.id, { externalId: device.externalId, locationId: unitId, name: 'Unit door (Matter)' });
    assert.equal(lock.driver, 'matter');
    await pinReachesTheLock(lock.id);
    // The read that confirmed the PIN brought the battery from the lock's PowerSource cluster into the inventory.
    assert.equal((await env.services.locks.get(SYSTEM, lock.id)).batteryPercent, LOCK_BATTERY_PERCENT);

    // Another app pairs with the lock: lockwarden lists both fabrics and removes the other.
    const creds = env.services.credentials;
    await matter.pairAnotherController('Neighbour app');
    const both = (await creds.listControllers(SYSTEM, lock.id)).controllers;
    assert.deepEqual(both.map((c) => [c.label, c.self === true, c.removal]), [['lockwarden', true, null], ['Neighbour app', false, null]]);
    const [own, other] = both as [(typeof both)[number], (typeof both)[number]];
    await assert.rejects(creds.removeController(SYSTEM, lock.id, own.id), (e: Error & { code?: string }) => e.code === 'credential.wrong_state' && /lockwarden itself/.test(e.message));
    await assert.rejects(creds.removeController(SYSTEM, lock.id, 'fabric-99'), (e: Error & { code?: string }) => e.code === 'credential.not_found' && /fabric-99/.test(e.message));
    assert.equal(matter.fabricCount(), 2, 'refusals changed nothing');
    const removal = await creds.removeController(SYSTEM, lock.id, other.id);
    assert.equal(removal.status, 'removing');
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    assert.equal(matter.fabricCount(), 1);
    const after = (await creds.listControllers(SYSTEM, lock.id)).controllers;
    assert.deepEqual(after.map((c) => c.id), [own.id]);
    assert.deepEqual((await creds.forLock(SYSTEM, lock.id)).controllers.map((c) => c.id), [own.id], 'the stored observation agrees');
    const audit = (await env.services.audit.list(SYSTEM, { limit: 20 })).items.map((e) => e.action);
    assert.ok(audit.includes('credential.controller.remove') && audit.includes('credential.controller.list'), audit.join(', '));

    const open = await env.services.resetCases.open(SYSTEM, { lockId: lock.id, reason: 'pairing_loop' });
    await matter.factoryReset();
    // The next command finds lockwarden's fabric gone: the reset is detected and alerted.
    await env.runtime.reconciler.reconcile(lock.id, { read: true }).catch(() => undefined);
    const alert = await alertOf(lock.id, 'factory_reset');
    assert.equal(alert.source, 'matter');
    await observedOn(open.case.id, `device:matter/${lock.externalId}`);
  });
});
