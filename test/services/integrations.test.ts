/**
 * Integrations, the plumbing every real-lock driver shares: settings checked per protocol, the secret
 * sealed and never shown or logged, the driver started at once (a failure kept as the integration's
 * status, fixed by a restart), devices listed with the catalogue model they map to, adoption into
 * the inventory (a new model from what the device reports when the catalogue has none), commands and
 * events routed through `<integration>/<device>` external ids, and removal refused while locks use it.
 *
 * The protocol drivers themselves are tested against their real peers in test/drivers; here each
 * integration's driver is a simulator over its own fleet (two fleets = two controllers), which is all
 * this layer needs: it never looks inside a driver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import type { DriverFactory } from '../../src/drivers/integration-host.js';
import { InProcessSimTransport, SimFleet, SimulatorDriver } from '../../src/drivers/simulator/index.js';
import { specFromModel } from '../../src/drivers/simulator/lock-spec.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { roleActor } from '../helpers/actors.js';
import { testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const SEAM_KEY = 'seam_test_4f9a1c7e2b';

describe('integrations', () => {
  let env: TestEnv;
  const fleets = new Map<string, SimFleet>();
  let failNext = false;
  const started: { integrationId: string; secret: string | null }[] = [];
  const factory: DriverFactory = async ({ integrationId, secret }) => {
    started.push({ integrationId, secret });
    if (failNext) throw new Error('cannot reach ws://127.0.0.1:1: connection refused');
    const fleet = fleets.get(integrationId) ?? new SimFleet();
    fleets.set(integrationId, fleet);
    return new SimulatorDriver(new InProcessSimTransport(fleet));
  };

  before(async () => {
    env = await testServices('pglite', { runtime: { driverFactories: { zwave: factory, seam: factory } } });
    await loadDemoFleet(env.services.ctx);
  });
  after(() => env.close());

  const svc = () => env.services.integrations;
  const unitId = async () => (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;

  it('checks settings per protocol and writes nothing for bad input', async () => {
    await assert.rejects(svc().create(SYSTEM, { driver: 'zwave', name: 'Hall', config: { url: 'http://x' } }), (e) => isAppError(e, 'validation.failed') && /url must be a ws:\/\/ or wss:\/\/ address/.test(e.message));
    await assert.rejects(svc().create(SYSTEM, { driver: 'seam', name: 'Seam' }), (e) => isAppError(e, 'validation.failed') && /the API key is required/.test(e.message));
    await assert.rejects(svc().create(SYSTEM, { driver: 'zwave', name: 'Hall', config: { url: 'ws://127.0.0.1:3000' }, secret: 'x' }), (e) => isAppError(e, 'validation.failed') && /takes no secret/.test(e.message));
    await assert.rejects(svc().create(SYSTEM, { driver: 'zigbee', name: 'x' }), (e) => isAppError(e, 'validation.failed') && /driver must be one of zwave, matter, zigbee2mqtt, seam/.test(e.message));
    await assert.rejects(svc().create(roleActor('manager'), { driver: 'zwave', name: 'Hall', config: { url: 'ws://127.0.0.1:3000' } }), (e) => isAppError(e, 'auth.forbidden'));
    assert.deepEqual(await svc().list(SYSTEM), []);
  });

  it('seals the secret: never returned, never in the audit log, handed only to the driver', async () => {
    const seam = await svc().create(SYSTEM, { driver: 'seam', name: 'Seam workspace', secret: SEAM_KEY });
    assert.equal(seam.hasSecret, true);
    assert.equal(seam.running, true);
    assert.deepEqual(seam.config, { endpoint: 'https://connect.getseam.com' });
    assert.doesNotMatch(JSON.stringify(await svc().list(SYSTEM)), new RegExp(SEAM_KEY));
    const audit = await env.services.audit.list(SYSTEM, { action: 'integration.create' });
    assert.equal(audit.items.length, 1);
    assert.doesNotMatch(JSON.stringify(audit.items), new RegExp(SEAM_KEY));
    const stored = await env.database.db.execute('select secret_sealed from integrations');
    assert.doesNotMatch(JSON.stringify(stored), new RegExp(SEAM_KEY), 'sealed at rest');
    assert.equal(started.find((s) => s.integrationId === seam.id)?.secret, SEAM_KEY, 'the driver gets the key');
  });

  it('a driver that cannot start is the integration’s status, and a restart brings it up', async () => {
    failNext = true;
    const z = await svc().create(SYSTEM, { driver: 'zwave', name: 'Building B controller', config: { url: 'ws://127.0.0.1:1' } });
    assert.equal(z.running, false);
    assert.equal(z.error, 'cannot reach ws://127.0.0.1:1: connection refused');
    await assert.rejects(svc().devices(SYSTEM, z.id), (e) => isAppError(e, 'integration.not_running') && /connection refused/.test(e.message));
    failNext = false;
    const again = await svc().restart(SYSTEM, z.id);
    assert.equal(again.running, true);
    assert.equal(again.error, null);
    // A protocol this build has no driver for is kept, and says so.
    const m = await svc().create(SYSTEM, { driver: 'matter', name: 'Matter' });
    assert.equal(m.running, false);
    assert.match(m.error ?? '', /no matter driver/);
  });

  it('a driver that could not start is tried again by itself, waiting longer after each failure', async () => {
    failNext = true;
    const t0 = Date.now();
    const z = await svc().create(SYSTEM, { driver: 'zwave', name: 'Annex controller', config: { url: 'ws://127.0.0.1:1' } });
    assert.equal(z.running, false);
    const tries = () => started.filter((s) => s.integrationId === z.id).length;
    assert.equal(tries(), 1);
    assert.equal(await svc().retryFailed(t0 + 20_000), 0, 'not before the first wait (30 s) is over');
    assert.equal(await svc().retryFailed(t0 + 31_000), 1);
    assert.equal(tries(), 2);
    assert.equal((await svc().get(SYSTEM, z.id)).running, false);
    assert.equal(await svc().retryFailed(t0 + 31_000 + 59_000), 0, 'the second wait is twice the first');
    failNext = false;
    assert.equal(await svc().retryFailed(t0 + 31_000 + 61_000), 1);
    const up = await svc().get(SYSTEM, z.id);
    assert.equal(up.running, true);
    assert.equal(up.error, null);
    assert.equal(await svc().retryFailed(t0 + 3_600_000), 0, 'a running integration is not restarted');
    await svc().remove(SYSTEM, z.id);
  });

  describe('devices and adoption', () => {
    let integrationId = '';
    let fleet: SimFleet;
    let lockId = '';

    before(async () => {
      const z = await svc().create(SYSTEM, { driver: 'zwave', name: 'Building A controller', config: { url: 'ws://127.0.0.1:3000' } });
      integrationId = z.id;
      fleet = fleets.get(z.id)!;
      const models = await env.services.models.list(SYSTEM);
      const known = models.find((m) => m.family === 'keypad_entry')!;
      fleet.provision(specFromModel({ externalId: 'node-7', hub: 'zw', model: known, firmware: '1.2', batteryPercent: 80 }));
      fleet.provision(specFromModel({ externalId: 'node-9', hub: 'zw', model: { ...known, manufacturer: 'Acme Unheard', modelNumber: 'ZX-1' }, firmware: '0.9', batteryPercent: 70 }));
    });

    it('lists the devices with the catalogue model each maps to', async () => {
      const devices = await svc().devices(SYSTEM, integrationId);
      const byId = new Map(devices.map((d) => [d.externalId, d]));
      assert.deepEqual([...byId.keys()].sort(), ['node-7', 'node-9']);
      assert.ok(byId.get('node-7')!.modelId, 'a known model maps to the catalogue');
      assert.equal(byId.get('node-9')!.modelId, null);
      assert.equal(byId.get('node-7')!.lockId, null);
    });

    it('adopts a known model into the inventory; commands reach that controller’s device', async () => {
      const lock = await svc().adopt(SYSTEM, integrationId, { externalId: 'node-7', locationId: await unitId(), name: 'Unit door (Z-Wave)' });
      lockId = lock.id;
      assert.equal(lock.driver, 'zwave');
      assert.equal(lock.externalId, `${integrationId}/node-7`);
      assert.equal((await svc().devices(SYSTEM, integrationId)).find((d) => d.externalId === 'node-7')!.lockId, lock.id);
      const { code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ana' });
      await env.runtime.reconciler.reconcile(lock.id, { read: true });
      assert.ok(fleet.get('node-7').pins.some((p) => p.code === code), 'the PIN reached node-7 on this controller');
      await assert.rejects(svc().adopt(SYSTEM, integrationId, { externalId: 'node-7', locationId: await unitId() }), (e) => isAppError(e, 'lock.duplicate_external_id'));
      await assert.rejects(svc().adopt(SYSTEM, integrationId, { externalId: 'node-99', locationId: await unitId() }), (e) => isAppError(e, 'integration.unknown_device'));
    });

    it('adopts an unknown model with what the device reports (which takes model.write)', async () => {
      const place = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!;
      await assert.rejects(svc().adopt(roleActor('manager', { locationPath: place.path }), integrationId, { externalId: 'node-9', locationId: place.id }), (e) => isAppError(e, 'auth.forbidden'));
      const lock = await svc().adopt(SYSTEM, integrationId, { externalId: 'node-9', locationId: place.id });
      const model = await env.services.models.get(SYSTEM, lock.modelId);
      assert.equal(model.manufacturer, 'Acme Unheard');
      assert.equal(model.modelNumber, 'ZX-1');
      assert.equal(model.capabilities.pinSlots, fleet.get('node-9').capabilities.pin.slots);
    });

    it('a reset the device reports reaches the adopted lock as an alert', async () => {
      const state = fleet.get('node-7');
      if (state.gating.needsLockOffDoor) fleet.physical.setOnDoor('node-7', false);
      assert.deepEqual(fleet.physical.reset('node-7', { holdSeconds: state.gating.holdSeconds, ...(state.gating.buttonSequence ? { sequence: state.gating.buttonSequence } : {}) }), { ok: true });
      for (let i = 0; i < 100 && (await env.services.alerts.list(SYSTEM, { lockId })).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const [alert] = await env.services.alerts.list(SYSTEM, { lockId });
      assert.equal(alert?.kind, 'factory_reset');
      assert.equal(alert?.source, 'zwave');
    });

    it('is not removed while locks use it; once they are retired it is, and its driver stops', async () => {
      await assert.rejects(svc().remove(SYSTEM, integrationId), (e) => isAppError(e, 'integration.in_use') && /2 lock\(s\)/.test(e.message));
      for (const l of (await env.services.locks.list(SYSTEM, { limit: 500 })).items.filter((x) => x.driver === 'zwave')) await env.services.locks.retire(SYSTEM, l.id, { reason: 'controller replaced' });
      await svc().remove(SYSTEM, integrationId);
      await assert.rejects(svc().get(SYSTEM, integrationId), (e) => isAppError(e, 'integration.not_found'));
      assert.equal(env.runtime.ctx.integrations!.driverOf(integrationId, 'zwave'), undefined);
    });
  });
});
