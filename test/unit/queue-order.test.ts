/** Reconcile jobs are queued one hub at a time in turn, so claiming in queue order reaches every hub early. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interleaveByHub } from '../../src/jobs/queue.js';

describe('interleaveByHub', () => {
  it('takes one request of each hub in turn, keeping each hub’s own order', () => {
    const r = (driver: string, hub: string, n: number) => ({ driver, hub, lockId: `${hub}-${n}` });
    const input = [r('sim', 'a', 1), r('sim', 'a', 2), r('sim', 'a', 3), r('sim', 'b', 1), r('zw', 'a', 1), r('sim', 'b', 2)];
    assert.deepEqual(
      interleaveByHub(input).map((x) => `${x.driver}:${x.lockId}`),
      ['sim:a-1', 'sim:b-1', 'zw:a-1', 'sim:a-2', 'sim:b-2', 'sim:a-3'],
    );
  });

  it('returns every request exactly once', () => {
    const input = Array.from({ length: 1000 }, (_, i) => ({ driver: 'sim', hub: `h${i % 7}`, lockId: `l${i}` }));
    const out = interleaveByHub(input);
    assert.equal(out.length, input.length);
    assert.equal(new Set(out.map((x) => x.lockId)).size, input.length);
    assert.deepEqual(out.slice(0, 7).map((x) => x.hub), ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
  });
});
