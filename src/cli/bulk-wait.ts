/**
 * Following a bulk change until it finishes: a progress bar redrawn every second on a terminal, or
 * one line per change of progress when stderr is a pipe or a file (logs stay short). Progress goes
 * to stderr so stdout keeps only the result (--json stays parseable).
 */
import { AppError } from '../domain/errors.js';
import type { BulkView } from '../services/credential-service.js';
import type { LockwardenClient } from './client.js';
import { progressBar } from './format.js';

export interface WaitOptions {
  /** Milliseconds between polls (and redraws); 1000 unless a test asks otherwise. */
  intervalMs?: number;
  /** Stop waiting after this many ms: throws `device.unreachable` (exit 6), the change goes on. */
  timeoutMs?: number;
  stream?: NodeJS.WriteStream;
  /** Draw a bar in place (default: when the stream is a TTY). */
  tty?: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls the bulk change until it has finished and returns its final view. */
export async function waitForBulk(client: LockwardenClient, first: BulkView, opts: WaitOptions = {}): Promise<BulkView> {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const interval = opts.intervalMs ?? 1000;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let view = first;
  let last = '';
  let drawn = false;
  const show = () => {
    const line = progressBar(view);
    if (tty) {
      // Clear the line first: the bar can get shorter when counts drop a digit (never, but cheap).
      stream.write(`\r\x1b[2K${line}`);
      drawn = true;
    } else if (line !== last) {
      stream.write(`${line}\n`);
    }
    last = line;
  };
  // Ctrl-C stops the waiting, not the change: leave the terminal tidy and say how to come back.
  const onInterrupt = () => {
    if (drawn) stream.write('\n');
    stream.write(`stopped waiting; bulk ${view.id} goes on. Follow it with: lockwarden bulk status ${view.id} --wait\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    show();
    while (!view.finished) {
      if (Date.now() + interval > deadline) {
        if (drawn) stream.write('\n');
        drawn = false;
        throw new AppError('device.unreachable', `bulk ${view.id} has not finished in time (${view.done}/${view.total} done, ${view.failed} failed, ${view.pending} pending); it goes on: lockwarden bulk status ${view.id} --wait`);
      }
      await sleep(interval);
      view = await client.bulk(view.id);
      show();
    }
    if (drawn) stream.write('\n');
    return view;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}
