/**
 * Writing the audit log, checkpointing it and verifying it. Services append inside the transaction of
 * the action they record, so the entry and the action land together or not at all (fail closed: no
 * audit write, no action). Appends are serialized by a row lock on the chain's head, which also makes
 * `seq` gapless.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../domain/clock.js';
import type { AuditCheckpoint, AuditEntry, AuditOutcome, AuditProblem, AuditProblemKind, AuditVerifyReport } from '../domain/audit.js';
import type { Actor } from '../domain/identity.js';
import { entryHash, jsonValue, type AuditMac, type CheckpointSigner } from '../crypto/audit-chain.js';
import { inTransaction, type Db } from '../store/database.js';
import { AuditRepository } from '../store/audit-repository.js';
import { inlineChainCheck, MAX_PROBLEMS, workerChainCheck, type ChainCheckResult } from './audit-chain-check.js';

/** Someone acting who is not (yet) known to be a user: a failed sign-in names only the email typed. */
export interface AnonymousActor {
  kind: 'anonymous';
  label: string;
}

/** Where a request came from, when known. */
export interface AuditClient {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/** One thing to record. */
export interface AuditEvent {
  actor: Actor | AnonymousActor;
  /** `<area>.<verb>`: `auth.sign_in`, `lock.create`, `credential.reveal`, `handbook.secret.reveal`. */
  action: string;
  outcome?: AuditOutcome;
  target?: { type: string; id: string; label?: string | undefined };
  /** The location the target belongs to, for filtering (and for scoping what an auditor sees). */
  locationId?: string | null | undefined;
  /** Anything useful to a reader; never a plain secret. */
  details?: Record<string, unknown>;
  /** Secret values by field name; only their keyed HMACs are stored. */
  secrets?: Record<string, string>;
  /** Defaults to the request the service call runs in (set by the HTTP server). */
  client?: AuditClient;
}

/**
 * The client of the request being served, so services need not pass it along: the HTTP server runs
 * each request inside `auditClientScope.run({ ip, userAgent }, ...)`.
 */
export const auditClientScope = new AsyncLocalStorage<AuditClient>();

/** Rows verification reads per query. */
const VERIFY_BATCH = 10_000;
/** From this many entries on, verification hashes in a worker thread (starting one costs ~0.1 s). */
const WORKER_FROM = 20_000;

const clip = (s: string | undefined | null, n: number) => (s == null ? null : s.length > n ? s.slice(0, n) : s);

export interface AuditLogOptions {
  db: Db;
  clock: Clock;
  mac: AuditMac;
  signer: CheckpointSigner;
  /** The file checkpoints are appended to, outside the database; null for none. */
  checkpointsFile: string | null;
}

/** The tamper-evident audit log of one deployment. */
export class AuditLog {
  /** Set by appends; a checkpoint clears it (the periodic checkpoint only runs when something is new). */
  private dirty = false;

  constructor(private readonly opts: AuditLogOptions) {}

  get signer(): CheckpointSigner {
    return this.opts.signer;
  }

  get checkpointsFile(): string | null {
    return this.opts.checkpointsFile;
  }

  /** Whether anything was appended through this instance since its last checkpoint. */
  get hasUncheckpointed(): boolean {
    return this.dirty;
  }

  /**
   * Whether a checkpoint would add anything: entries appended through this instance, or (`shared`:
   * other processes append to the same database) entries past the last checkpoint in the database.
   */
  async needsCheckpoint(shared: boolean): Promise<boolean> {
    if (this.dirty || !shared) return this.dirty;
    const repo = new AuditRepository(this.opts.db);
    const head = await repo.head();
    if (!head || head.seq === 0) return false;
    const last = await repo.lastCheckpoint();
    return !last || last.seq < head.seq;
  }

  /** Records one event in `tx` (the transaction of the action it records). */
  async append(tx: Db, event: AuditEvent): Promise<AuditEntry> {
    return (await this.appendMany(tx, [event]))[0]!;
  }

  /**
   * Records events in `tx`, in order: one locked read of the head, then one statement that inserts
   * the entries and moves the head. Call it as the transaction's last statement: the head stays
   * locked until commit.
   */
  async appendMany(tx: Db, events: AuditEvent[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    const repo = new AuditRepository(tx);
    const head = await repo.lockHead();
    const at = this.opts.clock.now();
    const ambient = auditClientScope.getStore();
    let { seq, hash } = head;
    const rows = events.map((e): AuditEntry => {
      const client = e.client ?? ambient;
      const row = {
        seq: ++seq,
        at,
        actorId: e.actor.kind === 'user' ? e.actor.userId : e.actor.kind === 'system' ? `system:${e.actor.name}` : 'anonymous',
        actorLabel: clip(e.actor.kind === 'user' ? e.actor.email : e.actor.kind === 'system' ? e.actor.name : e.actor.label, 320)!,
        action: e.action,
        outcome: e.outcome ?? 'success',
        targetType: e.target?.type ?? null,
        targetId: clip(e.target?.id, 200),
        targetLabel: clip(e.target?.label, 500),
        locationId: e.locationId ?? null,
        clientIp: clip(client?.ip, 100),
        userAgent: clip(client?.userAgent, 500),
        details: jsonValue(e.details ?? {}),
        secretMacs: Object.fromEntries(Object.entries(e.secrets ?? {}).map(([k, v]) => [k, this.opts.mac.mac(v)])),
        prevHash: hash,
      };
      hash = entryHash(row);
      return { ...row, hash };
    });
    await repo.append(rows, { seq, hash });
    this.dirty = true;
    return rows;
  }

  /** Records one event in a transaction of its own (for events no other write goes with, e.g. a failed sign-in). */
  async record(db: Db, event: AuditEvent): Promise<AuditEntry> {
    return inTransaction(db, (tx) => this.append(tx, event));
  }

  /**
   * Signs the chain's head and stores the checkpoint in the database, then appends it to the file.
   * Returns null on an empty log; the existing checkpoint when nothing was appended since.
   */
  async checkpoint(): Promise<{ checkpoint: AuditCheckpoint; created: boolean } | null> {
    this.dirty = false;
    const made = await inTransaction(this.opts.db, async (tx) => {
      const repo = new AuditRepository(tx);
      const head = await repo.lockHead();
      if (head.seq === 0) return null;
      const last = await repo.lastCheckpoint();
      if (last && last.seq === head.seq) return { checkpoint: last, created: false };
      const checkpoint = this.opts.signer.sign({ seq: head.seq, hash: head.hash, at: this.opts.clock.now() });
      await repo.recordSigningKey(this.opts.signer.keyId, this.opts.signer.publicKeyPem, checkpoint.at);
      await repo.insertCheckpoint(checkpoint);
      return { checkpoint, created: true };
    });
    if (made?.created && this.opts.checkpointsFile) appendCheckpointLine(this.opts.checkpointsFile, made.checkpoint);
    return made;
  }

  /**
   * Recomputes the chain from genesis, streaming rows by seq: gapless seq, every hash, every link;
   * every checkpoint's signature (database and file), the file's checkpoints against the table and
   * the chain, and that no checkpoint covers rows that are gone. `inWorker` forces the chain's
   * hashing into a worker thread (or keeps it here); by default a log of 20,000 entries or more goes
   * there.
   */
  async verify(opts: { inWorker?: boolean } = {}): Promise<AuditVerifyReport> {
    const t0 = performance.now();
    const { signer, checkpointsFile } = this.opts;
    const repo = new AuditRepository(this.opts.db);
    const problems: AuditProblem[] = [];
    let problemCount = 0;
    const notes: string[] = [];
    const reported = new Set<number>();
    const add = (seq: number, kind: AuditProblemKind, message: string) => {
      problemCount++;
      reported.add(seq);
      if (problems.length < MAX_PROBLEMS) problems.push({ seq, kind, message });
    };

    // Checkpoints: each must carry a good signature by this deployment's key; each in the file must
    // be in the table, unchanged.
    const dbCheckpoints = await repo.checkpoints();
    const fromFile = checkpointsFile ? readCheckpointFile(checkpointsFile) : { checkpoints: [], bad: [] };
    for (const b of fromFile.bad) add(0, 'bad_checkpoint_file', `${checkpointsFile} line ${b.line}: ${b.message}`);
    const expected = new Map<number, { hash: string; where: string }[]>();
    const good = new Map<number, AuditCheckpoint>();
    const checkSignature = (c: AuditCheckpoint, where: string): boolean => {
      if (c.keyId !== signer.keyId) {
        add(c.seq, 'unknown_key', `${where} checkpoint #${c.seq} is signed by key ${c.keyId}, not this deployment's key ${signer.keyId}`);
        return false;
      }
      if (!signer.verify(c)) {
        add(c.seq, 'bad_signature', `${where} checkpoint #${c.seq} has a signature that does not verify`);
        return false;
      }
      expected.set(c.seq, [...(expected.get(c.seq) ?? []), { hash: c.hash, where }]);
      return true;
    };
    const dbBySeq = new Map(dbCheckpoints.map((c) => [c.seq, c]));
    const dbOk = new Set<number>();
    for (const c of dbCheckpoints) if (checkSignature(c, 'database')) dbOk.add(c.seq);
    const fileSeqs = new Set<number>();
    for (const c of fromFile.checkpoints) {
      fileSeqs.add(c.seq);
      const sigOk = checkSignature(c, 'file');
      const d = dbBySeq.get(c.seq);
      if (!d) add(c.seq, 'checkpoint_missing', `checkpoint #${c.seq} is in the file but not in the database`);
      else if (d.hash !== c.hash || d.signature !== c.signature || d.keyId !== c.keyId || d.at.getTime() !== c.at.getTime()) {
        add(c.seq, 'checkpoint_missing', `checkpoint #${c.seq} in the database differs from the one in the file`);
      } else if (sigOk && dbOk.has(c.seq)) good.set(c.seq, c);
    }
    const notInFile = dbCheckpoints.filter((c) => !fileSeqs.has(c.seq));
    if (checkpointsFile && notInFile.length) notes.push(`${notInFile.length} checkpoint(s) of the database are not in ${checkpointsFile} (made by another process, or before this file was configured)`);
    for (const c of notInFile) if (dbOk.has(c.seq)) good.set(c.seq, c);

    // The chain, from genesis. The next batch is asked for before this one is checked (on
    // PostgreSQL the server reads it meanwhile); a long log is checked in a worker thread, so on
    // PGlite (the database in this thread) reading and hashing overlap too.
    const init = { expected: [...expected], reported: [...reported] };
    const inWorker = opts.inWorker ?? ((await repo.head())?.seq ?? 0) >= WORKER_FROM;
    const check = inWorker ? workerChainCheck(init) : inlineChainCheck(init);
    let chain: ChainCheckResult;
    let pending = repo.chainAfter(0, VERIFY_BATCH);
    try {
      for (;;) {
        const batch = await pending;
        if (batch.count === 0) break;
        pending = repo.chainAfter(batch.lastSeq, VERIFY_BATCH);
        await check.push(batch);
      }
      chain = await check.result();
    } finally {
      // A failed check leaves the batch read ahead unawaited: its own failure must not go unhandled.
      pending.catch(() => undefined);
      await check.close();
    }
    const { entries, lastSeq, lastHash: prevHash } = chain;
    const chainHashAt = new Map(chain.hashAt);
    problemCount += chain.problemCount;
    for (const p of chain.problems) if (problems.length < MAX_PROBLEMS) problems.push(p);

    const covered = Math.max(0, ...expected.keys(), ...dbCheckpoints.map((c) => c.seq), ...fromFile.checkpoints.map((c) => c.seq));
    if (covered > lastSeq) add(lastSeq + 1, 'truncated', `a checkpoint covers entries up to ${covered}, but the log ends at ${lastSeq}`);
    const head = await repo.head();
    if (head && (head.seq !== lastSeq || (lastSeq > 0 && head.hash !== prevHash))) {
      if (head.seq > lastSeq) {
        if (covered <= lastSeq) add(lastSeq + 1, 'truncated', `the head records ${head.seq} entries, the log ends at ${lastSeq}`);
      } else add(head.seq, 'head_mismatch', `the head records entry ${head.seq} (${head.hash.slice(0, 12)}…), the log ends at ${lastSeq}`);
    }

    const firstProblem = Math.min(...problems.map((p) => p.seq), Infinity);
    const lastGood = [...good.values()].filter((c) => c.seq < firstProblem && chainHashAt.get(c.seq) === c.hash).sort((a, b) => b.seq - a.seq)[0];
    return {
      ok: problemCount === 0,
      entries,
      lastSeq,
      checkpoints: dbCheckpoints.length,
      lastCheckpoint: lastGood ? { seq: lastGood.seq, hash: lastGood.hash, at: lastGood.at } : null,
      checkpointsFile,
      problems,
      problemCount,
      notes,
      millis: Math.round(performance.now() - t0),
    };
  }
}

/** Appends one checkpoint as a JSON line (the file and its folder are made private on first use). */
export function appendCheckpointLine(file: string, c: AuditCheckpoint): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${JSON.stringify({ seq: c.seq, hash: c.hash, at: c.at.toISOString(), keyId: c.keyId, signature: c.signature })}\n`, { mode: 0o600 });
}

/** The checkpoints in the file, and the lines that could not be read. A missing file has none. */
export function readCheckpointFile(file: string): { checkpoints: AuditCheckpoint[]; bad: { line: number; message: string }[] } {
  if (!existsSync(file)) return { checkpoints: [], bad: [] };
  const checkpoints: AuditCheckpoint[] = [];
  const bad: { line: number; message: string }[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (!text.trim()) return;
      try {
        const o = JSON.parse(text) as Record<string, unknown>;
        const at = new Date(String(o.at));
        if (!Number.isSafeInteger(o.seq) || typeof o.hash !== 'string' || typeof o.keyId !== 'string' || typeof o.signature !== 'string' || Number.isNaN(at.getTime())) throw new Error('not a checkpoint');
        checkpoints.push({ seq: o.seq as number, hash: o.hash, at, keyId: o.keyId, signature: o.signature });
      } catch (e) {
        bad.push({ line: i + 1, message: (e as Error).message });
      }
    });
  return { checkpoints, bad };
}
