/**
 * Writing the audit log, checkpointing it and verifying it. Services append inside the transaction of
 * the action they record, so the entry and the action land together or not at all (fail closed: no
 * audit write, no action). Appends are serialized by a row lock on the chain's head, which also makes
 * `seq` gapless.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Clock } from '../domain/clock.js';
import type { AuditCheckpoint, AuditEntry, AuditOutcome, AuditProblem, AuditProblemKind, AuditVerifyReport } from '../domain/audit.js';
import type { Actor } from '../domain/identity.js';
import { entryHash, jsonValue, type AuditMac, type CheckpointSigner } from '../crypto/audit-chain.js';
import { inTransaction, type Db } from '../store/database.js';
import { AuditRepository } from '../store/audit-repository.js';
import { inlineChainCheck, MAX_PROBLEMS, workerChainCheck, type ChainCheckResult } from './audit-chain-check.js';
import { appendCheckpointLine, parseWitnessTarget, readCheckpointFile, sendToWitness, witnessLabel, type WitnessRead, type WitnessTarget } from './audit-witness.js';

export { appendCheckpointLine, readCheckpointFile } from './audit-witness.js';

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

/** Default of `AuditLogOptions.checkpointMaxAgeSeconds`: five times the server's 60 s checkpoint interval. */
export const CHECKPOINT_MAX_AGE_SECONDS = 300;

export interface AuditLogOptions {
  db: Db;
  clock: Clock;
  mac: AuditMac;
  signer: CheckpointSigner;
  /** The secret the chain's hashes are keyed with (hex, `chainKeyOf`): kept with the keys, never in the database. */
  chainKey: string;
  /** The file checkpoints are appended to, outside the database; null for none. */
  checkpointsFile: string | null;
  /** Where checkpoints are also sent (`LOCKWARDEN_AUDIT_WITNESS`: a file elsewhere or an http(s) URL); null for none. */
  witness?: string | null;
  /**
   * Verification fails when entries older than this are covered by no signed checkpoint (the server
   * signs every minute while there is something new, and at stop). Default 300.
   */
  checkpointMaxAgeSeconds?: number;
}

/** What `checkpoint` made, and whether the witness got it. */
export interface CheckpointMade {
  checkpoint: AuditCheckpoint;
  created: boolean;
  /** Why the witness did not get this (or an earlier, retried) checkpoint; null when it did or none is set. */
  witnessError: string | null;
}

/** The tamper-evident audit log of one deployment. */
export class AuditLog {
  /** Set by appends; a checkpoint clears it (the periodic checkpoint only runs when something is new). */
  private dirty = false;
  private readonly witnessTarget: WitnessTarget | null;
  /** Checkpoints the witness has not confirmed yet, oldest first: sent again before the next one. */
  private unwitnessed: AuditCheckpoint[] = [];
  private witnessing: Promise<string | null> = Promise.resolve(null);

  constructor(private readonly opts: AuditLogOptions) {
    this.witnessTarget = opts.witness ? parseWitnessTarget(opts.witness) : null;
  }

  /** The witness checkpoints are sent to (a file, or a URL's origin), or null. */
  get witness(): string | null {
    return this.witnessTarget ? witnessLabel(this.witnessTarget) : null;
  }

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
    let { keyedFrom } = head;
    const { chainKey } = this.opts;
    // The first append of a deployment keys its chain from entry 1; the first append after the
    // upgrade of an older (unkeyed) log records the switch, as an entry of its own, and keys from there.
    const switched: AuditEvent[] = [];
    if (keyedFrom === null) {
      keyedFrom = seq + 1;
      if (seq > 0) switched.push({ actor: { kind: 'system', name: 'audit' }, action: 'audit.chain.keyed', details: { fromSeq: keyedFrom, unkeyedEntries: seq }, client: {} });
    }
    const rows = [...switched, ...events].map((e): AuditEntry => {
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
      hash = entryHash(row, row.seq >= keyedFrom ? chainKey : null);
      return { ...row, hash };
    });
    await repo.append(rows, { seq, hash, keyedFrom });
    this.dirty = true;
    return rows.slice(switched.length);
  }

  /** Records one event in a transaction of its own (for events no other write goes with, e.g. a failed sign-in). */
  async record(db: Db, event: AuditEvent): Promise<AuditEntry> {
    return inTransaction(db, (tx) => this.append(tx, event));
  }

  /**
   * Signs the chain's head (with the checkpoint before it and where the keyed chain starts) and
   * stores the checkpoint in the database, then appends it to the file and sends it to the witness
   * (with any it did not get before). Returns null on an empty log; the existing checkpoint when
   * nothing was appended since. A witness that cannot be reached does not undo the checkpoint: it is
   * named in `witnessError` and the checkpoint is sent again with the next one.
   */
  async checkpoint(): Promise<CheckpointMade | null> {
    this.dirty = false;
    const made = await inTransaction(this.opts.db, async (tx) => {
      const repo = new AuditRepository(tx);
      const head = await repo.lockHead();
      if (head.seq === 0) return null;
      const last = await repo.lastCheckpoint();
      if (last && last.seq === head.seq) return { checkpoint: last, created: false };
      const checkpoint = this.opts.signer.sign({ seq: head.seq, hash: head.hash, at: this.opts.clock.now(), prevSeq: last?.seq ?? 0, keyedFrom: head.keyedFrom });
      await repo.recordSigningKey(this.opts.signer.keyId, this.opts.signer.publicKeyPem, checkpoint.at);
      await repo.insertCheckpoint(checkpoint);
      return { checkpoint, created: true };
    });
    if (!made) return null;
    if (made.created && this.opts.checkpointsFile) appendCheckpointLine(this.opts.checkpointsFile, made.checkpoint);
    if (made.created && this.witnessTarget) this.unwitnessed.push(made.checkpoint);
    return { ...made, witnessError: await this.flushWitness() };
  }

  /** Sends the checkpoints the witness has not got yet, one sender at a time; the reason it stopped, or null. */
  private flushWitness(): Promise<string | null> {
    const run = this.witnessing.then(() => this.sendUnwitnessed());
    this.witnessing = run.catch(() => null);
    return run;
  }

  private async sendUnwitnessed(): Promise<string | null> {
    const target = this.witnessTarget;
    if (!target) return null;
    while (this.unwitnessed.length) {
      try {
        await sendToWitness(target, this.unwitnessed[0]!);
      } catch (e) {
        return (e as Error).message;
      }
      this.unwitnessed.shift();
    }
    return null;
  }

  /**
   * Recomputes the chain from genesis, streaming rows by seq: gapless seq, every hash (keyed from the
   * head's `keyed_from` on), every link; every checkpoint's signature (database, file and, when given,
   * the witness), the file's and the witness's checkpoints against the table and the chain, each
   * checkpoint's link to the one before it, that no checkpoint covers rows that are gone, and that no
   * entry older than `checkpointMaxAgeSeconds` is left without a checkpoint. `inWorker` forces the
   * chain's hashing into a worker thread (or keeps it here); by default a log of 20,000 entries or more
   * goes there. `witness`: what the outside witness holds (`readWitness`).
   */
  async verify(opts: { inWorker?: boolean; witness?: WitnessRead } = {}): Promise<AuditVerifyReport> {
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
    const headAtStart = await repo.head();
    const keyedFrom = headAtStart?.keyedFrom ?? null;

    // Checkpoints: each must carry a good signature by this deployment's key; each in the file (and
    // at the witness) must be in the table, unchanged.
    const dbCheckpoints = await repo.checkpoints();
    const fromFile = checkpointsFile ? readCheckpointFile(checkpointsFile) : { checkpoints: [], bad: [] };
    for (const b of fromFile.bad) add(0, 'bad_checkpoint_file', `${checkpointsFile} line ${b.line}: ${b.message}`);
    const witness = opts.witness ?? null;
    for (const b of witness?.bad ?? []) add(0, 'witness_disagrees', `the witness ${witness!.source} line ${b.line} is not a checkpoint (${b.message})`);
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
      // A checkpoint signs where the keyed chain started; the database must still say the same.
      if (c.keyedFrom !== null && c.keyedFrom !== keyedFrom) {
        add(c.seq, 'key_switch', `${where} checkpoint #${c.seq} says the keyed chain starts at entry ${c.keyedFrom}, the database says ${keyedFrom ?? 'it is not keyed'}: the chain was re-hashed without its key`);
      }
      return true;
    };
    const same = (a: AuditCheckpoint, b: AuditCheckpoint) => a.hash === b.hash && a.signature === b.signature && a.keyId === b.keyId && a.at.getTime() === b.at.getTime() && a.prevSeq === b.prevSeq && a.keyedFrom === b.keyedFrom;
    const dbBySeq = new Map(dbCheckpoints.map((c) => [c.seq, c]));
    const dbOk = new Set<number>();
    for (const c of dbCheckpoints) if (checkSignature(c, 'database')) dbOk.add(c.seq);
    // Each checkpoint names the one before it: a row deleted from the table leaves its successor pointing at nothing.
    for (const c of dbCheckpoints) {
      if (dbOk.has(c.seq) && c.prevSeq !== null && c.prevSeq > 0 && !dbBySeq.has(c.prevSeq)) {
        add(c.prevSeq, 'checkpoint_missing', `checkpoint #${c.seq} follows checkpoint #${c.prevSeq}, which is not in the database: it was deleted`);
      }
    }
    const fileSeqs = new Set<number>();
    for (const c of fromFile.checkpoints) {
      fileSeqs.add(c.seq);
      const sigOk = checkSignature(c, 'file');
      const d = dbBySeq.get(c.seq);
      if (!d) add(c.seq, 'checkpoint_missing', `checkpoint #${c.seq} is in the file but not in the database`);
      else if (!same(d, c)) add(c.seq, 'checkpoint_missing', `checkpoint #${c.seq} in the database differs from the one in the file`);
      else if (sigOk && dbOk.has(c.seq)) good.set(c.seq, c);
    }
    const notInFile = dbCheckpoints.filter((c) => !fileSeqs.has(c.seq));
    if (checkpointsFile && notInFile.length) notes.push(`${notInFile.length} checkpoint(s) of the database are not in ${checkpointsFile} (made by another process, or before this file was configured)`);
    for (const c of notInFile) if (dbOk.has(c.seq)) good.set(c.seq, c);

    // The witness: what it holds the database must hold, unchanged; what the database signed since
    // the witness's first checkpoint the witness must have got.
    let witnessFirstDisagreement: number | null = null;
    const witnessProblem = (seq: number, message: string) => {
      add(seq, 'witness_disagrees', message);
      witnessFirstDisagreement = Math.min(witnessFirstDisagreement ?? Infinity, seq);
    };
    if (witness) {
      const seen = new Set<number>();
      for (const c of witness.checkpoints) {
        if (seen.has(c.seq)) continue;
        seen.add(c.seq);
        if (!checkSignature(c, 'witness')) {
          witnessFirstDisagreement = Math.min(witnessFirstDisagreement ?? Infinity, c.seq);
          continue;
        }
        const d = dbBySeq.get(c.seq);
        if (!d) witnessProblem(c.seq, `the witness holds checkpoint #${c.seq} (${c.at.toISOString()}), the database does not`);
        else if (!same(d, c)) witnessProblem(c.seq, `checkpoint #${c.seq} in the database differs from the one the witness holds`);
      }
      const since = Math.min(...seen);
      for (const c of dbCheckpoints) {
        if (c.seq > since && !seen.has(c.seq)) witnessProblem(c.seq, `checkpoint #${c.seq} (${c.at.toISOString()}) is in the database but the witness never got it: signed by someone else, or its delivery failed`);
      }
      if (seen.size === 0) notes.push(`the witness ${witness.source} holds no checkpoint yet`);
      else if (dbCheckpoints.some((c) => c.seq < since)) notes.push(`checkpoints before #${since} were made before the witness ${witness.source} received any`);
    }

    // The chain, from genesis. The next batch is asked for before this one is checked (on
    // PostgreSQL the server reads it meanwhile); a long log is checked in a worker thread, so on
    // PGlite (the database in this thread) reading and hashing overlap too.
    const coveredBySigned = Math.max(0, ...expected.keys());
    const maxAge = (this.opts.checkpointMaxAgeSeconds ?? CHECKPOINT_MAX_AGE_SECONDS) * 1000;
    const init = {
      expected: [...expected],
      reported: [...reported],
      chainKey: this.opts.chainKey,
      keyedFrom,
      uncoveredAfter: coveredBySigned,
      staleBefore: new Date(this.opts.clock.now().getTime() - maxAge).toISOString(),
    };
    const inWorker = opts.inWorker ?? (headAtStart?.seq ?? 0) >= WORKER_FROM;
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

    const covered = Math.max(0, ...expected.keys(), ...dbCheckpoints.map((c) => c.seq), ...fromFile.checkpoints.map((c) => c.seq), ...(witness?.checkpoints.map((c) => c.seq) ?? []));
    if (covered > lastSeq) add(lastSeq + 1, 'truncated', `a checkpoint covers entries up to ${covered}, but the log ends at ${lastSeq}`);
    const head = await repo.head();
    if (head && (head.seq !== lastSeq || (lastSeq > 0 && head.hash !== prevHash))) {
      if (head.seq > lastSeq) {
        if (covered <= lastSeq) add(lastSeq + 1, 'truncated', `the head records ${head.seq} entries, the log ends at ${lastSeq}`);
      } else add(head.seq, 'head_mismatch', `the head records entry ${head.seq} (${head.hash.slice(0, 12)}…), the log ends at ${lastSeq}`);
    }
    // Checkpoints are required: entries old enough to have been signed that no signed checkpoint covers
    // are either the tail of a log whose checkpoints were deleted, or entries added by someone else.
    const stale = chain.stale;
    if (stale && !reported.has(stale.firstSeq)) {
      const range = stale.lastSeq === stale.firstSeq ? `entry ${stale.firstSeq}` : `entries ${stale.firstSeq} to ${stale.lastSeq}`;
      add(
        stale.firstSeq,
        'uncheckpointed',
        `${range} (the oldest from ${stale.firstAt}) ${stale.lastSeq === stale.firstSeq ? 'is' : 'are'} covered by no signed checkpoint, though checkpoints are due within ${maxAge / 1000} s: checkpoints were deleted or entries added since; if the server stopped before signing them, check them and run \`lockwarden audit checkpoint\``,
      );
    }
    if (keyedFrom === null && lastSeq > 0) notes.push(`the chain is not keyed yet: its ${lastSeq} entries were written before the upgrade; the next entry keys it`);
    else if (keyedFrom !== null && keyedFrom > 1) notes.push(`entries 1 to ${keyedFrom - 1} were written before the chain was keyed (entry ${keyedFrom}, audit.chain.keyed): only their signed checkpoints protect them against someone holding the database`);
    if (!witness && this.witnessTarget) notes.push(`checkpoints are sent to the witness ${witnessLabel(this.witnessTarget)}; pass --witness to compare against it`);

    problems.sort((a, b) => a.seq - b.seq);
    const firstProblem = Math.min(...problems.map((p) => p.seq), Infinity);
    const lastGood = [...good.values()].filter((c) => c.seq < firstProblem && chainHashAt.get(c.seq) === c.hash).sort((a, b) => b.seq - a.seq)[0];
    if (witness) {
      const mismatch = chain.problems.find((p) => p.kind === 'checkpoint_mismatch' && p.message.includes('witness'));
      if (mismatch) witnessFirstDisagreement = Math.min(witnessFirstDisagreement ?? Infinity, mismatch.seq);
      if (covered > lastSeq && witness.checkpoints.some((c) => c.seq > lastSeq)) witnessFirstDisagreement = Math.min(witnessFirstDisagreement ?? Infinity, lastSeq + 1);
    }
    return {
      ok: problemCount === 0,
      entries,
      lastSeq,
      checkpoints: dbCheckpoints.length,
      lastCheckpoint: lastGood ? { seq: lastGood.seq, hash: lastGood.hash, at: lastGood.at } : null,
      checkpointsFile,
      keyedFrom,
      witness: witness ? { source: witness.source, checkpoints: witness.checkpoints.length, lastSeq: Math.max(0, ...witness.checkpoints.map((c) => c.seq)), firstDisagreement: witnessFirstDisagreement } : null,
      problems,
      problemCount,
      notes,
      millis: Math.round(performance.now() - t0),
    };
  }
}
