/**
 * Works the reconcile queue: claims jobs ahead of need (so a hub never waits on a database round
 * trip), runs each through the reconciler, and settles them in small batches. Per-hub command limits
 * are enforced by the hub gate around each driver; this loop only keeps enough jobs claimed per hub
 * to keep every hub busy, and one job per lock is the queue's own rule.
 */
import type { ReconcileJob, JobQueue } from './queue.js';
import { HEARTBEAT_SECONDS } from './queue.js';

export interface WorkerOptions {
  /** Most jobs held at once by this process. */
  maxActive: number;
  /** Jobs claimed per hub at once, by driver name (a few times the hub's command limit keeps it fed between claims). */
  perHub: Record<string, number>;
  fallbackPerHub: number;
  /** Idle poll interval when the queue is empty. */
  pollMs?: number;
  /** Shortest time between two claims (each scans the queue). */
  claimEveryMs?: number;
  onError?: (e: unknown) => void;
}

/** Jobs a probing claim asks for beyond the room of hubs already fed, for hubs not fed yet. */
export const NEW_HUB_ALLOWANCE = 50;

/**
 * While every hub this process feeds is full, a claim that looks for hubs it does not feed yet
 * passes over every waiting job of its own hubs (the whole queue, on a large change): such a probe
 * runs at most this often, backing off to PROBE_MAX_MS while it finds nothing new.
 */
export const PROBE_MIN_MS = 1000;
export const PROBE_MAX_MS = 8000;

/**
 * Whether this worker still holds the job's lease: false once its heartbeat may have lapsed, after
 * which another worker may have been handed the job. Check it before each device command.
 */
export type LeaseCheck = () => boolean;

/** Runs one job; throwing fails it (pg-boss retries it later). */
export type JobHandler = (job: ReconcileJob, lease: LeaseCheck) => Promise<unknown>;

/**
 * A job's lease is trusted this long after its last confirmed heartbeat (or its claim): beats go
 * every third of HEARTBEAT_SECONDS, and the queue hands a job on only after a whole HEARTBEAT_SECONDS
 * without one, so 3 s of margin stays between this worker stopping and another starting.
 */
export const LEASE_TRUST_MS = HEARTBEAT_SECONDS * 1000 - 3000;

/** The loop that claims and runs jobs until stopped. */
export class Worker {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly active = new Map<string, Promise<void>>();
  /** Jobs held per hub (`driver:hub`). */
  private readonly perGroup = new Map<string, number>();
  private completed: string[] = [];
  private wake: (() => void) | null = null;
  private nudged = false;
  /** Jobs were queued in this process since the last probe (they may be for hubs not fed yet). */
  private queuedHere = false;
  private lastProbe = 0;
  private probeEveryMs = PROBE_MIN_MS;
  private heartbeat: NodeJS.Timeout | null = null;
  /** When the last heartbeat of the jobs in hand was confirmed by the database. */
  private lastBeatOk = 0;
  private abandoned = false;
  /** Jobs finished by this worker since start. */
  processed = 0;

  constructor(
    private readonly queue: JobQueue,
    private readonly handler: JobHandler,
    private readonly opts: WorkerOptions,
  ) {}

  /** Starts claiming jobs. */
  start(): void {
    if (this.running) return;
    this.running = true;
    // Each beat also runs the queue's maintenance, so jobs of a worker that died are retried promptly.
    this.heartbeat = setInterval(() => {
      const sentAt = Date.now();
      void this.queue
        .heartbeat([...this.active.keys()])
        .then(() => {
          this.lastBeatOk = Math.max(this.lastBeatOk, sentAt);
          return this.queue.supervise();
        })
        .catch((e: unknown) => this.opts.onError?.(e));
    }, (HEARTBEAT_SECONDS * 1000) / 3);
    this.heartbeat.unref();
    this.loop = this.run();
  }

  /** Wakes the loop now (new jobs were queued in this process). */
  nudge(): void {
    this.queuedHere = true;
    this.wakeUp();
  }

  private wakeUp(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops claiming, waits for running jobs to finish and settles them. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp();
    await this.loop;
    // Jobs still running keep their lease until they finish.
    await Promise.allSettled(this.active.values());
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.flush();
  }

  /**
   * Stops at once without settling or heart-beating the jobs in hand, as a crashed process would;
   * the queue hands them to another worker once their heartbeat lapses.
   */
  abandon(): void {
    this.running = false;
    this.abandoned = true;
    this.wakeUp();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.active.clear();
    this.perGroup.clear();
    this.completed = [];
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.flush();
        const free = this.opts.maxActive - this.active.size;
        const probe = this.probeDue();
        const want = Math.min(free, 500, this.room() + (probe ? NEW_HUB_ALLOWANCE : 0));
        const jobs = want > 0 ? await this.queue.fetch(want, this.fullGroups()) : [];
        let newHubs = false;
        for (const job of jobs) {
          const group = job.data.group ?? '';
          if (!this.perGroup.has(group)) newHubs = true;
          this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
          this.active.set(job.id, this.execute(job, group));
        }
        if (probe) {
          this.lastProbe = Date.now();
          this.probeEveryMs = newHubs ? PROBE_MIN_MS : Math.min(PROBE_MAX_MS, this.probeEveryMs * 2);
        }
        // A claim scans the waiting jobs for hubs with room, so claiming after every finished job
        // costs more than the jobs themselves on a large queue: claim at most every `claimEveryMs` (200 ms).
        await new Promise((r) => setTimeout(r, this.opts.claimEveryMs ?? 200));
        if (jobs.length === 0 && this.running) await this.sleep(free > 0 ? (this.opts.pollMs ?? 500) : 50);
      } catch (e) {
        this.opts.onError?.(e);
        await this.sleep(1000);
      }
    }
  }

  private limitOf(group: string): number {
    return this.opts.perHub[group.slice(0, group.indexOf(':'))] ?? this.opts.fallbackPerHub;
  }

  /** Hubs for which this process already holds as many jobs as it can use. */
  private fullGroups(): string[] {
    return [...this.perGroup].filter(([group, n]) => group !== '' && n >= this.limitOf(group)).map(([group]) => group);
  }

  /**
   * Whether this claim also looks for hubs this process does not feed yet. Always while it feeds
   * none (the idle poll) or after jobs were queued here; otherwise at most every `probeEveryMs`. A
   * claim within the room of hubs already fed stops after a few rows (the queue takes hubs in turn);
   * one beyond it, with every fed hub full, passes over the whole queue, and it ran every 200 ms.
   */
  private probeDue(): boolean {
    if (this.perGroup.size === 0 || this.queuedHere) {
      this.queuedHere = false;
      this.probeEveryMs = PROBE_MIN_MS;
      return true;
    }
    return Date.now() - this.lastProbe >= this.probeEveryMs;
  }

  /**
   * Jobs the hubs this process feeds could take now. A claim asks for that many: asking for more
   * hands one hub's jobs to the first hub with room (hoarding them in one process) and makes the
   * claim scan far down the queue.
   */
  private room(): number {
    let room = 0;
    for (const [group, n] of this.perGroup) if (group !== '') room += Math.max(0, this.limitOf(group) - n);
    return room;
  }

  private async execute(job: ReconcileJob, group: string): Promise<void> {
    const claimedAt = Date.now();
    const lease: LeaseCheck = () => !this.abandoned && Date.now() - Math.max(claimedAt, this.lastBeatOk) < LEASE_TRUST_MS;
    try {
      await this.handler(job, lease);
      this.completed.push(job.id);
    } catch (e) {
      await this.queue.fail(job.id, e instanceof Error ? e : new Error(String(e))).catch((err: unknown) => this.opts.onError?.(err));
    } finally {
      const left = (this.perGroup.get(group) ?? 1) - 1;
      if (left > 0) this.perGroup.set(group, left);
      else this.perGroup.delete(group);
      this.active.delete(job.id);
      this.processed++;
      this.wakeUp();
    }
  }

  private async flush(): Promise<void> {
    if (this.completed.length === 0) return;
    const ids = this.completed;
    this.completed = [];
    await this.queue.complete(ids);
  }

  /** Waits `ms`, or less if nudged meanwhile (also a nudge that came while the loop was busy). */
  private sleep(ms: number): Promise<void> {
    if (this.nudged) {
      this.nudged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        this.nudged = false;
        resolve();
      };
    });
  }
}
