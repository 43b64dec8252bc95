/**
 * `lockwarden audit ...` on a stopped data folder: verify exits 0 on the log as written and 7 after
 * someone edits a row in the database directly; list and export read the same entries; verify
 * --witness against an outside witness catches what the data folder's own keys can hide.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { startRuntime } from '../../src/runtime.js';
import { openEmbedded, type Database } from '../../src/store/database.js';
import { chainKeyOf, deploymentCheckpointSigner, entryHash, GENESIS_HASH, type CheckpointSigner } from '../../src/crypto/audit-chain.js';
import { deploymentKeySource, SecretBox } from '../../src/crypto/secret-box.js';
import { appendCheckpointLine } from '../../src/services/audit-witness.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
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

/**
 * `lockwarden audit verify --witness <file-or-url>` against an outside witness: an endpoint the test
 * runs on 127.0.0.1 that the server's checkpoints are POSTed to (and a file holding the same lines).
 * Forgeries made with the whole data folder in hand, keys included, on copies of one folder.
 */
describe('lockwarden audit verify --witness', () => {
  let root = '';
  let dataDir = '';
  let witnessFile = '';
  const lines: string[] = [];
  let editWitness: ((lines: string[]) => string[]) | null = null;
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        lines.push(body);
        res.writeHead(204).end();
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end((editWitness ? editWitness(lines) : lines).map((l) => `${l}\n`).join(''));
  });
  let url = '';
  let folder = '';
  const cli = new CliHarness(() => CliHarness.baseEnv(folder));

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness/lockwarden?token=t0ps3cret`;
    root = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-witness-'));
    dataDir = path.join(root, 'data');
    witnessFile = path.join(root, 'elsewhere', 'witness.jsonl');
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false, audit: { witness: url } });
      const { services } = runtime;
      assert.ok(await services.auth.bootstrapOwner());
      const org = await services.locations.create(SYSTEM, { kind: 'organisation', name: 'Witness Org', parentId: null });
      await services.locations.create(SYSTEM, { kind: 'site', name: 'Witness Site', parentId: org.id });
      // Stopping signs a checkpoint, which goes to the file in the folder and to the witness.
      await runtime.stop();
    } finally {
      await database.close();
    }
    mkdirSync(path.dirname(witnessFile), { recursive: true });
    writeFileSync(witnessFile, lines.map((l) => `${l}\n`).join(''));
  });
  after(async () => {
    cli.killAll();
    await new Promise((resolve) => server.close(resolve));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A copy of the data folder, changed by `act` with the folder's own keys (as someone holding it would). */
  async function forged(name: string, act: (db: Database['db'], keys: { chainKey: string; signer: CheckpointSigner }) => Promise<void>): Promise<string> {
    const copy = path.join(root, name);
    cpSync(dataDir, copy, { recursive: true });
    const database = await openEmbedded(copy, { purpose: 'tamper' });
    try {
      const keys = { chainKey: chainKeyOf(new SecretBox(deploymentKeySource(copy, {}))), signer: deploymentCheckpointSigner(copy, {}) };
      await database.db.execute(sql`alter table audit_log disable trigger audit_log_no_change`);
      await database.db.execute(sql`alter table audit_checkpoints disable trigger audit_checkpoints_no_change`);
      await act(database.db, keys);
    } finally {
      await database.close();
    }
    return copy;
  }

  it('the witness got the checkpoint; verify against it by URL and by file agrees (exit 0)', async () => {
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { seq: number; prevSeq: number }).prevSeq, 0);
    folder = dataDir;
    for (const witness of [url, witnessFile]) {
      const r = await cli.run('audit', 'verify', '--witness', witness);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /OK: 4 entries verified/);
      assert.match(r.stdout, /1 checkpoint\(s\) up to #4, all agree with the database/);
      assert.match(r.stdout, /keyed with the deployment's secret from entry 1/);
      assert.doesNotMatch(r.stdout, /t0ps3cret/, 'the URL is named by its origin only');
    }
  });

  it('a well-chained entry appended and signed with the folder\'s keys: verify alone passes, --witness fails (exit 7) naming it', async () => {
    folder = await forged('appended', async (db, { chainKey, signer }) => {
      const repo = new AuditRepository(db);
      const head = (await repo.head())!;
      const [last] = await repo.after(head.seq - 1, 1);
      const row = { ...last!, seq: head.seq + 1, at: new Date(), action: 'access.grant', targetLabel: 'intruder@example.test', details: { role: 'owner' }, prevHash: head.hash };
      const entry = { ...row, hash: entryHash(row, chainKey) };
      await repo.append([entry], { seq: entry.seq, hash: entry.hash, keyedFrom: head.keyedFrom });
      const c = signer.sign({ seq: entry.seq, hash: entry.hash, at: new Date(), prevSeq: head.seq, keyedFrom: head.keyedFrom });
      await repo.insertCheckpoint(c);
      appendCheckpointLine(path.join(root, 'appended', 'audit', 'checkpoints.jsonl'), c);
    });
    assert.equal((await cli.run('audit', 'verify')).code, 0, 'without the witness, every key in hand hides it (the threat model says so)');
    const r = await cli.run('audit', 'verify', '--witness', url, '--json');
    assert.equal(r.code, 7, r.stderr);
    const report = JSON.parse(r.stdout) as { problems: { kind: string; seq: number }[]; witness: { firstDisagreement: number } };
    assert.deepEqual([report.problems.map((p) => [p.kind, p.seq]), report.witness.firstDisagreement], [[['witness_disagrees', 5]], 5]);
    const text = await cli.run('audit', 'verify', '--witness', witnessFile);
    assert.equal(text.code, 7);
    assert.match(text.stdout, /the first disagreement is at entry 5/);
    assert.match(text.stdout, /checkpoint #5 .* the witness never got it/);
  });

  it('every checkpoint deleted (table and file) and the chain re-hashed dated back: verify fails alone (exit 7) and against the witness', async () => {
    folder = await forged('rehashed', async (db, { chainKey }) => {
      await db.execute(sql`delete from audit_checkpoints`);
      writeFileSync(path.join(root, 'rehashed', 'audit', 'checkpoints.jsonl'), '');
      const rows = await new AuditRepository(db).after(0, 100);
      let prev = GENESIS_HASH;
      for (const r of rows) {
        const forgedRow = { ...r, at: new Date(r.at.getTime() - 3_600_000), prevHash: prev, ...(r.seq === 4 ? { targetLabel: 'Somewhere else' } : {}) };
        prev = entryHash(forgedRow, chainKey);
        await db.execute(sql`update audit_log set at = ${forgedRow.at.toISOString()}::timestamptz, target_label = ${forgedRow.targetLabel}, prev_hash = ${forgedRow.prevHash}, hash = ${prev} where seq = ${r.seq}`);
      }
      await db.execute(sql`update audit_head set hash = ${prev}`);
    });
    const alone = await cli.run('audit', 'verify', '--json');
    assert.equal(alone.code, 7, alone.stderr);
    assert.deepEqual((JSON.parse(alone.stdout) as { problems: { kind: string; seq: number }[] }).problems.map((p) => [p.kind, p.seq]), [['uncheckpointed', 1]]);
    const witnessed = await cli.run('audit', 'verify', '--witness', url, '--json');
    assert.equal(witnessed.code, 7);
    const kinds = (JSON.parse(witnessed.stdout) as { problems: { kind: string; seq: number }[] }).problems.map((p) => [p.kind, p.seq]);
    assert.deepEqual(kinds.sort(), [['checkpoint_mismatch', 4], ['witness_disagrees', 4]]);
  });

  it('one checkpoint row deleted: verify against the witness fails (exit 7); an edited witness fails too', async () => {
    folder = await forged('deleted', async (db) => void (await db.execute(sql`delete from audit_checkpoints`)));
    const r = await cli.run('audit', 'verify', '--witness', url, '--json');
    assert.equal(r.code, 7, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { problems: { kind: string }[] }).problems.some((p) => p.kind === 'witness_disagrees'));
    folder = dataDir;
    editWitness = (ls) => ls.map((l) => l.replace(/"hash":"./, '"hash":"0'));
    try {
      const edited = await cli.run('audit', 'verify', '--witness', url, '--json');
      assert.equal(edited.code, 7);
      assert.deepEqual((JSON.parse(edited.stdout) as { problems: { kind: string; seq: number }[] }).problems.map((p) => [p.kind, p.seq]), [['bad_signature', 4]]);
    } finally {
      editWitness = null;
    }
  });

  it('a witness that cannot be read is a clear error, not a pass', async () => {
    folder = dataDir;
    const r = await cli.run('audit', 'verify', '--witness', 'http://127.0.0.1:1/nothing-here');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /audit witness at http:\/\/127\.0\.0\.1:1 could not be reached/);
  });
});
