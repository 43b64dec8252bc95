/**
 * The simulator over HTTP: bad input answered 400 naming the field, driver errors carried across as
 * the same `DriverError`s, hubs learned by the remote driver, events by long poll, the state file,
 * and an unreachable server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { HttpSimTransport, SimFleet, SimulatorDriver, startSimServer, type RunningSimServer } from '../../src/drivers/simulator/index.js';
import { fullDeadbolt } from './fixtures.js';

describe('simulator server', () => {
  let server: RunningSimServer;
  let transport: HttpSimTransport;
  let driver: SimulatorDriver;
  const ID = 'sim-0042';

  before(async () => {
    server = await startSimServer({ port: 0, seed: 5 });
    transport = new HttpSimTransport(server.url, { pollWaitMs: 1_000, pollRetryMs: 20 });
    driver = new SimulatorDriver(transport);
  });
  after(async () => {
    await driver.close();
    await server.close();
  });

  const send = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${server.url}${url}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string; details: Record<string, unknown> } } };
  };

  it('listens on 127.0.0.1 and learns each device hub from the answers', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(driver.hubOf(ID), 'sim-hub-4', 'before any contact: the naming convention');
    await transport.control.provision(fullDeadbolt(ID));
    assert.equal(driver.hubOf(ID), 'hub-a', 'learned from the provisioning answer');
    const other = new HttpSimTransport(server.url);
    try {
      assert.equal(other.knownHub(ID), undefined);
      await new SimulatorDriver(other).discover();
      assert.equal(other.knownHub(ID), 'hub-a', 'learned from discovery');
    } finally {
      await other.close();
    }
  });

  it('answers bad input with 400 naming the field', async () => {
    const cases: [string, string, unknown, string][] = [
      ['PUT', `/devices/${ID}/pins/abc`, { code: '482915' }, 'params.slot'],
      ['PUT', `/devices/${ID}/pins/1`, { code: 482915 }, 'body.code'],
      ['PUT', `/devices/${ID}/pins/1`, { code: '482915', schedule: { kind: 'window', from: 'x' } }, 'body.schedule.until'],
      ['POST', '/devices', { ...fullDeadbolt('x'), hub: undefined }, 'body.hub'],
      ['POST', `/devices/${ID}/faults`, { kind: 'meteor' }, 'body.kind'],
      ['POST', `/devices/${ID}/out-of-band/set-battery`, { percent: 140 }, 'body.percent'],
      ['POST', `/devices/${ID}/out-of-band/teleport`, {}, 'params.action'],
      ['POST', `/devices/${ID}/physical/reset`, {}, 'body.holdSeconds'],
      ['POST', '/config', { faults: { timeout: 2 } }, 'body.faults.timeout'],
    ];
    for (const [method, url, body, field] of cases) {
      const { status, json } = await send(method, url, body);
      assert.equal(status, 400, `${method} ${url}`);
      assert.equal(json.error?.code, 'validation.failed');
      assert.equal(json.error?.details.field, field, json.error?.message);
      assert.ok(json.error?.message.startsWith(field));
    }
    assert.equal((await send('GET', '/nowhere')).status, 404);
  });

  it('carries driver errors across as the same DriverError', async () => {
    await assert.rejects(driver.setPin(ID, { slot: 1.5, code: '482915', name: 'x', schedule: { kind: 'always' } }), (e: unknown) => isDriverError(e) && e.code === 'driver.invalid_pin');
    const { status, json } = await send('PUT', `/devices/${ID}/pins/99`, { code: '482915' });
    assert.equal(status, 422);
    assert.deepEqual(json.error?.details, { slot: 99 });
    await assert.rejects(driver.setPin(ID, { slot: 99, code: '482915', name: 'x', schedule: { kind: 'always' } }), (e: unknown) => isDriverError(e) && e.code === 'driver.invalid_pin' && e.details.slot === 99);
    await transport.control.injectFault(ID, 'lost_ack');
    await assert.rejects(driver.clearPin(ID, 1), (e: unknown) => isDriverError(e) && e.code === 'driver.timeout' && e.uncertain && e.retryable);
    await assert.rejects(driver.status('nope'), (e: unknown) => isDriverError(e) && e.code === 'driver.unknown_device');
  });

  it('drives out-of-band and physical actions, and delivers their events by long poll', async () => {
    const events: DriverEvent[] = [];
    const off = driver.onEvent((e) => events.push(e));
    try {
      const deadline = Date.now() + 3_000;
      // The poll joins asynchronously; act until the first event shows it is live.
      while (!events.some((e) => e.type === 'bolt') && Date.now() < deadline) {
        await transport.control.outOfBand(ID, 'turn-bolt', { target: 'unlocked' });
        await new Promise((r) => setTimeout(r, 30));
      }
      assert.deepEqual(await transport.control.physicalReset(ID, { holdSeconds: 1 }), { ok: false, reason: 'hold_too_short' });
      assert.deepEqual(await transport.control.physicalReset(ID, { holdSeconds: 10 }), { ok: true });
      while (!events.some((e) => e.type === 'reset_detected') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(events.some((e) => e.type === 'reset_detected' && e.externalId === ID && e.at instanceof Date));
      await assert.rejects(driver.readCredentials(ID), (e: unknown) => isDriverError(e) && e.code === 'driver.refused');
      await transport.control.outOfBand(ID, 'pair-lockwarden', {});
      assert.deepEqual((await driver.readCredentials(ID)).pins, []);
      const log = await transport.control.log();
      assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => i + 1), 'gap-free');
      assert.equal(log.filter((e) => e.op === 'factory_reset' && e.source === 'physical').length, 1);
    } finally {
      off();
    }
  });

  it('a server that is not there is driver.unreachable', async () => {
    const gone = await startSimServer({ port: 0 });
    await gone.close();
    const t = new HttpSimTransport(gone.url);
    await assert.rejects(t.status(ID), (e: unknown) => isDriverError(e) && e.code === 'driver.unreachable' && !e.uncertain);
    await t.close();
  });
});

describe('simulator server: state file', () => {
  it('loads the file at start, saves after changes (debounced) and on close', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lw-sim-state-')), 'sim.json');
    const first = await startSimServer({ stateFile: file, saveDebounceMs: 10 });
    const t = new HttpSimTransport(first.url);
    await t.control.provision(fullDeadbolt('sim-0007'));
    await new SimulatorDriver(t).setPin('sim-0007', { slot: 1, code: '482915', name: 'Ada', schedule: { kind: 'always' } });
    const deadline = Date.now() + 2_000;
    while (!existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(file), 'saved without waiting for close');
    await t.close();
    await first.close();
    assert.equal(SimFleet.load(file).get('sim-0007').pins[0]?.code, '482915');
    const second = await startSimServer({ stateFile: file });
    try {
      assert.equal(second.fleet.get('sim-0007').pins[0]?.name, 'Ada');
    } finally {
      await second.close();
    }
  });
});
