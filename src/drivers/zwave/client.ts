/**
 * A client of one Z-Wave JS server: connects, negotiates the API schema, starts listening, sends
 * commands matched to their results by message id, hands events on, and reconnects with backoff when
 * the connection drops. Failures are `DriverError`s; nothing here knows about locks.
 */
import WebSocket from 'ws';
import { DriverError } from '../contract.js';
import { MAX_SCHEMA_VERSION, MIN_SCHEMA_VERSION, eventMessage, resultMessage, startListeningResult, versionMessage, type NodeDump, type ResultMessage } from './protocol.js';

/** How the client reaches and retries its server. */
export interface ZwaveClientOptions {
  url: string;
  /** How long one command may take before it fails as `driver.timeout` (zwave-js itself retries within this). */
  requestTimeoutMs?: number;
  /** How long the connection and handshake may take. */
  connectTimeoutMs?: number;
  /** Reconnect delays: the first, doubling up to the last. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Jitter source (0..1), injectable so tests are exact. */
  random?: () => number;
}

/** A server event (`source`, `event` and its fields). */
export type ZwaveServerEvent = { source: string; event: string } & Record<string, unknown>;

/** What the client tells its owner. */
export type ZwaveClientSignal =
  | { kind: 'event'; event: ZwaveServerEvent }
  | { kind: 'connected'; nodes: NodeDump[]; schemaVersion: number }
  | { kind: 'disconnected' };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
  write: boolean;
  what: string;
}

/** Error codes of zwave-js (`ZWaveErrorCodes`) that the driver maps; see packages/core/src/error/ZWaveError.ts. */
const ZW = { driverNotReady: 103, timeout: 200, nodeTimeout: 201, messageDropped: 202, responseNok: 203, callbackNok: 204, nodeNotFound: 211, nodeRemoved: 213, messageExpired: 215, ccNotSupported: 302, argumentInvalid: 322, supervisionFailed: 1100 } as const;

/** Keeps secrets out of messages: digit runs that could be a PIN are masked. */
export function scrub(text: string): string {
  return text.replace(/(?<![A-Za-z])\d{4,}/g, '****');
}

/** Maps a failed result to a `DriverError`; `write` marks commands that may have changed the device. */
export function resultError(r: Extract<ResultMessage, { success: false }>, what: string, write: boolean): DriverError {
  const detail = r.zwaveErrorCode !== undefined ? `ZW${String(r.zwaveErrorCode).padStart(4, '0')} ${scrub(r.zwaveErrorMessage ?? '')}` : scrub(r.message ?? r.errorCode);
  const msg = `${what}: ${detail}`.trim();
  if (r.errorCode === 'node_not_found') return new DriverError('driver.unknown_device', `${what}: the Z-Wave JS server has no such node`);
  if (r.errorCode === 'schema_incompatible' || r.errorCode === 'unknown_command') return new DriverError('driver.not_supported', msg);
  if (r.errorCode !== 'zwave_error') return new DriverError('driver.refused', msg);
  switch (r.zwaveErrorCode) {
    case ZW.timeout:
    case ZW.nodeTimeout:
      return new DriverError('driver.timeout', msg, { uncertain: write });
    case ZW.messageDropped:
    case ZW.responseNok:
    case ZW.callbackNok:
    case ZW.messageExpired:
      // The node never acknowledged the frame, so nothing reached it.
      return new DriverError('driver.unreachable', msg);
    case ZW.driverNotReady:
      return new DriverError('driver.busy', msg);
    case ZW.nodeNotFound:
    case ZW.nodeRemoved:
      return new DriverError('driver.unknown_device', msg);
    case ZW.ccNotSupported:
      return new DriverError('driver.not_supported', msg);
    case ZW.argumentInvalid:
      return new DriverError('driver.invalid_pin', msg);
    default:
      return new DriverError('driver.refused', msg);
  }
}

/** One WebSocket connection to a Z-Wave JS server, kept alive. */
export class ZwaveJsClient {
  private ws: WebSocket | null = null;
  private connecting: Promise<void> | null = null;
  private readyFlag = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** A failure that retrying cannot fix (an unsupported schema): commands fail with it until a new attempt succeeds. */
  private fatal: DriverError | null = null;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(s: ZwaveClientSignal) => void>();
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly random: () => number;
  schemaVersion = 0;

  constructor(private readonly opts: ZwaveClientOptions) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.backoff = { initialMs: opts.backoff?.initialMs ?? 500, maxMs: opts.backoff?.maxMs ?? 30_000 };
    this.random = opts.random ?? Math.random;
  }

  get isReady(): boolean {
    return this.readyFlag;
  }

  /** Subscribes to events and connection changes. */
  on(listener: (s: ZwaveClientSignal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once connected and listening; connects when idle. */
  async ready(): Promise<void> {
    if (this.closed) throw new DriverError('driver.unreachable', 'the Z-Wave connection is closed');
    if (this.readyFlag) return;
    if (!this.connecting) {
      this.fatal = null;
      this.connecting = this.connect().finally(() => (this.connecting = null));
    }
    await this.connecting;
  }

  /** Sends one command and resolves with its result. `write`: the command may change the device. */
  async command(command: string, args: Record<string, unknown> = {}, opts: { write?: boolean; what?: string; timeoutMs?: number } = {}): Promise<unknown> {
    const what = opts.what ?? command;
    if (this.fatal) throw this.fatal;
    if (!this.readyFlag) {
      // Between reconnect attempts fail fast: the caller's retry policy decides, not a hidden wait.
      if (this.reconnectTimer) throw new DriverError('driver.unreachable', `${what}: the Z-Wave JS server at ${this.opts.url} is not connected`);
      await this.ready();
    }
    return this.send(command, args, opts.write ?? false, what, opts.timeoutMs ?? this.requestTimeoutMs);
  }

  /** Closes the connection for good. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.failPending(() => new DriverError('driver.unreachable', 'the Z-Wave connection was closed'));
    const ws = this.ws;
    this.ws = null;
    this.readyFlag = false;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close();
        setTimeout(() => (ws.terminate(), resolve()), 1_000).unref();
      });
    }
  }

  private emit(s: ZwaveClientSignal): void {
    for (const l of this.listeners) l(s);
  }

  private send(command: string, args: Record<string, unknown>, write: boolean, what: string, timeoutMs: number): Promise<unknown> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new DriverError('driver.unreachable', `${what}: the Z-Wave JS server at ${this.opts.url} is not connected`));
    const messageId = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(messageId);
        reject(new DriverError('driver.timeout', `${what}: no answer from the Z-Wave JS server within ${timeoutMs} ms`, { uncertain: write }));
      }, timeoutMs);
      this.pending.set(messageId, { resolve, reject, timer, write, what });
      ws.send(JSON.stringify({ ...args, messageId, command }), (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(messageId);
        reject(new DriverError('driver.unreachable', `${what}: could not send to the Z-Wave JS server`));
      });
    });
  }

  private failPending(make: (p: Pending) => DriverError): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(make(p));
      this.pending.delete(id);
    }
  }

  private async connect(): Promise<void> {
    const url = this.opts.url;
    const ws = new WebSocket(url, { handshakeTimeout: this.connectTimeoutMs });
    this.ws = ws;
    let versionSeen: (v: unknown) => void = () => {};
    const gone = () => new DriverError('driver.unreachable', `could not connect to the Z-Wave JS server at ${url}`);
    const version = new Promise<unknown>((resolve, reject) => {
      versionSeen = resolve;
      ws.once('close', () => reject(gone()));
    });
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(gone()));
    });
    // Either may settle while the other is awaited; their failures are reported through the awaited one.
    version.catch(() => {});
    opened.catch(() => {});
    ws.on('message', (data) => this.onMessage(data, versionSeen));
    ws.on('error', () => {}); // reported through 'close'
    const deadline = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new DriverError('driver.timeout', `${what} from the Z-Wave JS server at ${url} took longer than ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs).unref())]);
    try {
      await deadline(opened, 'connecting');
      const parsed = versionMessage.safeParse(await deadline(version, 'the version message'));
      if (!parsed.success) throw new DriverError('driver.not_supported', `the server at ${url} did not introduce itself as a Z-Wave JS server`);
      const v = parsed.data;
      if (v.maxSchemaVersion < MIN_SCHEMA_VERSION || v.minSchemaVersion > MAX_SCHEMA_VERSION) {
        const err = new DriverError(
          'driver.not_supported',
          `the Z-Wave JS server at ${url} (server ${v.serverVersion}, zwave-js ${v.driverVersion}) speaks API schema ${v.minSchemaVersion}-${v.maxSchemaVersion}; lockwarden needs one of ${MIN_SCHEMA_VERSION}-${MAX_SCHEMA_VERSION}: update Z-Wave JS`,
        );
        this.fatal = err;
        throw err;
      }
      const schemaVersion = Math.min(v.maxSchemaVersion, MAX_SCHEMA_VERSION);
      ws.on('close', () => this.onClose(ws));
      await this.send('set_api_schema', { schemaVersion }, false, 'set_api_schema', this.connectTimeoutMs);
      const state = startListeningResult.safeParse(await this.send('start_listening', {}, false, 'start_listening', this.connectTimeoutMs));
      if (!state.success) throw new DriverError('driver.not_supported', `the Z-Wave JS server at ${url} sent a state lockwarden cannot read`);
      this.schemaVersion = schemaVersion;
      this.readyFlag = true;
      this.attempt = 0;
      this.emit({ kind: 'connected', nodes: state.data.state.nodes, schemaVersion });
    } catch (e) {
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.terminate();
      if (this.ws === ws) this.ws = null;
      throw e;
    }
  }

  private onMessage(data: WebSocket.RawData, versionSeen: (v: unknown) => void): void {
    let msg: unknown;
    try {
      msg = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
    } catch {
      return;
    }
    const type = (msg as { type?: unknown } | null)?.type;
    if (type === 'version') return versionSeen(msg);
    if (type === 'result') {
      const r = resultMessage.safeParse(msg);
      if (!r.success) return;
      const p = this.pending.get(r.data.messageId);
      if (!p) return;
      this.pending.delete(r.data.messageId);
      clearTimeout(p.timer);
      if (r.data.success) p.resolve(r.data.result);
      else p.reject(resultError(r.data, p.what, p.write));
      return;
    }
    if (type === 'event') {
      const e = eventMessage.safeParse(msg);
      if (e.success) this.emit({ kind: 'event', event: e.data.event });
    }
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    const wasReady = this.readyFlag;
    this.readyFlag = false;
    // A command in flight may have reached the node: writes are uncertain.
    this.failPending((p) => new DriverError('driver.unreachable', `${p.what}: the connection to the Z-Wave JS server dropped`, { uncertain: p.write }));
    if (wasReady) this.emit({ kind: 'disconnected' });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delay = Math.round(base / 2 + (base / 2) * this.random());
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed || this.readyFlag || this.connecting) return;
      this.connecting = this.connect().finally(() => (this.connecting = null));
      this.connecting.catch(() => {
        if (!this.fatal) this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }
}
