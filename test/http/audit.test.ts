/**
 * The audit log over HTTP: sign-ins (with client address and user agent), changes and reveals show up;
 * filters and keyset pages; CSV and JSON-lines exports carry HMACs, never the secrets; verification and
 * checkpoints; 403 for roles without audit.read; and fail closed: when the audit write fails, the
 * action does not happen and the answer is a bare 500.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { readFileSync } from 'node:fs';
import { queryRows } from '../../src/store/database.js';
import { asSession, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

interface Entry {
  seq: number;
  actorLabel: string;
  action: string;
  outcome: string;
  targetId: string | null;
  locationId: string | null;
  clientIp: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
  secretMacs: Record<string, string>;
}
interface Page {
  items: Entry[];
  nextCursor: number | null;
}
interface Lock {
  id: string;
  name: string;
  locationId: string;
  siteId: string | null;
  modelId: string;
  family: string;
}

describe('audit log over HTTP', () => {
  let env: HttpEnv;
  let owner: Session;
  let auditor: Session;
  let lock: Lock;
  let pinCode: string;
  let credentialId: string;

  before(async () => {
    env = await testApp({ demo: true });
    for (const [email, role] of [['auditor@example.test', 'auditor'], ['tech@example.test', 'technician'], ['manager@example.test', 'manager']] as const) {
      await env.createUser(email, role, OWNER_PASSWORD);
    }
    const unit = (await env.services.locations.list({ kind: 'system', name: 'local-cli' })).find((l) => l.kind === 'unit')!;
    await env.createUser('occupant@example.test', 'occupant', OWNER_PASSWORD, unit.id);
    const bad = await env.app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: OWNER_EMAIL, password: 'not the password' }, remoteAddress: '203.0.113.9', headers: { 'user-agent': 'audit-test/1.0' } });
    expectError(bad, 401, 'auth.invalid_credentials');
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, '203.0.113.7');
    auditor = await signIn(env.app, 'auditor@example.test', OWNER_PASSWORD);
    const locks = (await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/locks?limit=500' })).json<{ items: Lock[] }>().items;
    lock = locks.find((l) => l.family === 'keypad_entry' && l.siteId)!;
    const add = await injectAs(env.app, asSession(owner), { method: 'POST', url: `/api/locks/${lock.id}/pins`, payload: { holder: 'Audit Canary', schedule: { kind: 'always' } } });
    assert.equal(add.statusCode, 201, add.body);
    ({ code: pinCode } = add.json<{ code: string }>());
    credentialId = add.json<{ credential: { id: string } }>().credential.id;
    const reveal = await injectAs(env.app, asSession(owner), { method: 'POST', url: `/api/credentials/${credentialId}/reveal`, payload: { reason: 'tenant locked out' } });
    assert.equal(reveal.statusCode, 200, reveal.body);
  });
  after(() => env.close());

  const list = async (query: string, who = auditor) => {
    const res = await injectAs(env.app, asSession(who), { method: 'GET', url: `/api/audit?${query}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<Page>();
  };

  it('records sign-ins, failed ones with the address and user agent, and the email typed', async () => {
    const failed = (await list('action=auth.sign_in_failed')).items;
    assert.equal(failed.length, 1);
    assert.deepEqual([failed[0]!.actorLabel, failed[0]!.outcome, failed[0]!.clientIp, failed[0]!.userAgent, failed[0]!.details.reason], [OWNER_EMAIL, 'failure', '203.0.113.9', 'audit-test/1.0', 'wrong_password']);
    const ok = (await list(`action=auth.sign_in&actor=${encodeURIComponent(OWNER_EMAIL)}`)).items;
    assert.deepEqual(ok.map((e) => [e.outcome, e.clientIp]), [['success', '203.0.113.7']]);
    assert.deepEqual((await list('outcome=failure')).items.map((e) => e.action), ['auth.sign_in_failed']);
    const prefix = new Set((await list('action=auth.&limit=500')).items.map((e) => e.action));
    assert.deepEqual([...prefix].sort(), ['auth.sign_in', 'auth.sign_in_failed', 'auth.step_up']);
  });

  it('records the PIN and its reveal with the code only as an HMAC, found by target and by site', async () => {
    const items = (await list(`targetId=${credentialId}`)).items;
    assert.deepEqual(items.map((e) => e.action), ['credential.reveal', 'credential.pin.add']);
    const [reveal, add] = items as [Entry, Entry];
    assert.equal(reveal.details.reason, 'tenant locked out');
    assert.match(reveal.secretMacs.code!, /^hmac-sha256:/);
    assert.equal(reveal.secretMacs.code, add.secretMacs.code, 'the same code, the same MAC');
    assert.equal(reveal.locationId, lock.locationId);
    const atSite = (await list(`locationId=${lock.siteId}&action=credential.&limit=500`)).items;
    assert.ok(atSite.some((e) => e.targetId === credentialId));
    const otherSite = (await list(`locationId=${crypto.randomUUID()}`)).items;
    assert.equal(otherSite.length, 0);
  });

  it('pages newest first by keyset without overlap, to the end', async () => {
    const all = (await list('limit=500')).items;
    assert.ok(all.length > 12);
    const seen: number[] = [];
    let cursor: number | null = null;
    do {
      const page: Page = await list(`limit=7${cursor ? `&before=${cursor}` : ''}`);
      seen.push(...page.items.map((e) => e.seq));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, all.map((e) => e.seq));
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
    expectError(await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit?limit=0' }), 400, 'validation.failed');
    expectError(await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit?from=yesterday' }), 400, 'validation.failed');
  });

  it('exports CSV and JSON lines, oldest first, without the secrets', async () => {
    const jsonl = await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit/export?format=jsonl' });
    assert.equal(jsonl.statusCode, 200);
    assert.match(String(jsonl.headers['content-disposition']), /attachment; filename="lockwarden-audit-.*\.jsonl"/);
    const rows = jsonl.body.trim().split('\n').map((l) => JSON.parse(l) as Entry);
    assert.equal(rows[0]!.seq, 1);
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
    const csv = await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit/export?format=csv&action=credential.' });
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-type']), /text\/csv/);
    const lines = csv.body.trim().split('\r\n');
    assert.ok(lines[0]!.includes('seq,at,actor_id'));
    assert.ok(lines.some((l) => l.includes('credential.reveal') && l.includes('hmac-sha256:')));
    for (const body of [jsonl.body, csv.body]) assert.ok(!body.includes(`"${pinCode}"`) && !body.includes(`:${pinCode}`), 'no plain PIN in an export');
  });

  it('verifies, checkpoints on demand, and verifies up to that checkpoint', async () => {
    const v1 = await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit/verify' });
    assert.equal(v1.statusCode, 200, v1.body);
    assert.equal(v1.json<{ ok: boolean }>().ok, true);
    const cp = await injectAs(env.app, asSession(auditor), { method: 'POST', url: '/api/audit/checkpoint' });
    assert.equal(cp.statusCode, 200, cp.body);
    const made = cp.json<{ checkpoint: { seq: number }; created: boolean; file: string }>();
    assert.equal(made.created, true);
    assert.equal(made.file, env.audit.checkpointsFile);
    const v2 = (await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit/verify' })).json<{ ok: boolean; lastCheckpoint: { seq: number }; checkpoints: number }>();
    assert.deepEqual([v2.ok, v2.checkpoints, v2.lastCheckpoint.seq], [true, 1, made.checkpoint.seq]);

    // Against a witness (what the CLI read from it): the checkpoint file's lines agree; a witness
    // holding a checkpoint the database lacks does not, and names where.
    const witnessed = readFileSync(env.audit.checkpointsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const agree = await injectAs(env.app, asSession(auditor), { method: 'POST', url: '/api/audit/verify', payload: { witness: { source: 'witness.jsonl', checkpoints: witnessed } } });
    assert.equal(agree.statusCode, 200, agree.body);
    const a = agree.json<{ ok: boolean; witness: { checkpoints: number; lastSeq: number; firstDisagreement: number | null } }>();
    assert.deepEqual([a.ok, a.witness], [true, { source: 'witness.jsonl', checkpoints: 1, lastSeq: made.checkpoint.seq, firstDisagreement: null }]);
    const ahead = { ...witnessed[0]!, seq: made.checkpoint.seq + 5 };
    const disagree = (await injectAs(env.app, asSession(auditor), { method: 'POST', url: '/api/audit/verify', payload: { witness: { source: 'w', checkpoints: [...witnessed, ahead] } } })).json<{ ok: boolean; problems: { kind: string; seq: number }[] }>();
    assert.equal(disagree.ok, false);
    assert.ok(disagree.problems.some((p) => p.kind === 'bad_signature' && p.seq === made.checkpoint.seq + 5));
    const unknown = await injectAs(env.app, asSession(auditor), { method: 'POST', url: '/api/audit/verify', payload: { witness: { source: 'w', checkpoints: [] }, extra: 1 } });
    expectError(unknown, 400, 'validation.failed');
  });

  it('answers 403 to roles without audit.read, on every audit route', async () => {
    for (const email of ['tech@example.test', 'manager@example.test', 'occupant@example.test']) {
      const s = await signIn(env.app, email, OWNER_PASSWORD);
      for (const [method, url] of [['GET', '/api/audit'], ['GET', '/api/audit/export?format=csv'], ['GET', '/api/audit/verify'], ['POST', '/api/audit/checkpoint']] as const) {
        expectError(await injectAs(env.app, asSession(s), { method, url }), 403, 'auth.forbidden');
      }
      expectError(await injectAs(env.app, asSession(s), { method: 'POST', url: '/api/audit/verify', payload: {} }), 403, 'auth.forbidden');
    }
    expectError(await env.app.inject({ method: 'GET', url: '/api/audit' }), 401, 'auth.unauthenticated');
  });

  it('fails closed: when the audit entry cannot be written, the lock is not created and the code is not revealed', async () => {
    const db = env.database.db;
    const count = async () => (await queryRows<{ n: number }>(db, sql`select count(*)::int as n from locks`))[0]!.n;
    const before = await count();
    await db.execute(sql`create function audit_refuse() returns trigger language plpgsql as $$ begin raise exception 'audit storage unavailable (test)'; end $$`);
    await db.execute(sql`create trigger audit_refuse before insert on audit_log for each row execute function audit_refuse()`);
    try {
      const create = await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/locks', payload: { name: 'Fail closed door', modelId: lock.modelId, locationId: lock.locationId, driver: 'none' } });
      const err = expectError(create, 500, 'internal');
      assert.ok(!create.body.includes('audit') && !create.body.includes('trigger'), `no detail leaks: ${create.body}`);
      assert.match(err.message, /request id/);
      assert.equal(await count(), before, 'no lock was created');
      const reveal = await injectAs(env.app, asSession(owner), { method: 'POST', url: `/api/credentials/${credentialId}/reveal`, payload: { reason: 'should not work' } });
      expectError(reveal, 500, 'internal');
      assert.ok(!reveal.body.includes(pinCode), 'the code is not in the answer');
      expectError(await env.app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: OWNER_EMAIL, password: OWNER_PASSWORD } }), 500, 'internal');
    } finally {
      await db.execute(sql`drop trigger audit_refuse on audit_log`);
    }
    const verified = (await injectAs(env.app, asSession(auditor), { method: 'GET', url: '/api/audit/verify' })).json<{ ok: boolean }>();
    assert.equal(verified.ok, true, 'the refused writes left no hole in the chain');
  });
});
