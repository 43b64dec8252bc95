/**
 * Strings and schemas at the edge: a NUL character or an unpaired surrogate in any free text (a
 * token name, a PIN holder, a justification, a location name, a query string, a spreadsheet cell)
 * is a 400 naming the field, not a 500 from the database; unknown fields are refused; and every
 * error, Fastify's own included (an over-long path id, bad JSON, no such route), has the documented
 * `{ "error": { "code", "message", ... } }` form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { asSession, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

type ErrorBody = { error: { code: string; message: string; fields?: { path: string; message: string }[]; requestId?: string } };

/** Asserts the documented error form and returns it. */
function errorOf(res: { statusCode: number; body: string; json<T>(): T }, status: number): ErrorBody['error'] {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json<ErrorBody>();
  assert.equal(typeof body.error?.code, 'string', res.body);
  assert.equal(typeof body.error?.message, 'string', res.body);
  return body.error;
}

describe('strings and schemas at the edge', () => {
  let env: HttpEnv;
  let owner: Session;
  let lockId = '';
  let unitId = '';
  const raw = (method: string, url: string, json: string) => injectAs(env.app, asSession(owner), { method, url, headers: { 'content-type': 'application/json' }, payload: json });

  before(async () => {
    env = await testApp({ demo: true });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    const locks = (await env.services.locks.list({ kind: 'system', name: 'local-cli' }, { limit: 5 })).items;
    lockId = locks[0]!.id;
    unitId = locks[0]!.locationId;
  });
  after(() => env.close());

  it('a NUL or an unpaired surrogate in free text is a 400 naming the field, and nothing is written', async () => {
    const cases: [string, string, (bad: string) => string, string][] = [
      ['POST', '/api/tokens', (bad) => `{"name":"ci ${bad}"}`, 'name'],
      ['POST', `/api/locks/${lockId}/pins`, (bad) => `{"holder":"Guest ${bad}"}`, 'holder'],
      ['POST', '/api/locations', (bad) => `{"parentId":"${unitId}","kind":"door","name":"Door ${bad}"}`, 'name'],
      ['POST', '/api/access/requests', (bad) => `{"kind":"role","role":"technician","locationId":"${unitId}","justification":"need it ${bad} now","durationHours":2}`, 'justification'],
      ['PATCH', `/api/locks/${lockId}`, (bad) => `{"notes":"note ${bad}"}`, 'notes'],
    ];
    for (const [method, url, body, field] of cases) {
      for (const bad of ['\\u0000', '\\ud800', '\\udfff']) {
        const e = errorOf(await raw(method, url, body(bad)), 400);
        assert.equal(e.code, 'validation.failed');
        assert.deepEqual(e.fields?.map((f) => f.path), [field], `${method} ${url} ${bad}`);
        assert.match(e.fields[0]!.message, bad === '\\u0000' ? /NUL/ : /unpaired surrogate/);
      }
    }
    // A well-formed pair (an emoji) is fine.
    assert.equal((await raw('POST', '/api/tokens', '{"name":"ci \\ud83d\\udd11"}')).statusCode, 201);
    const tokens = (await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/tokens' })).json<{ items: { name: string }[] }>().items;
    assert.deepEqual(tokens.map((t) => t.name), ['ci 🔑'], 'only the good token was written');
  });

  it('a NUL in a query string or a spreadsheet cell is a 400 naming where', async () => {
    const q = errorOf(await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/locks?q=a%00b' }), 400);
    assert.deepEqual(q.fields?.map((f) => f.path), ['query.q']);
    const csv = 'location,name,manufacturer,model number\r\nSite,Door\u0000x,Acme,1\r\n';
    const sheet = errorOf(await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/import/inventory?dryRun=true', headers: { 'content-type': 'text/csv' }, payload: csv }), 400);
    assert.deepEqual(sheet.fields?.map((f) => f.path), ['row 2, name']);
  });

  it('unknown fields are refused, on every body that accepted them', async () => {
    const endpoint = errorOf(await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/notification-endpoints', payload: { channel: 'email', name: 'Ops', target: 'ops@example.test', bogus: 1 } }), 400);
    assert.match(endpoint.message, /bogus/);
    // The unknown field is named itself, so the person knows which one to drop.
    assert.deepEqual(endpoint.fields, [{ path: 'bogus', message: 'unknown field: this request does not take it' }]);
    assert.deepEqual((await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/notification-endpoints' })).json<{ items: unknown[] }>().items, []);
    // Nested: the path runs down to the unknown field.
    const nested = errorOf(await injectAs(env.app, asSession(owner), { method: 'POST', url: `/api/locks/${lockId}/pins`, payload: { holder: 'Guest', schedule: { kind: 'always', until: 'never' } } }), 400);
    assert.deepEqual(nested.fields?.map((f) => f.path), ['schedule.until']);
    for (const [url, payload] of [
      [`/api/locks/${lockId}/unmanaged/adopt`, { slot: 3, holder: 'x', extra: true }],
      [`/api/locks/${lockId}/unmanaged/remove`, { slot: 3, extra: true }],
      ['/api/admin/backup', { passphrase: 'a long enough passphrase', extra: true }],
    ] as const) {
      const e = errorOf(await injectAs(env.app, asSession(owner), { method: 'POST', url, payload }), 400);
      assert.deepEqual(e.fields?.map((f) => f.path), ['extra'], url);
      assert.match(e.message, /extra: unknown field/, url);
    }
  });

  it("Fastify's own errors come in the documented form", async () => {
    const long = errorOf(await injectAs(env.app, asSession(owner), { method: 'GET', url: `/api/locks/${'a'.repeat(500)}` }), 400);
    assert.equal(long.code, 'validation.failed');
    assert.match(long.message, /longer than 100 characters/);
    assert.ok(!long.message.includes('aaaaaaaaaa'), 'the path is not echoed');
    errorOf(await raw('POST', '/api/locations', '{bad'), 400);
    errorOf(await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/nothing-here' }), 404);
    errorOf(await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/locations', headers: { 'content-type': 'text/xml' }, payload: '<a/>' }), 415);
    errorOf(await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/locks/%E0%A4%A' }), 400);
  });
});
