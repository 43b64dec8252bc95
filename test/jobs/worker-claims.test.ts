/**
 * The worker claims within the room of the hubs it feeds: a claim beyond it hands one hub's jobs to
 * the first hub with room (hoarding them in one process) and scans far down the queue, so it looks
 * for hubs it does not feed yet only when it feeds none, after jobs were queued in this process, or
 * at a backed-off interval.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobQueue, ReconcileJob } from '../../src/jobs/queue.js';
import { NEW_HUB_ALLOWANCE, PROBE_MIN_MS, Worker } from '../../src/jobs/worker.js';

/** A queue of `hubs` x `perHub` waiting jobs that records each claim's size. */
function fakeQueue(hubs: number, perHub: number) {
  const waiting: ReconcileJob[] = [];
  for (let i = 0; i < perHub; i++) for (let h = 0; h < hubs; h++) waiting.push({ id: `j-${h}-${i}`, name: 'lock-reconcile', data: { lockId: `l-${h}-${i}`, read: false, reason: 't', group: `sim:h${h}` } } as unknown as ReconcileJob);
  const claims: { asked: number; got: number }[] = [];
  const queue = {
    fetch: (batchSize: number, full: string[]) => {
      const out: ReconcileJob[] = [];
      for (let i = 0; i < waiting.length && out.length < batchSize; ) {
        if (full.includes(waiting[i]!.data.group!)) i++;
        else out.push(...waiting.splice(i, 1));
      }
      claims.push({ asked: batchSize, got: out.length });
      return Promise.resolve(out);
    },
    complete: () => Promise.resolve(),
    fail: () => Promise.resolve(),
    heartbeat: () => Promise.resolve(),
    supervise: () => Promise.resolve(),
  } as unknown as JobQueue;
  return { queue, claims, waiting };
}

describe('Worker claims', () => {
  it('asks for the room of the hubs it feeds, and for more only on a probe', async () => {
    const { queue, claims } = fakeQueue(20, 30);
    const held = new Map<string, number>();
    let most = 0;
    const worker = new Worker(
      queue,
      async (job) => {
        const g = job.data.group!;
        held.set(g, (held.get(g) ?? 0) + 1);
        most = Math.max(most, held.get(g)!);
        await new Promise((r) => setTimeout(r, 30));
        held.set(g, held.get(g)! - 1);
      },
      { maxActive: 2000, perHub: { sim: 4 }, fallbackPerHub: 4, claimEveryMs: 20, pollMs: 20 },
    );
    const started = Date.now();
    worker.start();
    await new Promise((r) => setTimeout(r, PROBE_MIN_MS * 0.8));
    await worker.stop();
    const elapsed = Date.now() - started;
    // The first claim probes (nothing fed yet); later ones within the first second ask only for room.
    assert.equal(claims[0]!.asked, NEW_HUB_ALLOWANCE);
    const later = claims.slice(1);
    assert.ok(later.length >= 5, `${later.length} claims in ${elapsed} ms`);
    for (const c of later) assert.ok(c.asked <= 20 * 4, `a claim asked for ${c.asked}, more than the 80 jobs 20 hubs of 4 can hold`);
    // No hub ever had more jobs in hand than its share.
    assert.ok(most <= 4, `a hub held ${most} jobs at once`);
    assert.ok(worker.processed > 100, `processed ${worker.processed}`);
  });

  it('probes for hubs it does not feed when jobs were queued in this process', async () => {
    const { queue, claims } = fakeQueue(2, 200);
    // Jobs outlast the test, so the hubs it feeds stay full: no claim without a probe.
    const worker = new Worker(queue, () => new Promise((r) => setTimeout(r, 600)), { maxActive: 2000, perHub: { sim: 4 }, fallbackPerHub: 4, claimEveryMs: 20, pollMs: 20 });
    worker.start();
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(claims, [{ asked: NEW_HUB_ALLOWANCE, got: NEW_HUB_ALLOWANCE }], 'only the first claim while every hub it feeds is full');
    worker.nudge();
    await new Promise((r) => setTimeout(r, 100));
    // Both hubs are full (passed over), so the probe finds nothing, and backs off.
    assert.deepEqual(claims.slice(1), [{ asked: NEW_HUB_ALLOWANCE, got: 0 }], 'one probe after jobs were queued here');
    await worker.stop();
  });
});
