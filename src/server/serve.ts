/**
 * `lockwarden serve`: opens the database (taking the data folder's lock), runs migrations, creates
 * the owner and the demo fleet on a first start, then listens until SIGINT/SIGTERM.
 */
import type { FastifyInstance } from 'fastify';
import type { ServeConfig } from '../config.js';
import { VERSION } from '../config.js';
import { demoLoaded, loadDemoFleet, loadStarterHandbook } from '../services/demo-fleet.js';
import { startRuntime, type Runtime, type RuntimeOptions } from '../runtime.js';
import { outboundPolicy } from '../net/outbound.js';
import { openDatabase, type Database } from '../store/database.js';
import { createApp, LOG_REDACT } from './app.js';

/**
 * How long after listening the background work makes its first passes (resuming, the drift check,
 * the worker's first claim, starting integrations): the requests that come first after a restart
 * (health checks, reconnecting clients) are answered before that work takes the one thread.
 */
const FIRST_PASSES_DELAY_MS = 1000;

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  database: Database;
  runtime: Runtime;
  /** Present on a first start: the link that signs the new owner in once. */
  oneTimeUrl: string | null;
  stop(): Promise<void>;
}

/** A `--role worker` process: works jobs, listens on nothing. */
export interface RunningWorker {
  database: Database;
  runtime: Runtime;
  stop(): Promise<void>;
}

/**
 * Starts what `cfg.role` asks for and resolves once it runs: `api` serves HTTP and the UI and queues
 * jobs; `worker` runs jobs and the maintenance (only while it holds the leader lock, so several
 * workers never record a device event twice) and listens on nothing; `all` does both.
 */
export async function startServer(
  cfg: ServeConfig,
  out: (line: string) => void = (l) => console.log(l),
  /** For tests: a clock they move, and the turnover/outbox rounds (seconds; 0 = only when called). */
  extra: Pick<RuntimeOptions, 'clock' | 'turnoverSeconds' | 'outboxSeconds'> = {},
): Promise<RunningServer> {
  if (cfg.role === 'worker') throw new Error('startServer: a worker process listens on nothing; use startWorker');
  return (await start(cfg, out, extra)) as RunningServer;
}

/** Starts a `--role worker` process; resolves once it works jobs. */
export async function startWorker(cfg: ServeConfig, out: (line: string) => void = (l) => console.log(l)): Promise<RunningWorker> {
  if (cfg.role !== 'worker') throw new Error('startWorker: the configuration is not --role worker');
  return start(cfg, out);
}

async function start(cfg: ServeConfig, out: (line: string) => void, extra: Pick<RuntimeOptions, 'clock' | 'turnoverSeconds' | 'outboxSeconds'> = {}): Promise<RunningServer | RunningWorker> {
  const t0 = performance.now();
  const database = await openDatabase({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, purpose: 'server' });
  let runtime: Runtime | null = null;
  let openFirstPasses = (): void => undefined;
  const firstPassesAfter = new Promise<void>((resolve) => (openFirstPasses = resolve));
  try {
    runtime = await startRuntime({
      database,
      dataDir: cfg.dataDir,
      simulator: cfg.simulatorUrl ? { kind: 'remote', url: cfg.simulatorUrl, hubConcurrency: cfg.simHubConcurrency } : { kind: 'in-process', hubConcurrency: cfg.simHubConcurrency },
      worker: cfg.role !== 'api',
      historyDays: cfg.historyDays,
      ...(cfg.smtpUrl ? { mail: { smtpUrl: cfg.smtpUrl, from: cfg.mailFrom } } : {}),
      outbound: outboundPolicy({ allowPrivate: cfg.allowPrivateTargets ?? [] }),
      ...extra,
      workerConcurrency: cfg.workerConcurrency,
      maintenance: cfg.role === 'api' ? 'none' : database.engine === 'postgres' ? 'leader' : 'always',
      // An api process appends to the audit log too; the leading worker checkpoints what any process recorded.
      ...(cfg.role === 'api' ? { audit: { checkpointSeconds: 0 } } : {}),
      // A worker listens on nothing: its background work starts with it.
      ...(cfg.role === 'worker' ? {} : { firstPassesAfter }),
    });
    const { ctx, services } = runtime;
    const engineLabel = database.engine === 'pglite' ? `embedded database in ${cfg.dataDir}` : 'PostgreSQL';
    if (cfg.role === 'worker') {
      out(`lockwarden ${VERSION} worker running (${engineLabel}, ready in ${Math.round(performance.now() - t0)} ms)`);
      let stopping: Promise<void> | null = null;
      const stop = () =>
        (stopping ??= (async () => {
          await runtime?.stop();
          await database.close();
        })());
      return { database, runtime, stop };
    }
    const owner = await services.auth.bootstrapOwner();
    const demo = owner && cfg.demo ? await loadDemoFleet(ctx) : null;
    // A demo loaded before the handbook existed still gets its starter procedures, once.
    if (!demo && (await demoLoaded(ctx))) await loadStarterHandbook(ctx);
    const app = await createApp({
      services,
      fleet: runtime.fleet,
      webDir: cfg.webDir,
      version: VERSION,
      secureCookies: cfg.secureCookies,
      logger: cfg.logLevel === 'silent' ? false : { level: cfg.logLevel, redact: { paths: LOG_REDACT, censor: '[redacted]' } },
    });
    await app.listen({ port: cfg.port, host: cfg.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
    const url = `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
    database.lock?.setUrl(url);
    setTimeout(openFirstPasses, FIRST_PASSES_DELAY_MS).unref();
    const oneTimeUrl = owner ? `${url}/signin/one-time#${owner.oneTimeToken}` : null;

    out(`lockwarden ${VERSION} listening on ${url} (${engineLabel}${cfg.role === 'api' ? ', api only: jobs run in worker processes' : ''}, ready in ${Math.round(performance.now() - t0)} ms)`);
    if (demo) out(`Loaded the DEMO fleet: ${demo.locks} simulated locks, ${demo.models} models, ${demo.locations} locations (start with --no-demo on an empty data folder to skip).`);
    if (owner) {
      out('');
      out(`First start: created the owner account ${owner.user.email}.`);
      out(`Sign in once with this link (valid 24 h, single use), then choose a password:`);
      out(`  ${oneTimeUrl}`);
      out('');
    }
    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        await app.close();
        await runtime?.stop();
        await database.close();
      })());
    return { app, url, database, runtime, oneTimeUrl, stop };
  } catch (e) {
    await runtime?.stop().catch(() => undefined);
    await database.close();
    throw e;
  }
}
