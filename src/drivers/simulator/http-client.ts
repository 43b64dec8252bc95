/**
 * The wire under the HTTP transport and control client: JSON requests to a simulator server, with
 * the server's error bodies turned back into the same `DriverError`s the fleet threw, and network
 * failures turned into the `DriverError`s a real hub connection would give.
 */
import { DriverError } from '../contract.js';
import { ErrorBodySchema, isDriverErrorCode } from './schemas.js';

/** A request the simulator server refused for a reason outside the driver contract (bad input, no route). */
export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SimHttpError';
  }
}

/** Options of every request to the simulator server. */
export interface SimHttpOptions {
  /** Give up on one request after this long (a timeout, uncertain). */
  timeoutMs?: number;
}

/** Sends JSON requests to one simulator server. */
export class SimHttpClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, opts: SimHttpOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** One request; resolves with the parsed JSON body, or throws `DriverError` / `SimHttpError`. */
  async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (e) {
      throw networkError(e, signal);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      if (res.ok) throw networkError(e, signal);
      json = null;
    }
    if (res.ok) return json;
    const parsed = ErrorBodySchema.safeParse(json);
    if (!parsed.success) throw new SimHttpError(res.status, 'sim.bad_answer', `simulator answered ${res.status} without an error body`);
    const { code, message, details = {} } = parsed.data.error;
    if (isDriverErrorCode(code)) {
      throw new DriverError(code, message, {
        ...(details.uncertain === undefined ? {} : { uncertain: details.uncertain }),
        ...(details.slot === undefined ? {} : { slot: details.slot }),
      });
    }
    throw new SimHttpError(res.status, code, message, details);
  }
}

/** What a failed connection means for a command: never sent (unreachable) or lost in flight (uncertain). */
function networkError(e: unknown, signal: AbortSignal | undefined): Error {
  if (signal?.aborted) return new DriverError('driver.unreachable', 'the request was cancelled');
  const err = e as { name?: string; cause?: { code?: string } };
  if (err.cause?.code === 'ECONNREFUSED' || err.cause?.code === 'ENOTFOUND') {
    return new DriverError('driver.unreachable', `simulator not reachable (${err.cause.code})`);
  }
  if (err.name === 'TimeoutError') return new DriverError('driver.timeout', 'simulator did not answer in time', { uncertain: true });
  return new DriverError('driver.timeout', `connection to the simulator failed: ${e instanceof Error ? e.message : String(e)}`, { uncertain: true });
}
