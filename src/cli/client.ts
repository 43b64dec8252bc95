/**
 * What the CLI can ask of lockwarden, with two implementations: over HTTP to a running server (API
 * token), or directly on a data folder no server owns (opening the database itself).
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AppError, type ErrorCode, type FieldError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import type { LocationNode } from '../domain/locations.js';
import type { LockModel } from '../domain/lock-models.js';
import type { Lock } from '../domain/locks.js';
import { readDataFolderLock } from '../store/data-folder-lock.js';
import { openDatabase, SHARED_BUFFERS_MB, type Database } from '../store/database.js';
import type { Services } from '../services/index.js';
import type { Runtime } from '../runtime.js';
import type { LockPage } from '../services/lock-service.js';
import type { BulkView, LockCredentialsView } from '../services/credential-service.js';
import type { BulkChange, Credential, PinCreate, PinUpdate } from '../domain/credentials.js';
import type { DeviceStatus } from '../drivers/contract.js';
import type { HandbookEntry, HandbookEntrySummary, MaskedSecret } from '../domain/handbook.js';
import type { SearchHit } from '../services/handbook-service.js';
import { SHEET_CONTENT_TYPES, type ImportReport, type SheetFormat, type SheetKind } from '../domain/sheets.js';
import type { AuditCheckpointAnswer, AuditVerifyReport } from '../domain/audit.js';
import type { WitnessRead } from '../services/audit-witness.js';
import type { AuditPage } from '../services/audit-service.js';

/** What `lockwarden handbook export` asks for, as the export route's query names it. */
export interface HandbookExportInput {
  scope: 'all' | 'site' | 'manufacturer';
  locationId?: string | undefined;
  manufacturer?: string | undefined;
  includeSecrets?: boolean | undefined;
  reason?: string | undefined;
}

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

  /**
   * True when working on the data folder with no server: credential changes are recorded and
   * queued, and only applied to the locks when the server (its worker) runs.
   */
  readonly local: boolean;
  /** Desired vs observed credentials of one lock, slot by slot. Never carries a code. */
  lockCredentials(lockId: string): Promise<LockCredentialsView>;
  /** Adds a PIN; the answer is the only time its code is returned without a reveal. */
  addPin(lockId: string, input: PinCreate): Promise<{ credential: Credential; code: string }>;
  updatePin(credentialId: string, input: PinUpdate): Promise<Credential>;
  revokeCredential(credentialId: string): Promise<Credential>;
  retryCredential(credentialId: string): Promise<Credential>;
  revealPin(credentialId: string, reason: string): Promise<{ code: string }>;
  adoptPin(lockId: string, input: { slot: number; holder: string }): Promise<Credential>;
  removeUnmanaged(lockId: string, input: { slot: number }): Promise<Credential>;
  removeController(lockId: string, controllerId: string): Promise<Credential>;
  /** Asks for the lock to be read now (a drift check). */
  refreshLock(lockId: string): Promise<void>;
  operateLock(lockId: string, action: 'lock' | 'unlock'): Promise<{ bolt: DeviceStatus['bolt'] }>;
  bulkChange(input: BulkChange): Promise<BulkView>;
  bulk(id: string): Promise<BulkView>;
  bulks(): Promise<BulkView[]>;

  /** Handbook entries (no steps, no secrets), filtered as `lockwarden handbook list` says. */
  handbookList(filter: Record<string, string | undefined>): Promise<HandbookEntrySummary[]>;
  handbookGet(id: string): Promise<HandbookEntry>;
  handbookForLock(lockId: string): Promise<{ lockId: string; source: 'lock' | 'model' | null; entry: HandbookEntry | null }>;
  handbookSearch(q: string, limit?: number): Promise<SearchHit[]>;
  handbookVerify(id: string, input: { revision?: number; note?: string }): Promise<HandbookEntry>;
  handbookStale(): Promise<HandbookEntrySummary[]>;
  /** Shows one secret's value; the reveal is recorded with `reason`. */
  handbookReveal(secretId: string, reason: string): Promise<{ secret: MaskedSecret; value: string }>;
  /** Re-wraps the data keys of handbook secrets under a new master key version. */
  rotateKeys(): Promise<{ masterVersion: number; rewrapped: number; origin: string }>;
  /** Writes the handbook (or a part of it) as a PDF to `file` (mode 0600), streamed; included secrets are recorded as reveals. */
  handbookExportPdf(input: HandbookExportInput, file: string): Promise<{ entries: number; bytes: number }>;
  /** The inventory or handbook as a CSV or XLSX file. */
  exportSheet(kind: SheetKind, format: SheetFormat): Promise<Buffer>;
  /** Imports a CSV or XLSX file; every bad row is an error with its row and column, and nothing is written. */
  importSheet(kind: SheetKind, file: Buffer, opts: { format?: SheetFormat | undefined; dryRun: boolean }): Promise<ImportReport>;
  /** A page of audit entries, newest first (`before` = the previous page's nextCursor). */
  auditList(filter: Record<string, string | undefined>): Promise<AuditPage>;
  /** The matching audit entries as CSV or JSON lines, oldest first. */
  auditExport(filter: Record<string, string | undefined>, format: 'csv' | 'jsonl'): Promise<Buffer>;
  /** Recomputes the audit chain and checks every signed checkpoint (and against the witness, when given). */
  auditVerify(witness?: WitnessRead): Promise<AuditVerifyReport>;
  /** Signs the audit log's head now. */
  auditCheckpoint(): Promise<AuditCheckpointAnswer>;
  /** Writes an encrypted backup archive of the whole deployment to `file` (mode 0600), streamed. */
  backup(passphrase: string, file: string): Promise<{ bytes: number }>;
  close(): Promise<void>;
}

const auditQuery = (filter: Record<string, string | undefined>) => new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => e[1] !== undefined)).toString();

/** Talks to a running server's API with a bearer token. */
export class HttpClient implements LockwardenClient {
  readonly local = false;
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  get target() {
    return this.baseUrl;
  }

  /** A response with a 2xx status; anything else becomes the AppError the server sent. */
  private async fetchOk(method: string, path: string, body?: unknown, raw?: { contentType: string }): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': raw?.contentType ?? 'application/json' }) },
        body: body === undefined ? null : raw ? new Uint8Array(body as Buffer) : JSON.stringify(body),
      });
    } catch (e) {
      throw new AppError('store.unavailable', `cannot reach lockwarden at ${this.baseUrl}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let err: { code?: string; message?: string; fields?: FieldError[] } | undefined;
      try {
        err = text ? (JSON.parse(text) as { error?: typeof err }).error : undefined;
      } catch {
        err = undefined;
      }
      throw new AppError((err?.code as ErrorCode) ?? 'internal', err?.message ?? `HTTP ${res.status}`, err?.fields ?? []);
    }
    return res;
  }

  private async call<T>(method: string, path: string, body?: unknown, raw?: { contentType: string }): Promise<T> {
    const text = await (await this.fetchOk(method, path, body, raw)).text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async exportSheet(kind: SheetKind, format: SheetFormat) {
    const res = await this.fetchOk('GET', `/api/export/${kind}.${format}`);
    return Buffer.from(await res.arrayBuffer());
  }
  importSheet(kind: SheetKind, file: Buffer, opts: { format?: SheetFormat | undefined; dryRun: boolean }) {
    const q = new URLSearchParams({ dryRun: String(opts.dryRun), ...(opts.format ? { format: opts.format } : {}) });
    const contentType = opts.format ? SHEET_CONTENT_TYPES[opts.format].split(';')[0]! : 'application/octet-stream';
    return this.call<ImportReport>('POST', `/api/import/${kind}?${q.toString()}`, file, { contentType });
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
  lockCredentials(lockId: string) {
    return this.call<LockCredentialsView>('GET', `/api/locks/${encodeURIComponent(lockId)}/credentials`);
  }
  addPin(lockId: string, input: PinCreate) {
    return this.call<{ credential: Credential; code: string }>('POST', `/api/locks/${encodeURIComponent(lockId)}/pins`, input);
  }
  updatePin(credentialId: string, input: PinUpdate) {
    return this.call<Credential>('PATCH', `/api/credentials/${encodeURIComponent(credentialId)}`, input);
  }
  revokeCredential(credentialId: string) {
    return this.call<Credential>('DELETE', `/api/credentials/${encodeURIComponent(credentialId)}`);
  }
  retryCredential(credentialId: string) {
    return this.call<Credential>('POST', `/api/credentials/${encodeURIComponent(credentialId)}/retry`);
  }
  revealPin(credentialId: string, reason: string) {
    return this.call<{ code: string }>('POST', `/api/credentials/${encodeURIComponent(credentialId)}/reveal`, { reason });
  }
  adoptPin(lockId: string, input: { slot: number; holder: string }) {
    return this.call<Credential>('POST', `/api/locks/${encodeURIComponent(lockId)}/unmanaged/adopt`, input);
  }
  removeUnmanaged(lockId: string, input: { slot: number }) {
    return this.call<Credential>('POST', `/api/locks/${encodeURIComponent(lockId)}/unmanaged/remove`, input);
  }
  removeController(lockId: string, controllerId: string) {
    return this.call<Credential>('DELETE', `/api/locks/${encodeURIComponent(lockId)}/controllers/${encodeURIComponent(controllerId)}`);
  }
  async refreshLock(lockId: string) {
    await this.call<unknown>('POST', `/api/locks/${encodeURIComponent(lockId)}/refresh`);
  }
  operateLock(lockId: string, action: 'lock' | 'unlock') {
    return this.call<{ bolt: DeviceStatus['bolt'] }>('POST', `/api/locks/${encodeURIComponent(lockId)}/${action}`);
  }
  bulkChange(input: BulkChange) {
    return this.call<BulkView>('POST', '/api/bulk', input);
  }
  bulk(id: string) {
    return this.call<BulkView>('GET', `/api/bulk/${encodeURIComponent(id)}`);
  }
  async bulks() {
    return (await this.call<{ items: BulkView[] }>('GET', '/api/bulk')).items;
  }
  async handbookList(filter: Record<string, string | undefined>) {
    const q = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => e[1] !== undefined));
    return (await this.call<{ items: HandbookEntrySummary[] }>('GET', `/api/handbook/entries?${q.toString()}`)).items;
  }
  handbookGet(id: string) {
    return this.call<HandbookEntry>('GET', `/api/handbook/entries/${encodeURIComponent(id)}`);
  }
  handbookForLock(lockId: string) {
    return this.call<{ lockId: string; source: 'lock' | 'model' | null; entry: HandbookEntry | null }>('GET', `/api/locks/${encodeURIComponent(lockId)}/handbook`);
  }
  async handbookSearch(q: string, limit = 20) {
    return (await this.call<{ items: SearchHit[] }>('GET', `/api/handbook/search?${new URLSearchParams({ q, limit: String(limit) }).toString()}`)).items;
  }
  handbookVerify(id: string, input: { revision?: number; note?: string }) {
    return this.call<HandbookEntry>('POST', `/api/handbook/entries/${encodeURIComponent(id)}/verify`, input);
  }
  async handbookStale() {
    return (await this.call<{ items: HandbookEntrySummary[] }>('GET', '/api/handbook/stale')).items;
  }
  handbookReveal(secretId: string, reason: string) {
    return this.call<{ secret: MaskedSecret; value: string }>('POST', `/api/handbook/secrets/${encodeURIComponent(secretId)}/reveal`, { reason });
  }
  rotateKeys() {
    return this.call<{ masterVersion: number; rewrapped: number; origin: string }>('POST', '/api/keys/rotate');
  }
  async handbookExportPdf(input: HandbookExportInput, file: string) {
    const q = new URLSearchParams(Object.entries(input).filter((e): e is [string, string | boolean] => e[1] !== undefined).map(([k, v]): [string, string] => [k, String(v)]));
    const res = await this.fetchOk('GET', `/api/handbook/export.pdf?${q.toString()}`);
    if (!res.body) throw new AppError('store.unavailable', 'the server sent no PDF');
    const body = res.body;
    const bytes = await writeFileAtomically(file, async (sink) => {
      await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), sink, { end: false });
    });
    return { entries: Number(res.headers.get('x-handbook-entries') ?? 0), bytes };
  }
  auditList(filter: Record<string, string | undefined>) {
    return this.call<AuditPage>('GET', `/api/audit?${auditQuery(filter)}`);
  }
  async auditExport(filter: Record<string, string | undefined>, format: 'csv' | 'jsonl') {
    const res = await this.fetchOk('GET', `/api/audit/export?${auditQuery({ ...filter, format })}`);
    return Buffer.from(await res.arrayBuffer());
  }
  auditVerify(witness?: WitnessRead) {
    if (!witness) return this.call<AuditVerifyReport>('GET', '/api/audit/verify');
    return this.call<AuditVerifyReport>('POST', '/api/audit/verify', { witness: { ...witness, checkpoints: witness.checkpoints.map((c) => ({ ...c, at: c.at.toISOString() })) } });
  }
  auditCheckpoint() {
    return this.call<AuditCheckpointAnswer>('POST', '/api/audit/checkpoint');
  }
  async backup(passphrase: string, file: string) {
    const res = await this.fetchOk('POST', '/api/admin/backup', { passphrase });
    if (!res.body) throw new AppError('store.unavailable', 'the server sent no archive');
    const body = res.body;
    const bytes = await writeFileAtomically(file, async (sink) => {
      await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), sink, { end: false });
    });
    return { bytes };
  }
  async close() {}
}

/** Works on the data folder directly, as the local administrator of that folder. */
export class LocalClient implements LockwardenClient {
  readonly local = true;
  readonly actor: Actor = { kind: 'system', name: 'local-cli' };
  private constructor(
    readonly services: Services,
    private readonly database: Database,
    readonly target: string,
    private readonly runtime: Runtime,
  ) {}

  static async open(dataDir: string, databaseUrl?: string): Promise<LocalClient> {
    const database = await openDatabase({ databaseUrl, dataDir, purpose: 'cli', sharedBuffersMb: SHARED_BUFFERS_MB.cli });
    try {
      // Changes are recorded and queued; the server's worker applies them when it next runs.
      // The runtime (services, drivers, queue) loads only for commands that open the data folder.
      const { startRuntime } = await import('../runtime.js');
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, worker: false });
      return new LocalClient(runtime.services, database, databaseUrl ? 'PostgreSQL' : dataDir, runtime);
    } catch (e) {
      await database.close();
      throw e;
    }
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
  lockCredentials(lockId: string) {
    return this.services.credentials.forLock(this.actor, lockId);
  }
  addPin(lockId: string, input: PinCreate) {
    return this.services.credentials.addPin(this.actor, lockId, input);
  }
  updatePin(credentialId: string, input: PinUpdate) {
    return this.services.credentials.updatePin(this.actor, credentialId, input);
  }
  revokeCredential(credentialId: string) {
    return this.services.credentials.revoke(this.actor, credentialId);
  }
  retryCredential(credentialId: string) {
    return this.services.credentials.retry(this.actor, credentialId);
  }
  revealPin(credentialId: string, reason: string) {
    return this.services.credentials.reveal(this.actor, credentialId, { reason });
  }
  adoptPin(lockId: string, input: { slot: number; holder: string }) {
    return this.services.credentials.adopt(this.actor, lockId, input);
  }
  removeUnmanaged(lockId: string, input: { slot: number }) {
    return this.services.credentials.removeUnmanaged(this.actor, lockId, input);
  }
  removeController(lockId: string, controllerId: string) {
    return this.services.credentials.removeController(this.actor, lockId, controllerId);
  }
  refreshLock(lockId: string) {
    return this.services.credentials.refresh(this.actor, lockId);
  }
  async operateLock(lockId: string, _action: 'lock' | 'unlock'): Promise<{ bolt: DeviceStatus['bolt'] }> {
    // Locking acts on the device now, and only the server reaches devices: say so, after checking
    // that the lock exists (an unknown id is still "not found").
    await this.services.locks.get(this.actor, lockId);
    throw new AppError(
      'cli.server_required',
      'locking and unlocking reach the lock now, which only the running server can do: start `lockwarden serve`, then pass --token (or LOCKWARDEN_TOKEN)',
    );
  }
  bulkChange(input: BulkChange) {
    return this.services.credentials.bulkChange(this.actor, input);
  }
  bulk(id: string) {
    return this.services.credentials.bulk(this.actor, id);
  }
  bulks() {
    return this.services.credentials.bulks(this.actor);
  }
  handbookList(filter: Record<string, string | undefined>) {
    return this.services.handbook.list(this.actor, Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)));
  }
  handbookGet(id: string) {
    return this.services.handbook.get(this.actor, id);
  }
  handbookForLock(lockId: string) {
    return this.services.handbook.forLock(this.actor, lockId);
  }
  handbookSearch(q: string, limit = 20) {
    return this.services.handbook.search(this.actor, { q, limit });
  }
  handbookVerify(id: string, input: { revision?: number; note?: string }) {
    return this.services.handbook.verify(this.actor, id, input);
  }
  handbookStale() {
    return this.services.handbook.needsVerification(this.actor);
  }
  handbookReveal(secretId: string, reason: string) {
    return this.services.handbook.reveal(this.actor, secretId, { reason });
  }
  rotateKeys() {
    return this.services.handbook.rotateKeys(this.actor);
  }
  async handbookExportPdf(input: HandbookExportInput, file: string) {
    const out = await this.services.handbook.preparePdf(this.actor, Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
    const bytes = await writeFileAtomically(file, async (sink) => {
      await out.write(sink);
    });
    return { entries: out.entries, bytes };
  }
  exportSheet(kind: SheetKind, format: SheetFormat) {
    return this.services.sheets.exportFile(this.actor, kind, format);
  }
  importSheet(kind: SheetKind, file: Buffer, opts: { format?: SheetFormat | undefined; dryRun: boolean }) {
    return this.services.sheets.importFile(this.actor, kind, file, opts);
  }
  auditList(filter: Record<string, string | undefined>) {
    return this.services.audit.list(this.actor, filter);
  }
  async auditExport(filter: Record<string, string | undefined>, format: 'csv' | 'jsonl') {
    const parts: Buffer[] = [];
    for await (const chunk of this.services.audit.export(this.actor, { ...filter, format }).chunks) parts.push(Buffer.from(chunk, 'utf8'));
    return Buffer.concat(parts);
  }
  auditVerify(witness?: WitnessRead) {
    return this.services.audit.verify(this.actor, witness ? { witness } : {});
  }
  auditCheckpoint() {
    return this.services.audit.checkpoint(this.actor);
  }
  async backup(passphrase: string, file: string) {
    const archive = await this.services.backup.create(this.actor, { passphrase });
    const bytes = await writeFileAtomically(file, async (sink) => {
      await pipeline(archive, sink, { end: false });
    });
    return { bytes };
  }
  async close() {
    await this.runtime.stop();
    await this.database.close();
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

/**
 * Writes `file` (owner-only: it may carry secrets and always carries reset procedures) through a
 * temporary name, renamed into place only when `write` finished, so a failed export leaves no torn
 * file; returns the bytes written.
 */
async function writeFileAtomically(file: string, write: (sink: Writable) => Promise<void>): Promise<number> {
  const partial = `${file}.partial`;
  const sink = createWriteStream(partial, { mode: 0o600 });
  try {
    await write(sink);
    await new Promise<void>((resolve, reject) => {
      sink.on('error', reject);
      sink.end(resolve);
    });
    renameSync(partial, file);
    return sink.bytesWritten;
  } catch (e) {
    sink.destroy();
    rmSync(partial, { force: true });
    throw e;
  }
}
