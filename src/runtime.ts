/**
 * What one lockwarden process runs around the services: the key for secrets, the lock drivers (each
 * gated per hub), the durable job queue and, when asked, a worker that reconciles locks. The server,
 * the local CLI and the tests all build their services through here, so they behave the same.
 */
import { BUILT_IN_FACTORIES, checkIntegrationTarget, IntegrationHost, type DriverFactories } from './drivers/integration-host.js';
import { outboundPolicy, type OutboundPolicy } from './net/outbound.js';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { and, desc, eq, inArray, isNotNull, lt, or, isNull, sql } from 'drizzle-orm';
import { systemClock, systemIds, type Clock, type Ids } from './domain/clock.js';
import { deploymentKeySource, SecretBox } from './crypto/secret-box.js';
import { deploymentMasterKeyring, type MasterKeyring } from './crypto/envelope.js';
import { AuditMac, auditWitnessTarget, chainKeyOf, checkpointsFilePath, deploymentCheckpointSigner, type CheckpointSigner } from './crypto/audit-chain.js';
import { AuditLog } from './services/audit-log.js';
import { isDriverError, type DriverEvent, type DriverRegistry, type LockDriver } from './drivers/contract.js';
import { gateByHub } from './drivers/hub-gate.js';
import { SimFleet, SimulatorDriver, InProcessSimTransport, HttpSimTransport, conventionalSimHub, specFromModel, type VirtualLockSpec } from './drivers/simulator/index.js';
import { JobQueue, type ReconcileRequest } from './jobs/queue.js';
import { Worker } from './jobs/worker.js';
import { startLeadership, type Leadership } from './store/leader-lock.js';
import { createServices, type Services } from './services/index.js';
import { reconcileRequests, type JobSink, type ServiceContext } from './services/context.js';
import { Reconciler } from './services/reconciler.js';
import { inTransaction, type Database } from './store/database.js';
import { auditLog, credentials, lockModels, lockObservations, locks } from './store/schema.js';

/** Where simulated locks live: in this process (saved in the data folder), in a `lockwarden sim` process, or nowhere. */
export type SimulatorMode =
  | { kind: 'in-process'; fleet?: SimFleet; stateFile?: string; hubConcurrency?: number }
  | { kind: 'remote'; url: string; hubConcurrency?: number }
  | { kind: 'off' };

export interface RuntimeOptions {
  database: Database;
  dataDir: string;
  simulator?: SimulatorMode;
  /** Run a worker in this process (the server does; the local CLI does not). */
  worker?: boolean;
  /** Start the durable queue at all (false: changes are recorded and queued by the next process that does). */
  queue?: boolean;
  /**
   * Who listens to device events and runs the periodic maintenance (drift checks, resuming open
   * changes, audit checkpoints): `always` this process (the default), `leader` only while this process
   * holds the deployment's leader lock (one of several processes on one PostgreSQL; see
   * store/leader-lock.ts), `none` never (an `api` process).
   */
  maintenance?: 'always' | 'leader' | 'none';
  /** Device commands one worker runs at once over all hubs (default 2000). */
  workerConcurrency?: number;
  secrets?: SecretBox;
  /** Master keys for handbook secrets (default: `LOCKWARDEN_MASTER_KEY` or `<data>/keys/master.json`). */
  masterKeys?: MasterKeyring;
  clock?: Clock;
  ids?: Ids;
  /** Days of device history kept (lock_events), pruned hourly by the worker; 0 or unset keeps it all. */
  historyDays?: number;
  /** Seconds between passes of the reset-step resumer (with a worker; it also runs at start); 0: only at start. */
  resetResumeSeconds?: number;
  /** Seconds between drift checks of every lock; 0 turns the periodic check off. */
  driftCheckSeconds?: number;
  onError?: (e: unknown) => void;
  /** The drivers integrations are started with (default: those this build ships). */
  driverFactories?: DriverFactories;
  /** SMTP for notification email (absent: email waits in the outbox, shown as not sent). */
  mail?: { smtpUrl: string; from: string };
  /** What the server may connect to (LOCKWARDEN_ALLOW_PRIVATE_TARGETS); absent: no private network for any kind. */
  outbound?: OutboundPolicy;
  /** Seconds between rounds of the turnover job and of outbox delivery (default 60 and 5, with a worker); 0 turns them off. */
  turnoverSeconds?: number;
  outboxSeconds?: number;
  /** Where jobs go instead of the queue (tests that drive the reconciler by hand). */
  jobs?: JobSink;
  /**
   * The first passes of the background work (starting the integrations, resuming reset steps and
   * open changes, the worker's first claim, history pruning, the first drift check) wait for this,
   * so they do not compete with a server's start for its one thread; `serve` resolves it a moment
   * after listening. Unset: they run at once. Passes still waiting when the runtime stops never run.
   */
  firstPassesAfter?: Promise<unknown>;
  audit?: {
    /** Signs checkpoints (default: `LOCKWARDEN_AUDIT_SIGNING_KEY` or `<data>/keys/audit-signing.pem`). */
    signer?: CheckpointSigner;
    /** The checkpoint file (default: `LOCKWARDEN_AUDIT_CHECKPOINTS` or `<data>/audit/checkpoints.jsonl`); null for none. */
    checkpointsFile?: string | null;
    /** Seconds between checkpoints while something new was recorded (default 60, with a worker); 0 turns them off. */
    checkpointSeconds?: number;
    /** Checkpoint at stop when this process recorded something (default true). */
    checkpointOnStop?: boolean;
    /** Where checkpoints are also sent: a file elsewhere or an http(s) URL (default: `LOCKWARDEN_AUDIT_WITNESS`); null for none. */
    witness?: string | null;
    /** Verification fails when entries older than this have no checkpoint (default 300 s, five checkpoint intervals). */
    checkpointMaxAgeSeconds?: number;
  };
}

export interface Runtime {
  ctx: ServiceContext;
  /** Whether this process listens to device events and runs maintenance now. */
  readonly leading: boolean;
  services: Services;
  queue: JobQueue | null;
  worker: Worker | null;
  fleet: SimFleet | null;
  reconciler: Reconciler;
  /** Makes sure simulated locks of the inventory (all, or these ids) exist in the simulator; returns how many were created. */
  provisionSimulated(lockIds?: string[]): Promise<number>;
  stop(): Promise<void>;
}

/** Builds and starts a process's runtime. */
export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const onError = opts.onError ?? ((e: unknown) => console.error(e instanceof Error ? e.message : e));
  let stopped = false;
  let passesOpen = !opts.firstPassesAfter;
  const waitingPasses: (() => unknown)[] = [];
  /** Runs `pass` now (its promise, to await) or once `opts.firstPassesAfter` settles. */
  const firstPass = (pass: () => unknown): Promise<unknown> => {
    if (passesOpen) return Promise.resolve(pass());
    waitingPasses.push(pass);
    return Promise.resolve();
  };
  void opts.firstPassesAfter
    ?.catch(() => undefined)
    .then(() => {
      passesOpen = true;
      for (const pass of waitingPasses.splice(0)) if (!stopped) void Promise.resolve(pass()).catch(onError);
    });
  const secrets = opts.secrets ?? new SecretBox(deploymentKeySource(opts.dataDir));
  const mode = opts.simulator ?? { kind: 'in-process' };
  let fleet: SimFleet | null = null;
  const drivers = new Map<string, LockDriver>();
  // Where a simulated lock of the inventory is created when the simulator does not have it yet.
  let simulated: { known(): Promise<Set<string>>; has(externalId: string): Promise<boolean>; provision(spec: VirtualLockSpec): Promise<unknown> } | null = null;
  if (mode.kind === 'in-process') {
    const local = mode.fleet ?? SimFleet.load(mode.stateFile ?? path.join(opts.dataDir, 'simulator.json'));
    fleet = local;
    simulated = {
      known: async () => new Set(local.discover().map((d) => d.externalId)),
      has: async (externalId) => local.has(externalId),
      provision: async (spec) => local.provision(spec),
    };
    drivers.set('simulator', gateByHub(new SimulatorDriver(new InProcessSimTransport(local), { hubConcurrency: mode.hubConcurrency ?? 2 })));
  } else if (mode.kind === 'remote') {
    const transport = new HttpSimTransport(mode.url);
    simulated = {
      known: async () => new Set((await transport.discover()).map((d) => d.externalId)),
      has: async (externalId) => {
        try {
          await transport.control.get(externalId);
          return true;
        } catch (e) {
          if (isDriverError(e) && e.code === 'driver.unknown_device') return false;
          throw e;
        }
      },
      provision: (spec) => transport.control.provision(spec),
    };
    drivers.set('simulator', gateByHub(new SimulatorDriver(transport, { hubConcurrency: mode.hubConcurrency ?? 2 })));
  }
  // Real locks: each protocol's integrations behind one driver (`<integration id>/<device id>`).
  const outbound = opts.outbound ?? outboundPolicy();
  // Each start of an integration resolves and checks its server's address first (outbound policy).
  const host = new IntegrationHost(opts.driverFactories ?? BUILT_IN_FACTORIES, opts.dataDir, (url) => checkIntegrationTarget(outbound, url));
  for (const [name, mux] of host.multiplexers) drivers.set(name, gateByHub(mux));
  const registry: DriverRegistry = { get: (name) => drivers.get(name) };

  const queue = opts.queue === false ? null : await JobQueue.open(opts.database.jobConnection, { supervise: opts.worker !== false });
  // Set once the worker starts (below); the sink wakes it when this process queues something.
  let workerRef: { nudge(): void } | null = null;
  const sink: JobSink = opts.jobs ?? {
    enqueue: async (requests: ReconcileRequest[]) => {
      if (!queue || requests.length === 0) return;
      await queue.enqueue(requests);
      workerRef?.nudge();
    },
  };
  const ctx: ServiceContext = {
    db: opts.database.db,
    engine: opts.database.engine,
    clock: opts.clock ?? systemClock,
    ids: opts.ids ?? systemIds,
    secrets,
    masterKeys: opts.masterKeys ?? deploymentMasterKeyring(opts.dataDir),
    drivers: registry,
    jobs: sink,
    audit: new AuditLog({
      db: opts.database.db,
      clock: opts.clock ?? systemClock,
      mac: new AuditMac(secrets),
      chainKey: chainKeyOf(secrets),
      signer: opts.audit?.signer ?? deploymentCheckpointSigner(opts.dataDir),
      checkpointsFile: opts.audit?.checkpointsFile === undefined ? checkpointsFilePath(opts.dataDir) : opts.audit.checkpointsFile,
      witness: opts.audit?.witness === undefined ? auditWitnessTarget() : opts.audit.witness,
      ...(opts.audit?.checkpointMaxAgeSeconds === undefined ? {} : { checkpointMaxAgeSeconds: opts.audit.checkpointMaxAgeSeconds }),
    }),
    randomInt: (max) => randomInt(max),
    integrations: host,
    ...(opts.mail ? { mail: opts.mail } : {}),
    outbound,
  };
  const services = createServices(ctx, { dataDir: opts.dataDir });
  if (opts.outbound && opts.maintenance !== 'none') await recordOutboundAllowance(ctx, outbound).catch(onError);
  const reconciler = new Reconciler(ctx);

  const provisionSimulated = async (lockIds?: string[]): Promise<number> => {
    if (!simulated) return 0;
    const conditions = [eq(locks.driver, 'simulator'), isNotNull(locks.externalId)];
    if (lockIds) conditions.push(inArray(locks.id, lockIds));
    const rows = await ctx.db.select({ lock: locks, model: lockModels }).from(locks).innerJoin(lockModels, eq(lockModels.id, locks.modelId)).where(and(...conditions));
    if (rows.length === 0) return 0;
    // A few locks (one just saved) are looked up one by one; a whole inventory with one listing.
    const known = lockIds && rows.length <= 20 ? null : await simulated.known();
    let n = 0;
    for (const { lock, model } of rows) {
      if (known ? known.has(lock.externalId!) : await simulated.has(lock.externalId!)) continue;
      await simulated.provision(specFromModel({ externalId: lock.externalId!, hub: conventionalSimHub(lock.externalId!), model, firmware: lock.firmware || null, batteryPercent: lock.batteryPercent }));
      n++;
    }
    return n;
  };
  // A simulated lock added to the inventory appears in the simulator at once (a simulator that cannot
  // be reached then gets it at the next start), and a lock never read is read, so its page can compare.
  ctx.hooks = {
    locksSaved: async (lockIds) => {
      await provisionSimulated(lockIds).catch(onError);
      await readUnread(ctx, lockIds).catch(onError);
    },
  };
  await provisionSimulated().catch(onError);
  // Integrations start in the background: a slow cloud or a controller that is down must not hold up
  // the server's start (each one's status says whether it runs).
  let integrationsStarted: Promise<unknown> = Promise.resolve();
  void firstPass(() => (integrationsStarted = services.integrations.startAll().catch(onError)));
  // One that could not start is tried again by itself (backoff per integration; see IntegrationHost).
  const integrationRetryTimer = setInterval(() => void services.integrations.retryFailed().catch(onError), 10_000);
  integrationRetryTimer.unref();

  let worker: Worker | null = null;
  let resumeTimer: NodeJS.Timeout | null = null;
  let resuming: Promise<unknown> = Promise.resolve();
  if (queue && opts.worker !== false) {
    // Reset-case steps a crash left half done (an intent with no done row) are finished at start and
    // then periodically, in the background (a lock that does not answer must not hold up the start).
    const resume = () => {
      resuming = resuming.then(() => services.resetCases.resumeOpenIntents(onError)).catch(onError);
    };
    void firstPass(resume);
    const resumeEvery = opts.resetResumeSeconds ?? 60;
    if (resumeEvery > 0) {
      resumeTimer = setInterval(resume, resumeEvery * 1000);
      resumeTimer.unref();
    }
    const perHub = Object.fromEntries([...drivers.entries()].map(([name, d]) => [name, d.hubConcurrency * 2]));
    worker = new Worker(queue, (job, lease) => reconciler.reconcile(job.data.lockId, { read: job.data.read || job.retryCount > 0, lease }), {
      maxActive: opts.workerConcurrency ?? 2000,
      perHub,
      fallbackPerHub: 4,
      onError,
    });
    void firstPass(() => worker?.start());
    workerRef = worker;
  }

  // Outbox delivery in rounds, in every worker process: the outbox rows are the durable queue and a
  // round claims due rows with SKIP LOCKED, so several processes share it. The turnover job (feeds,
  // issue, revoke, confirmations) is maintenance: the leader runs it (below).
  const timers: NodeJS.Timeout[] = [];
  if (opts.worker !== false) {
    const every = (seconds: number, run: () => Promise<unknown>) => {
      if (seconds <= 0) return;
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        void run()
          .catch(onError)
          .finally(() => (busy = false));
      }, seconds * 1000);
      t.unref();
      timers.push(t);
    };
    every(opts.outboxSeconds ?? 5, () => services.outbox.deliverDue());
  }

  // Maintenance: device events, drift checks, resuming open changes, history pruning, checkpoints. With several
  // processes on one PostgreSQL exactly one (the leader) runs it, so no event is recorded twice.
  let unsubscribers: (() => void)[] = [];
  let driftTimer: NodeJS.Timeout | null = null;
  let historyTimer: NodeJS.Timeout | null = null;
  let turnoverTimer: NodeJS.Timeout | null = null;
  let checkpointTimer: NodeJS.Timeout | null = null;
  const maintenanceMode = opts.maintenance ?? 'always';
  const lead = async () => {
    // A device that reports a change is read again at once, so drift shows (and is repaired) quickly.
    // The echo of lockwarden's own write is not: the reconciler already recorded that command's outcome.
    unsubscribers = [...drivers.entries()].map(([name, driver]) =>
      driver.onEvent((event: DriverEvent) => {
        // Every report is in the lock's history; a reset, tamper or unusable message is also an alert on its page.
        void services.lockEvents.record(name, event).catch(onError);
        if (event.type === 'credentials_changed' && event.bySelf === true) return;
        if (event.type !== 'credentials_changed' && event.type !== 'reset_detected' && !(event.type === 'online' && event.online)) return;
        void enqueueForDevice(ctx, name, event.externalId, event.type).catch(onError);
      }),
    );
    if (queue && opts.worker !== false) {
      // A stay that could not be handled (its unit's feed unreachable, no free slot) is reported, and retried next round.
      const turnoverEvery = opts.turnoverSeconds ?? 60;
      if (turnoverEvery > 0) {
        let busy = false;
        turnoverTimer = setInterval(() => {
          if (busy) return;
          busy = true;
          void services.turnovers
            .tick()
            .then((r) => r.errors.forEach((e) => onError(new Error(`turnover: ${e}`))))
            .catch(onError)
            .finally(() => (busy = false));
        }, turnoverEvery * 1000);
        turnoverTimer.unref();
      }
      await firstPass(() => resumeOpen(ctx));
      const historyDays = opts.historyDays ?? 0;
      if (historyDays > 0) {
        const prune = () => services.lockEvents.prune(new Date(ctx.clock.now().getTime() - historyDays * 86_400_000)).catch(onError);
        historyTimer = setInterval(() => void prune(), 3_600_000);
        historyTimer.unref();
        void firstPass(prune);
      }
      const every = opts.driftCheckSeconds ?? 900;
      if (every > 0) {
        driftTimer = setInterval(() => void checkDrift(ctx, every).catch(onError), Math.min(every, 60) * 1000);
        driftTimer.unref();
        // Locks never read yet are read once at start, so the lock page has something to compare.
        void firstPass(() => checkDrift(ctx, every).catch(onError));
      }
    }
    // A signed checkpoint every minute while there is something new (recorded by any process, or
    // left unsigned by a process that stopped abruptly: verification requires one), and one at stop
    // (see AuditLog.checkpoint). A witness that did not get it is reported, and sent it again next time.
    const checkpointEvery = opts.audit?.checkpointSeconds ?? (opts.worker === false ? 0 : 60);
    if (checkpointEvery > 0) {
      checkpointTimer = setInterval(
        () =>
          void ctx.audit
            .needsCheckpoint(true)
            .then((needed) => (needed ? ctx.audit.checkpoint() : undefined))
            .then((made) => {
              if (made?.witnessError) onError(new Error(made.witnessError));
            })
            .catch(onError),
        checkpointEvery * 1000,
      );
      checkpointTimer.unref();
    }
  };
  const unlead = () => {
    for (const u of unsubscribers) u();
    unsubscribers = [];
    if (driftTimer) clearInterval(driftTimer);
    if (historyTimer) clearInterval(historyTimer);
    if (checkpointTimer) clearInterval(checkpointTimer);
    if (turnoverTimer) clearInterval(turnoverTimer);
    driftTimer = historyTimer = checkpointTimer = turnoverTimer = null;
  };
  let leadership: Leadership | null = null;
  if (maintenanceMode === 'always') await lead();
  else if (maintenanceMode === 'leader') {
    leadership = await startLeadership(opts.database.jobConnection, {
      onLead: () => void lead().catch(onError),
      onLose: () => {
        onError(new Error('lost the maintenance lead (its database connection broke); another process takes over'));
        unlead();
      },
      onError,
    });
  }

  return {
    ctx,
    services,
    queue,
    worker,
    fleet,
    reconciler,
    get leading() {
      return maintenanceMode === 'always' || (leadership?.leading ?? false);
    },
    provisionSimulated,
    stop: async () => {
      stopped = true;
      clearInterval(integrationRetryTimer);
      await integrationsStarted;
      unlead();
      await leadership?.stop();
      for (const t of timers) clearInterval(t);
      services.outbox.close();
      if (resumeTimer) clearInterval(resumeTimer);
      await resuming;
      if (opts.audit?.checkpointOnStop !== false && ctx.audit.hasUncheckpointed) await ctx.audit.checkpoint().catch(onError);
      await worker?.stop();
      await queue?.stop();
      for (const d of drivers.values()) await d.close();
      if (fleet && mode.kind === 'in-process' && !mode.fleet) fleet.save(mode.stateFile ?? path.join(opts.dataDir, 'simulator.json'));
    },
  };
}

async function enqueueForDevice(ctx: ServiceContext, driverName: string, externalId: string, reason: string): Promise<void> {
  const rows = await ctx.db
    .select({ id: locks.id, driver: locks.driver, externalId: locks.externalId })
    .from(locks)
    .where(and(eq(locks.driver, driverName as never), eq(locks.externalId, externalId)));
  await ctx.jobs.enqueue(reconcileRequests(ctx.drivers, rows, reason, true));
}

/** Queues a read of every active lock whose last read is older than `maxAgeSeconds`. */
async function checkDrift(ctx: ServiceContext, maxAgeSeconds: number): Promise<void> {
  const cutoff = new Date(ctx.clock.now().getTime() - maxAgeSeconds * 1000);
  const rows = await ctx.db
    .select({ id: locks.id, driver: locks.driver, externalId: locks.externalId })
    .from(locks)
    .leftJoin(lockObservations, eq(lockObservations.lockId, locks.id))
    .where(and(isNotNull(locks.externalId), sql`${locks.serviceState} <> 'retired'`, or(isNull(lockObservations.readAt), lt(lockObservations.readAt, cutoff))));
  await ctx.jobs.enqueue(reconcileRequests(ctx.drivers, rows, 'drift check', true));
}

/** Queues a first read of those of `lockIds` that have never been read. */
async function readUnread(ctx: ServiceContext, lockIds: string[]): Promise<void> {
  const rows = await ctx.db
    .select({ id: locks.id, driver: locks.driver, externalId: locks.externalId })
    .from(locks)
    .leftJoin(lockObservations, eq(lockObservations.lockId, locks.id))
    .where(and(inArray(locks.id, lockIds), isNotNull(locks.externalId), sql`${locks.serviceState} <> 'retired'`, isNull(lockObservations.readAt)));
  await ctx.jobs.enqueue(reconcileRequests(ctx.drivers, rows, 'first read', true));
}

/** Queues every lock with credentials still on their way (changes recorded while no worker ran). */
async function resumeOpen(ctx: ServiceContext): Promise<void> {
  const rows = await ctx.db
    .selectDistinct({ id: locks.id, driver: locks.driver, externalId: locks.externalId })
    .from(locks)
    .innerJoin(credentials, eq(credentials.lockId, locks.id))
    .where(and(isNotNull(locks.externalId), inArray(credentials.status, ['pending', 'removing'])));
  await ctx.jobs.enqueue(reconcileRequests(ctx.drivers, rows, 'resume', true));
}

/**
 * Records the owner's private-network allowance (LOCKWARDEN_ALLOW_PRIVATE_TARGETS) in the audit log
 * whenever it differs from the last one recorded, so widening what the server may reach leaves a trace.
 */
async function recordOutboundAllowance(ctx: ServiceContext, policy: OutboundPolicy): Promise<void> {
  const kinds = [...policy.allowPrivate].sort();
  const [last] = await ctx.db.select({ details: auditLog.details }).from(auditLog).where(eq(auditLog.action, 'outbound.allow_private')).orderBy(desc(auditLog.seq)).limit(1);
  const before = (last?.details as { kinds?: string[] } | undefined)?.kinds ?? [];
  if (before.join(',') === kinds.join(',')) return;
  await inTransaction(ctx.db, (tx) =>
    ctx.audit.append(tx, { actor: { kind: 'system', name: 'bootstrap' }, action: 'outbound.allow_private', target: { type: 'setting', id: 'LOCKWARDEN_ALLOW_PRIVATE_TARGETS' }, details: { kinds, before } }),
  );
}
