/**
 * Backup and restore through the service: an archive of a seeded deployment (demo fleet, a PIN, a
 * sealed handbook secret, an attachment, a reset case, signed audit checkpoints) restored into an
 * empty data folder gives back every row, secrets that still open with the restored keys, and an
 * audit log that verifies; a wrong passphrase, a cut or altered archive and a non-empty target are
 * refused with nothing changed. With TEST_DATABASE_URL: PGlite -> PostgreSQL -> PGlite.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { deploymentCheckpointSigner } from '../../src/crypto/audit-chain.js';
import { deploymentMasterKeyring } from '../../src/crypto/envelope.js';
import { deploymentKeySource, SecretBox } from '../../src/crypto/secret-box.js';
import { isAppError, type ErrorCode } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { restoreBackup } from '../../src/services/backup-service.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { tableFingerprint } from '../../src/store/backup-store.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { testServices, TEST_DRIVER_FACTORIES, type TestEnv } from '../helpers/db.js';
import { tinyPdf } from '../helpers/images.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const PASS = 'correct horse battery staple';

/** A runtime on a data folder's own key files, as a deployment has them. */
function fileKeys(dataDir: string) {
  return {
    secrets: new SecretBox(deploymentKeySource(dataDir, {})),
    masterKeys: deploymentMasterKeyring(dataDir, {}),
    audit: { signer: deploymentCheckpointSigner(dataDir, {}), checkpointsFile: path.join(dataDir, 'audit', 'checkpoints.jsonl'), checkpointSeconds: 0, checkpointOnStop: false },
  };
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** Opens a restored target with its own files and runs `fn` on it. */
async function onRestored<T>(dataDir: string, databaseUrl: string | undefined, fn: (rt: Runtime, db: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase({ dataDir, databaseUrl, purpose: 'test' });
  let runtime: Runtime | null = null;
  try {
    runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, worker: false, queue: false, driftCheckSeconds: 0, driverFactories: TEST_DRIVER_FACTORIES, ...fileKeys(dataDir) });
    return await fn(runtime, database);
  } finally {
    await runtime?.stop();
    await database.close();
  }
}

const refuses = (p: Promise<unknown>, code: ErrorCode, message?: RegExp) => assert.rejects(p, (e: unknown) => isAppError(e, code) && (message === undefined || message.test(e.message)));

describe('backup and restore', () => {
  let env: TestEnv;
  let work: string;
  let sourceDir: string;
  let archive: Buffer;
  let before_: Record<string, { rows: number; md5: string }>;
  const seeded = { secretId: '', secret: 'M-739104', credentialId: '', code: '', caseId: '', attachment: Buffer.alloc(0) };

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'lockwarden-backup-'));
    sourceDir = path.join(work, 'source');
    mkdirSync(sourceDir);
    env = await testServices('pglite', { runtime: { dataDir: sourceDir, ...fileKeys(sourceDir) } });
    const s = env.services;
    await loadDemoFleet(s.ctx);
    const entry = (await s.handbook.list(SYSTEM)).find((e) => e.modelNumber === 'KP-80C')!;
    seeded.secretId = (await s.handbook.addSecret(SYSTEM, entry.id, { kind: 'master_code', label: 'Factory master', value: seeded.secret })).id;
    seeded.attachment = Buffer.concat([tinyPdf(), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    await s.attachments.add(SYSTEM, entry.id, { bytes: seeded.attachment, filename: 'manual.pdf' });
    const lock = (await s.locks.list(SYSTEM, { limit: 1 })).items[0]!;
    const pin = await s.credentials.addPin(SYSTEM, lock.id, { holder: 'Backup tester' });
    seeded.credentialId = pin.credential.id;
    seeded.code = pin.code;
    seeded.caseId = (await s.resetCases.open(SYSTEM, { lockId: lock.id, reason: 'occupancy_change' })).case.id;
    archive = await collect(await s.backup.create(SYSTEM, { passphrase: PASS }));
    before_ = await tableFingerprint(env.database.db);
  });
  after(async () => {
    await env?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('the archive carries no secret in clear', () => {
    for (const needle of [seeded.secret, 'BEGIN PRIVATE KEY', 'Backup tester', 'Demo Property Group']) assert.equal(archive.includes(Buffer.from(needle)), false, needle);
    assert.ok(existsSync(path.join(sourceDir, 'keys', 'secret.key')));
  });

  it('restores into an empty data folder: every row, secrets that open, an audit log that verifies', async () => {
    const target = path.join(work, 'restored');
    const report = await restoreBackup({ archive: Readable.from([archive]), passphrase: PASS, dataDir: target });
    assert.equal(report.engine, 'pglite');
    assert.deepEqual(report.files.sort(), ['audit/checkpoints.jsonl', 'keys/audit-signing.pem', 'keys/master.json', 'keys/secret.key']);
    assert.ok(report.rows > 100);
    await onRestored(target, undefined, async (rt, db) => {
      assert.deepEqual(await tableFingerprint(db.db), before_);
      assert.equal((await rt.services.handbook.reveal(SYSTEM, seeded.secretId, { reason: 'checking the restore' })).value, seeded.secret);
      assert.equal((await rt.services.credentials.reveal(SYSTEM, seeded.credentialId, { reason: 'checking the restore' })).code, seeded.code);
      assert.equal((await rt.services.resetCases.get(SYSTEM, seeded.caseId)).case.lockId.length > 0, true);
      const verify = await rt.services.audit.verify(SYSTEM);
      assert.equal(verify.ok, true, JSON.stringify(verify.problems));
      assert.ok(verify.lastCheckpoint, 'the checkpoint signed at backup time verifies with the restored key');
    });
  });

  it('refuses a wrong passphrase, a cut or altered archive and a non-empty folder, changing nothing', async () => {
    const attempt = (bytes: Buffer, dir: string, passphrase = PASS) => restoreBackup({ archive: Readable.from([bytes]), passphrase, dataDir: path.join(work, dir) });
    await refuses(attempt(archive, 'wrong', 'not the passphrase at all'), 'backup.wrong_passphrase');
    await refuses(attempt(archive.subarray(0, archive.length - 40), 'cut'), 'backup.corrupted', /cut short|inside a chunk/);
    await refuses(attempt(archive.subarray(0, Math.floor(archive.length / 2)), 'half'), 'backup.corrupted');
    const flipped = Buffer.from(archive);
    flipped[Math.floor(flipped.length * 0.7)]! ^= 0x01;
    await refuses(attempt(flipped, 'flipped'), 'backup.corrupted', /does not authenticate/);
    await refuses(attempt(Buffer.from('PK\x03\x04 not a backup at all'), 'other'), 'backup.corrupted', /not a lockwarden backup/);
    const busy = path.join(work, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    await refuses(attempt(archive, 'busy'), 'backup.target_not_empty');
    assert.deepEqual(readdirSync(busy), ['notes.txt']);
    const left = readdirSync(work).sort();
    assert.deepEqual(left, ['busy', 'restored', 'source'], 'no half-restored folder is left behind');
  });

  const adminUrl = process.env.TEST_DATABASE_URL;
  it('PGlite -> PostgreSQL -> PGlite', { skip: adminUrl ? false : 'TEST_DATABASE_URL is not set' }, async () => {
    const name = `lw_restore_${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
    const u = new URL(adminUrl!);
    u.pathname = `/${name}`;
    const url = u.toString();
    try {
      const keysDir = path.join(work, 'pg-keys');
      const report = await restoreBackup({ archive: Readable.from([archive]), passphrase: PASS, dataDir: keysDir, databaseUrl: url });
      assert.equal(report.engine, 'postgres');
      // A second restore into the now full database is refused.
      await refuses(restoreBackup({ archive: Readable.from([archive]), passphrase: PASS, dataDir: keysDir, databaseUrl: url }), 'backup.target_not_empty');
      let again: Buffer = Buffer.alloc(0);
      let pgPrint: Record<string, { rows: number; md5: string }> = {};
      await onRestored(keysDir, url, async (rt, db) => {
        assert.deepEqual(await tableFingerprint(db.db), before_);
        assert.equal((await rt.services.handbook.reveal(SYSTEM, seeded.secretId, { reason: 'checking the restore' })).value, seeded.secret);
        assert.equal((await rt.services.audit.verify(SYSTEM)).ok, true);
        again = await collect(await rt.services.backup.create(SYSTEM, { passphrase: PASS }));
        pgPrint = await tableFingerprint(db.db);
      });
      const back = path.join(work, 'back-from-pg');
      await restoreBackup({ archive: Readable.from([again]), passphrase: PASS, dataDir: back });
      await onRestored(back, undefined, async (rt, db) => {
        assert.deepEqual(await tableFingerprint(db.db), pgPrint);
        assert.equal((await rt.services.credentials.reveal(SYSTEM, seeded.credentialId, { reason: 'checking the restore' })).code, seeded.code);
        const verify = await rt.services.audit.verify(SYSTEM);
        assert.equal(verify.ok, true, JSON.stringify(verify.problems));
      });
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await admin.end();
    }
  });
});
