/**
 * The audit chain on each engine: appends chain and stay gapless under concurrency, secrets are only
 * HMACs, the table refuses changes; and tamper tests on a copy of the log (triggers disabled, as an
 * attacker with database superuser would) — edit, re-hash, delete, reorder, truncate, forged
 * checkpoints — each fail verification naming the kind and the seq, while the untouched log verifies.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { chainKeyOf, entryHash, GENESIS_HASH } from '../../src/crypto/audit-chain.js';
import type { AuditProblemKind } from '../../src/domain/audit.js';
import type { Actor } from '../../src/domain/identity.js';
import type { AuditEvent } from '../../src/services/audit-log.js';
import { queryRows } from '../../src/store/database.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { ENGINES, NO_PRIVATE, TEST_SECRETS, testServices, type TestEnv } from '../helpers/db.js';
import { tamper } from '../helpers/audit.js';

/** The chain's key in tests: an attacker who re-hashes with it holds the deployment's secret key. */
const KEY = chainKeyOf(TEST_SECRETS);

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const USER: Actor = { kind: 'user', userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test', via: 'session', grants: [] };

const event = (n: number): AuditEvent => ({ actor: n % 2 ? USER : SYSTEM, action: 'lock.update', target: { type: 'lock', id: `lock-${n}`, label: `Lock ${n}` }, details: { n, nested: { b: 2, a: [1, 'x'] } } });


/** Kinds and seqs of the problems verification reports (`inWorker`: also hashed in a worker thread, with the same report). */
async function problems(env: TestEnv, inWorker = false): Promise<[AuditProblemKind, number][]> {
  const r = await env.runtime.ctx.audit.verify({ inWorker: false });
  assert.equal(r.ok, r.problems.length === 0);
  if (inWorker) {
    const w = await env.runtime.ctx.audit.verify({ inWorker: true });
    assert.deepEqual({ ...w, millis: 0 }, { ...r, millis: 0 }, 'the worker thread reports the same');
  }
  return r.problems.map((p) => [p.kind, p.seq]);
}

for (const engine of ENGINES) {
  describe(`audit log chain (${engine})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await testServices(engine, { runtime: { outbound: NO_PRIVATE } });
    });
    after(() => env.close());

    it('chains entries from genesis, one by one and in a batch, and verifies with a signed checkpoint', async () => {
      const { audit } = env.runtime.ctx;
      const db = env.database.db;
      await audit.record(db, event(1));
      await db.transaction(async (tx) => void (await audit.appendMany(tx as never, [event(2), event(3), event(4)])));
      const rows = await new AuditRepository(db).after(0, 100);
      assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3, 4]);
      assert.equal(rows[0]!.prevHash, GENESIS_HASH);
      for (const [i, r] of rows.entries()) {
        if (i > 0) assert.equal(r.prevHash, rows[i - 1]!.hash);
        assert.equal(entryHash(r, KEY), r.hash, 'the stored row hashes to its hash after the jsonb round trip');
      }
      const made = await audit.checkpoint();
      assert.equal(made?.created, true);
      assert.equal(made?.checkpoint.seq, 4);
      assert.equal((await audit.checkpoint())?.created, false, 'nothing new: the same checkpoint');
      const lines = readFileSync(env.audit.checkpointsFile, 'utf8').trim().split('\n');
      assert.equal(lines.length, 1);
      assert.equal((JSON.parse(lines[0]!) as { seq: number }).seq, 4);
      const report = await audit.verify();
      assert.deepEqual([report.ok, report.entries, report.checkpoints, report.lastCheckpoint?.seq], [true, 4, 1, 4]);
    });

    it('keeps seq gapless and chained when transactions append in parallel, and a rolled-back append leaves no hole', async () => {
      const { audit } = env.runtime.ctx;
      const db = env.database.db;
      const start = (await new AuditRepository(db).head())!.seq;
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? db.transaction(async (tx) => void (await audit.appendMany(tx as never, [event(i), event(i + 100)]))) : audit.record(db, event(i)))));
      await assert.rejects(
        db.transaction(async (tx) => {
          await audit.append(tx, event(999));
          throw new Error('the action failed');
        }),
      );
      const rows = await new AuditRepository(db).after(start, 1000);
      assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 40 }, (_, i) => start + i + 1));
      assert.ok(!rows.some((r) => (r.details as { n?: number }).n === 999));
      assert.equal((await audit.verify()).ok, true);
    });

    it('verifies entries whose text holds the batch separators, empty strings and missing values', async () => {
      const { audit } = env.runtime.ctx;
      const db = env.database.db;
      // U+001F and U+001E separate fields and rows in the verifier's batch text: such a batch is read again as JSON.
      await audit.record(db, { actor: USER, action: 'lock.update', target: { type: 'lock', id: '', label: 'a\u001fb\u001ec' }, client: { ip: '', userAgent: 'x\u001e1\u001f2' }, details: { s: '\u001f\u001e', e: '' } });
      await audit.record(db, { actor: SYSTEM, action: 'lock.update', client: {} });
      for (const inWorker of [false, true]) {
        const report = await audit.verify({ inWorker });
        assert.deepEqual([report.ok, report.problems], [true, []]);
      }
    });

    it('stores secrets only as keyed HMACs, equal values equal MACs', async () => {
      const { audit } = env.runtime.ctx;
      const a = await audit.record(env.database.db, { actor: USER, action: 'credential.reveal', secrets: { code: '493817' } });
      const b = await audit.record(env.database.db, { actor: USER, action: 'credential.reveal', secrets: { code: '493817' } });
      assert.match(a.secretMacs.code!, /^hmac-sha256:[\w-]{43}$/);
      assert.equal(a.secretMacs.code, b.secretMacs.code);
      const raw = await queryRows<Record<string, unknown>>(env.database.db, sql`select * from audit_log where seq = ${a.seq}`);
      assert.ok(!JSON.stringify(raw).includes('493817'));
    });

    it('refuses UPDATE, DELETE and TRUNCATE of the log in the database itself', async () => {
      const db = env.database.db;
      const appendOnly = (e: unknown) => /append-only/.test(String((e as { cause?: Error }).cause?.message ?? (e as Error).message));
      await assert.rejects(db.execute(sql`update audit_log set actor_label = 'someone else' where seq = 1`), appendOnly);
      await assert.rejects(db.execute(sql`delete from audit_log where seq = 1`), appendOnly);
      await assert.rejects(db.execute(sql`truncate audit_log`), appendOnly);
      await assert.rejects(db.execute(sql`delete from audit_checkpoints`), appendOnly);
    });
  });

  describe(`audit log tamper tests (${engine})`, () => {
    /** A log of 12 entries with a checkpoint at 10 (file and table), untouched. */
    const seeded = async (): Promise<TestEnv> => {
      const env = await testServices(engine, { runtime: { outbound: NO_PRIVATE } });
      const { audit } = env.runtime.ctx;
      for (let i = 1; i <= 10; i++) await audit.record(env.database.db, event(i));
      await audit.checkpoint();
      for (let i = 11; i <= 12; i++) await audit.record(env.database.db, event(i));
      return env;
    };
    const cases: { name: string; act: (env: TestEnv) => Promise<void>; expect: [AuditProblemKind, number][]; inWorker?: true }[] = [
      { name: 'untouched', act: async () => undefined, expect: [] },
      { name: 'a row edited', act: (env) => tamper(env, sql`update audit_log set actor_label = 'someone else' where seq = 4`), expect: [['edited', 4]] },
      {
        name: 'a row edited and re-hashed',
        act: async (env) => {
          const [r] = await new AuditRepository(env.database.db).after(5, 1);
          const forged = { ...r!, details: { n: 666 } };
          await tamper(env, sql`update audit_log set details = ${JSON.stringify(forged.details)}::jsonb, hash = ${entryHash(forged, KEY)} where seq = 6`);
        },
        expect: [['edited', 6]],
      },
      {
        name: 'a row edited and the whole tail re-hashed (caught by the signed checkpoint)',
        act: async (env) => {
          const rows = await new AuditRepository(env.database.db).after(0, 100);
          let prev = rows[1]!.hash;
          const statements = [];
          for (const r of rows.slice(2)) {
            const forged = { ...r, prevHash: prev, ...(r.seq === 3 ? { actorLabel: 'nobody' } : {}) };
            prev = entryHash(forged, KEY);
            statements.push(sql`update audit_log set actor_label = ${forged.actorLabel}, prev_hash = ${forged.prevHash}, hash = ${prev} where seq = ${r.seq}`);
          }
          statements.push(sql`update audit_head set hash = ${prev}`);
          await tamper(env, ...statements);
        },
        expect: [['checkpoint_mismatch', 10]],
        inWorker: true,
      },
      { name: 'a time moved by a microsecond', act: (env) => tamper(env, sql`update audit_log set at = at + interval '1 microsecond' where seq = 4`), expect: [['edited', 4]] },
      { name: 'a missing value made empty', act: (env) => tamper(env, sql`update audit_log set client_ip = '' where seq = 5`), expect: [['edited', 5]] },
      { name: 'a row deleted', act: (env) => tamper(env, sql`delete from audit_log where seq = 5`), expect: [['removed', 5]] },
      {
        name: 'two rows reordered',
        act: (env) => tamper(env, sql`update audit_log set seq = -7 where seq = 7`, sql`update audit_log set seq = 7 where seq = 8`, sql`update audit_log set seq = 8 where seq = -7`),
        expect: [
          ['reordered', 7],
          ['reordered', 8],
        ],
        inWorker: true,
      },
      {
        name: 'the tail truncated after a checkpoint',
        act: (env) => tamper(env, sql`delete from audit_log where seq >= 9`, sql`update audit_head set seq = 8, hash = (select hash from audit_log where seq = 8)`),
        expect: [['truncated', 9]],
      },
      {
        name: 'a checkpoint forged in the database',
        act: (env) => tamper(env, sql`update audit_checkpoints set hash = (select hash from audit_log where seq = 9), seq = 9`),
        // The forged row fails its signature, and the file's checkpoint #10 is no longer in the table.
        expect: [
          ['bad_signature', 9],
          ['checkpoint_missing', 10],
        ],
      },
      {
        name: 'a checkpoint forged in the file',
        act: async (env) => {
          const line = JSON.parse(readFileSync(env.audit.checkpointsFile, 'utf8').trim()) as Record<string, unknown>;
          appendFileSync(env.audit.checkpointsFile, `${JSON.stringify({ ...line, seq: 12, signature: String(line.signature).replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) })}\n`);
        },
        expect: [
          ['bad_signature', 12],
          ['checkpoint_missing', 12],
        ],
      },
      {
        name: 'the checkpoint file rewritten with garbage',
        act: async (env) => writeFileSync(env.audit.checkpointsFile, 'not json\n'),
        expect: [['bad_checkpoint_file', 0]],
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.expect.length ? c.expect.map(([k, s]) => `${k} at ${s}`).join(', ') : 'verifies'}`, async () => {
        const env = await seeded();
        try {
          assert.deepEqual(await problems(env), [], 'the seeded log verifies');
          await c.act(env);
          assert.deepEqual(await problems(env, c.inWorker), c.expect);
        } finally {
          await env.close();
        }
      });
    }
  });
}
