/**
 * `lockwarden handbook ...` and `lockwarden keys rotate` as a person runs them: on the data folder
 * with no server, then against the running server with a token, the same commands and answers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { startRuntime } from '../../src/runtime.js';
import { openEmbedded } from '../../src/store/database.js';
import { readPdf } from '../helpers/pdf.js';
import { CliHarness, type Running } from './harness.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('lockwarden handbook commands', () => {
  let dataDir = '';
  const cli = new CliHarness(() => CliHarness.baseEnv(dataDir));
  let token = '';
  let secretId = '';
  const masterVersions = () => Object.keys((JSON.parse(readFileSync(path.join(dataDir, 'keys', 'master.json'), 'utf8')) as { keys: object }).keys).map(Number);

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-handbook-'));
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
      const { ctx, services } = runtime;
      await loadDemoFleet(ctx);
      assert.ok(await services.auth.bootstrapOwner());
      token = (await services.auth.createApiTokenFor(SYSTEM, 'owner@lockwarden.local', { name: 'handbook cli test', expiresInDays: 1 })).secret;
      const kp80 = (await services.handbook.list(SYSTEM)).find((e) => e.modelNumber === 'KP-80C')!;
      secretId = (await services.handbook.addSecret(SYSTEM, kp80.id, { kind: 'master_code', label: 'Records room', value: '5517392' })).id;
      await runtime.stop();
    } finally {
      await database.close();
    }
  });
  after(() => {
    cli.killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists, shows, searches with a typo and lists stale entries; secrets stay masked', async () => {
    const list = await cli.ok('handbook', 'list', '--manufacturer', 'Keystone Demo');
    assert.match(list, /KP-50/);
    assert.match(list, /KP-80C/);
    assert.match(list, /never verified/);
    const show = await cli.ok('handbook', 'show', 'KP-80C');
    assert.match(show, /1\. \[Press\] Wake the keypad/);
    assert.match(show, /GENERIC TEMPLATE/);
    assert.match(show, /Master code \(Records room\): ••••••/);
    assert.doesNotMatch(show, /5517392/);
    const hits = JSON.parse(await cli.ok('--json', 'handbook', 'search', 'KP-8OC')) as { modelNumber: string }[];
    assert.equal(hits[0]?.modelNumber, 'KP-80C');
    const stale = JSON.parse(await cli.ok('--json', 'handbook', 'stale')) as unknown[];
    assert.equal(stale.length, 9);
    const missing = await cli.run('handbook', 'show', 'NO-SUCH');
    assert.equal(missing.code, 3, missing.stderr);
  });

  it('verifies, reveals with a reason and rotates keys on the data folder', async () => {
    assert.match(await cli.ok('handbook', 'verify', 'KP-80C', '--revision', '1', '--note', 'checked on site'), /verified Keystone Demo KP-80C .* at revision 1/);
    const stale = JSON.parse(await cli.ok('--json', 'handbook', 'stale')) as unknown[];
    assert.equal(stale.length, 8);
    const noReason = await cli.run('handbook', 'reveal', secretId);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason/);
    assert.match(await cli.ok('handbook', 'reveal', secretId, '--reason', 'reset of the records room'), /Master code \(Records room\): 5517392/);
    assert.deepEqual(masterVersions(), [1]);
    assert.match(await cli.ok('keys', 'rotate'), /master key version 2 .*re-wrapped 1 data key/);
    assert.deepEqual(masterVersions(), [1, 2]);
  });

  it('exports a PDF of one site on the data folder; secrets only with --include-secrets and a reason', async () => {
    const file = path.join(dataDir, 'harbour.pdf');
    assert.match(await cli.ok('handbook', 'export', '--pdf', file, '--site', 'Harbour View Apartments'), /wrote \d+ entries to .*harbour\.pdf .*secrets redacted/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const pdf = await readPdf(readFileSync(file));
    assert.match(pdf.pages[0]!, /Location: .*Harbour View Apartments/);
    assert.ok(pdf.pages.every((p) => p.includes('Prepared for local-cli')));
    const noReason = await cli.run('handbook', 'export', '--pdf', file, '--include-secrets');
    assert.equal(noReason.code, 2, noReason.stderr);
    assert.match(noReason.stderr, /--reason/);
    const all = path.join(dataDir, 'keystone.pdf');
    await cli.ok('handbook', 'export', '--pdf', all, '--manufacturer', 'Keystone Demo', '--include-secrets', '--reason', 'records room reset binder');
    assert.ok((await readPdf(readFileSync(all))).pages.join(' ').includes('Master code (Records room): 5517392'));
  });

  describe('with the server running', () => {
    let server: Running;
    before(async () => {
      server = (await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], /listening on (http:\/\/127\.0\.0\.1:\d+)/)).running;
    });
    after(async () => {
      if (server) assert.equal((await server.stop('SIGTERM')).code, 0, server.output());
    });

    it('the same commands work through the API with a token; rotation while serving keeps secrets readable', async () => {
      const refused = await cli.run('handbook', 'list');
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /--token/);
      assert.match(await cli.ok('--token', token, 'handbook', 'show', 'KP-80C'), /verified .* by local-cli at revision 1/);
      assert.match(await cli.ok('--token', token, 'keys', 'rotate'), /master key version 3 .*re-wrapped 1 data key/);
      assert.match(await cli.ok('--token', token, 'handbook', 'reveal', secretId, '--reason', 'after rotation'), /5517392/);
      const file = path.join(dataDir, 'served.pdf');
      assert.match(await cli.ok('--token', token, 'handbook', 'export', '--pdf', file, '--manufacturer', 'Keystone Demo'), /wrote 2 entries/);
      const pdf = await readPdf(readFileSync(file));
      assert.ok(pdf.pages.join(' ').includes('Master code (Records room): •••• (redacted)'));
      assert.ok(pdf.pages.every((p) => p.includes('Prepared for owner@lockwarden.local')));
      const bad = await cli.run('--token', token, 'handbook', 'export', '--pdf', file, '--manufacturer', 'Nobody Inc');
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /manufacturer/);
      assert.doesNotMatch(server.output(), /5517392/, 'the server never logs a secret');
    });
  });
});
