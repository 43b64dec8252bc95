/**
 * The Seam driver against Seam's own fake (`@seamapi/fake-seam-connect`, in this process, on
 * 127.0.0.1): the shared conformance suite, then what is particular to Seam: brands in discovery,
 * unmanaged codes, codes still `setting`, per-device rate limits and 429, the fake's forced
 * failures, secrets kept out of errors, and webhook signatures (signed by `standardwebhooks`, the
 * reference implementation of the scheme Svix uses for Seam).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { DriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { SeamRateLimiter, SeamWebhookError, createSeamDriver, verifySeamWebhook, type SeamDriver } from '../../src/drivers/seam/index.js';
import { describeDriverConformance } from './conformance.js';
import { SEAM_DEVICES, startFakeSeam, type FakeSeam } from './seam-peer.js';

describeDriverConformance('seam, against fake-seam-connect', async () => {
  const seam = await startFakeSeam();
  const driver = createSeamDriver({ apiKey: seam.apiKey, endpoint: seam.url, pollIntervalMs: 40, actionAttemptPollMs: 10, timeoutMs: 5_000 });
  const id = SEAM_DEVICES.yale;
  return {
    driver,
    externalId: id,
    uniquePins: true,
    peer: {
      // Another Seam client on the same workspace (not lockwarden) sets a code: Seam picks no slot.
      setPinOutOfBand: async (_slot, code) => {
        const res = await seam.post('/access_codes/create', { device_id: id, name: 'front desk app', code });
        assert.equal(res.status, 200, JSON.stringify(res.json));
        const pin = (await driver.readCredentials(id)).pins.find((p) => p.code === code);
        assert.ok(pin, 'the other app’s code is visible');
        return pin.slot;
      },
      injectFault: (kind) => {
        if (kind !== 'offline') return Promise.resolve(false);
        seam.outageOnce(['/devices/get', '/access_codes/list', '/access_codes/unmanaged/list']);
        return Promise.resolve(true);
      },
    },
    close: async () => {
      await driver.close();
      await seam.close();
    },
  };
});

describe('seam driver specifics', () => {
  let seam: FakeSeam;
  let driver: SeamDriver;
  const errors: string[] = [];
  const expectCode = async (p: Promise<unknown>, code: string): Promise<DriverError> => {
    const e = await p.then(
      () => assert.fail(`expected ${code}`),
      (err: unknown) => err,
    );
    assert.ok(e instanceof DriverError, String(e));
    errors.push(e.message);
    assert.equal(e.code, code, e.message);
    return e;
  };

  before(async () => {
    seam = await startFakeSeam();
    driver = createSeamDriver({ apiKey: seam.apiKey, endpoint: seam.url, pollIntervalMs: 40, actionAttemptPollMs: 10, timeoutMs: 5_000 });
  });
  after(async () => {
    await driver.close();
    await seam.close();
    for (const m of errors) assert.ok(!m.includes(seam.apiKey) && !m.includes('seam_'), `no API key in: ${m}`);
  });

  it('discovers locks of several brands with manufacturer and model, and no thermostats or sensors', async () => {
    const found = await driver.discover();
    const byId = new Map(found.map((d) => [d.externalId, d]));
    assert.deepEqual([...byId.keys()].sort(), Object.values(SEAM_DEVICES).sort());
    assert.equal(byId.get(SEAM_DEVICES.yale)?.manufacturer, 'yale');
    assert.equal(byId.get(SEAM_DEVICES.yale)?.model, 'Assure Lock 2');
    assert.equal(byId.get(SEAM_DEVICES.kwikset)?.manufacturer, 'kwikset');
    assert.equal(byId.get(SEAM_DEVICES.kwikset)?.model, 'SmartCode 916');
    assert.equal(byId.get(SEAM_DEVICES.august)?.manufacturer, 'august');
    assert.equal(byId.get(SEAM_DEVICES.schlage)?.manufacturer, 'schlage');
    const caps = await driver.capabilities(SEAM_DEVICES.yale);
    assert.equal(caps.pin.slots, 30);
    assert.deepEqual([caps.pin.minLength, caps.pin.maxLength], [4, 8]);
    assert.deepEqual(caps.schedules, { window: true, recurring: false });
    assert.equal(caps.cloudBinding, true);
  });

  it('reports an offline device as offline, with its battery and bolt', async () => {
    const s = await driver.status(SEAM_DEVICES.offline);
    assert.equal(s.online, false);
    assert.equal(s.batteryPercent, 76);
    assert.equal(s.bolt, 'locked');
  });

  it('a write still `setting` resolves once, is read back as present, and is never retried', async () => {
    const requests: string[] = [];
    const count = (req: http.IncomingMessage) => requests.push(`${req.method} ${req.url?.split('?')[0]}`);
    const server = seam.server;
    server.on('request', count);
    try {
      await driver.setPin(SEAM_DEVICES.kwikset, { slot: 4, code: '736152', name: 'cleaner', schedule: { kind: 'always' } });
    } finally {
      server.off('request', count);
    }
    assert.deepEqual(requests.filter((r) => r.includes('/access_codes/create')), ['POST /access_codes/create'], 'one create, no retry loop');
    const stored = seam.db.getState().access_codes.find((c) => c.device_id === SEAM_DEVICES.kwikset && c.code === '736152');
    assert.equal(stored?.status, 'setting', 'Seam has not confirmed it yet');
    assert.equal(stored?.name, '[slot 4] cleaner', 'the slot lives in the name');
    const pin = (await driver.readCredentials(SEAM_DEVICES.kwikset)).pins.find((p) => p.slot === 4);
    assert.deepEqual(pin, { slot: 4, code: '736152', name: 'cleaner', schedule: { kind: 'always' }, enabled: true });
    await driver.clearPin(SEAM_DEVICES.kwikset, 4);
    assert.equal(seam.db.getState().access_codes.some((c) => c.device_id === SEAM_DEVICES.kwikset), false);
  });

  it('shows an unmanaged code (set at the keypad) in a free slot, and clearing takes it over and deletes it', async () => {
    await driver.setPin(SEAM_DEVICES.august, { slot: 1, code: '5566', name: 'ours', schedule: { kind: 'always' } });
    const res = await seam.post('/access_codes/simulate/create_unmanaged_access_code', { device_id: SEAM_DEVICES.august, name: 'keypad', code: '9911' }, seam.apiKey);
    assert.equal(res.status, 200);
    const pins = (await driver.readCredentials(SEAM_DEVICES.august)).pins;
    assert.deepEqual(
      pins.map((p) => [p.slot, p.code, p.name]),
      [
        [1, '5566', 'ours'],
        [2, '9911', 'keypad'],
      ],
    );
    // Writing over the unmanaged code's slot replaces it; the duplicate check sees it too.
    await expectCode(driver.setPin(SEAM_DEVICES.august, { slot: 3, code: '9911', name: 'dup', schedule: { kind: 'always' } }), 'driver.duplicate_pin');
    await driver.clearPin(SEAM_DEVICES.august, 2);
    await driver.clearPin(SEAM_DEVICES.august, 1);
    assert.deepEqual(seam.db.getState().access_codes.filter((c) => c.device_id === SEAM_DEVICES.august), []);
  });

  it('answers unknown devices, Seam outages and refused keys with stable codes and no secrets', async () => {
    await expectCode(driver.status('no_such_device'), 'driver.unknown_device');
    seam.outageOnce(['/devices/get']);
    const e = await expectCode(driver.status(SEAM_DEVICES.yale), 'driver.unreachable');
    assert.equal(e.retryable, true);
    assert.equal((await driver.status(SEAM_DEVICES.yale)).online, true, 'the outage was for one request');
    const wrongKey = 'seam_wrong_key_12345';
    const bad = createSeamDriver({ apiKey: wrongKey, endpoint: seam.url });
    const refused = await expectCode(bad.readCredentials(SEAM_DEVICES.yale), 'driver.refused');
    assert.ok(!refused.message.includes(wrongKey));
    assert.throws(() => createSeamDriver({ apiKey: 'pk_not_an_api_key_777', endpoint: seam.url }), (err: DriverError) => err.code === 'driver.refused' && !err.message.includes('777'));
    const unreachable = createSeamDriver({ apiKey: seam.apiKey, endpoint: 'http://127.0.0.1:9' });
    await expectCode(unreachable.status(SEAM_DEVICES.yale), 'driver.unreachable');
    // The fake's duplicate error echoes the PIN; ours must not.
    await driver.setPin(SEAM_DEVICES.yale, { slot: 1, code: '24681357', name: 'a', schedule: { kind: 'always' } });
    await seam.post('/access_codes/create', { device_id: SEAM_DEVICES.yale, name: 'b', code: '11223344' });
    const dup = await expectCode(driver.setPin(SEAM_DEVICES.yale, { slot: 9, code: '24681357', name: 'b', schedule: { kind: 'always' } }), 'driver.duplicate_pin');
    assert.ok(!dup.message.includes('24681357'));
    for (const c of (await driver.readCredentials(SEAM_DEVICES.yale)).pins) await driver.clearPin(SEAM_DEVICES.yale, c.slot);
  });

  it('keeps to 10 creates per device per minute without asking Seam, and holds a device after a 429', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const limiter = new SeamRateLimiter(() => now);
    for (let i = 0; i < 10; i++) limiter.take('d1', 'create');
    assert.throws(() => limiter.take('d1', 'create'), (e: DriverError) => e.code === 'driver.busy' && e.retryable && /retry in 60 s/.test(e.message));
    limiter.take('d2', 'create');
    for (let i = 0; i < 20; i++) limiter.take('d1', 'delete');
    assert.throws(() => limiter.take('d1', 'delete'), /20 delete/);
    for (let i = 0; i < 15; i++) limiter.take('d1', 'lock');
    assert.throws(() => limiter.take('d1', 'lock'), /15 lock/);
    now += 60_001;
    limiter.take('d1', 'create');

    // Seam's 429 (the fake never throttles: a loopback proxy in front of it answers 429 once).
    const proxy = await throttlingProxy(seam.url);
    try {
      let clock = Date.parse('2030-01-01T00:00:00Z');
      const d = createSeamDriver({ apiKey: seam.apiKey, endpoint: proxy.url, now: () => clock });
      proxy.throttleNext('/access_codes/create', 7);
      await expectCode(d.setPin(SEAM_DEVICES.kwikset, { slot: 1, code: '4455', name: 'x', schedule: { kind: 'always' } }), 'driver.busy');
      const before = proxy.forwarded;
      await expectCode(d.setPin(SEAM_DEVICES.kwikset, { slot: 1, code: '4455', name: 'x', schedule: { kind: 'always' } }), 'driver.busy');
      assert.equal(proxy.forwarded, before, 'held back: nothing was sent while Seam asked us to wait');
      clock += 7_001;
      await d.setPin(SEAM_DEVICES.kwikset, { slot: 1, code: '4455', name: 'x', schedule: { kind: 'always' } });
      await d.clearPin(SEAM_DEVICES.kwikset, 1);
      // Our own budget: the 11th create in a minute is refused before it reaches Seam.
      for (let i = 0; i < 8; i++) {
        await d.setPin(SEAM_DEVICES.kwikset, { slot: 1, code: `50${i}0`, name: 'x', schedule: { kind: 'always' } });
        await d.clearPin(SEAM_DEVICES.kwikset, 1);
      }
      const sent = proxy.forwarded;
      await expectCode(d.setPin(SEAM_DEVICES.kwikset, { slot: 1, code: '6060', name: 'x', schedule: { kind: 'always' } }), 'driver.busy');
      assert.equal(proxy.forwarded - sent, 0, 'nothing went out, not even the reads');
    } finally {
      await proxy.close();
    }
  });

  it('polls Seam events into driver events, marking lockwarden’s own writes as echoes', async () => {
    const seen: DriverEvent[] = [];
    const off = driver.onEvent((e) => seen.push(e));
    try {
      await driver.unlock(SEAM_DEVICES.schlage);
      await driver.setPin(SEAM_DEVICES.schlage, { slot: 2, code: '3141', name: 'own', schedule: { kind: 'always' } });
      await seam.post('/access_codes/create', { device_id: SEAM_DEVICES.schlage, name: 'other', code: '2718' });
      await until(() => seen.filter((e) => e.type === 'credentials_changed' && e.externalId === SEAM_DEVICES.schlage).length >= 2);
    } finally {
      off();
    }
    const changes = seen.filter((e) => e.type === 'credentials_changed' && e.externalId === SEAM_DEVICES.schlage);
    assert.deepEqual(
      changes.map((e) => e.type === 'credentials_changed' && e.bySelf === true),
      [true, false],
    );
    for (const p of (await driver.readCredentials(SEAM_DEVICES.schlage)).pins) await driver.clearPin(SEAM_DEVICES.schlage, p.slot);
  });

  it('maps Seam event types: unlocked with a code names its slot, failures and connectivity', async () => {
    await driver.setPin(SEAM_DEVICES.yale, { slot: 7, code: '7788', name: 'guest', schedule: { kind: 'always' } });
    await driver.readCredentials(SEAM_DEVICES.yale);
    const codeId = seam.db.getState().access_codes.find((c) => c.device_id === SEAM_DEVICES.yale && c.code === '7788')!.access_code_id;
    const at = '2030-01-01T00:00:00.000Z';
    const seen: DriverEvent[] = [];
    const off = driver.onEvent((e) => seen.push(e));
    const base = { device_id: SEAM_DEVICES.yale, occurred_at: at };
    driver.ingest({ event_id: 'm1', event_type: 'lock.unlocked', access_code_id: codeId, method: 'keycode', ...base });
    driver.ingest({ event_id: 'm2', event_type: 'access_code.failed_to_set_on_device', access_code_id: 'someone_elses', ...base });
    driver.ingest({ event_id: 'm3', event_type: 'device.disconnected', ...base });
    driver.ingest({ event_id: 'm4', event_type: 'thermostat.heated', ...base });
    off();
    const when = new Date(at);
    assert.deepEqual(seen, [
      { type: 'pin_used', externalId: SEAM_DEVICES.yale, slot: 7, at: when },
      { type: 'bolt', externalId: SEAM_DEVICES.yale, bolt: 'unlocked', at: when },
      { type: 'credentials_changed', externalId: SEAM_DEVICES.yale, at: when, note: 'access_code.failed_to_set_on_device' },
      { type: 'online', externalId: SEAM_DEVICES.yale, online: false, at: when },
    ]);
    await driver.clearPin(SEAM_DEVICES.yale, 7);
  });

  it('verifies webhook signatures made the Svix way and refuses tampering, stale deliveries and junk', () => {
    const secret = `whsec_${Buffer.from('lockwarden-test-webhook-secret-32b').toString('base64')}`;
    const signer = new Webhook(secret);
    const now = new Date('2030-01-01T00:00:00Z');
    const body = JSON.stringify({ event_id: 'evt_1', event_type: 'lock.unlocked', device_id: SEAM_DEVICES.yale, occurred_at: now.toISOString() });
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now.getTime() / 1000), 'webhook-signature': signer.sign('msg_1', now, body) };
    assert.equal(verifySeamWebhook(secret, headers, body, now).event_type, 'lock.unlocked');
    assert.equal(verifySeamWebhook(secret, { 'svix-id': 'msg_1', 'svix-timestamp': headers['webhook-timestamp'], 'svix-signature': `v1,bm9wZQ== ${headers['webhook-signature']}` }, Buffer.from(body), now).event_id, 'evt_1');
    const refused = (h: Record<string, string>, b: string, at = now) => {
      try {
        verifySeamWebhook(secret, h, b, at);
      } catch (e) {
        assert.ok(e instanceof SeamWebhookError);
        assert.ok(!e.message.includes(secret.slice(6)));
        return e.code;
      }
      return 'accepted';
    };
    assert.equal(refused(headers, body.replace('unlocked', 'locked')), 'webhook.bad_signature');
    assert.equal(refused(headers, body, new Date(now.getTime() + 6 * 60_000)), 'webhook.bad_timestamp');
    assert.equal(refused({ ...headers, 'webhook-signature': 'v1,' }, body), 'webhook.bad_signature');
    assert.equal(refused({ 'webhook-id': 'x' }, body), 'webhook.missing_header');
    const junk = 'not json';
    assert.equal(refused({ ...headers, 'webhook-signature': signer.sign('msg_1', now, junk) }, junk), 'webhook.bad_body');

    // A verified delivery reaches the listeners once, even when the poll brings the same event.
    const seen: DriverEvent[] = [];
    const off = driver.onEvent((e) => seen.push(e));
    const event = verifySeamWebhook(secret, headers, body, now);
    driver.ingest(event);
    driver.ingest(event);
    off();
    assert.deepEqual(seen, [{ type: 'bolt', externalId: SEAM_DEVICES.yale, bolt: 'unlocked', at: now }]);
  });
});

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A loopback proxy in front of the fake that can answer 429 (with Retry-After) for one request. */
async function throttlingProxy(target: string): Promise<{ url: string; forwarded: number; throttleNext(path: string, retryAfterS: number): void; close(): Promise<void> }> {
  let throttle: { path: string; seconds: number } | null = null;
  const state = { forwarded: 0 };
  const server = http.createServer((req, res) => {
    const path = req.url?.split('?')[0] ?? '';
    if (throttle && path === throttle.path) {
      res.writeHead(429, { 'retry-after': String(throttle.seconds), 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'rate_limit_exceeded', message: 'slow down' } }));
      throttle = null;
      return;
    }
    state.forwarded++;
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get forwarded() {
      return state.forwarded;
    },
    throttleNext: (path, seconds) => void (throttle = { path, seconds }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
