/**
 * What the CLI can ask of lockwarden, with two implementations: over HTTP to a running server (API
 * token), or directly on a data folder no server owns (opening the database itself).
 */
import { AppError, type ErrorCode, type FieldError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import type { LocationNode } from '../domain/locations.js';
import type { LockModel } from '../domain/lock-models.js';
import type { Lock } from '../domain/locks.js';
import { systemClock, systemIds } from '../domain/clock.js';
import { readDataFolderLock } from '../store/data-folder-lock.js';
import { openDatabase, type Database } from '../store/database.js';
import { createServices, type Services } from '../services/index.js';
import type { LockPage } from '../services/lock-service.js';

/** Lock list filters as the CLI gathers them (strings from flags, lists from comma values). */
export type LockQuery = Record<string, string | number | boolean | string[] | undefined>;

export interface LockwardenClient {
  /** Where the client talks to, for messages. */
  readonly target: string;
  listLocks(filter: LockQuery): Promise<LockPage>;
  getLock(id: string): Promise<Lock>;
  createLock(input: Record<string, unknown>): Promise<Lock>;
  retireLock(id: string, reason: string): Promise<Lock>;
  listModels(): Promise<LockModel[]>;
  locationTree(): Promise<LocationNode[]>;
  close(): Promise<void>;
}

/** Talks to a running server's API with a bearer token. */
export class HttpClient implements LockwardenClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  get target() {
    return this.baseUrl;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (e) {
      throw new AppError('store.unavailable', `cannot reach lockwarden at ${this.baseUrl}: ${(e as Error).message}`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; fields?: FieldError[] } } | undefined)?.error;
      throw new AppError((err?.code as ErrorCode) ?? 'internal', err?.message ?? `HTTP ${res.status}`, err?.fields ?? []);
    }
    return json as T;
  }

  listLocks(filter: LockQuery) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) {
      if (v === undefined) continue;
      q.set(k, Array.isArray(v) ? v.join(',') : String(v));
    }
    return this.call<LockPage>('GET', `/api/locks?${q.toString()}`);
  }
  getLock(id: string) {
    return this.call<Lock>('GET', `/api/locks/${encodeURIComponent(id)}`);
  }
  createLock(input: Record<string, unknown>) {
    return this.call<Lock>('POST', '/api/locks', input);
  }
  retireLock(id: string, reason: string) {
    return this.call<Lock>('POST', `/api/locks/${encodeURIComponent(id)}/retire`, { reason });
  }
  async listModels() {
    return (await this.call<{ items: LockModel[] }>('GET', '/api/models')).items;
  }
  async locationTree() {
    return (await this.call<{ roots: LocationNode[] }>('GET', '/api/locations/tree')).roots;
  }
  async close() {}
}

/** Works on the data folder directly, as the local administrator of that folder. */
export class LocalClient implements LockwardenClient {
  readonly actor: Actor = { kind: 'system', name: 'local-cli' };
  private constructor(
    readonly services: Services,
    private readonly database: Database,
    readonly target: string,
  ) {}

  static async open(dataDir: string, databaseUrl?: string): Promise<LocalClient> {
    const database = await openDatabase({ databaseUrl, dataDir, purpose: 'cli' });
    const services = createServices({ db: database.db, engine: database.engine, clock: systemClock, ids: systemIds });
    return new LocalClient(services, database, databaseUrl ? 'PostgreSQL' : dataDir);
  }

  listLocks(filter: LockQuery) {
    return this.services.locks.list(this.actor, filter);
  }
  getLock(id: string) {
    return this.services.locks.get(this.actor, id);
  }
  createLock(input: Record<string, unknown>) {
    return this.services.locks.create(this.actor, input);
  }
  retireLock(id: string, reason: string) {
    return this.services.locks.retire(this.actor, id, { reason });
  }
  listModels() {
    return this.services.models.list(this.actor);
  }
  locationTree() {
    return this.services.locations.tree(this.actor);
  }
  close() {
    return this.database.close();
  }
}

export interface ConnectOptions {
  url?: string | undefined;
  token?: string | undefined;
  dataDir: string;
  databaseUrl?: string | undefined;
}

/**
 * Picks how to reach lockwarden: a given URL, or the server that owns the data folder (found in its
 * lock file), over HTTP with a token; otherwise the data folder itself.
 */
export async function connect(opts: ConnectOptions): Promise<LockwardenClient> {
  const owner = opts.url ? null : readDataFolderLock(opts.dataDir);
  const url = opts.url ?? owner?.url;
  if (url) {
    if (!opts.token) {
      throw new AppError(
        'cli.server_required',
        `${owner ? `a lockwarden server (PID ${owner.pid}) owns ${opts.dataDir} and listens on ${url}` : `talking to ${url}`}; ` +
          'pass an API token with --token or LOCKWARDEN_TOKEN (create one on the API tokens page of the web UI)',
      );
    }
    return new HttpClient(url, opts.token);
  }
  if (owner) {
    throw new AppError('store.data_folder_locked', `data folder ${opts.dataDir} is in use by PID ${owner.pid} (${owner.purpose}); try again when it ends`);
  }
  return LocalClient.open(opts.dataDir, opts.databaseUrl);
}
