/**
 * `lockwarden audit ...` on a stopped data folder: verify exits 0 on the log as written and 7 after
 * someone edits a row in the database directly; list and export read the same entries.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { startRuntime } from '../../src/runtime.js';
import { openEmbedded } from '../../src/store/database.js';
import { CliHarness } from './harness.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('lockwarden audit commands', () => {
  let dataDir = '';
  const cli = new CliHarness(() => CliHarness.baseEnv(dataDir));

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-audit-'));
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
      const { services } = runtime;
      assert.ok(await services.auth.bootstrapOwner());
      const org = await services.locations.create(SYSTEM, { kind: 'organisation', name: 'Audit Org', parentId: null });
      await services.locations.create(SYSTEM, { kind: 'site', name: 'Audit Site', parentId: org.id });
      // Stopping signs a checkpoint of what this process recorded.
      await runtime.stop();
    } finally {
      await database.close();
    }
  });
  after(() => {
    cli.killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('made a private signing key and a checkpoint file on first use', () => {
    assert.equal(statSync(path.join(dataDir, 'keys', 'audit-signing.pem')).mode & 0o777, 0o600);
    const lines = readFileSync(path.join(dataDir, 'audit', 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { seq: number }).seq, 4);
  });

  it('lists and exports the entries', async () => {
    const page = JSON.parse(await cli.ok('audit', 'list', '--json', '--action', 'location.')) as { items: { action: string; targetLabel: string }[] };
    assert.deepEqual(page.items.map((e) => e.targetLabel), ['Audit Site', 'Audit Org']);
    const out = path.join(dataDir, 'audit.csv');
    await cli.ok('audit', 'export', '--format', 'csv', '--out', out);
    assert.match(readFileSync(out, 'utf8'), /location\.create/);
  });

  it('verifies the log (exit 0), and fails with exit 7 naming the entry after a direct edit', async () => {
    const good = await cli.run('audit', 'verify');
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /OK: 4 entries verified/);
    assert.match(good.stdout, /checkpoint #4/);

    const database = await openEmbedded(dataDir, { purpose: 'tamper' });
    try {
      await database.db.execute(sql`alter table audit_log disable trigger audit_log_no_change`);
      await database.db.execute(sql`update audit_log set target_label = 'Somewhere else' where seq = 4`);
    } finally {
      await database.close();
    }
    const bad = await cli.run('audit', 'verify', '--json');
    assert.equal(bad.code, 7, bad.stderr);
    const report = JSON.parse(bad.stdout) as { ok: boolean; problems: { kind: string; seq: number }[] };
    assert.deepEqual([report.ok, report.problems.map((p) => [p.kind, p.seq])], [false, [['edited', 4]]]);
    assert.ok(existsSync(path.join(dataDir, 'audit', 'checkpoints.jsonl')));
  });
});
