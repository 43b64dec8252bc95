/**
 * The virtual front panel over HTTP on a demo lock: who may use it (reset.perform where the lock is),
 * a lock that is not simulated is refused in words, bad actions are 400 naming the field, and a full
 * reset by press and release timed by the server's clock (the simulator's, injected here), which the
 * lock reports like any physical reset (its history shows it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { SimFleet } from '../../src/drivers/simulator/index.js';
import type { LockPanel, LockPanelOutcome } from '../../src/services/sim-panel-service.js';
import { asSession, expectError, fieldPaths, injectAs, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('virtual front panel over HTTP', () => {
  const clock = fixedClock(new Date('2026-03-01T09:00:00Z'));
  let env: HttpEnv;
  let tech: Session;
  let occupant: Session;
  let auditor: Session;
  let lock: Lock;

  before(async () => {
    env = await testApp({ demo: true, services: { clock, fleet: new SimFleet({ clock }) } });
    lock = (await env.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'DB-100' && l.serviceState === 'in_service')!;
    await env.createUser('tech@example.test', 'technician', 'technician password');
    await env.createUser('occupant@example.test', 'occupant', 'occupant password', lock.locationPath.find((l) => l.kind === 'unit')!.id);
    await env.createUser('auditor@example.test', 'auditor', 'auditor password');
    tech = await signIn(env.app, 'tech@example.test', 'technician password');
    occupant = await signIn(env.app, 'occupant@example.test', 'occupant password');
    auditor = await signIn(env.app, 'auditor@example.test', 'auditor password');
  });
  after(() => env.close());

  const url = () => `/api/simulator/locks/${lock.id}/panel`;
  const get = (s: Session, u = url()) => injectAs(env.app, asSession(s), { method: 'GET', url: u });
  const act = (s: Session, payload: unknown, u = url()) => injectAs(env.app, asSession(s), { method: 'POST', url: u, payload: payload as Record<string, unknown> });
  async function ok(payload: unknown): Promise<LockPanelOutcome> {
    const res = await act(tech, payload);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<LockPanelOutcome>();
  }

  it('shows a technician the panel: model, reset control, keypad, indicator, label with the setup code', async () => {
    const res = await get(tech);
    assert.equal(res.statusCode, 200, res.body);
    const p = res.json<LockPanel>();
    assert.equal(p.model, 'DB-100');
    assert.equal(p.resetControl, 'interior reset button under the battery cover');
    assert.equal(p.holdSeconds, 12);
    assert.equal(p.hasKeypad, true);
    assert.equal(p.indicator.state, 'normal');
    assert.equal(p.pressedSeconds, null);
    assert.match(p.label.setupCode, /^\d{4}-\d{3}-\d{4}$/);
    assert.equal(p.onDoor, true);
  });

  it('refuses occupants and auditors, reading or acting, and changes nothing', async () => {
    for (const s of [occupant, auditor]) {
      expectError(await get(s), 403, 'auth.forbidden');
      expectError(await act(s, { type: 'press_reset' }), 403, 'auth.forbidden');
    }
    assert.equal((await get(tech)).json<LockPanel>().pressedSeconds, null, 'nobody pressed anything');
  });

  it('refuses a lock that is not simulated, in words', async () => {
    const other = await env.services.locks.create(SYSTEM, { name: 'Real lock', modelId: lock.modelId, locationId: lock.locationId, driver: 'none' });
    const err = expectError(await get(tech, `/api/simulator/locks/${other.id}/panel`), 400, 'device.not_supported');
    assert.match(err.message, /Real lock is not a simulated lock/);
    expectError(await act(tech, { type: 'press_reset' }, `/api/simulator/locks/${other.id}/panel`), 400, 'device.not_supported');
  });

  it('answers a bad action with 400 naming the field, and does nothing', async () => {
    assert.deepEqual(fieldPaths(expectError(await act(tech, { type: 'hammer' }), 400, 'validation.failed')), ['type']);
    assert.deepEqual(fieldPaths(expectError(await act(tech, { type: 'key', key: 'A' }), 400, 'validation.failed')), ['key']);
    assert.deepEqual(fieldPaths(expectError(await act(tech, { type: 'set_charge', percent: 140 }), 400, 'validation.failed')), ['percent']);
    const extra = expectError(await act(tech, { type: 'press_reset', seconds: 30 }), 400, 'validation.failed');
    assert.match(JSON.stringify(extra), /seconds/);
    assert.equal((await get(tech)).json<LockPanel>().pressedSeconds, null);
  });

  it('resets the lock by press and release, timed by the server clock; the lock reports the reset', async () => {
    // Too short first: the server measures 5 s whatever the client says.
    await ok({ type: 'press_reset' });
    clock.advance(5000);
    assert.equal((await get(tech)).json<LockPanel>().pressedSeconds, 5);
    const short = await ok({ type: 'release_reset' });
    assert.equal(short.ok, false);
    assert.match(short.words, /released after 5 s; this model needs it held for 12 s/);
    assert.equal(short.panel.indicator.state, 'refused');

    await ok({ type: 'press_reset' });
    clock.advance(12_000);
    const reset = await ok({ type: 'release_reset' });
    assert.equal(reset.ok, true, reset.words);
    assert.equal(reset.panel.setupMode, true);
    assert.equal(reset.panel.indicator.state, 'setup_mode');
    const entry = env.fleet.log.at(-1)!;
    assert.deepEqual([entry.externalId, entry.op, entry.source], [lock.externalId, 'factory_reset', 'physical']);

    // The driver event reaches the lock's history like a real lock's reset report.
    let titles: string[] = [];
    for (let i = 0; i < 50 && !titles.includes('Factory reset reported'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      titles = (await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/locks/${lock.id}/events` })).json<{ items: { summary: string }[] }>().items.map((e) => e.summary);
    }
    assert.ok(titles.includes('Factory reset reported'), titles.join(', '));

    const admin = await ok({ type: 'enroll_admin' });
    assert.equal(admin.ok, true);
    assert.equal(admin.panel.setupMode, false);
  });
});
