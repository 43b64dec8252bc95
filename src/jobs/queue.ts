/**
 * Durable jobs in the database through pg-boss, on PGlite and on PostgreSQL alike. One queue today:
 * `lock-reconcile`, one job per lock, with pg-boss's `singleton` policy keyed by lock id so a lock
 * never has two reconciliations active at once (across processes too). Jobs are queued one hub at a
 * time in turn and claimed in queue order, so a large change keeps every hub busy from the start.
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
  /** The hub the lock is reached through, as `driver:hub` (jobs queued before it was recorded lack it). */
  group?: string;
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

/** Jobs queued since the table's statistics were last refreshed before they are refreshed again (at least). */
export const ANALYZE_AFTER_JOBS = 1000;
const ANALYZE_WINDOW_MS = 10 * 60_000;

/** The durable queue; a thin layer so the rest of the code does not speak pg-boss. */
export class JobQueue {
  private queuedSinceAnalyze = 0;
  /** Jobs queued up to the last refresh of the statistics, within ANALYZE_WINDOW_MS of it. */
  private queuedBeforeAnalyze = 0;
  private lastAnalyze = 0;

  private constructor(private readonly boss: PgBoss) {}

  /** Opens the queue on the application's database, creating pg-boss's schema and our queue. */
  static async open(conn: JobConnection, opts: { supervise?: boolean } = {}): Promise<JobQueue> {
    // No instance registry: nothing reads it, and registering costs four statements on every start
    // (plus a heartbeat every 30 s).
    const common = { schedule: false, supervise: opts.supervise ?? true, superviseIntervalSeconds: 5, migrate: true, registerInstance: false } as const;
    const boss =
      conn.engine === 'pglite'
        ? new PgBoss({ ...common, db: fromPglite(conn.client), backend: 'pglite' })
        : new PgBoss({ ...common, connectionString: conn.url, max: 4 });
    // pg-boss reports background failures as events; an unhandled 'error' event would end the process.
    boss.on('error', (e: unknown) => console.error(`job queue: ${e instanceof Error ? e.message : String(e)}`));
    await boss.start();
    // pg-boss leaves an existing queue as it is (ON CONFLICT DO NOTHING); asking first spares every
    // later start its advisory-locked transaction.
    if (!(await boss.getQueue(RECONCILE_QUEUE))) {
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
    }
    const queue = new JobQueue(boss);
    // One process owns an embedded database, so any job still active at start was left by a process
    // that ended without finishing it: hand it back for a retry now rather than after its lease.
    if (conn.engine === 'pglite' && opts.supervise !== false) {
      const orphans = (await boss.findJobs<ReconcileJobData>(RECONCILE_QUEUE, {})).filter((j) => j.state === 'active').map((j) => j.id);
      if (orphans.length) await boss.fail(RECONCILE_QUEUE, orphans, { message: 'left active by a process that stopped' });
    }
    return queue;
  }

  /**
   * Queues reconcile jobs; one active per lock is guaranteed by the queue's policy. Jobs are queued
   * taking each hub in turn, so claiming in queue order shares a large change out over all hubs.
   */
  async enqueue(requests: ReconcileRequest[]): Promise<void> {
    const ordered = interleaveByHub(requests);
    for (let i = 0; i < ordered.length; i += 1000) {
      await this.boss.insert(
        RECONCILE_QUEUE,
        ordered.slice(i, i + 1000).map((r) => ({
          data: { lockId: r.lockId, read: r.read, reason: r.reason, group: groupOf(r) },
          singletonKey: r.lockId,
          group: { id: groupOf(r), tier: r.driver },
          ...(r.delayMs ? { startAfter: new Date(Date.now() + r.delayMs) } : {}),
        })),
      );
    }
    await this.refreshStatistics(ordered.length);
  }

  /**
   * Refreshes the job table's planner statistics once many jobs were queued since the last time
   * (1,000, then each time as many again as before, within 10 minutes). The claim's plan depends on
   * them: with statistics from a near-empty table PostgreSQL estimates 2 waiting jobs, sorts all of
   * them and compares each with every active one (measured: 2.7 s per claim at 10,000 waiting and
   * 400 active, against 1 ms after ANALYZE). PGlite has no autovacuum at all, and PostgreSQL's comes
   * a minute or more after a large change was queued.
   */
  private async refreshStatistics(queued: number): Promise<void> {
    this.queuedSinceAnalyze += queued;
    if (Date.now() - this.lastAnalyze > ANALYZE_WINDOW_MS) this.queuedBeforeAnalyze = 0;
    if (this.queuedSinceAnalyze < Math.max(ANALYZE_AFTER_JOBS, this.queuedBeforeAnalyze)) return;
    this.queuedBeforeAnalyze += this.queuedSinceAnalyze;
    this.queuedSinceAnalyze = 0;
    this.lastAnalyze = Date.now();
    const db = this.boss.getDb();
    const [row] = (await db.executeSql(`select table_name from pgboss.queue where name = $1`, [RECONCILE_QUEUE])).rows as { table_name?: string }[];
    const table = row?.table_name && /^[a-z_][a-z0-9_]*$/.test(row.table_name) ? row.table_name : 'job';
    // Best effort: a role that may not analyze the table keeps the plans it has.
    await db.executeSql(`analyze pgboss.${table}`).catch((e: unknown) => console.error(`job queue: analyze: ${e instanceof Error ? e.message : String(e)}`));
  }

  /**
   * Claims up to `batchSize` jobs in queue order, passing over jobs of `fullGroups` (hubs that
   * already have all the jobs this process can use). A plain claim stops after `batchSize` rows;
   * pg-boss's per-group concurrency count scans every waiting job, which costs more than the work
   * itself on a queue of thousands, so the per-hub command limit is the hub gate's job instead.
   */
  fetch(batchSize: number, fullGroups: string[]): Promise<ReconcileJob[]> {
    return this.boss.fetch<ReconcileJobData>(RECONCILE_QUEUE, { batchSize, ignoreGroups: fullGroups.length ? fullGroups : null });
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

/** The group a job belongs to: the hub its lock is reached through. */
export function groupOf(r: { driver: string; hub: string }): string {
  return `${r.driver}:${r.hub}`;
}

/** Requests reordered to take one of each hub in turn (each hub's own order kept). */
export function interleaveByHub<T extends { driver: string; hub: string }>(requests: T[]): T[] {
  const byHub = new Map<string, T[]>();
  for (const r of requests) {
    const key = groupOf(r);
    const list = byHub.get(key);
    if (list) list.push(r);
    else byHub.set(key, [r]);
  }
  const lists = [...byHub.values()];
  const out: T[] = [];
  for (let i = 0; out.length < requests.length; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}
