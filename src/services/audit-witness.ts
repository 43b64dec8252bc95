/**
 * The audit log's outside witness: every checkpoint is also sent somewhere the data folder does not
 * reach — an append-only file on other storage, or an http(s) endpoint — and `lockwarden audit verify
 * --witness` compares the database against what the witness holds. Someone who rewrites the database
 * and the data folder (keys included) can re-sign checkpoints there, but cannot take back what the
 * witness already received.
 *
 * The endpoint protocol: each checkpoint is POSTed as one JSON object (the checkpoint file's line);
 * a GET of the same URL answers every checkpoint received, as JSON lines, oldest first.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AuditCheckpoint } from '../domain/audit.js';
import { AppError } from '../domain/errors.js';

/** A witness: a file path or an http(s) URL. */
export type WitnessTarget = { kind: 'file'; path: string } | { kind: 'url'; url: URL };

/** Checkpoints read from a checkpoint file or a witness, and the lines that could not be read. */
export interface CheckpointLines {
  checkpoints: AuditCheckpoint[];
  bad: { line: number; message: string }[];
}

/** What a witness held when verification read it. */
export interface WitnessRead extends CheckpointLines {
  /** The file, or the URL's origin (never its path or query, which may carry a token), for messages. */
  source: string;
}

/** How long a witness endpoint may take to answer, and the most it may send back. */
const WITNESS_TIMEOUT_MS = 10_000;
const WITNESS_MAX_BYTES = 64 * 1024 * 1024;

/** `s` as a witness: an http(s) URL, else a file path (resolved). */
export function parseWitnessTarget(s: string): WitnessTarget {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new AppError('validation.failed', 'the audit witness must be a file path or an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('validation.failed', `the audit witness URL must be http or https, not ${url.protocol.replace(':', '')}`);
    return { kind: 'url', url };
  }
  return { kind: 'file', path: path.resolve(s) };
}

/** A witness named for messages: the file, or only the URL's origin. */
export function witnessLabel(t: WitnessTarget): string {
  return t.kind === 'file' ? t.path : t.url.origin;
}

/** One checkpoint as a line of the checkpoint file and of a witness. */
export function checkpointLine(c: AuditCheckpoint): string {
  return JSON.stringify({ seq: c.seq, hash: c.hash, at: c.at.toISOString(), keyId: c.keyId, signature: c.signature, prevSeq: c.prevSeq, keyedFrom: c.keyedFrom });
}

/** Appends one checkpoint as a JSON line (the file and its folder are made private on first use). */
export function appendCheckpointLine(file: string, c: AuditCheckpoint): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${checkpointLine(c)}\n`, { mode: 0o600 });
}

/** The checkpoints in JSON-lines text, and the lines that are not checkpoints. */
export function parseCheckpointLines(text: string): CheckpointLines {
  const checkpoints: AuditCheckpoint[] = [];
  const bad: { line: number; message: string }[] = [];
  const optionalSeq = (v: unknown) => v === undefined || v === null || (Number.isSafeInteger(v) && (v as number) >= 0);
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const at = new Date(String(o.at));
      if (!Number.isSafeInteger(o.seq) || typeof o.hash !== 'string' || typeof o.keyId !== 'string' || typeof o.signature !== 'string' || Number.isNaN(at.getTime()) || !optionalSeq(o.prevSeq) || !optionalSeq(o.keyedFrom)) {
        throw new Error('not a checkpoint');
      }
      checkpoints.push({ seq: o.seq as number, hash: o.hash, at, keyId: o.keyId, signature: o.signature, prevSeq: (o.prevSeq as number | undefined) ?? null, keyedFrom: (o.keyedFrom as number | undefined) ?? null });
    } catch (e) {
      // The reason only, never the line: a line of someone else's file is not ours to print.
      bad.push({ line: i + 1, message: e instanceof SyntaxError ? 'not JSON' : (e as Error).message });
    }
  });
  return { checkpoints, bad };
}

/** The checkpoints in a file, and the lines that could not be read. A missing file has none. */
export function readCheckpointFile(file: string): CheckpointLines {
  if (!existsSync(file)) return { checkpoints: [], bad: [] };
  return parseCheckpointLines(readFileSync(file, 'utf8'));
}

/** Sends one checkpoint to the witness (appends it to the file, or POSTs it); throws when it did not arrive. */
export async function sendToWitness(target: WitnessTarget, c: AuditCheckpoint): Promise<void> {
  if (target.kind === 'file') return appendCheckpointLine(target.path, c);
  let res: Response;
  try {
    res = await fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: checkpointLine(c), redirect: 'error', signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS) });
  } catch {
    throw new AppError('store.unavailable', `the audit witness at ${target.url.origin} could not be reached`);
  }
  await res.body?.cancel();
  if (!res.ok) throw new AppError('store.unavailable', `the audit witness at ${target.url.origin} refused checkpoint #${c.seq} (HTTP ${res.status})`);
}

/** Everything the witness holds (a missing file holds nothing; an endpoint must answer). */
export async function readWitness(target: WitnessTarget): Promise<WitnessRead> {
  const source = witnessLabel(target);
  if (target.kind === 'file') return { source, ...readCheckpointFile(target.path) };
  let res: Response;
  try {
    res = await fetch(target.url, { headers: { accept: 'application/x-ndjson' }, redirect: 'error', signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS) });
  } catch {
    throw new AppError('store.unavailable', `the audit witness at ${source} could not be reached`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new AppError('store.unavailable', `the audit witness at ${source} answered HTTP ${res.status}`);
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > WITNESS_MAX_BYTES) throw new AppError('store.unavailable', `the audit witness at ${source} sent more than ${WITNESS_MAX_BYTES / 1024 / 1024} MB`);
    parts.push(Buffer.from(chunk));
  }
  return { source, ...parseCheckpointLines(Buffer.concat(parts).toString('utf8')) };
}
