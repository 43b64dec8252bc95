/**
 * `lockwarden serve`: opens the database (taking the data folder's lock), runs migrations, creates
 * the owner and the demo fleet on a first start, then listens until SIGINT/SIGTERM.
 */
import type { FastifyInstance } from 'fastify';
import type { ServeConfig } from '../config.js';
import { VERSION } from '../config.js';
import { demoLoaded, loadDemoFleet, loadStarterHandbook } from '../services/demo-fleet.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { openDatabase, type Database } from '../store/database.js';
import { createApp, LOG_REDACT } from './app.js';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  database: Database;
  runtime: Runtime;
  /** Present on a first start: the link that signs the new owner in once. */
  oneTimeUrl: string | null;
  stop(): Promise<void>;
}

/** Starts the server; resolves once it listens. */
export async function startServer(cfg: ServeConfig, out: (line: string) => void = (l) => console.log(l)): Promise<RunningServer> {
  const t0 = performance.now();
  const database = await openDatabase({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, purpose: 'server' });
  let runtime: Runtime | null = null;
  try {
    runtime = await startRuntime({
      database,
      dataDir: cfg.dataDir,
      simulator: cfg.simulatorUrl ? { kind: 'remote', url: cfg.simulatorUrl } : { kind: 'in-process' },
      worker: true,
      historyDays: cfg.historyDays,
    });
    const { ctx, services } = runtime;
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
    const oneTimeUrl = owner ? `${url}/signin/one-time#${owner.oneTimeToken}` : null;

    out(`lockwarden ${VERSION} listening on ${url} (${database.engine === 'pglite' ? `embedded database in ${cfg.dataDir}` : 'PostgreSQL'}, ready in ${Math.round(performance.now() - t0)} ms)`);
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
