/**
 * Exactly one process may own a PGlite data folder: two writers corrupt it silently. The owner keeps
 * a lock file naming its PID; a second process fails at once with that PID in the message.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { AppError } from '../domain/errors.js';

export interface LockInfo {
  pid: number;
  hostname: string;
  purpose: string;
  startedAt: string;
  /** Set by a server once it listens, so the CLI can find it. */
  url?: string;
}

export interface DataFolderLock {
  file: string;
  info: LockInfo;
  /** Records the URL the owning server listens on. */
  setUrl(url: string): void;
  release(): void;
}

export const LOCK_FILE = 'lockwarden.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the lock file of `dataDir`, or null when there is none (or its owner is gone). */
export function readDataFolderLock(dataDir: string): LockInfo | null {
  const file = path.join(dataDir, LOCK_FILE);
  let info: LockInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
  if (info.hostname === hostname() && !alive(info.pid)) return null;
  return info;
}

/** Takes the lock of `dataDir` or throws `store.data_folder_locked` naming the owner. */
export function acquireDataFolderLock(dataDir: string, purpose: string): DataFolderLock {
  const file = path.join(dataDir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, hostname: hostname(), purpose, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readDataFolderLock(dataDir);
      if (owner) {
        throw new AppError(
          'store.data_folder_locked',
          `data folder ${dataDir} is in use by lockwarden process PID ${owner.pid} (${owner.purpose}` +
            `${owner.url ? ` at ${owner.url}` : ''}, since ${owner.startedAt}${owner.hostname !== hostname() ? ` on host ${owner.hostname}` : ''}). ` +
            'Stop it, or talk to it through its API, or set LOCKWARDEN_DATA to another folder.',
        );
      }
      // The owner is gone: remove its stale file and race for it again; only one `wx` open can win.
      rmSync(file, { force: true });
      continue;
    }
    writeSync(fd, JSON.stringify(info));
    closeSync(fd);
    let released = false;
    return {
      file,
      info,
      setUrl(url) {
        info.url = url;
        writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
      },
      release() {
        if (released) return;
        released = true;
        try {
          const current = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
          if (current.pid === process.pid) rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      },
    };
  }
  throw new AppError('store.data_folder_locked', `could not take the lock on data folder ${dataDir}`);
}
