/**
 * What one lockwarden process runs around the services: the key for secrets, the lock drivers (each
 * gated per hub), the durable job queue and, when asked, a worker that reconciles locks. The server,
 * the local CLI and the tests all build their services through here, so they behave the same.
 */
import { BUILT_IN_FACTORIES, IntegrationHost, type DriverFactories } from './drivers/integration-host.js';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { and, eq, inArray, isNotNull, lt, or, isNull, sql } from 'drizzle-orm';
import { systemClock, systemIds, type Clock, type Ids } from './domain/clock.js';
import { deploymentKeySource, SecretBox } from './crypto/secret-box.js';
import { deploymentMasterKeyring, type MasterKeyring } from './crypto/envelope.js';
import { AuditMac, checkpointsFilePath, deploymentCheckpointSigner, type CheckpointSigner } from './crypto/audit-chain.js';
import { AuditLog } from './services/audit-log.js';
import { isDriverError, type DriverEvent, type DriverRegistry, type LockDriver } from './drivers/contract.js';
import { gateByHub } from './drivers/hub-gate.js';
import { SimFleet, SimulatorDriver, InProcessSimTransport, HttpSimTransport, conventionalSimHub, specFromModel, type VirtualLockSpec } from './drivers/simulator/index.js';
import { JobQueue, type ReconcileRequest } from './jobs/queue.js';
import { Worker } from './jobs/worker.js';
import { createServices, type Services } from './services/index.js';
import { reconcileRequests, type JobSink, type ServiceContext } from './services/context.js';
import { Reconciler } from './services/reconciler.js';
import type { Database } from './store/database.js';
import { credentials, lockModels, lockObservations, locks } from './store/schema.js';

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
  secrets?: SecretBox;
  /** Master keys for handbook secrets (default: `LOCKWARDEN_MASTER_KEY` or `<data>/keys/master.json`). */
  masterKeys?: MasterKeyring;
  clock?: Clock;
  ids?: Ids;
  /** Seconds between passes of the reset-step resumer (with a worker; it also runs at start); 0: only at start. */
  resetResumeSeconds?: number;
  /** Seconds between drift checks of every lock; 0 turns the periodic check off. */
  driftCheckSeconds?: number;
  onError?: (e: unknown) => void;
  /** The drivers integrations are started with (default: those this build ships). */
  driverFactories?: DriverFactories;
  /** Where jobs go instead of the queue (tests that drive the reconciler by hand). */
  jobs?: JobSink;
  audit?: {
    /** Signs checkpoints (default: `LOCKWARDEN_AUDIT_SIGNING_KEY` or `<data>/keys/audit-signing.pem`). */
    signer?: CheckpointSigner;
    /** The checkpoint file (default: `LOCKWARDEN_AUDIT_CHECKPOINTS` or `<data>/audit/checkpoints.jsonl`); null for none. */
    checkpointsFile?: string | null;
    /** Seconds between checkpoints while something new was recorded (default 60, with a worker); 0 turns them off. */
    checkpointSeconds?: number;
    /** Checkpoint at stop when this process recorded something (default true). */
    checkpointOnStop?: boolean;
  };
}

export interface Runtime {
  ctx: ServiceContext;
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
  const host = new IntegrationHost(opts.driverFactories ?? BUILT_IN_FACTORIES, opts.dataDir);
  for (const [name, mux] of host.multiplexers) drivers.set(name, gateByHub(mux));
  const registry: DriverRegistry = { get: (name) => drivers.get(name) };

  const queue = opts.queue === false ? null : await JobQueue.open(opts.database.jobConnection, { supervise: opts.worker !== false });
  let worker: Worker | null = null;
  const sink: JobSink = opts.jobs ?? {
    enqueue: async (requests: ReconcileRequest[]) => {
      if (!queue || requests.length === 0) return;
      await queue.enqueue(requests);
      worker?.nudge();
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
      signer: opts.audit?.signer ?? deploymentCheckpointSigner(opts.dataDir),
      checkpointsFile: opts.audit?.checkpointsFile === undefined ? checkpointsFilePath(opts.dataDir) : opts.audit.checkpointsFile,
    }),
    randomInt: (max) => randomInt(max),
    integrations: host,
  };
  const services = createServices(ctx);
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
  const integrationsStarted = services.integrations.startAll().catch(onError);

  // A device that reports a change is read again at once, so drift shows (and is repaired) quickly.
  // The echo of lockwarden's own write is not: the reconciler already recorded that command's outcome.
  const unsubscribers = [...drivers.entries()].map(([name, driver]) =>
    driver.onEvent((event: DriverEvent) => {
      // Every report is in the lock's history; a reset, tamper or unusable message is also an alert on its page.
      void services.lockEvents.record(name, event).catch(onError);
      if (event.type === 'credentials_changed' && event.bySelf === true) return;
      if (event.type !== 'credentials_changed' && event.type !== 'reset_detected' && !(event.type === 'online' && event.online)) return;
      void enqueueForDevice(ctx, name, event.externalId, event.type).catch(onError);
    }),
  );

  let driftTimer: NodeJS.Timeout | null = null;
  let resumeTimer: NodeJS.Timeout | null = null;
  let resuming: Promise<unknown> = Promise.resolve();
  if (queue && opts.worker !== false) {
    // Reset-case steps a crash left half done (an intent with no done row) are finished at start and
    // then periodically, in the background (a lock that does not answer must not hold up the start).
    const resume = () => {
      resuming = resuming.then(() => services.resetCases.resumeOpenIntents(onError)).catch(onError);
    };
    resume();
    const resumeEvery = opts.resetResumeSeconds ?? 60;
    if (resumeEvery > 0) {
      resumeTimer = setInterval(resume, resumeEvery * 1000);
      resumeTimer.unref();
    }
    const perHub = Object.fromEntries([...drivers.entries()].map(([name, d]) => [name, d.hubConcurrency * 2]));
    worker = new Worker(queue, (job) => reconciler.reconcile(job.data.lockId, { read: job.data.read || job.retryCount > 0 }), {
      maxActive: 2000,
      perHub,
      fallbackPerHub: 4,
      onError,
    });
    worker.start();
    await resumeOpen(ctx);
    const every = opts.driftCheckSeconds ?? 900;
    if (every > 0) {
      driftTimer = setInterval(() => void checkDrift(ctx, every).catch(onError), Math.min(every, 60) * 1000);
      driftTimer.unref();
      // Locks never read yet are read once at start, so the lock page has something to compare.
      void checkDrift(ctx, every).catch(onError);
    }
  }

  // A signed checkpoint every minute while there is something new, and one at stop (see AuditLog.checkpoint).
  const checkpointEvery = opts.audit?.checkpointSeconds ?? (opts.worker === false ? 0 : 60);
  const checkpointTimer = checkpointEvery > 0 ? setInterval(() => void (ctx.audit.hasUncheckpointed ? ctx.audit.checkpoint().catch(onError) : undefined), checkpointEvery * 1000) : null;
  checkpointTimer?.unref();

  return {
    ctx,
    services,
    queue,
    worker,
    fleet,
    reconciler,
    provisionSimulated,
    stop: async () => {
      await integrationsStarted;
      if (driftTimer) clearInterval(driftTimer);
      if (resumeTimer) clearInterval(resumeTimer);
      await resuming;
      if (checkpointTimer) clearInterval(checkpointTimer);
      if (opts.audit?.checkpointOnStop !== false && ctx.audit.hasUncheckpointed) await ctx.audit.checkpoint().catch(onError);
      for (const u of unsubscribers) u();
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
