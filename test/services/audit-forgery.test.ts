/**
 * Forgeries of the audit log by someone holding the database, the data folder, or both with the
 * keys (triggers disabled, as a superuser would), each checked without and with the outside witness:
 * deleting every checkpoint and re-hashing, appending a well-chained entry after the last checkpoint,
 * deleting one checkpoint, cutting the tail, editing the witness, moving where the keyed chain starts
 * (the last with an older, unkeyed log).
 * Before this change every one of these verified; the few an attacker with every key can still hide
 * without a witness are asserted as such (the threat model's limit), and caught with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { chainKeyOf, entryHash, GENESIS_HASH, memoryCheckpointSigner, type CheckpointSigner } from '../../src/crypto/audit-chain.js';
import type { AuditCheckpoint, AuditEntry, AuditProblemKind, AuditVerifyReport } from '../../src/domain/audit.js';
import type { Actor } from '../../src/domain/identity.js';
import { appendCheckpointLine, readCheckpointFile, readWitness, parseWitnessTarget } from '../../src/services/audit-witness.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { ENGINES, NO_PRIVATE, TEST_SECRETS, testServices, type TestEnv } from '../helpers/db.js';
import { tamper } from '../helpers/audit.js';

const KEY = chainKeyOf(TEST_SECRETS);
const USER: Actor = { kind: 'user', userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test', via: 'session', grants: [] };
const TEN_MINUTES = 10 * 60_000;

interface Env extends TestEnv {
  signer: CheckpointSigner;
  file: string;
  witnessFile: string;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** 14 entries with checkpoints at 10, 12 and 14 (table, file and witness file elsewhere). */
async function seeded(engine: (typeof ENGINES)[number]): Promise<Env> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-forgery-'));
  dirs.push(dir);
  const signer = memoryCheckpointSigner();
  const file = path.join(dir, 'data', 'checkpoints.jsonl');
  const witnessFile = path.join(dir, 'elsewhere', 'witness.jsonl');
  const env = await testServices(engine, { runtime: { outbound: NO_PRIVATE, audit: { signer, checkpointsFile: file, witness: witnessFile, checkpointSeconds: 0, checkpointOnStop: false } } });
  const { audit } = env.runtime.ctx;
  const record = (n: number) => audit.record(env.database.db, { actor: USER, action: 'lock.update', target: { type: 'lock', id: `lock-${n}` }, details: { n } });
  for (let i = 1; i <= 10; i++) await record(i);
  assert.equal((await audit.checkpoint())?.witnessError, null);
  for (let i = 11; i <= 12; i++) await record(i);
  await audit.checkpoint();
  for (let i = 13; i <= 14; i++) await record(i);
  await audit.checkpoint();
  return { ...env, signer, file, witnessFile };
}


const kinds = (r: AuditVerifyReport): [AuditProblemKind, number][] => r.problems.map((p) => [p.kind, p.seq]);
const uniqueKinds = (r: AuditVerifyReport) => [...new Set(r.problems.map((p) => p.kind))].sort();

/** Verifies without and with the witness (the clock 10 minutes on: every entry is old enough to need a checkpoint). */
async function verifyBoth(env: Env): Promise<{ alone: AuditVerifyReport; witnessed: AuditVerifyReport }> {
  const alone = await env.runtime.ctx.audit.verify();
  const witnessed = await env.runtime.ctx.audit.verify({ witness: await readWitness(parseWitnessTarget(env.witnessFile)) });
  return { alone, witnessed };
}

/** Rewrites the rows from `from` on (changing entry `change`), re-hashed with `key` (null: unkeyed), and moves the head. */
async function rehash(env: TestEnv, opts: { key: string | null; from?: number; change?: number; keyedFrom?: number | null }): Promise<AuditEntry[]> {
  const rows = await new AuditRepository(env.database.db).after(0, 1000);
  const from = opts.from ?? 1;
  let prev = from === 1 ? GENESIS_HASH : rows[from - 2]!.hash;
  const statements = [];
  const out: AuditEntry[] = [];
  for (const r of rows.slice(from - 1)) {
    const forged = { ...r, prevHash: prev, ...(r.seq === opts.change ? { actorLabel: 'nobody' } : {}) };
    prev = entryHash(forged, opts.key);
    out.push({ ...forged, hash: prev });
    statements.push(sql`update audit_log set actor_label = ${forged.actorLabel}, prev_hash = ${forged.prevHash}, hash = ${prev} where seq = ${r.seq}`);
  }
  statements.push(opts.keyedFrom === undefined ? sql`update audit_head set hash = ${prev}` : sql`update audit_head set hash = ${prev}, keyed_from = ${opts.keyedFrom}`);
  await tamper(env, ...statements);
  return out;
}

/** Appends a well-chained entry after the head (hashed with `key`), at `at`. */
async function appendForged(env: TestEnv, key: string | null, at: Date): Promise<AuditEntry> {
  const repo = new AuditRepository(env.database.db);
  const head = (await repo.head())!;
  const [last] = await repo.after(head.seq - 1, 1);
  const row = { ...last!, seq: head.seq + 1, at, actorLabel: 'owner@example.test', action: 'access.grant', targetId: 'intruder', details: { role: 'owner' }, prevHash: head.hash };
  const forged = { ...row, hash: entryHash(row, key) };
  await env.database.db.transaction(async (tx) => void (await new AuditRepository(tx as never).append([forged], { seq: forged.seq, hash: forged.hash, keyedFrom: head.keyedFrom })));
  return forged;
}

/** Signs a checkpoint of the current head with `signer` (the attacker holds the signing key) into the table and the file. */
async function signHead(env: Env): Promise<AuditCheckpoint> {
  const repo = new AuditRepository(env.database.db);
  const head = (await repo.head())!;
  const last = await repo.lastCheckpoint();
  const c = env.signer.sign({ seq: head.seq, hash: head.hash, at: env.clock.now(), prevSeq: last?.seq ?? 0, keyedFrom: head.keyedFrom });
  await repo.insertCheckpoint(c);
  appendCheckpointLine(env.file, c);
  return c;
}

for (const engine of ENGINES) {
  describe(`audit forgeries (${engine})`, () => {
    const cases: { name: string; act: (env: Env) => Promise<void>; alone: AuditProblemKind[]; witnessed: AuditProblemKind[]; first?: number }[] = [
      { name: 'untouched', act: async () => undefined, alone: [], witnessed: [] },
      {
        name: 'every checkpoint deleted (table and file), the chain re-hashed without the key and marked unkeyed',
        act: async (env) => {
          await tamper(env, sql`delete from audit_checkpoints`);
          writeFileSync(env.file, '');
          await rehash(env, { key: null, change: 3, keyedFrom: null });
        },
        alone: ['uncheckpointed'],
        // The witness's checkpoints also signed where the keyed chain starts.
        witnessed: ['checkpoint_mismatch', 'key_switch', 'witness_disagrees'],
        first: 10,
      },
      {
        name: 'every checkpoint deleted, the chain re-hashed without the key (still marked keyed)',
        act: async (env) => {
          await tamper(env, sql`delete from audit_checkpoints`);
          writeFileSync(env.file, '');
          await rehash(env, { key: null, change: 3 });
        },
        alone: ['edited', 'uncheckpointed'],
        witnessed: ['checkpoint_mismatch', 'edited', 'witness_disagrees'],
        first: 10,
      },
      {
        name: 'every checkpoint deleted, the chain re-hashed WITH the key (the data folder in hand)',
        act: async (env) => {
          await tamper(env, sql`delete from audit_checkpoints`);
          writeFileSync(env.file, '');
          await rehash(env, { key: KEY, change: 3 });
        },
        alone: ['uncheckpointed'],
        witnessed: ['checkpoint_mismatch', 'witness_disagrees'],
        first: 10,
      },
      {
        name: 'every checkpoint deleted, re-hashed with the key and re-signed with the signing key (every key in hand)',
        act: async (env) => {
          await tamper(env, sql`delete from audit_checkpoints`);
          writeFileSync(env.file, '');
          await rehash(env, { key: KEY, change: 3 });
          await signHead(env);
        },
        // Without a witness nothing is left to disagree: the threat model's limit.
        alone: [],
        witnessed: ['checkpoint_mismatch', 'witness_disagrees'],
        first: 10,
      },
      {
        name: 'a well-chained entry appended after the last checkpoint, without the key',
        act: async (env) => void (await appendForged(env, null, env.clock.now())),
        alone: ['edited'],
        witnessed: ['edited'],
      },
      {
        name: 'a well-chained entry appended after the last checkpoint with the key, dated back',
        act: async (env) => void (await appendForged(env, KEY, new Date(env.clock.now().getTime() - TEN_MINUTES))),
        alone: ['uncheckpointed'],
        witnessed: ['uncheckpointed'],
      },
      {
        name: 'a well-chained entry appended with the key and a checkpoint signed over it (every key in hand)',
        act: async (env) => {
          await appendForged(env, KEY, env.clock.now());
          await signHead(env);
        },
        alone: [],
        witnessed: ['witness_disagrees'],
        first: 15,
      },
      {
        name: 'the tail cut and its checkpoint deleted from table and file (the witness has a head the database lacks)',
        act: async (env) => {
          await tamper(env, sql`delete from audit_log where seq > 12`, sql`update audit_head set seq = 12, hash = (select hash from audit_log where seq = 12)`, sql`delete from audit_checkpoints where seq = 14`);
          writeFileSync(env.file, readFileSync(env.file, 'utf8').split('\n').filter((l) => !l.includes('"seq":14,')).join('\n'));
        },
        alone: [],
        witnessed: ['truncated', 'witness_disagrees'],
        first: 13,
      },
      {
        name: 'one checkpoint row deleted, and its line from the file',
        act: async (env) => {
          await tamper(env, sql`delete from audit_checkpoints where seq = 12`);
          writeFileSync(env.file, readFileSync(env.file, 'utf8').split('\n').filter((l) => !l.includes('"seq":12,')).join('\n'));
        },
        alone: ['checkpoint_missing'],
        witnessed: ['checkpoint_missing', 'witness_disagrees'],
        first: 12,
      },
      {
        name: 'the witness edited: one checkpoint dropped, another changed',
        act: async (env) => {
          const lines = readFileSync(env.witnessFile, 'utf8').trim().split('\n');
          const changed = { ...(JSON.parse(lines[2]!) as Record<string, unknown>), hash: 'f'.repeat(64) };
          writeFileSync(env.witnessFile, `${lines[0]}\n${JSON.stringify(changed)}\n`);
        },
        alone: [],
        witnessed: ['bad_signature', 'witness_disagrees'],
        first: 12,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: alone ${c.alone.join(', ') || 'verifies'}; with the witness ${c.witnessed.join(', ') || 'verifies'}`, async () => {
        const env = await seeded(engine);
        try {
          env.clock.advance(TEN_MINUTES);
          const before = await verifyBoth(env);
          assert.deepEqual([kinds(before.alone), kinds(before.witnessed)], [[], []], 'the seeded log verifies, alone and against the witness');
          assert.equal(before.witnessed.witness?.checkpoints, 3);
          await c.act(env);
          const { alone, witnessed } = await verifyBoth(env);
          assert.deepEqual(uniqueKinds(alone), [...c.alone].sort(), JSON.stringify(alone.problems));
          assert.equal(alone.ok, c.alone.length === 0);
          assert.deepEqual(uniqueKinds(witnessed), [...c.witnessed].sort(), JSON.stringify(witnessed.problems));
          assert.equal(witnessed.ok, c.witnessed.length === 0);
          if (c.first !== undefined) assert.equal(witnessed.witness?.firstDisagreement, c.first, 'names the first disagreement with the witness');
        } finally {
          await env.close();
        }
      });
    }

    it('entries older than the checkpoint interval without a checkpoint fail verification until one is signed', async () => {
      const env = await seeded(engine);
      try {
        await env.runtime.ctx.audit.record(env.database.db, { actor: USER, action: 'lock.update', details: {} });
        assert.equal((await env.runtime.ctx.audit.verify()).ok, true, 'a fresh entry may wait for the next checkpoint');
        env.clock.advance(TEN_MINUTES);
        const stale = await env.runtime.ctx.audit.verify();
        assert.deepEqual(kinds(stale), [['uncheckpointed', 15]]);
        assert.match(stale.problems[0]!.message, /lockwarden audit checkpoint/);
        await env.runtime.ctx.audit.checkpoint();
        assert.equal((await env.runtime.ctx.audit.verify()).ok, true);
      } finally {
        await env.close();
      }
    });

    it('an unkeyed log from before the upgrade verifies; the switch is recorded as an entry, and moving it back is caught', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'lockwarden-forgery-'));
      dirs.push(dir);
      const signer = memoryCheckpointSigner();
      const file = path.join(dir, 'checkpoints.jsonl');
      const env = await testServices(engine, { runtime: { outbound: NO_PRIVATE, audit: { signer, checkpointsFile: file, witness: null, checkpointSeconds: 0, checkpointOnStop: false } } });
      try {
        // Three entries as the code before the upgrade wrote them: unkeyed, with a version 1 checkpoint.
        const repo = new AuditRepository(env.database.db);
        let prev = GENESIS_HASH;
        const old: AuditEntry[] = [];
        for (let seq = 1; seq <= 3; seq++) {
          const row = { seq, at: env.clock.now(), actorId: 'system:local-cli', actorLabel: 'local-cli', action: 'lock.update', outcome: 'success' as const, targetType: null, targetId: null, targetLabel: null, locationId: null, clientIp: null, userAgent: null, details: { seq }, secretMacs: {}, prevHash: prev };
          prev = entryHash(row);
          old.push({ ...row, hash: prev });
        }
        await env.database.db.transaction(async (tx) => void (await new AuditRepository(tx as never).append(old, { seq: 3, hash: prev, keyedFrom: null })));
        const v1 = signer.sign({ seq: 3, hash: prev, at: env.clock.now(), prevSeq: null, keyedFrom: null });
        await repo.insertCheckpoint(v1);
        appendCheckpointLine(file, v1);
        const legacy = await env.runtime.ctx.audit.verify();
        assert.deepEqual([legacy.ok, legacy.keyedFrom], [true, null]);
        assert.match(legacy.notes.join('\n'), /not keyed yet/);

        await env.runtime.ctx.audit.record(env.database.db, { actor: USER, action: 'lock.update', details: {} });
        await env.runtime.ctx.audit.checkpoint();
        const rows = await repo.after(0, 10);
        assert.deepEqual(rows.map((r) => r.action), ['lock.update', 'lock.update', 'lock.update', 'audit.chain.keyed', 'lock.update']);
        assert.deepEqual(rows[3]!.details, { fromSeq: 4, unkeyedEntries: 3 });
        assert.equal(rows[3]!.hash, entryHash(rows[3]!, KEY), 'keyed from the switch on');
        const upgraded = await env.runtime.ctx.audit.verify();
        assert.deepEqual([upgraded.ok, upgraded.keyedFrom, upgraded.problems], [true, 4, []]);
        assert.deepEqual(readCheckpointFile(file).checkpoints.map((c) => [c.seq, c.prevSeq, c.keyedFrom]), [[3, null, null], [5, 3, 4]]);

        // Someone with the database only pretends the whole log predates the upgrade and re-hashes it unkeyed.
        await rehash(env, { key: null, from: 4, keyedFrom: null });
        assert.deepEqual(uniqueKinds(await env.runtime.ctx.audit.verify()), ['checkpoint_mismatch', 'key_switch']);
      } finally {
        await env.close();
      }
    });
  });
}
