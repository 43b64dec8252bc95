/**
 * Recomputing the audit chain, batch after batch in seq order: gapless seq, every entry's hash, every
 * link, and the chain's hash at each signed checkpoint. Pure CPU (canonical JSON, SHA-256), so a long
 * log is checked in a worker thread while the main thread reads the next batches from the database:
 * on PGlite the database runs in the main thread, and the two halves of the work then overlap.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { canonicalJson, chainHash, GENESIS_HASH } from '../crypto/audit-chain.js';
import type { AuditProblem, AuditProblemKind } from '../domain/audit.js';
import { parseChainText, type ChainBatch, type ChainRow } from '../store/audit-chain-text.js';

/** How far from its place a row is looked for when it no longer matches its hash (reordering). */
const REORDER_WINDOW = 16;
/** Problems listed (the count covers all). */
export const MAX_PROBLEMS = 200;
/** Batches handed to the worker and not yet checked; the reader waits beyond this (bounded memory). */
const IN_FLIGHT = 2;
const WORKER_ROLE = 'lockwarden-audit-chain-check';

/** What the checker is told before the first row. */
export interface ChainCheckInit {
  /** Signed checkpoint hashes by seq (with where each was found), whose signatures verified. */
  expected: [number, { hash: string; where: string }[]][];
  /** Seqs already reported (checkpoint problems): a broken link after one is not reported again. */
  reported: number[];
  /** The chain's secret (hex): entries from `keyedFrom` on are hashed with it. */
  chainKey: string;
  /** The first keyed entry (null: none is). */
  keyedFrom: number | null;
  /** Entries after this seq are covered by no signed checkpoint... */
  uncoveredAfter: number;
  /** ...and those written before this time (ISO) should have been: they are reported. */
  staleBefore: string;
}

export interface ChainCheckResult {
  entries: number;
  lastSeq: number;
  /** The hash of the last row (genesis for an empty log). */
  lastHash: string;
  problems: AuditProblem[];
  problemCount: number;
  /** The stored hash at each expected checkpoint seq that is in the log. */
  hashAt: [number, string][];
  /** Entries after the last signed checkpoint that are older than checkpoints allow, or null. */
  stale: { firstSeq: number; lastSeq: number; firstAt: string } | null;
}

/** The chain check's state across batches. */
export class ChainChecker {
  private readonly expected: Map<number, { hash: string; where: string }[]>;
  private readonly reported: Set<number>;
  private next = 1;
  private prevHash = GENESIS_HASH;
  private entries = 0;
  private lastSeq = 0;
  private readonly problems: AuditProblem[] = [];
  private problemCount = 0;
  private readonly hashAt = new Map<number, string>();
  private readonly keyOf: (seq: number) => string | null;
  private stale: ChainCheckResult['stale'] = null;

  constructor(private readonly init: ChainCheckInit) {
    this.expected = new Map(init.expected);
    this.reported = new Set(init.reported);
    const { chainKey, keyedFrom } = init;
    this.keyOf = (seq) => (keyedFrom !== null && seq >= keyedFrom ? chainKey : null);
  }

  /** Checks the next batch (rows in seq order, after the previous batch's). */
  push(batch: ChainBatch): void {
    this.check('text' in batch ? parseChainText(batch.text) : batch.rows);
  }

  private check(rows: ChainRow[]): void {
    for (const r of rows) {
      this.entries++;
      const next = this.next;
      if (r.seq > next) this.add(next, 'removed', r.seq - 1 === next ? `entry ${next} is missing` : `entries ${next} to ${r.seq - 1} are missing`);
      // jsonb text carries the stored values; their canonical form is what was hashed at append.
      r.details = canonicalText(r.details);
      r.secretMacs = canonicalText(r.secretMacs);
      if (chainHash(r, this.keyOf(r.seq)) !== r.hash) {
        const belongs = placeOf(r, this.keyOf);
        if (belongs !== null) this.add(r.seq, 'reordered', `entry ${r.seq} was written as entry ${belongs}`);
        else this.add(r.seq, 'edited', `entry ${r.seq} does not match its hash: its content was changed`);
      } else if (r.seq === next && r.prevHash !== this.prevHash && !this.reported.has(r.seq - 1)) {
        this.add(r.seq - 1, 'edited', `entry ${r.seq} does not link to entry ${r.seq - 1}: entry ${r.seq - 1} was changed (and re-hashed)`);
      }
      const signed = this.expected.get(r.seq);
      if (signed) {
        const differ = signed.filter((e) => e.hash !== r.hash);
        if (differ.length) this.add(r.seq, 'checkpoint_mismatch', `the signed checkpoint #${r.seq} (${differ.map((e) => e.where).join(' and ')}) has another hash: entries up to ${r.seq} were rewritten`);
        this.hashAt.set(r.seq, r.hash);
      }
      if (r.seq > this.init.uncoveredAfter && r.at < this.init.staleBefore) {
        if (this.stale) this.stale.lastSeq = r.seq;
        else this.stale = { firstSeq: r.seq, lastSeq: r.seq, firstAt: r.at };
      }
      this.prevHash = r.hash;
      this.next = r.seq + 1;
      this.lastSeq = r.seq;
    }
  }

  private add(seq: number, kind: AuditProblemKind, message: string): void {
    this.problemCount++;
    this.reported.add(seq);
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ seq, kind, message });
  }

  result(): ChainCheckResult {
    return { entries: this.entries, lastSeq: this.lastSeq, lastHash: this.prevHash, problems: this.problems, problemCount: this.problemCount, hashAt: [...this.hashAt], stale: this.stale };
  }
}

/** A chain check running here or in a worker thread; `push` resolves when another batch may be read. */
export interface ChainCheck {
  push(batch: ChainBatch): Promise<void>;
  result(): Promise<ChainCheckResult>;
  /** Ends the worker, if any (also after a failure). */
  close(): Promise<void>;
}

/** The check in this thread. */
export function inlineChainCheck(init: ChainCheckInit): ChainCheck {
  const checker = new ChainChecker(init);
  return {
    push: (batch) => Promise.resolve(checker.push(batch)),
    result: () => Promise.resolve(checker.result()),
    close: () => Promise.resolve(),
  };
}

type ToWorker = { batch: ChainBatch } | { done: true };
type FromWorker = { checked: true } | { result: ChainCheckResult } | { error: string };

/** The check in a worker thread (this module, started as the worker's entry). */
export function workerChainCheck(init: ChainCheckInit): ChainCheck {
  const worker = startWorker({ role: WORKER_ROLE, init });
  let failure: Error | null = null;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let finish: { resolve: (r: ChainCheckResult) => void; reject: (e: Error) => void } | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    wake?.();
    finish?.reject(failure);
  };
  worker.on('message', (m: FromWorker) => {
    if ('checked' in m) {
      inFlight--;
      wake?.();
    } else if ('result' in m) finish?.resolve(m.result);
    else fail(new Error(`audit chain check failed: ${m.error}`));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`audit chain check worker exited (${code})`)));
  const post = (m: ToWorker) => worker.postMessage(m);
  return {
    async push(batch) {
      while (!failure && inFlight >= IN_FLIGHT) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      if (failure) throw failure;
      inFlight++;
      post({ batch });
    },
    result() {
      if (failure) return Promise.reject(failure);
      return new Promise<ChainCheckResult>((resolve, reject) => {
        finish = { resolve, reject };
        post({ done: true });
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}

/** This module as a worker thread. */
function startWorker(data: unknown): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(self), { workerData: data });
  // From source under tsx (tests, benchmarks): Node 20 does not carry `--import tsx` into a worker's
  // entry, so the worker registers tsx itself before importing this module.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`, { eval: true, workerData: data });
}

/** The canonical form of a stored jsonb value's text (most entries have no secrets: `{}`). */
function canonicalText(json: string): string {
  return json === '{}' ? json : canonicalJson(JSON.parse(json));
}

/** The seq a row was hashed with, when it sits elsewhere (looked for within a small window). */
function placeOf(r: ChainRow, keyOf: (seq: number) => string | null): number | null {
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const seq of [r.seq - d, r.seq + d]) if (seq >= 1 && chainHash({ ...r, seq }, keyOf(seq)) === r.hash) return seq;
  }
  return null;
}

// Started as a worker by `workerChainCheck`: check the batches posted, answer with the result.
if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE && parentPort) {
  const port = parentPort;
  const checker = new ChainChecker((workerData as { init: ChainCheckInit }).init);
  port.on('message', (m: ToWorker) => {
    try {
      if ('batch' in m) {
        checker.push(m.batch);
        port.postMessage({ checked: true } satisfies FromWorker);
      } else {
        port.postMessage({ result: checker.result() } satisfies FromWorker);
        port.close();
      }
    } catch (e) {
      port.postMessage({ error: (e as Error).message } satisfies FromWorker);
    }
  });
}
