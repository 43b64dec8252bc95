import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.js';
import { acquireDataFolderLock, LOCK_FILE } from '../../src/store/data-folder-lock.js';
import { openEmbedded } from '../../src/store/database.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'lw-lock-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('data folder ownership', () => {
  it('refuses a second owner in the same process, naming the PID', () => {
    const dir = tempDir();
    const first = acquireDataFolderLock(dir, 'server');
    assert.throws(() => acquireDataFolderLock(dir, 'cli'), (e: unknown) => e instanceof AppError && e.code === 'store.data_folder_locked' && e.message.includes(`PID ${process.pid}`));
    first.release();
    assert.equal(existsSync(path.join(dir, LOCK_FILE)), false);
    acquireDataFolderLock(dir, 'again').release();
  });

  it('takes over a lock file left by a process that died', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, hostname: hostname(), purpose: 'server', startedAt: '2020-01-01T00:00:00Z' }));
    const lock = acquireDataFolderLock(dir, 'server');
    assert.equal(lock.info.pid, process.pid);
    lock.release();
  });

  it('makes a second process fail at once while another process owns the embedded database', async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', `import('./src/store/database.ts').then(async (m) => { await m.openEmbedded(${JSON.stringify(dir)}, { purpose: 'test-owner' }); console.log('ready'); setInterval(() => {}, 1000); })`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`owner exited early with ${code}`)));
      });
      const t0 = Date.now();
      await assert.rejects(openEmbedded(dir, { purpose: 'second' }), (e: unknown) => {
        assert.ok(e instanceof AppError);
        assert.equal(e.code, 'store.data_folder_locked');
        assert.match(e.message, new RegExp(`PID ${child.pid}\\b`));
        assert.match(e.message, /test-owner/);
        return true;
      });
      assert.ok(Date.now() - t0 < 1000, 'fails at once, without waiting');
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // The owner died without cleaning up: the stale lock is taken over, the data is intact.
    const db = await openEmbedded(dir, { purpose: 'after-crash' });
    await db.close();
  });
});
