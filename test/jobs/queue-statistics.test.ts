/**
 * The job table's planner statistics are refreshed after a large enqueue: with the statistics of a
 * near-empty table the claim's plan compares every waiting job with every active one (seconds per
 * claim at 10,000 waiting), so a big fleet change must not run on them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { ANALYZE_AFTER_JOBS, JobQueue } from '../../src/jobs/queue.js';
import { queryRows } from '../../src/store/database.js';
import { ENGINES, testDatabase } from '../helpers/db.js';

const requests = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ lockId: crypto.randomUUID(), read: false, reason: 'test', driver: 'simulator', hub: `hub-${(from + i) % 10}` }));

for (const engine of ENGINES) {
  describe(`job queue statistics (${engine})`, () => {
    it(`analyzes the job table once ${ANALYZE_AFTER_JOBS} jobs were queued, not before`, async () => {
      const database = await testDatabase(engine);
      const queue = await JobQueue.open(database.jobConnection, { supervise: false });
      const estimate = async () => {
        const [row] = await queryRows<{ n: number }>(database.db, sql`select reltuples::float8 as n from pg_class where oid = 'pgboss.job_common'::regclass`);
        return Number(row?.n);
      };
      try {
        const before = await estimate();
        await queue.enqueue(requests(ANALYZE_AFTER_JOBS - 1));
        // PostgreSQL's autovacuum may analyze 999 new rows by itself at any moment; PGlite has none.
        if (engine === 'pglite') assert.equal(await estimate(), before, 'no ANALYZE below the threshold');
        await queue.enqueue(requests(1, ANALYZE_AFTER_JOBS));
        assert.ok((await estimate()) >= ANALYZE_AFTER_JOBS, `estimate ${await estimate()} after ${ANALYZE_AFTER_JOBS} jobs`);
        // The claim still hands out jobs one hub at a time in turn.
        const jobs = await queue.fetch(10, []);
        assert.equal(new Set(jobs.map((j) => j.data.group)).size, 10);
      } finally {
        await queue.stop();
        await database.close();
      }
    });
  });
}
