/**
 * Practice runs over HTTP: a technician practises a handbook entry on a throwaway twin of its model
 * (never a lock of the fleet), the hold timed by the server's clock; the run is recorded on the entry
 * (passed, and the refusals on the way), start and finish are audited; someone else's run does not
 * exist for you, a finished run takes no more actions, and bad input is 400 naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { Actor } from '../../src/domain/identity.js';
import { SimFleet, sequenceKeys } from '../../src/drivers/simulator/index.js';
import type { PracticeRun, PracticeRunDetail } from '../../src/services/practice-service.js';
import type { LockPanel, LockPanelOutcome } from '../../src/services/sim-panel-service.js';
import { asSession, expectError, fieldPaths, injectAs, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('practice runs over HTTP', () => {
  const clock = fixedClock(new Date('2026-03-01T09:00:00Z'));
  let env: HttpEnv;
  let tech: Session;
  let other: Session;
  let auditor: Session;
  let occupant: Session;
  const entryOf: Record<string, string> = {};

  before(async () => {
    env = await testApp({ demo: true, services: { clock, fleet: new SimFleet({ clock }) } });
    const locks = (await env.services.locks.list(SYSTEM, { limit: 200 })).items;
    for (const model of ['DB-100', 'KP-80C']) {
      const lock = locks.find((l) => l.modelNumber === model)!;
      const { entry, source } = await env.services.handbook.forLock(SYSTEM, lock.id);
      assert.equal(source, 'model');
      entryOf[model] = entry!.id;
    }
    const unit = locks[0]!.locationPath.find((p) => p.kind === 'unit')!.id;
    await env.createUser('tech@example.test', 'technician', 'technician password');
    await env.createUser('other@example.test', 'technician', 'other technician password');
    await env.createUser('auditor@example.test', 'auditor', 'auditor password');
    await env.createUser('occupant@example.test', 'occupant', 'occupant password', unit);
    tech = await signIn(env.app, 'tech@example.test', 'technician password');
    other = await signIn(env.app, 'other@example.test', 'other technician password');
    auditor = await signIn(env.app, 'auditor@example.test', 'auditor password');
    occupant = await signIn(env.app, 'occupant@example.test', 'occupant password');
  });
  after(() => env.close());

  const req = (s: Session, method: 'GET' | 'POST', url: string, payload?: unknown) =>
    injectAs(env.app, asSession(s), { method, url, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  async function start(s: Session, model: string): Promise<PracticeRunDetail> {
    const res = await req(s, 'POST', `/api/handbook/entries/${entryOf[model]}/practice-runs`);
    assert.equal(res.statusCode, 201, res.body);
    return res.json<PracticeRunDetail>();
  }
  async function act(s: Session, runId: string, action: unknown): Promise<LockPanelOutcome> {
    const res = await req(s, 'POST', `/api/practice-runs/${runId}/panel`, action);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<LockPanelOutcome>();
  }

  it('practises the DB-100 on a twin: a short hold refused, a 12 s hold passes, recorded on the entry and audited; the fleet untouched', async () => {
    const fleetLog = env.fleet.log.length;
    const run = await start(tech, 'DB-100');
    assert.equal(run.active, true);
    assert.equal(run.masterCode, null, 'the DB-100 has no keyed sequence');
    const panel = (await req(tech, 'GET', `/api/practice-runs/${run.id}/panel`)).json<LockPanel>();
    assert.equal(panel.resetControl, 'interior reset button under the battery cover');
    assert.equal(panel.holdSeconds, 12);
    assert.equal(env.fleet.has(panel.externalId), false, 'the twin is not in the simulator fleet');

    await act(tech, run.id, { type: 'press_reset' });
    clock.advance(3000);
    const short = await act(tech, run.id, { type: 'release_reset' });
    assert.equal(short.ok, false);
    assert.match(short.words, /released after 3 s; this model needs it held for 12 s/);

    await act(tech, run.id, { type: 'press_reset' });
    clock.advance(12_000);
    const reset = await act(tech, run.id, { type: 'release_reset' });
    assert.equal(reset.ok, true, reset.words);
    assert.equal(reset.panel.indicator.state, 'setup_mode');

    const finished = (await req(tech, 'POST', `/api/practice-runs/${run.id}/finish`)).json<PracticeRunDetail>();
    assert.equal(finished.passed, true);
    assert.equal(finished.active, false);
    assert.deepEqual(finished.attempts.map((a) => [a.ok, a.reason, a.heldSeconds]), [[false, 'hold_too_short', 3], [true, null, 12]]);
    assert.match(finished.summary, /^Passed: the twin reached setup mode; 1 refused attempt \(hold too short\)/);

    const list = (await req(auditor, 'GET', `/api/handbook/entries/${entryOf['DB-100']}/practice-runs`)).json<{ items: PracticeRun[] }>().items;
    assert.deepEqual(list.map((r) => [r.id, r.actorLabel, r.passed]), [[run.id, 'tech@example.test', true]]);
    assert.equal(env.fleet.log.length, fleetLog, 'nothing happened in the simulator fleet');

    const audit = await env.services.audit.list(SYSTEM, { action: 'practice.' });
    assert.deepEqual(audit.items.map((a) => a.action).sort(), ['practice.finish', 'practice.start']);

    expectError(await req(tech, 'POST', `/api/practice-runs/${run.id}/panel`, { type: 'press_reset' }), 409, 'practice.finished');
    expectError(await req(tech, 'POST', `/api/practice-runs/${run.id}/finish`), 409, 'practice.finished');
  });

  it('a keypad twin hands its master code to the person practising, and resets on the sequence keyed with it', async () => {
    const run = await start(tech, 'KP-80C');
    assert.match(run.masterCode ?? '', /^\d{6}$/);
    for (const key of sequenceKeys('* + master code + # then 9 9 #', run.masterCode!)) await act(tech, run.id, { type: 'key', key });
    await act(tech, run.id, { type: 'press_reset' });
    const reset = await act(tech, run.id, { type: 'release_reset' });
    assert.equal(reset.ok, true, reset.words);
    const done = (await req(tech, 'POST', `/api/practice-runs/${run.id}/finish`)).json<PracticeRunDetail>();
    assert.equal(done.passed, true);
  });

  it('an unfinished attempt that never reset is recorded as not passed, with where it went wrong', async () => {
    const run = await start(tech, 'DB-100');
    await act(tech, run.id, { type: 'open_compartment' });
    await act(tech, run.id, { type: 'set_charge', percent: 10 });
    await act(tech, run.id, { type: 'press_reset' });
    clock.advance(13_000);
    const low = await act(tech, run.id, { type: 'release_reset' });
    assert.match(low.words, /battery is at 10 %/);
    const done = (await req(tech, 'POST', `/api/practice-runs/${run.id}/finish`)).json<PracticeRunDetail>();
    assert.equal(done.passed, false);
    assert.match(done.summary, /^Not passed: the twin never reached setup mode; 1 refused attempt \(battery too low\)/);
  });

  it('someone else\'s run does not exist for you; auditors and occupants cannot practise; bad actions are 400', async () => {
    const run = await start(tech, 'DB-100');
    expectError(await req(other, 'GET', `/api/practice-runs/${run.id}`), 404, 'practice.not_found');
    expectError(await req(other, 'POST', `/api/practice-runs/${run.id}/panel`, { type: 'press_reset' }), 404, 'practice.not_found');
    expectError(await req(other, 'POST', `/api/practice-runs/${run.id}/finish`), 404, 'practice.not_found');
    expectError(await req(auditor, 'POST', `/api/handbook/entries/${entryOf['DB-100']}/practice-runs`), 403, 'auth.forbidden');
    expectError(await req(occupant, 'POST', `/api/handbook/entries/${entryOf['DB-100']}/practice-runs`), 403, 'auth.forbidden');
    assert.deepEqual(fieldPaths(expectError(await req(tech, 'POST', `/api/practice-runs/${run.id}/panel`, { type: 'key', key: 'x' }), 400, 'validation.failed')), ['key']);
    assert.equal((await req(tech, 'GET', `/api/practice-runs/${run.id}`)).json<PracticeRunDetail>().active, true);
  });

  it('a twin expires after an hour', async () => {
    const run = await start(tech, 'DB-100');
    clock.advance(3600_000 + 1000);
    const gone = expectError(await req(tech, 'POST', `/api/practice-runs/${run.id}/panel`, { type: 'press_reset' }), 409, 'practice.finished');
    assert.match(gone.message, /lasts an hour/);
    assert.equal((await req(tech, 'GET', `/api/practice-runs/${run.id}`)).json<PracticeRunDetail>().active, false);
  });
});
