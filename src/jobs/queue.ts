/**
 * Durable jobs in the database through pg-boss, on PGlite and on PostgreSQL alike. One queue today:
 * `lock-reconcile`, one job per lock, with pg-boss's `singleton` policy keyed by lock id so a lock
 * never has two reconciliations active at once (across processes too), and each job grouped by the
 * hub it reaches its lock through so a fetch never takes more than a hub can use.
 */
import { PgBoss, fromPglite, type Job } from 'pg-boss';
import type { JobConnection } from '../store/database.js';

export const RECONCILE_QUEUE = 'lock-reconcile';

/** What a reconcile job carries. */
export interface ReconcileJobData {
  lockId: string;
  /** Read the lock before acting (drift check, or an earlier attempt may have written). */
  read: boolean;
  reason: string;
}

/** One job to queue: the lock, and the driver/hub it is reached through. */
export interface ReconcileRequest extends ReconcileJobData {
  driver: string;
  hub: string;
  /** Run no earlier than this many ms from now (retry backoff). */
  delayMs?: number;
}

export type ReconcileJob = Job<ReconcileJobData>;

/** Seconds without a heartbeat after which a job is taken from a dead worker and run again. */
export const HEARTBEAT_SECONDS = 10;

/** The durable queue; a thin layer so the rest of the code does not speak pg-boss. */
export class JobQueue {
  private constructor(private readonly boss: PgBoss) {}

  /** Opens the queue on the application's database, creating pg-boss's schema and our queue. */
  static async open(conn: JobConnection, opts: { supervise?: boolean } = {}): Promise<JobQueue> {
    const common = { schedule: false, supervise: opts.supervise ?? true, superviseIntervalSeconds: 5, migrate: true } as const;
    const boss =
      conn.engine === 'pglite'
        ? new PgBoss({ ...common, db: fromPglite(conn.client), backend: 'pglite' })
        : new PgBoss({ ...common, connectionString: conn.url, max: 4 });
    // pg-boss reports background failures as events; an unhandled 'error' event would end the process.
    boss.on('error', (e: unknown) => console.error(`job queue: ${e instanceof Error ? e.message : String(e)}`));
    await boss.start();
    await boss.createQueue(RECONCILE_QUEUE, {
      policy: 'singleton',
      retryLimit: 20,
      retryDelay: 2,
      retryBackoff: true,
      retryDelayMax: 300,
      expireInSeconds: 600,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      deleteAfterSeconds: 3600,
    });
    const queue = new JobQueue(boss);
    // One process owns an embedded database, so any job still active at start was left by a process
    // that ended without finishing it: hand it back for a retry now rather than after its lease.
    if (conn.engine === 'pglite' && opts.supervise !== false) {
      const orphans = (await boss.findJobs<ReconcileJobData>(RECONCILE_QUEUE, {})).filter((j) => j.state === 'active').map((j) => j.id);
      if (orphans.length) await boss.fail(RECONCILE_QUEUE, orphans, { message: 'left active by a process that stopped' });
    }
    return queue;
  }

  /** Queues reconcile jobs; one active per lock is guaranteed by the queue's policy. */
  async enqueue(requests: ReconcileRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 1000) {
      await this.boss.insert(
        RECONCILE_QUEUE,
        requests.slice(i, i + 1000).map((r) => ({
          data: { lockId: r.lockId, read: r.read, reason: r.reason },
          singletonKey: r.lockId,
          group: { id: `${r.driver}:${r.hub}`, tier: r.driver },
          ...(r.delayMs ? { startAfter: new Date(Date.now() + r.delayMs) } : {}),
        })),
      );
    }
  }

  /** Claims up to `batchSize` jobs, at most `perHub[driver]` active per hub across all processes. */
  fetch(batchSize: number, perHub: Record<string, number>, fallbackPerHub: number): Promise<ReconcileJob[]> {
    return this.boss.fetch<ReconcileJobData>(RECONCILE_QUEUE, {
      batchSize,
      groupConcurrency: { default: fallbackPerHub, tiers: perHub },
    });
  }

  /** Marks jobs done. */
  async complete(ids: string[]): Promise<void> {
    if (ids.length) await this.boss.complete(RECONCILE_QUEUE, ids);
  }

  /** Marks a job failed; pg-boss retries it with backoff up to the queue's limit. */
  async fail(id: string, error: Error): Promise<void> {
    await this.boss.fail(RECONCILE_QUEUE, id, { message: error.message });
  }

  /** Runs the queue's maintenance now: jobs whose worker stopped heart-beating go back to be retried. */
  async supervise(): Promise<void> {
    await this.boss.supervise(RECONCILE_QUEUE);
  }

  /** Tells the queue these jobs' worker is alive. */
  async heartbeat(ids: string[]): Promise<void> {
    if (ids.length) await this.boss.touch(RECONCILE_QUEUE, ids);
  }

  /** Stops background maintenance; jobs in flight stay in the database for the next start. */
  async stop(): Promise<void> {
    await this.boss.stop({ graceful: false, close: true });
  }
}
