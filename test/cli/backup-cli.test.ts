/**
 * `lockwarden backup` against a running server (through its API, with a token) and `lockwarden
 * restore` into a new data folder, in child processes: the restored folder has the same locations
 * and an audit log that `audit verify` accepts; a wrong passphrase and a non-empty folder are refused
 * with their exit codes and nothing written.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { startRuntime } from '../../src/runtime.js';
import { openEmbedded } from '../../src/store/database.js';
import { CliHarness, type Running } from './harness.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('lockwarden backup and restore', () => {
  let work = '';
  let dataDir = '';
  const cli = new CliHarness(() => CliHarness.baseEnv(dataDir));
  let server: Running | null = null;
  let token = '';
  const archive = () => path.join(work, 'site.lwbackup');
  const passFile = () => path.join(work, 'pass.txt');

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-backup-'));
    dataDir = path.join(work, 'data');
    writeFileSync(passFile(), 'a long enough backup passphrase\n', { mode: 0o600 });
    writeFileSync(path.join(work, 'wrong.txt'), 'another long passphrase\n', { mode: 0o600 });
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
      const { services } = runtime;
      assert.ok(await services.auth.bootstrapOwner());
      const org = await services.locations.create(SYSTEM, { kind: 'organisation', name: 'Backup Org', parentId: null });
      await services.locations.create(SYSTEM, { kind: 'site', name: 'Backup Site', parentId: org.id });
      await runtime.stop();
    } finally {
      await database.close();
    }
    token = (JSON.parse(await cli.ok('tokens', 'create', '--email', 'owner@lockwarden.local', '--json')) as { secret: string }).secret;
    server = (await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], /listening on (http:\/\/127\.0\.0\.1:\d+)/)).running;
  });
  after(async () => {
    await server?.stop();
    cli.killAll();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('backs up through the running server and restores into a new folder that verifies', async () => {
    const out = await cli.ok('backup', archive(), '--passphrase-file', passFile(), '--token', token);
    assert.match(out, /wrote .*site\.lwbackup/);
    assert.equal(statSync(archive()).mode & 0o777, 0o600);
    const tree = await cli.ok('locations', 'tree', '--json', '--token', token);

    const target = path.join(work, 'restored');
    const restored = await cli.ok('restore', archive(), '--passphrase-file', passFile(), '--data', target);
    assert.match(restored, /restored \d+ rows in \d+ tables and 4 file\(s\)/);
    const verify = await cli.ok('audit', 'verify', '--data', target);
    assert.match(verify, /^OK: \d+ entries verified/);
    assert.match(verify, /verified up to signed checkpoint/);
    assert.equal(await cli.ok('locations', 'tree', '--json', '--data', target), tree);
  });

  it('refuses a wrong passphrase (exit 2) and a folder in use (exit 5), writing nothing', async () => {
    const target = path.join(work, 'never');
    const wrong = await cli.run('restore', archive(), '--passphrase-file', path.join(work, 'wrong.txt'), '--data', target);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /passphrase does not open this backup/);
    assert.equal(existsSync(target), false);
    const busy = await cli.run('restore', archive(), '--passphrase-file', passFile(), '--data', dataDir);
    assert.equal(busy.code, 5, busy.stderr);
    assert.match(busy.stderr, /is not empty/);
    assert.equal(readdirSync(work).filter((f) => f.includes('restoring')).length, 0);
  });
});
