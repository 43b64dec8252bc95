/**
 * Re-enrollment and cloud unbinding of the Seam driver against Seam's own fake
 * (`@seamapi/fake-seam-connect`, in this process, on 127.0.0.1). A lock reset at the door drops out
 * of the workspace; the owner reconnects its account through the Connect Webview lockwarden made;
 * Seam lists the lock again as a new device, and `enroll` finds it. The reset and the reconnect are
 * played through the fake the way its own seeding plays them (`seam-peer.ts`), never through the
 * driver.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { DriverError } from '../../src/drivers/contract.js';
import { createSeamDriver, type SeamDriver } from '../../src/drivers/seam/index.js';
import { SEAM_DEVICES, startFakeSeam, type FakeSeam, type SeamLockFixture } from './seam-peer.js';

/** The lock the tests reset: a Yale alone on its owner's Yale account. */
const FRONT: SeamLockFixture = { deviceId: 'yale_front_old', name: 'Front door', manufacturer: 'yale', model: 'Assure Lock 2', provider: 'yale', account: 'owner_yale_account', serial: 'YRD256-0042' };
/** The same lock after the owner reconnected: a new device id on a new account connection. */
const FRONT_AGAIN: SeamLockFixture = { ...FRONT, deviceId: 'yale_front_new', account: 'owner_yale_account_2' };

const GONE = { online: false, batteryPercent: null, bolt: 'unknown', firmware: null, setupMode: true, cloudBound: false };

describe('seam re-enrollment and cloud unbinding, against fake-seam-connect', () => {
  let seam: FakeSeam;
  let driver: SeamDriver;
  const messages: string[] = [];

  /** A fresh fake (the tests change its workspace) and a driver that never saw it. */
  const setup = async (endpoint?: (url: string) => Promise<string>) => {
    seam = await startFakeSeam();
    seam.addLock(FRONT);
    driver = createSeamDriver({ apiKey: seam.apiKey, endpoint: endpoint ? await endpoint(seam.url) : seam.url, timeoutMs: 5_000, enrollPollMs: 20 });
  };
  afterEach(async () => {
    await driver.close();
    await seam.close();
    for (const m of messages.splice(0)) assert.ok(!m.includes(seam.apiKey) && !m.includes('seam_'), `no API key in: ${m}`);
  });
  const failure = async (p: Promise<unknown>, code: string): Promise<DriverError> => {
    const e = await p.then(
      () => assert.fail(`expected ${code}`),
      (err: unknown) => err,
    );
    assert.ok(e instanceof DriverError, String(e));
    assert.equal(e.code, code, e.message);
    messages.push(e.message);
    return e;
  };
  const listed = (id: string) => seam.db.getState().devices.some((d) => d.device_id === id);

  it('declares re-enrollment by reconnecting the account, with no code, and cloud unbinding', async () => {
    await setup();
    const caps = await driver.capabilities(FRONT.deviceId);
    assert.equal(caps.cloudUnbind, true);
    assert.equal(caps.cloudBinding, true);
    assert.deepEqual({ ...caps.enrollment, instructions: undefined }, { kind: 'reconnect', code: 'none', security: [], instructions: undefined });
    assert.match(caps.enrollment!.instructions, /reset.*drops out of the Seam workspace.*reconnects.*link lockwarden shows.*finds the lock/s);
    assert.doesNotMatch(caps.enrollment!.instructions, /_|device_id|connected_account/, 'plain words, no identifiers');
  });

  it('unbindCloud of a lock alone on its account deletes the account: Seam lists neither any more, a second call succeeds, and the lock reads as reset', async () => {
    await setup();
    await driver.setPin(FRONT.deviceId, { slot: 1, code: '4829', name: 'cleaner', schedule: { kind: 'always' } });
    assert.deepEqual(await driver.status(FRONT.deviceId), { online: true, batteryPercent: 90, bolt: 'locked', firmware: null, setupMode: false, cloudBound: true });

    await driver.unbindCloud(FRONT.deviceId);
    assert.equal(listed(FRONT.deviceId), false, 'the fake no longer has the device');
    assert.equal(seam.db.getState().connected_accounts.some((a) => a.connected_account_id === FRONT.account), false, 'nor its account');
    assert.equal(seam.db.getState().access_codes.some((c) => c.device_id === FRONT.deviceId), false, 'nor its codes');
    assert.ok(!(await driver.discover()).some((d) => d.externalId === FRONT.deviceId));
    assert.ok(listed(SEAM_DEVICES.yale) && listed(SEAM_DEVICES.august), 'the other locks stay');

    await driver.unbindCloud(FRONT.deviceId);
    assert.deepEqual(await driver.status(FRONT.deviceId), GONE);
    assert.equal((await driver.capabilities(FRONT.deviceId)).enrollment?.kind, 'reconnect', 'what the lock was outlives it');
    // An id the driver never saw in the workspace is not "reset": it is unknown.
    await failure(driver.status('never_in_this_workspace'), 'driver.unknown_device');
    await failure(driver.readCredentials(FRONT.deviceId), 'driver.unknown_device');
  });

  it('unbindCloud of a lock sharing its account with other devices deletes only that device', async () => {
    await setup();
    const account = seam.db.getState().devices.find((d) => d.device_id === SEAM_DEVICES.offline)!.connected_account_id!;
    const before = seam.db.getState().devices.filter((d) => d.connected_account_id === account).length;
    await driver.unbindCloud(SEAM_DEVICES.offline);
    assert.equal(listed(SEAM_DEVICES.offline), false);
    assert.ok(seam.db.getState().connected_accounts.some((a) => a.connected_account_id === account), 'the shared account stays');
    assert.equal(seam.db.getState().devices.filter((d) => d.connected_account_id === account).length, before - 1);
    assert.deepEqual(await driver.status(SEAM_DEVICES.offline), GONE);
  });

  it('where Seam offers no single-device removal and the account is shared, it refuses and changes nothing', async () => {
    await setup((url) => blockingProxy(url, ['/devices/delete']));
    const devicesBefore = seam.db.getState().devices.length;
    const e = await failure(driver.unbindCloud(SEAM_DEVICES.yale), 'driver.refused');
    assert.match(e.message, /other device\(s\).*remove the lock from the account in its maker’s app/);
    assert.equal(seam.db.getState().devices.length, devicesBefore);
    assert.equal((await driver.status(SEAM_DEVICES.yale)).setupMode, false);
  });

  it('where Seam offers no account deletion, a lock alone on its account is removed as a device, and the account stays', async () => {
    await setup((url) => blockingProxy(url, ['/connected_accounts/delete']));
    await driver.unbindCloud(FRONT.deviceId);
    assert.equal(listed(FRONT.deviceId), false);
    assert.ok(seam.db.getState().connected_accounts.some((a) => a.connected_account_id === FRONT.account));
    assert.deepEqual(await driver.status(FRONT.deviceId), GONE);
  });

  it('after a reset at the door, the reconnect link offers the lock’s provider and enroll finds the lock again under its new id, which takes a code', async () => {
    await setup();
    assert.equal((await driver.status(FRONT.deviceId)).online, true, 'lockwarden has read the lock before the reset');
    seam.lockLeaves(FRONT.deviceId);
    assert.deepEqual(await driver.status(FRONT.deviceId), GONE, 'the lock left the workspace: reset, enroll it again');
    await driver.unbindCloud(FRONT.deviceId); // already gone: nothing left to unbind

    const prep = await driver.prepareEnrollment(FRONT.deviceId);
    assert.ok(prep.url, 'a Connect Webview link');
    const webview = seam.db.getState().connect_webviews.find((w) => w.url === prep.url);
    assert.deepEqual(webview?.accepted_providers, ['yale'], 'the previous lock’s provider, from its account');
    assert.equal(webview?.status, 'pending');
    assert.match(prep.instructions, /Open the link and sign in to the Yale account/);
    const webviews = seam.db.getState().connect_webviews.length;
    assert.equal((await driver.prepareEnrollment(FRONT.deviceId)).url, prep.url, 'the case page asks again: the same pending link');
    assert.equal(seam.db.getState().connect_webviews.length, webviews);

    const started = Date.now();
    const enrolled = driver.enroll({ previousExternalId: FRONT.deviceId, timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 60));
    // Other locks arriving meanwhile are not this one: another maker, another model, another serial.
    seam.addLock({ deviceId: 'schlage_new', name: 'Shed', manufacturer: 'schlage', model: 'Encode', provider: 'schlage', account: 'someone_schlage' });
    seam.addLock({ ...FRONT_AGAIN, deviceId: 'yale_other_model', model: 'Assure Lock SL', account: 'someone_yale' });
    seam.addLock({ ...FRONT_AGAIN, deviceId: 'yale_other_serial', serial: 'YRD256-9999', account: 'someone_yale' });
    await new Promise((r) => setTimeout(r, 60));
    seam.ownerReconnects(prep.url, FRONT_AGAIN);
    assert.deepEqual(await enrolled, { externalId: FRONT_AGAIN.deviceId, manufacturer: 'yale', model: 'Assure Lock 2', serial: 'YRD256-0042' });
    assert.ok(Date.now() - started < 2_000, 'found within a few polls');
    assert.equal(seam.db.getState().connect_webviews.find((w) => w.url === prep.url)?.status, 'authorized');

    await driver.setPin(FRONT_AGAIN.deviceId, { slot: 2, code: '736152', name: 'guest', schedule: { kind: 'always' } });
    const stored = seam.db.getState().access_codes.find((c) => c.device_id === FRONT_AGAIN.deviceId);
    assert.equal(stored?.code, '736152');
    const read = await driver.readCredentials(FRONT_AGAIN.deviceId);
    assert.deepEqual(read.pins.map((p) => [p.slot, p.code, p.name]), [[2, '736152', 'guest']]);
    assert.deepEqual(read.controllers, [{ id: 'seam-workspace', label: 'lockwarden, through its Seam workspace', kind: 'hub', admin: false, self: true }], 'lockwarden’s own way in');
    assert.equal((await driver.status(FRONT_AGAIN.deviceId)).cloudBound, true);
  });

  it('finds a lock the owner reconnected before lockwarden made the link or removed the old device', async () => {
    await setup();
    await driver.readCredentials(FRONT.deviceId);
    seam.lockLeaves(FRONT.deviceId);
    seam.ownerReconnects(null, FRONT_AGAIN);
    await driver.unbindCloud(FRONT.deviceId);
    const found = await driver.enroll({ previousExternalId: FRONT.deviceId, timeoutMs: 1_000 });
    assert.equal(found.externalId, FRONT_AGAIN.deviceId);
  });

  it('answers driver.timeout when no new lock comes within the bound, and when the person cancels', async () => {
    await setup();
    await driver.status(FRONT.deviceId);
    await driver.unbindCloud(FRONT.deviceId);
    const requests: string[] = [];
    const count = (req: http.IncomingMessage) => requests.push(req.url?.split('?')[0] ?? '');
    seam.server.on('request', count);
    try {
      let started = Date.now();
      const late = setTimeout(() => seam.addLock({ deviceId: 'kwikset_new', name: 'Garage', manufacturer: 'kwikset', model: 'SmartCode 916', provider: 'kwikset', account: 'x' }), 100);
      const e = await failure(driver.enroll({ previousExternalId: FRONT.deviceId, timeoutMs: 400 }), 'driver.timeout');
      clearTimeout(late);
      const took = Date.now() - started;
      assert.ok(took >= 400 && took < 2_000, `waited the bound (${took} ms)`);
      assert.match(e.message, /no new lock came into the Seam workspace within 1 s/);
      assert.ok(requests.filter((r) => r === '/locks/list').length <= 30, 'polled at the configured pace, not in a busy loop');

      const cancel = new AbortController();
      started = Date.now();
      setTimeout(() => cancel.abort(), 100);
      const c = await failure(driver.enroll({ previousExternalId: FRONT.deviceId, timeoutMs: 60_000, signal: cancel.signal }), 'driver.timeout');
      assert.ok(Date.now() - started < 1_000, 'the cancel ends the wait at once');
      assert.match(c.message, /cancelled/);
    } finally {
      seam.server.off('request', count);
    }
    // The previous lock itself coming back under its old id is not a new lock (Seam never lists a deleted device again).
    assert.equal(listed(FRONT.deviceId), false);
  });

  it('without a Connect Webview from Seam, the instructions say to reconnect in the console; a provider Seam does not offer is left to the owner to pick', async () => {
    await setup((url) => blockingProxy(url, ['/connect_webviews/create']));
    await driver.status(FRONT.deviceId);
    const none = await driver.prepareEnrollment(FRONT.deviceId);
    assert.equal(none.url, null);
    assert.match(none.instructions, /Seam did not give lockwarden a reconnect link.*Seam console.*Yale account/);
    await driver.close();
    await seam.close();

    await setup();
    seam.addLock({ ...FRONT_AGAIN, deviceId: 'acme_lock', manufacturer: 'acme', provider: 'acme_cloud', account: 'acme_account' });
    await driver.status('acme_lock');
    const prep = await driver.prepareEnrollment('acme_lock');
    assert.ok(prep.url, 'a link without a provider filter');
    assert.deepEqual(seam.db.getState().connect_webviews.find((w) => w.url === prep.url)?.accepted_providers, ['august'], 'the fake’s default when none is asked for');
  });

  it('a reconnect link is made without a provider when the previous lock is unknown', async () => {
    await setup();
    const prep = await driver.prepareEnrollment(null);
    assert.ok(prep.url);
    assert.match(prep.instructions, /the account of the lock’s maker/);
    seam.addLock({ ...FRONT_AGAIN, deviceId: 'replacement_lock' });
    const found = await driver.enroll({ previousExternalId: null, timeoutMs: 1_000 });
    assert.equal(found.externalId, 'replacement_lock', 'the one lock that came in since the link was made');
  });
});

/** A loopback proxy in front of the fake that answers 404 (route unknown) for some paths, as a Seam without them would. */
async function blockingProxy(target: string, blocked: string[]): Promise<string> {
  const server = http.createServer((req, res) => {
    if (blocked.includes(req.url?.split('?')[0] ?? '')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'not_found', message: 'route not found' } }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  proxies.push(close);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const proxies: (() => void)[] = [];
afterEach(() => {
  for (const close of proxies.splice(0)) close();
});
