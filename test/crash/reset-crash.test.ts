/**
 * The reset-case crash harness on one fixed seed (two cases: a remote reset and a physical one):
 * the server is a child process killed with SIGKILL at each crash point once (armed in turn on
 * successive starts), between steps and at random moments, with device faults injected. Every case
 * must close with the lock's PINs equal to the snapshot, one factory reset per attempt, one code per
 * slot, and no open intent. Many seeds: `npm run crash -- --seeds 200`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCrashHarness } from './reset-crash.js';

describe('reset cases survive kill -9 of the server', () => {
  it('every case closes with the snapshot restored and no effect applied twice', { timeout: 600_000 }, async () => {
    const counts = await runCrashHarness({
      seeds: [7],
      // In step order: a preflight step's transaction; the remote reset's intent before its
      // command; the rebuild's first PIN written; a committed step whose answer was never sent.
      plan: ['reset.in_step_tx:3', 'reset.intent_committed:1', 'reset.device_done:1', 'reset.step_committed:4'],
      // Kills between steps and at random moments are the runner's (npm run crash); here one of each
      // kind that matters, to keep the file short: one restart costs a PGlite start.
      killAfterSteps: [12],
      killBetween: 0,
      killRandom: 0,
      armPoint: 0,
      faultRate: 0.04,
    });
    console.log(`crash harness: ${JSON.stringify(counts)}`);
    assert.deepEqual(counts.problems, []);
    assert.equal(counts.duplicates, 0);
    assert.equal(counts.casesClosed, counts.cases);
    assert.equal(counts.cases, 2);
    for (const point of ['reset.in_step_tx', 'reset.intent_committed', 'reset.device_done', 'reset.step_committed']) {
      assert.ok(counts.kills[point]! >= 1, `killed at ${point}: ${JSON.stringify(counts.kills)}`);
    }
    assert.ok(counts.kills.between_steps! >= 1);
    assert.ok(counts.factoryResets >= 2);
  });
});
