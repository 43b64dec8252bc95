/**
 * One simulated fleet served over JSON HTTP, so lockwarden processes (server, workers, CLI) reach the
 * same devices as they would reach a real hub. Errors come back as `{ error: { code, message,
 * details } }` with the driver's stable codes; events are delivered by long polling `/events`.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { isDriverError, type DriverErrorCode, type DriverEvent } from '../contract.js';
import { SimFleet } from './fleet.js';
import { SimValidationError, parseInput, registerSimRoutes } from './server-routes.js';

const STATUS_BY_CODE: Record<DriverErrorCode, number> = {
  'driver.unknown_device': 404,
  'driver.invalid_pin': 422,
  'driver.duplicate_pin': 422,
  'driver.slot_full': 422,
  'driver.not_supported': 422,
  'driver.refused': 409,
  'driver.invalid_code': 422,
  'driver.busy': 503,
  'driver.unreachable': 502,
  'driver.timeout': 504,
  'driver.queued': 202,
};

/** How many recent events a late poller can still catch up on. */
const EVENT_BUFFER = 1000;

/** Recent events with sequence numbers, and pollers waiting for the next one. */
export class EventFeed {
  private readonly buffer: { seq: number; event: DriverEvent }[] = [];
  private lastSeq = 0;
  private readonly waiters = new Set<() => void>();

  /** Adds an event and wakes every waiting poller. */
  push(event: DriverEvent): void {
    this.buffer.push({ seq: ++this.lastSeq, event });
    if (this.buffer.length > EVENT_BUFFER) this.buffer.shift();
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * Events after `after`, waiting up to `waitMs` for one when there are none yet. Without `after`
   * the poller joins now: nothing old is sent, and `next` is where to continue from. An `after`
   * beyond the last event means the server restarted under the poller, which then joins anew.
   */
  async poll(after: number | undefined, waitMs: number): Promise<{ events: DriverEvent[]; next: number }> {
    if (after === undefined || after > this.lastSeq) return { events: [], next: this.lastSeq };
    if (this.lastSeq <= after && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.waiters.add(done);
      });
    }
    const events = this.buffer.filter((e) => e.seq > after).slice(0, 500);
    return { events: events.map((e) => e.event), next: events.at(-1)?.seq ?? Math.max(after, this.lastSeq) };
  }

  /** Answers every waiting poller now (the server is closing). */
  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

const EventsQuery = z.object({
  after: z.coerce.number().pipe(z.int().min(0)).optional(),
  waitMs: z.coerce.number().pipe(z.int().min(0).max(60_000)).default(20_000),
});

/** Builds the Fastify app over `fleet` (not listening); `inject` works on it for tests. */
export function buildSimApp(fleet: SimFleet): FastifyInstance {
  const app = Fastify({ logger: false });
  const feed = new EventFeed();
  const unsubscribe = fleet.onEvent((e) => feed.push(e));
  app.addHook('preClose', async () => feed.wakeAll());
  app.addHook('onClose', async () => unsubscribe());

  app.get('/events', async (req) => {
    const q = parseInput(EventsQuery, req.query, 'query');
    return feed.poll(q.after, q.waitMs);
  });
  registerSimRoutes(app, fleet);

  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: { code: 'sim.not_found', message: `no route ${req.method} ${req.url}`, details: {} } }),
  );
  app.setErrorHandler(async (err: FastifyError | Error, _req, reply) => {
    if (isDriverError(err)) return reply.code(STATUS_BY_CODE[err.code]).send({ error: { code: err.code, message: err.message, details: err.details } });
    if (err instanceof SimValidationError) {
      return reply.code(400).send({ error: { code: 'validation.failed', message: err.message, details: { field: err.field } } });
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: { code: 'validation.failed', message: err.message, details: { field: 'body' } } });
    return reply.code(500).send({ error: { code: 'sim.internal', message: 'internal error in the simulator', details: {} } });
  });
  return app;
}

/** Where and what `startSimServer` serves. */
export interface SimServerOptions {
  host?: string;
  port?: number;
  /** Serve this fleet (otherwise one is loaded from `stateFile`, or made empty). */
  fleet?: SimFleet;
  seed?: number;
  /** Keep the fleet in this file: loaded at start when present, saved after changes and on close. */
  stateFile?: string;
  /** How long changes settle before the state file is written. */
  saveDebounceMs?: number;
}

/** A listening simulator: its address, its fleet, and how to stop it (saving the state file). */
export interface RunningSimServer {
  url: string;
  fleet: SimFleet;
  close(): Promise<void>;
}

/** Starts a simulator server; port 0 picks a free port (see `url`). */
export async function startSimServer(opts: SimServerOptions = {}): Promise<RunningSimServer> {
  const { stateFile } = opts;
  const fleet = opts.fleet ?? (stateFile && existsSync(stateFile) ? SimFleet.load(stateFile) : new SimFleet());
  if (opts.seed !== undefined) fleet.configure({ seed: opts.seed });
  let timer: NodeJS.Timeout | null = null;
  let lastSaveMs = 0;
  const save = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!stateFile) return;
    const t0 = performance.now();
    fleet.save(stateFile);
    lastSaveMs = performance.now() - t0;
  };
  // A big fleet under steady change would otherwise spend its time saving: space saves out by their cost.
  const stopSaving = stateFile
    ? fleet.onChange(() => {
        timer ??= setTimeout(() => {
          try {
            save();
          } catch (e) {
            // Keep serving; the next change (or close) tries again, and close reports a failure.
            process.emitWarning(`simulator state not saved to ${stateFile}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }, Math.max(opts.saveDebounceMs ?? 200, lastSaveMs * 10));
      })
    : () => undefined;

  const app = buildSimApp(fleet);
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the simulator is not listening on a TCP port');
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : address.address;
  const url = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${address.port}`;
  let closed = false;
  return {
    url,
    fleet,
    close: async () => {
      if (closed) return;
      closed = true;
      stopSaving();
      await app.close();
      if (stateFile) save();
    },
  };
}
