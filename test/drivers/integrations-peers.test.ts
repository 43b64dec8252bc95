/**
 * Integrations against the real peers, as a user runs them: add a Seam workspace (Seam's own fake) and
 * a Zigbee2MQTT broker (aedes with a bridge on the real converters), see their locks, adopt one of
 * each into the inventory, give it a PIN through lockwarden and find the code on the device; a lock
 * leaving the Zigbee network shows as a factory-reset alert on its page, and a malformed message on its
 * topic marks it with the error (alert and history) without the payload. A wrong API key is the
 * integration's status, never echoed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { until } from '../helpers/wait.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { startFakeSeam, type FakeSeam } from './seam-peer.js';
import { startZigbee2MqttPeer, type Zigbee2MqttPeer } from './z2m-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };


describe('integrations with their real peers', () => {
  let env: TestEnv;
  let seam: FakeSeam;
  let z2m: Zigbee2MqttPeer;
  let unitId = '';

  before(async () => {
    [env, seam, z2m] = await Promise.all([testServices('pglite'), startFakeSeam(), startZigbee2MqttPeer()]);
    await loadDemoFleet(env.services.ctx);
    unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
  });
  after(async () => {
    await env.close();
    await Promise.all([seam.close(), z2m.close()]);
  });

  it('Seam: a wrong API key is the integration’s error, without the key', async () => {
    const bad = await env.services.integrations.create(SYSTEM, { driver: 'seam', name: 'Wrong key', config: { endpoint: seam.url }, secret: 'seam_wrong_key_77' });
    assert.equal(bad.running, false);
    assert.ok(bad.error, 'the start failure is shown');
    assert.doesNotMatch(bad.error, /seam_wrong_key_77/);
  });

  it('Seam: a workspace’s locks are adopted into the inventory and take a PIN set by lockwarden', async () => {
    const ws = await env.services.integrations.create(SYSTEM, { driver: 'seam', name: 'Seam workspace', config: { endpoint: seam.url }, secret: seam.apiKey });
    assert.equal(ws.running, true, ws.error ?? '');
    const devices = await env.services.integrations.devices(SYSTEM, ws.id);
    assert.ok(devices.length >= 3, `the fake's locks are listed: ${JSON.stringify(devices)}`);
    const device = devices.find((d) => d.manufacturer)!;
    const lock = await env.services.integrations.adopt(SYSTEM, ws.id, { externalId: device.externalId, locationId: unitId });
    assert.equal(lock.driver, 'seam');
    const model = await env.services.models.get(SYSTEM, lock.modelId);
    assert.equal(model.manufacturer.toLowerCase(), device.manufacturer!.toLowerCase());
    const { code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ana' });
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    const onDevice = seam.db.getState().access_codes.filter((c) => c.device_id === device.externalId && c.code === code);
    assert.equal(onDevice.length, 1, 'the code is on the Seam device once');
  });

  it('Zigbee2MQTT: a bridge’s lock is adopted, takes a PIN, and leaving the network raises a reset alert', async () => {
    const broker = await env.services.integrations.create(SYSTEM, { driver: 'zigbee2mqtt', name: 'Zigbee bridge', config: { url: z2m.url, username: z2m.username, baseTopic: z2m.baseTopic }, secret: z2m.password });
    assert.equal(broker.running, true, broker.error ?? '');
    const front = z2m.lock('front door');
    const device = await until('the bridge’s devices', async () => (await env.services.integrations.devices(SYSTEM, broker.id)).find((d) => d.externalId === front.ieee));
    const lock = await env.services.integrations.adopt(SYSTEM, broker.id, { externalId: device.externalId, locationId: unitId, name: 'Front door (Zigbee)' });
    const { code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Bo' });
    await env.runtime.reconciler.reconcile(lock.id, { read: true });
    assert.ok([...front.endpoint.users.values()].some((u) => u.pin === code), 'the code is in the lock’s Door Lock cluster');
    // A malformed message on the lock's topic marks the lock: an alert and a line in its history, never the payload.
    await z2m.publishRaw('front door', '{"pin_code": "4321", oops');
    const [bad] = await until('the device-error alert', async () => {
      const a = (await env.services.alerts.list(SYSTEM, { lockId: lock.id })).filter((x) => x.kind === 'device_error');
      return a.length ? a : undefined;
    });
    assert.match(bad!.detail, /payload is not JSON/);
    assert.doesNotMatch(bad!.detail, /4321/);
    z2m.leave('front door');
    const [alert] = await until('the reset alert', async () => {
      const a = (await env.services.alerts.list(SYSTEM, { lockId: lock.id })).filter((x) => x.kind === 'factory_reset');
      return a.length ? a : undefined;
    });
    assert.equal(alert!.kind, 'factory_reset');
    assert.equal(alert!.source, 'zigbee2mqtt');
    const history = (await env.services.lockEvents.list(SYSTEM, lock.id)).map((e) => e.summary);
    assert.ok(history.includes('Factory reset reported'), JSON.stringify(history));
    assert.ok(history.some((h) => /payload is not JSON/.test(h)), JSON.stringify(history));
  });
});
