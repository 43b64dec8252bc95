/**
 * The real `lockwarden` CLI in child processes, on a data folder seeded with the demo fleet: local
 * commands on the folder, exit codes and messages, then a server owning the folder: a second server
 * is refused naming its PID, and the CLI talks to the running one over HTTP with an API token.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { startRuntime } from '../../src/runtime.js';
import { TEST_SECRETS } from '../helpers/db.js';
import { LOCK_FILE } from '../../src/store/data-folder-lock.js';
import { openEmbedded } from '../../src/store/database.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ENTRY = path.join('bin', 'lockwarden.mjs');
const SYSTEM: Actor = { kind: 'system', name: 'bootstrap' };
/** Generous: a child start costs tsx plus opening PGlite, slow on a busy 2-core machine. */
const RUN_TIMEOUT_MS = 45_000;

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface LockPageJson {
  items: { id: string; name: string; family: string; serviceState: string; modelNumber: string; locationPath: { name: string }[] }[];
  total: number;
}

interface TreeJson {
  name: string;
  kind: string;
  lockCount: number;
  children: TreeJson[];
}

describe('lockwarden CLI', () => {
  let dataDir: string;
  /** Every child still running, so `after` can end them by PID. */
  const children = new Set<ChildProcess>();
  let demoLocks: Lock[] = [];
  let addedId = '';
  let retiredId = '';
  let secret = '';

  function childEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, LOCKWARDEN_DATA: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn', NO_COLOR: '1' };
    delete env.LOCKWARDEN_TOKEN;
    delete env.LOCKWARDEN_URL;
    delete env.NODE_TEST_CONTEXT; // not a test runner child
    return env;
  }

  function start(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  }

  /** Runs the CLI to completion. */
  function run(...args: string[]): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = start(args);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`lockwarden ${args.join(' ')} did not finish in ${RUN_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, RUN_TIMEOUT_MS);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  /** Runs the CLI and fails the test unless it exits 0. */
  async function ok(...args: string[]): Promise<string> {
    const r = await run(...args);
    assert.equal(r.code, 0, `lockwarden ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  const parse = <T>(out: string): T => JSON.parse(out) as T;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-'));
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false, secrets: TEST_SECRETS });
      const { ctx, services } = runtime;
      const summary = await loadDemoFleet(ctx);
      assert.equal(summary?.locks, 40);
      assert.ok(await services.auth.bootstrapOwner(), 'owner created');
      demoLocks = (await services.locks.list(SYSTEM, { limit: 500 })).items;
      assert.equal(demoLocks.length, 40);
    } finally {
      await database.close();
    }
    assert.ok(!existsSync(path.join(dataDir, LOCK_FILE)), 'the seeding process released the folder');
  });

  after(() => {
    for (const child of children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('locations tree prints both demo sites; --json counts the 40 locks on the root', async () => {
    const text = await ok('locations', 'tree');
    assert.match(text, /Harbour View Apartments\s+\(23 locks\)/);
    assert.match(text, /Northgate Offices\s+\(17 locks\)/);
    assert.match(text, /Demo Property Group\s+\(40 locks\)/);
    assert.match(text, /└─ /, 'drawn as a tree');

    const roots = parse<TreeJson[]>(await ok('locations', 'tree', '--json'));
    assert.equal(roots.length, 1);
    assert.equal(roots[0]!.kind, 'organisation');
    assert.equal(roots[0]!.lockCount, 40);
    const sites = roots[0]!.children;
    assert.deepEqual(sites.map((s) => s.name).sort(), ['Harbour View Apartments', 'Northgate Offices']);
    assert.equal(sites.reduce((n, s) => n + s.lockCount, 0), 40);
  });

  it('locks list --family biometric --json returns exactly the biometric locks', async () => {
    const page = parse<LockPageJson>(await ok('locks', 'list', '--family', 'biometric', '--json'));
    const expected = demoLocks.filter((l) => l.family === 'biometric').map((l) => l.id).sort();
    assert.ok(expected.length > 0);
    assert.deepEqual(page.items.map((l) => l.id).sort(), expected);
    assert.equal(page.total, expected.length);
  });

  it('locks list --state bogus exits non-zero naming the bad value', async () => {
    const r = await run('locks', 'list', '--state', 'bogus');
    assert.equal(r.code, 2, 'a usage error exits 2 like other bad input');
    assert.match(r.stderr, /bogus/);
    assert.match(r.stderr, /needs_attention/, 'lists the valid states');
    assert.equal(r.stdout, '');
  });

  it('locks show prints one lock; an unknown id exits 3 naming it', async () => {
    const lock = demoLocks.find((l) => l.family === 'safe_cabinet')!;
    const text = await ok('locks', 'show', lock.id);
    assert.match(text, new RegExp(`Name\\s+${lock.name}`));
    assert.match(text, new RegExp(`ID\\s+${lock.id}`));
    assert.match(text, new RegExp(`Model\\s+${lock.manufacturer} ${lock.modelNumber}`));
    assert.match(text, new RegExp(`Serial\\s+${lock.serial}`));

    const missing = randomUUID();
    const r = await run('locks', 'show', missing);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`lock ${missing} not found`));
    assert.equal(r.stdout, '');
  });

  it('locks add adds a lock found by -q; a bad battery exits 2 naming batteryPercent and adds nothing', async () => {
    const location = 'Harbour View Apartments/Building B/Bike room';
    const added = await ok('locks', 'add', '--name', 'CLI added lock', '--model', 'KP-50', '--location', location, '--serial', 'CLI-SN-1', '--battery', '64');
    const m = /^added CLI added lock \(([0-9a-f-]{36})\)$/m.exec(added);
    assert.ok(m, added);
    addedId = m[1]!;

    const bad = await run('locks', 'add', '--name', 'CLI rejected lock', '--model', 'KP-50', '--location', location, '--battery', '150');
    assert.equal(bad.code, 2, `${bad.stdout}${bad.stderr}`);
    assert.match(bad.stderr, /batteryPercent/);
    assert.equal(bad.stdout, '');

    const page = parse<LockPageJson>(await ok('locks', 'list', '-q', 'CLI ', '--json'));
    assert.deepEqual(
      page.items.map((l) => l.name),
      ['CLI added lock'],
      'the good lock is listed, the rejected one was never added',
    );
    const lock = page.items[0]!;
    assert.equal(lock.id, addedId);
    assert.equal(lock.modelNumber, 'KP-50');
    assert.deepEqual(lock.locationPath.map((p) => p.name).slice(-3), ['Harbour View Apartments', 'Building B', 'Bike room']);
  });

  it('locks retire retires a lock with the reason', async () => {
    const target = demoLocks.find((l) => l.family === 'app_controlled')!;
    retiredId = target.id;
    const out = parse<{ id: string; serviceState: string; retiredReason: string }>(await ok('locks', 'retire', target.id, '--reason', 'replaced after water damage', '--json'));
    assert.equal(out.id, target.id);
    assert.equal(out.serviceState, 'retired');
    assert.equal(out.retiredReason, 'replaced after water damage');
  });

  it('models list shows the 9 demo models', async () => {
    const text = await ok('models', 'list');
    for (const n of ['DB-100', 'DB-220W', 'KP-50', 'KP-80C', 'CB-1', 'CB-2 Pro', 'FP-300', 'SC-10', 'CAB-4']) assert.match(text, new RegExp(` ${n} `), n);
    const rows = text.trim().split('\n').slice(2);
    assert.equal(rows.length, 9);
  });

  it('tokens create prints an lwt_ secret for the owner', async () => {
    const out = await ok('tokens', 'create', '--email', 'owner@lockwarden.local', '--name', 'cli test');
    const m = /^(lwt_[A-Za-z0-9_-]{20,})$/m.exec(out);
    assert.ok(m, out);
    secret = m[1]!;
    assert.match(out, /shown once/);
    const unknown = await run('tokens', 'create', '--email', 'nobody@example.test');
    assert.equal(unknown.code, 3, unknown.stderr);
    assert.match(unknown.stderr, /nobody@example\.test/);
  });

  describe('with a server owning the data folder', () => {
    let server: ChildProcess;
    let url = '';
    let serverOut = '';
    let serverExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

    before(async () => {
      assert.ok(secret, 'a token was created before the server started');
      server = start(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo']);
      serverExit = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
      server.stderr!.setEncoding('utf8').on('data', (d: string) => (serverOut += d));
      url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverOut}`)), RUN_TIMEOUT_MS);
        server.stdout!.setEncoding('utf8').on('data', (d: string) => {
          serverOut += d;
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverOut);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void serverExit.then(({ code }) => {
          clearTimeout(timer);
          reject(new Error(`server exited with ${code} before listening:\n${serverOut}`));
        });
      });
    });

    after(async () => {
      if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
        process.kill(server.pid, 'SIGTERM');
        const killer = setTimeout(() => {
          if (server.exitCode === null && server.signalCode === null) process.kill(server.pid!, 'SIGKILL');
        }, 10_000);
        await serverExit;
        clearTimeout(killer);
      }
    });

    it('the lock file names the server and its URL', () => {
      const info = JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as { pid: number; purpose: string; url: string };
      assert.equal(info.pid, server.pid);
      assert.equal(info.purpose, 'server');
      assert.equal(info.url, url);
      assert.doesNotMatch(serverOut, /First start|one-time/, 'no new owner on a folder that has one');
    });

    it('a second server on the same folder fails at once, naming the first PID', async () => {
      const t0 = performance.now();
      const r = await run('serve', '--port', '0', '--host', '127.0.0.1', '--no-demo');
      assert.notEqual(r.code, 0);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, new RegExp(`PID ${server.pid}\\b`));
      assert.doesNotMatch(r.stdout, /listening on/);
      assert.ok(performance.now() - t0 < 30_000, 'it does not wait for the folder');
      assert.equal(server.exitCode, null, 'the first server is still running');
    });

    it('locks list without a token exits non-zero and says to pass one', async () => {
      const r = await run('locks', 'list');
      assert.notEqual(r.code, 0);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--token/);
      assert.match(r.stderr, new RegExp(`PID ${server.pid}`));
      assert.ok(r.stderr.includes(url), 'names where the server listens');
      assert.equal(r.stdout, '');
    });

    it('locks list --token goes through the HTTP API and sees the same locks', async () => {
      const page = parse<LockPageJson>(await ok('locks', 'list', '--json', '--limit', '500', '--token', secret));
      const expected = [...demoLocks.filter((l) => l.id !== retiredId).map((l) => l.id), addedId].sort();
      assert.equal(page.total, 40, '40 demo locks - 1 retired + 1 added');
      assert.deepEqual(page.items.map((l) => l.id).sort(), expected);
      const bad = await run('locks', 'list', '--token', 'lwt_not-a-real-token');
      assert.equal(bad.code, 4, bad.stderr);
      assert.match(bad.stderr, /token/i);
    });

    it('stops on SIGTERM and releases the data folder', async () => {
      assert.ok(existsSync(path.join(dataDir, LOCK_FILE)));
      process.kill(server.pid!, 'SIGTERM');
      const { code, signal } = await serverExit;
      assert.equal(signal, null, `exited by itself, not by ${signal}`);
      assert.equal(code, 0, serverOut);
      assert.ok(!existsSync(path.join(dataDir, LOCK_FILE)), 'lock file removed');
    });
  });
});
