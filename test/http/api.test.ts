/**
 * The HTTP API through Fastify's `inject`: authentication and CSRF at the edge, sign-in throttling,
 * one-time sign-in, API tokens, the lock/model/location endpoints over the demo fleet, roles, error
 * mapping, the OpenAPI document and the docs page.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { familyDefaults } from '../../src/domain/lock-models.js';
import {
  asSession,
  asToken,
  expectError,
  fieldPaths,
  injectAs,
  OWNER_EMAIL,
  OWNER_PASSWORD,
  sessionCookieOf,
  signIn,
  testApp,
  type HttpEnv,
  type Session,
  type SignInBody,
} from '../helpers/http.js';

interface LockJson {
  id: string;
  name: string;
  modelId: string;
  locationPath: { id: string; name: string; kind: string }[];
  manufacturer: string;
  modelNumber: string;
  family: string;
  locationId: string;
  siteId: string | null;
  serial: string;
  externalId: string | null;
  driver: string;
  batteryPercent: number | null;
  installedOn: string | null;
  serviceState: string;
  retiredReason: string | null;
  version: number;
}
interface LockPageJson {
  items: LockJson[];
  total: number;
  limit: number;
  offset: number;
}
interface ModelJson {
  id: string;
  manufacturer: string;
  modelNumber: string;
  family: string;
}
interface NodeJson {
  id: string;
  name: string;
  kind: string;
  lockCount: number;
  children: NodeJson[];
}

const ids = (locks: { id: string }[]) => locks.map((l) => l.id).sort();

function findNode(roots: NodeJson[], pred: (n: NodeJson) => boolean): NodeJson | undefined {
  for (const n of roots) {
    if (pred(n)) return n;
    const found = findNode(n.children, pred);
    if (found) return found;
  }
  return undefined;
}

describe('HTTP API', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;

  before(async () => {
    env = await testApp({
      demo: true,
      configure: (a) => {
        a.get('/api/test/boom', async () => {
          throw new Error('kaboom: connection string postgres://user:hunter2@db/prod');
        });
      },
    });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
  });
  after(async () => {
    await env?.close();
  });

  /** Every lock, retired ones included, straight from the API. */
  async function allLocks(includeRetired = true): Promise<LockJson[]> {
    const res = await injectAs(app, asSession(owner), { method: 'GET', url: `/api/locks?limit=500${includeRetired ? '&includeRetired=true' : ''}` });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json<LockPageJson>();
    assert.equal(page.items.length, page.total, 'one page holds every lock');
    return page.items;
  }
  async function listLocks(query: string, headers = asSession(owner)): Promise<LockPageJson> {
    const res = await injectAs(app, headers, { method: 'GET', url: `/api/locks?${query}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<LockPageJson>();
  }
  async function models(): Promise<ModelJson[]> {
    const res = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/models' });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ items: ModelJson[] }>().items;
  }
  async function tree(): Promise<NodeJson[]> {
    const res = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locations/tree' });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ roots: NodeJson[] }>().roots;
  }
  async function modelId(modelNumber: string): Promise<string> {
    const m = (await models()).find((x) => x.modelNumber === modelNumber);
    assert.ok(m, `demo model ${modelNumber}`);
    return m.id;
  }
  async function locationId(name: string): Promise<string> {
    const n = findNode(await tree(), (x) => x.name === name);
    assert.ok(n, `demo location ${name}`);
    return n.id;
  }
  async function newLockBody(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return { name: `Test lock ${randomUUID().slice(0, 8)}`, modelId: await modelId('KP-50'), locationId: await locationId('Bike room'), ...extra };
  }

  describe('authentication at the edge', () => {
    const ROUTES: [string, string][] = [
      ['GET', '/api/locks'],
      ['GET', `/api/locks/${randomUUID()}`],
      ['POST', '/api/locks'],
      ['PATCH', `/api/locks/${randomUUID()}`],
      ['POST', `/api/locks/${randomUUID()}/retire`],
      ['GET', '/api/models'],
      ['GET', `/api/models/${randomUUID()}`],
      ['POST', '/api/models'],
      ['DELETE', `/api/models/${randomUUID()}`],
      ['GET', '/api/locations'],
      ['GET', '/api/locations/tree'],
      ['POST', '/api/locations'],
      ['GET', '/api/meta'],
      ['GET', '/api/tokens'],
      ['POST', '/api/tokens'],
      ['DELETE', `/api/tokens/${randomUUID()}`],
      ['GET', '/api/auth/me'],
      ['POST', '/api/auth/password'],
      ['GET', '/metrics'],
    ];

    it('refuses every listed route without a session: 401 auth.unauthenticated, even with an invalid body', async () => {
      for (const [method, url] of ROUTES) {
        const res = await app.inject({ method: method as 'GET', url, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
        expectError(res, 401, 'auth.unauthenticated');
      }
    });

    it('refuses every operation in the OpenAPI document except sign-in (and Seam’s signed webhook)', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
      // The webhook's authority is Seam's signature (test/http/integrations.test.ts), not a session.
      // Single sign-on's three routes start and finish a sign-in (whether it is on, the redirect, the
      // provider's answer), so they come before any session (test/http/sso.test.ts).
      const PUBLIC = new Set(['POST /api/auth/sign-in', 'POST /api/auth/one-time', 'POST /api/integrations/{id}/webhook', 'GET /api/auth/sso', 'GET /api/auth/sso/start', 'GET /api/auth/sso/callback']);
      let checked = 0;
      for (const [p, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          const key = `${method.toUpperCase()} ${p}`;
          if (PUBLIC.has(key)) continue;
          const url = p.replaceAll('{id}', randomUUID());
          const res = await app.inject({ method: method.toUpperCase() as 'GET', url, ...(method === 'get' || method === 'delete' ? {} : { payload: { a: 1 } }) });
          assert.equal(res.statusCode, 401, `${key} without a session: ${res.body}`);
          checked++;
        }
      }
      assert.ok(checked >= 20, `checked ${checked} operations`);
    });

    it('serves /healthz and /api/openapi.json without a session', async () => {
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok', engine: 'pglite' });
      const doc = await app.inject({ method: 'GET', url: '/api/openapi.json' });
      assert.equal(doc.statusCode, 200);
      assert.equal(doc.json<{ info: { title: string } }>().info.title, 'lockwarden API');
    });

    it('an unknown bearer token is refused with auth.token_invalid', async () => {
      expectError(await app.inject({ method: 'GET', url: '/api/locks', headers: asToken('lwt_notarealtoken') }), 401, 'auth.token_invalid');
      expectError(await app.inject({ method: 'GET', url: '/api/locks', headers: asToken('something-else') }), 401, 'auth.token_invalid');
    });

    it('a forged session cookie is not a session', async () => {
      expectError(await app.inject({ method: 'GET', url: '/api/locks', headers: { cookie: 'lw_session=forged' } }), 401, 'auth.unauthenticated');
    });

    it('/metrics needs a session or a token and reports request durations', async () => {
      expectError(await app.inject({ method: 'GET', url: '/metrics' }), 401, 'auth.unauthenticated');
      const withSession = await injectAs(app, asSession(owner, false), { method: 'GET', url: '/metrics' });
      assert.equal(withSession.statusCode, 200);
      assert.match(withSession.body, /lockwarden_http_request_duration_seconds/);
      const tok = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/tokens', payload: { name: 'metrics scraper' } });
      assert.equal(tok.statusCode, 201, tok.body);
      const withToken = await app.inject({ method: 'GET', url: '/metrics', headers: asToken(tok.json<{ secret: string }>().secret) });
      assert.equal(withToken.statusCode, 200);
      assert.match(withToken.body, /lockwarden_http_request_duration_seconds_bucket\{/);
      assert.match(String(withToken.headers['content-type']), /text\/plain/);
    });
  });

  describe('sign-in', () => {
    it('a wrong password and an unknown email fail alike', async () => {
      const wrong = await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.2', payload: { email: OWNER_EMAIL, password: 'not the password' } });
      const unknown = await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.2', payload: { email: 'nobody@example.test', password: 'not the password' } });
      const a = expectError(wrong, 401, 'auth.invalid_credentials');
      const b = expectError(unknown, 401, 'auth.invalid_credentials');
      assert.equal(a.message, b.message);
      assert.equal(sessionCookieOf(wrong), undefined, 'no session on failure');
      assert.equal(sessionCookieOf(unknown), undefined);
    });

    it('sets an HttpOnly, SameSite=Strict session cookie and returns the CSRF token and the actions', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: OWNER_EMAIL.toUpperCase(), password: OWNER_PASSWORD } });
      assert.equal(res.statusCode, 200, res.body);
      const raw = res.headers['set-cookie'];
      const line = (Array.isArray(raw) ? raw : [raw ?? '']).find((c) => c.startsWith('lw_session='));
      assert.ok(line, 'session cookie set');
      assert.match(line, /;\s*HttpOnly/i);
      assert.match(line, /;\s*SameSite=Strict/i);
      assert.match(line, /;\s*Path=\//i);
      assert.doesNotMatch(line, /;\s*Secure/i, 'not Secure unless configured');
      const body = res.json<SignInBody>();
      assert.equal(body.user.email, OWNER_EMAIL);
      assert.equal(body.user.roles[0]?.role, 'owner');
      assert.equal(body.user.roles[0]?.locationId, null);
      assert.ok(body.csrfToken.length >= 20);
      assert.ok(body.allowedActions.includes('lock.write'));
      // The session works for /api/auth/me with the same CSRF token.
      const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: line.split(';')[0]! } });
      assert.equal(me.statusCode, 200);
      assert.equal(me.json<SignInBody>().csrfToken, body.csrfToken);
    });

    it('rejects a malformed sign-in body with validation.failed', async () => {
      const err = expectError(await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: 'not-an-email', password: 'x' } }), 400, 'validation.failed');
      assert.ok(fieldPaths(err).includes('email'));
    });

    it('throttles after 5 failures: the 6th attempt is refused at once, even with the right password', async () => {
      const email = 'throttle@example.test';
      const password = 'the right password 123';
      await env.createUser(email, 'technician', password);
      const attempt = (pw: string) => app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.3', payload: { email, password: pw } });
      for (let i = 0; i < 5; i++) expectError(await attempt(`wrong guess ${i}`), 401, 'auth.invalid_credentials');
      const sixth = await attempt(password);
      const err = expectError(sixth, 429, 'auth.throttled');
      assert.match(err.message, /try again/);
      assert.equal(sessionCookieOf(sixth), undefined);
      // The account key throttles from any client too.
      expectError(await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.4', payload: { email, password } }), 429, 'auth.throttled');
      // Once the (1 s) delay has passed, the right password works again.
      env.clock.advance(1500);
      const ok = await attempt(password);
      assert.equal(ok.statusCode, 200, ok.body);
    });

    it('a shared client address is not locked out by one account failing', async () => {
      const victim = 'shared-ip@example.test';
      const password = 'another right password 1';
      await env.createUser(victim, 'technician', password);
      for (let i = 0; i < 6; i++) {
        await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.9', payload: { email: 'someone-else@example.test', password: `guess ${i}` } });
      }
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.0.0.9', payload: { email: victim, password } });
      assert.equal(res.statusCode, 200, res.body);
    });
  });

  describe('CSRF and API tokens', () => {
    it('a change with the session cookie needs the right x-csrf-token header', async () => {
      const body = await newLockBody();
      expectError(await injectAs(app, asSession(owner, false), { method: 'POST', url: '/api/locks', payload: body }), 403, 'auth.csrf');
      expectError(await injectAs(app, { ...asSession(owner, false), 'x-csrf-token': `${owner.csrf.slice(1)}x` }, { method: 'POST', url: '/api/locks', payload: body }), 403, 'auth.csrf');
      expectError(await injectAs(app, { ...asSession(owner, false), 'x-csrf-token': '' }, { method: 'POST', url: '/api/locks', payload: body }), 403, 'auth.csrf');
      const before = (await listLocks('limit=1&q=Test%20lock')).total;
      assert.equal(before, 0, 'the refused requests added nothing');
      const created = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: body });
      assert.equal(created.statusCode, 201, created.body);
      const lock = created.json<LockJson>();
      const patchNoCsrf = await injectAs(app, asSession(owner, false), { method: 'PATCH', url: `/api/locks/${lock.id}`, payload: { notes: 'x' } });
      expectError(patchNoCsrf, 403, 'auth.csrf');
      const patchWrong = await injectAs(app, { ...asSession(owner, false), 'x-csrf-token': 'wrong' }, { method: 'PATCH', url: `/api/locks/${lock.id}`, payload: { notes: 'x' } });
      expectError(patchWrong, 403, 'auth.csrf');
      const patched = await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${lock.id}`, payload: { notes: 'patched' } });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.json<LockJson>().version, 2);
    });

    it("another session's CSRF token does not work", async () => {
      const other = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
      assert.notEqual(other.csrf, owner.csrf);
      expectError(await injectAs(app, { cookie: owner.cookie, 'x-csrf-token': other.csrf }, { method: 'POST', url: '/api/tokens', payload: { name: 'x' } }), 403, 'auth.csrf');
    });

    it('an API token works without CSRF until it is revoked; its secret is shown once', async () => {
      const created = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/tokens', payload: { name: 'ci' } });
      assert.equal(created.statusCode, 201, created.body);
      const { token, secret } = created.json<{ token: { id: string; name: string; prefix: string; expiresAt: string }; secret: string }>();
      assert.match(secret, /^lwt_[A-Za-z0-9_-]{20,}$/);
      assert.ok(secret.startsWith(token.prefix));
      assert.ok(token.prefix.length < secret.length / 2, 'the prefix is not the secret');
      assert.equal(token.expiresAt, new Date(env.clock.now().getTime() + 30 * 86400_000).toISOString(), 'expires in 30 days by default');

      const read = await app.inject({ method: 'GET', url: '/api/locks?limit=1', headers: asToken(secret) });
      assert.equal(read.statusCode, 200, read.body);
      const write = await app.inject({ method: 'POST', url: '/api/locks', headers: asToken(secret), payload: await newLockBody() });
      assert.equal(write.statusCode, 201, write.body);

      const list = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/tokens' });
      assert.equal(list.statusCode, 200);
      assert.ok(list.json<{ items: { id: string }[] }>().items.some((t) => t.id === token.id));
      assert.ok(!list.body.includes(secret), 'the token list never contains the secret');
      assert.ok(!list.body.includes(secret.slice(token.prefix.length, token.prefix.length + 12)), 'nor a part past the prefix');
      assert.doesNotMatch(list.body, /tokenHash|hash/i);

      expectError(await injectAs(app, asSession(owner, false), { method: 'DELETE', url: `/api/tokens/${token.id}` }), 403, 'auth.csrf');
      const revoked = await injectAs(app, asSession(owner), { method: 'DELETE', url: `/api/tokens/${token.id}` });
      assert.equal(revoked.statusCode, 204, revoked.body);
      expectError(await app.inject({ method: 'GET', url: '/api/locks', headers: asToken(secret) }), 401, 'auth.token_invalid');
      expectError(await injectAs(app, asSession(owner), { method: 'DELETE', url: `/api/tokens/${randomUUID()}` }), 404, 'token.not_found');
    });

    it("a user cannot revoke another user's token", async () => {
      await env.createUser('auditor@example.test', 'auditor', 'auditor password 1');
      const auditor = await signIn(app, 'auditor@example.test', 'auditor password 1');
      const created = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/tokens', payload: { name: 'mine' } });
      const { token, secret } = created.json<{ token: { id: string }; secret: string }>();
      expectError(await injectAs(app, asSession(auditor), { method: 'DELETE', url: `/api/tokens/${token.id}` }), 404, 'token.not_found');
      const theirs = await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/tokens' });
      assert.deepEqual(theirs.json(), { items: [] });
      assert.equal((await app.inject({ method: 'GET', url: '/api/locks?limit=1', headers: asToken(secret) })).statusCode, 200, 'still valid');
    });
  });

  describe('locks', () => {
    it('lists the 40 demo locks, filtered by family, state, site and search', async () => {
      const all = await allLocks(false);
      assert.equal(all.length >= 40, true);
      const demo = all.filter((l) => l.serial.startsWith('DEMO-'));
      assert.equal(demo.length, 40);

      const bio = await listLocks('family=biometric&limit=500');
      assert.deepEqual(ids(bio.items), ids(all.filter((l) => l.family === 'biometric')));
      assert.ok(bio.items.length > 0 && bio.items.every((l) => l.family === 'biometric'));
      assert.equal(bio.total, bio.items.length);

      const two = await listLocks('family=biometric,safe_cabinet&limit=500');
      assert.deepEqual(ids(two.items), ids(all.filter((l) => l.family === 'biometric' || l.family === 'safe_cabinet')));

      const attention = await listLocks('state=needs_attention&limit=500');
      const expectedAttention = all.filter((l) => l.serviceState === 'needs_attention');
      assert.ok(expectedAttention.length > 0);
      assert.deepEqual(ids(attention.items), ids(expectedAttention));

      const northgate = await locationId('Northgate Offices');
      const site = await listLocks(`siteId=${northgate}&limit=500`);
      const expectedSite = all.filter((l) => l.siteId === northgate);
      assert.ok(expectedSite.length > 0 && expectedSite.length < all.length);
      assert.deepEqual(ids(site.items), ids(expectedSite));

      const sample = demo.find((l) => l.family === 'safe_cabinet')!;
      const fragment = sample.serial.slice(-6).toLowerCase(); // e.g. "0-1019": unique to the serial
      const q = await listLocks(`q=${encodeURIComponent(fragment)}&limit=500`);
      const matches = (l: LockJson) => [l.name, l.serial, l.externalId ?? '', l.modelNumber, l.manufacturer].some((s) => s.toLowerCase().includes(fragment));
      assert.deepEqual(ids(q.items), ids(all.filter(matches)));
      assert.ok(q.items.some((l) => l.id === sample.id));

      const combined = await listLocks(`family=keypad_entry&siteId=${northgate}&limit=500`);
      assert.deepEqual(ids(combined.items), ids(all.filter((l) => l.family === 'keypad_entry' && l.siteId === northgate)));
    });

    it('pages with limit and offset, reporting the total', async () => {
      const all = await allLocks(false);
      const full = await listLocks('limit=500');
      const seen: string[] = [];
      for (let offset = 0; offset < all.length; offset += 7) {
        const page = await listLocks(`limit=7&offset=${offset}`);
        assert.equal(page.total, all.length);
        assert.equal(page.limit, 7);
        assert.equal(page.offset, offset);
        assert.equal(page.items.length, Math.min(7, all.length - offset));
        seen.push(...page.items.map((l) => l.id));
      }
      assert.deepEqual(seen, full.items.map((l) => l.id), 'pages concatenate to the sorted list, without gaps or repeats');
      const past = await listLocks(`limit=7&offset=${all.length}`);
      assert.equal(past.items.length, 0);
      assert.equal(past.total, all.length);
      const bad = expectError(await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locks?limit=0' }), 400, 'validation.failed');
      assert.ok(fieldPaths(bad).includes('limit'));
      const badState = expectError(await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locks?state=bogus' }), 400, 'validation.failed');
      assert.match(badState.message, /state/);
    });

    it('gets one lock; an unknown id is 404 lock.not_found, a malformed one 400', async () => {
      const [first] = await allLocks(false);
      const res = await injectAs(app, asSession(owner), { method: 'GET', url: `/api/locks/${first!.id}` });
      assert.equal(res.statusCode, 200);
      const lock = res.json<LockJson & { locationPath: { name: string; kind: string }[] }>();
      assert.equal(lock.id, first!.id);
      assert.equal(lock.name, first!.name);
      assert.equal(lock.locationPath[0]!.kind, 'organisation');
      assert.equal(lock.locationPath.at(-1)!.kind !== 'organisation', true);
      const missing = randomUUID();
      const err = expectError(await injectAs(app, asSession(owner), { method: 'GET', url: `/api/locks/${missing}` }), 404, 'lock.not_found');
      assert.match(err.message, new RegExp(missing));
      expectError(await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locks/not-a-uuid' }), 400, 'validation.failed');
    });

    it('creates a lock (201) that then shows in the list, with defaults from its model', async () => {
      const before = (await allLocks(false)).length;
      const body = await newLockBody({ serial: 'SN-CREATE-1', installedOn: '2024-02-29', batteryPercent: 77 });
      const res = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: body });
      assert.equal(res.statusCode, 201, res.body);
      const lock = res.json<LockJson & { credentialStorage: string; isDemo: boolean }>();
      assert.equal(lock.name, body.name);
      assert.equal(lock.modelNumber, 'KP-50');
      assert.equal(lock.installedOn, '2024-02-29');
      assert.equal(lock.batteryPercent, 77);
      assert.equal(lock.serviceState, 'in_service');
      assert.equal(lock.version, 1);
      assert.equal(lock.isDemo, false);
      assert.equal(lock.credentialStorage, 'local');
      assert.equal(lock.siteId, await locationId('Harbour View Apartments'));
      const after = await allLocks(false);
      assert.equal(after.length, before + 1);
      assert.ok(after.some((l) => l.id === lock.id));
      const found = await listLocks('q=SN-CREATE-1');
      assert.deepEqual(ids(found.items), [lock.id]);
    });

    it('rejects bad input with 400 validation.failed naming each field, and adds nothing', async () => {
      const before = (await allLocks()).length;
      const bad = await injectAs(app, asSession(owner), {
        method: 'POST',
        url: '/api/locks',
        payload: { ...(await newLockBody()), modelId: 'KP-50', batteryPercent: 150, installedOn: '2026-02-30' },
      });
      const err = expectError(bad, 400, 'validation.failed');
      for (const f of ['batteryPercent', 'installedOn', 'modelId']) assert.ok(fieldPaths(err).includes(f), `names ${f}: ${bad.body}`);
      assert.match(err.fields!.find((f) => f.path === 'installedOn')!.message, /real date/);

      const badFormat = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ installedOn: '1/2/2024' }) }), 400, 'validation.failed');
      assert.ok(fieldPaths(badFormat).length > 0 && fieldPaths(badFormat).every((f) => f === 'installedOn'), JSON.stringify(badFormat));

      const unknownField = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ colour: 'red' }) }), 400, 'validation.failed');
      assert.match(unknownField.message, /colour/);

      const missingName = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ name: '   ' }) }), 400, 'validation.failed');
      assert.deepEqual(fieldPaths(missingName), ['name']);

      const notJson = await injectAs(app, { ...asSession(owner), 'content-type': 'application/json' }, { method: 'POST', url: '/api/locks', payload: '{"name":' });
      expectError(notJson, 400, 'validation.failed');

      const unknownModel = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ modelId: randomUUID() }) }), 404, 'model.not_found');
      assert.deepEqual(fieldPaths(unknownModel), ['modelId']);
      const unknownLocation = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ locationId: randomUUID() }) }), 404, 'location.not_found');
      assert.deepEqual(fieldPaths(unknownLocation), ['locationId']);
      const onOrg = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ locationId: await locationId('Demo Property Group') }) }), 400, 'lock.invalid_location');
      assert.deepEqual(fieldPaths(onOrg), ['locationId']);

      assert.equal((await allLocks()).length, before, 'no failed create left a lock behind');
    });

    it('refuses a duplicate (driver, externalId) with 409, but the same id on another driver is fine', async () => {
      const demo = (await allLocks()).find((l) => l.externalId === 'sim-0001');
      assert.ok(demo, 'demo lock sim-0001');
      const dup = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ driver: 'simulator', externalId: 'sim-0001' }) });
      const err = expectError(dup, 409, 'lock.duplicate_external_id');
      assert.deepEqual(fieldPaths(err), ['externalId']);
      const other = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody({ driver: 'zwave', externalId: 'sim-0001' }) });
      assert.equal(other.statusCode, 201, other.body);
      // Moving a lock onto a taken id is refused too.
      const moved = await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${other.json<LockJson>().id}`, payload: { driver: 'simulator' } });
      expectError(moved, 409, 'lock.duplicate_external_id');
    });

    it('refuses an edit based on a stale version with 409 lock.version_conflict', async () => {
      const created = (await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody() })).json<LockJson>();
      const first = await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${created.id}`, payload: { firmware: '2.0.0', expectedVersion: 1 } });
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json<LockJson>().version, 2);
      const stale = await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${created.id}`, payload: { firmware: '1.9.9', expectedVersion: 1 } });
      expectError(stale, 409, 'lock.version_conflict');
      const now = (await injectAs(app, asSession(owner), { method: 'GET', url: `/api/locks/${created.id}` })).json<LockJson & { firmware: string }>();
      assert.equal(now.firmware, '2.0.0', 'the stale edit changed nothing');
      assert.equal(now.version, 2);
      // Setting the state by hand to `retired` is not an edit: it goes through retire.
      expectError(await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${created.id}`, payload: { serviceState: 'retired' } }), 400, 'validation.failed');
    });

    it('retires a lock with a reason: hidden from the default list, then read-only', async () => {
      const created = (await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locks', payload: await newLockBody() })).json<LockJson>();
      const noReason = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/locks/${created.id}/retire`, payload: { reason: '' } });
      assert.deepEqual(fieldPaths(expectError(noReason, 400, 'validation.failed')), ['reason']);
      const res = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/locks/${created.id}/retire`, payload: { reason: 'replaced by a newer model' } });
      assert.equal(res.statusCode, 200, res.body);
      const retired = res.json<LockJson>();
      assert.equal(retired.serviceState, 'retired');
      assert.equal(retired.retiredReason, 'replaced by a newer model');
      assert.ok(!(await allLocks(false)).some((l) => l.id === created.id), 'hidden from the default list');
      assert.ok((await allLocks(true)).some((l) => l.id === created.id), 'listed with includeRetired');
      const explicitFalse = await listLocks('includeRetired=false&limit=500');
      assert.ok(!explicitFalse.items.some((l) => l.id === created.id), 'includeRetired=false means false');
      expectError(await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locks?includeRetired=maybe' }), 400, 'validation.failed');
      const byState = await listLocks('state=retired&limit=500');
      assert.ok(byState.items.some((l) => l.id === created.id));
      assert.ok(byState.items.every((l) => l.serviceState === 'retired'));
      expectError(await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locks/${created.id}`, payload: { notes: 'still here?' } }), 409, 'lock.retired');
      expectError(await injectAs(app, asSession(owner), { method: 'POST', url: `/api/locks/${created.id}/retire`, payload: { reason: 'again, please' } }), 409, 'lock.retired');
      // Still readable on its own, as history.
      assert.equal((await injectAs(app, asSession(owner), { method: 'GET', url: `/api/locks/${created.id}` })).json<LockJson>().serviceState, 'retired');
    });
  });

  describe('models', () => {
    const modelBody = (modelNumber: string, extra: Record<string, unknown> = {}) => ({
      manufacturer: 'Test Locks Ltd',
      modelNumber,
      name: 'Test keypad',
      ...familyDefaults('keypad_entry'),
      ...extra,
    });

    it('lists the 9 demo models', async () => {
      const list = await models();
      assert.equal(list.filter((m) => m.manufacturer.includes('Demo')).length, 9);
      assert.ok(list.some((m) => m.modelNumber === 'FP-300' && m.family === 'biometric'));
    });

    it('creates a model; the same manufacturer + model number in another case is 409 model.duplicate', async () => {
      const res = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: modelBody('TK-1') });
      assert.equal(res.statusCode, 201, res.body);
      const created = res.json<ModelJson>();
      assert.equal(created.modelNumber, 'TK-1');
      assert.equal((await injectAs(app, asSession(owner), { method: 'GET', url: `/api/models/${created.id}` })).json<ModelJson>().id, created.id);
      const count = (await models()).length;
      const dup = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: { ...modelBody('tk-1'), manufacturer: 'TEST LOCKS LTD' } });
      const err = expectError(dup, 409, 'model.duplicate');
      assert.deepEqual(fieldPaths(err), ['modelNumber']);
      assert.equal((await models()).length, count);
      // Renaming another model onto it is a duplicate too.
      const other = (await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: modelBody('TK-2') })).json<ModelJson>();
      expectError(await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/models/${other.id}`, payload: { modelNumber: 'Tk-1' } }), 409, 'model.duplicate');
    });

    it('names nested fields in validation errors (capabilities.pinLengthMin when min > max)', async () => {
      const caps = { ...familyDefaults('keypad_entry').capabilities, pinLengthMin: 8, pinLengthMax: 4 };
      const err = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: modelBody('TK-BAD', { capabilities: caps }) }), 400, 'validation.failed');
      assert.ok(fieldPaths(err).includes('capabilities.pinLengthMin'), JSON.stringify(err));
      const gating = expectError(
        await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: modelBody('TK-BAD', { gating: { ...familyDefaults('keypad_entry').gating, holdSeconds: -1 } }) }),
        400,
        'validation.failed',
      );
      assert.ok(fieldPaths(gating).includes('gating.holdSeconds'), JSON.stringify(gating));
      assert.ok(!(await models()).some((m) => m.modelNumber === 'TK-BAD'));
    });

    it('refuses to delete a model in use (409 model.in_use) and deletes an unused one (204)', async () => {
      const used = await modelId('FP-300');
      const err = expectError(await injectAs(app, asSession(owner), { method: 'DELETE', url: `/api/models/${used}` }), 409, 'model.in_use');
      assert.match(err.message, /\d+ lock/);
      assert.equal((await injectAs(app, asSession(owner), { method: 'GET', url: `/api/models/${used}` })).statusCode, 200);

      const unused = (await injectAs(app, asSession(owner), { method: 'POST', url: '/api/models', payload: modelBody('TK-DEL') })).json<ModelJson>();
      const del = await injectAs(app, asSession(owner), { method: 'DELETE', url: `/api/models/${unused.id}` });
      assert.equal(del.statusCode, 204, del.body);
      assert.equal(del.body, '');
      expectError(await injectAs(app, asSession(owner), { method: 'GET', url: `/api/models/${unused.id}` }), 404, 'model.not_found');
      expectError(await injectAs(app, asSession(owner), { method: 'DELETE', url: `/api/models/${unused.id}` }), 404, 'model.not_found');
    });
  });

  describe('locations', () => {
    it('the tree has the two demo sites with their locks counted, rolled up to the organisation', async () => {
      const roots = await tree();
      assert.equal(roots.length, 1);
      const org = roots[0]!;
      assert.equal(org.kind, 'organisation');
      const sites = org.children.filter((c) => c.kind === 'site');
      assert.deepEqual(sites.map((s) => s.name).sort(), ['Harbour View Apartments', 'Northgate Offices']);
      const live = await allLocks(false);
      for (const site of sites) assert.equal(site.lockCount, live.filter((l) => l.siteId === site.id).length, site.name);
      assert.equal(org.lockCount, sites.reduce((n, s) => n + s.lockCount, 0));
      assert.equal(org.lockCount, live.length);
      const bikeRoom = findNode(roots, (n) => n.name === 'Bike room')!;
      assert.equal(bikeRoom.lockCount, live.filter((l) => l.locationId === bikeRoom.id).length);
    });

    it('creates a child; refuses a door under a door and a duplicate sibling name', async () => {
      const buildingB = findNode(await tree(), (n) => n.name === 'Building B')!;
      const res = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locations', payload: { parentId: buildingB.id, kind: 'door', name: 'Roof hatch' } });
      assert.equal(res.statusCode, 201, res.body);
      const hatch = res.json<{ id: string; parentId: string; reading: string; path: string }>();
      assert.equal(hatch.parentId, buildingB.id);
      assert.equal(hatch.reading, 'residential', 'inherits the reading of its site');
      assert.ok(hatch.path.endsWith(`/${buildingB.id}/${hatch.id}/`));
      assert.ok(findNode(await tree(), (n) => n.id === hatch.id), 'in the tree');

      const inDoor = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locations', payload: { parentId: hatch.id, kind: 'door', name: 'Inner hatch' } });
      assert.deepEqual(fieldPaths(expectError(inDoor, 400, 'location.invalid_parent')), ['kind']);
      const upward = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locations', payload: { parentId: buildingB.id, kind: 'site', name: 'A site in a building' } });
      expectError(upward, 400, 'location.invalid_parent');

      const dup = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locations', payload: { parentId: buildingB.id, kind: 'door', name: 'Roof hatch' } });
      assert.deepEqual(fieldPaths(expectError(dup, 400, 'validation.failed')), ['name']);
      const rename = await injectAs(app, asSession(owner), { method: 'PATCH', url: `/api/locations/${hatch.id}`, payload: { name: 'Bike room' } });
      assert.deepEqual(fieldPaths(expectError(rename, 400, 'validation.failed')), ['name']);
      const missingParent = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/locations', payload: { parentId: randomUUID(), kind: 'door', name: 'Nowhere' } });
      expectError(missingParent, 404, 'location.not_found');
    });
  });

  describe('roles', () => {
    let technician: Session;
    let occupant: Session;
    before(async () => {
      await env.createUser('tech@example.test', 'technician', 'technician password 1');
      const unit = (await allLocks()).find((l) => l.name === 'Unit A302 front door')!.locationPath.find((p) => p.kind === 'unit')!;
      await env.createUser('occupant@example.test', 'occupant', 'occupant password 1', unit.id);
      technician = await signIn(app, 'tech@example.test', 'technician password 1');
      occupant = await signIn(app, 'occupant@example.test', 'occupant password 1');
    });

    it('a technician reads locks but cannot add, edit or retire one', async () => {
      assert.deepEqual(technician.body.allowedActions.includes('lock.write'), false);
      const list = await listLocks('limit=5', asSession(technician));
      assert.equal(list.items.length, 5);
      const lockId = list.items[0]!.id;
      const before = (await allLocks()).length;
      expectError(await injectAs(app, asSession(technician), { method: 'POST', url: '/api/locks', payload: await newLockBody() }), 403, 'auth.forbidden');
      expectError(await injectAs(app, asSession(technician), { method: 'PATCH', url: `/api/locks/${lockId}`, payload: { notes: 'x' } }), 403, 'auth.forbidden');
      expectError(await injectAs(app, asSession(technician), { method: 'POST', url: `/api/locks/${lockId}/retire`, payload: { reason: 'because I can' } }), 403, 'auth.forbidden');
      expectError(await injectAs(app, asSession(technician), { method: 'POST', url: '/api/models', payload: { manufacturer: 'x', modelNumber: 'y', ...familyDefaults('biometric') } }), 403, 'auth.forbidden');
      assert.equal((await allLocks()).length, before);
      // Their own tokens are theirs to manage.
      const tok = await injectAs(app, asSession(technician), { method: 'POST', url: '/api/tokens', payload: { name: 'tech' } });
      assert.equal(tok.statusCode, 201);
      expectError(await app.inject({ method: 'POST', url: '/api/locks', headers: asToken(tok.json<{ secret: string }>().secret), payload: await newLockBody() }), 403, 'auth.forbidden');
    });

    it('an occupant sees their own unit and its locks, and nothing else', async () => {
      const mine = await listLocks('limit=100', asSession(occupant));
      assert.deepEqual(mine.items.map((l) => l.name).sort(), ['Unit A302 front door', 'Unit A302 patio door']);
      assert.equal(mine.total, 2, 'the count leaks nothing from outside the unit');
      const other = (await allLocks()).find((l) => l.name === 'Unit A303 front door')!;
      // Another unit's lock does not exist for them: the same 404 as a random id, not a 403 that confirms it.
      for (const id of [other.id, '0badc0de-0000-4000-8000-000000000000']) {
        expectError(await injectAs(app, asSession(occupant), { method: 'GET', url: `/api/locks/${id}` }), 404, 'lock.not_found');
        expectError(await injectAs(app, asSession(occupant), { method: 'GET', url: `/api/locks/${id}/credentials` }), 404, 'lock.not_found');
      }
      expectError(await injectAs(app, asSession(occupant), { method: 'GET', url: '/api/models' }), 403, 'auth.forbidden');
      expectError(await injectAs(app, asSession(occupant), { method: 'PATCH', url: `/api/locks/${mine.items[0]!.id}`, payload: { notes: 'x' } }), 403, 'auth.forbidden');
      const tree = await injectAs(app, asSession(occupant), { method: 'GET', url: '/api/locations/tree' });
      assert.equal(tree.statusCode, 200);
      const names: string[] = [];
      const walk = (n: { name: string; children: unknown[] }) => {
        names.push(n.name);
        (n.children as { name: string; children: unknown[] }[]).forEach(walk);
      };
      tree.json<{ roots: { name: string; children: unknown[] }[] }>().roots.forEach(walk);
      assert.ok(names.includes('Unit A302') && names.includes('Front door'), names.join(', '));
      assert.ok(!names.includes('Unit A303') && !names.includes('Northgate Offices') && !names.includes('Building B'), names.join(', '));
      const me = await injectAs(app, asSession(occupant), { method: 'GET', url: '/api/auth/me' });
      assert.equal(me.statusCode, 200);
      assert.deepEqual(me.json<SignInBody>().allowedActions.sort(), ['credential.read', 'location.read', 'lock.read', 'token.manage_own']);
      assert.deepEqual(me.json<{ organisationActions: string[] }>().organisationActions, [], 'a unit grant holds nothing organisation-wide');
    });

    it('an occupant role is granted on a unit only', async () => {
      const site = (await allLocks())[0]!.locationPath.find((p) => p.kind === 'site')!;
      const res = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/users/invite', payload: { email: 'x@example.test', displayName: 'X', role: 'occupant', locationId: site.id } });
      assert.deepEqual(fieldPaths(expectError(res, 400, 'validation.failed')), ['locationId']);
    });
  });

  describe('errors, documents and secrets', () => {
    it('an unexpected error is 500 internal with a request id and no internals', async () => {
      const res = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/test/boom' });
      assert.equal(res.statusCode, 500);
      const body = res.json<{ error: { code: string; message: string; requestId: string } }>();
      assert.equal(body.error.code, 'internal');
      assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
      assert.ok(body.error.message.includes(body.error.requestId), 'the message quotes the request id');
      assert.doesNotMatch(res.body, /kaboom|hunter2|postgres:|stack|\.ts:\d+|at [A-Za-z]/);
      // Without a session the route is refused before it runs.
      expectError(await app.inject({ method: 'GET', url: '/api/test/boom' }), 401, 'auth.unauthenticated');
    });

    it('an unknown /api route is a JSON 404 (after auth)', async () => {
      const res = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/nothing-here' });
      expectError(res, 404, 'not_found');
    });

    it('the OpenAPI document lists the lock and model operations', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
      assert.match(doc.openapi, /^3\./);
      const methods = (p: string) => Object.keys(doc.paths[p] ?? {}).sort();
      assert.deepEqual(methods('/api/locks'), ['get', 'post']);
      assert.deepEqual(methods('/api/locks/{id}'), ['get', 'patch']);
      assert.deepEqual(methods('/api/locks/{id}/retire'), ['post']);
      assert.deepEqual(methods('/api/models'), ['get', 'post']);
      assert.deepEqual(methods('/api/models/{id}'), ['delete', 'get', 'patch']);
      assert.ok(doc.paths['/api/locations/tree']);
      assert.ok(!('/healthz' in doc.paths) && !('/metrics' in doc.paths), 'operational routes are hidden');
    });

    it('serves the API docs page without a session', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/docs/' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.match(res.body, /swagger/i);
      const bare = await app.inject({ method: 'GET', url: '/api/docs' });
      assert.ok([200, 301, 302].includes(bare.statusCode), `GET /api/docs: ${bare.statusCode}`);
    });

    it('no response carries a password, a hash or a session token', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
      assert.equal(res.statusCode, 200);
      const session = sessionCookieOf(res)!.slice('lw_session='.length);
      for (const body of [res.body, (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `lw_session=${session}` } })).body]) {
        assert.ok(!body.includes(OWNER_PASSWORD));
        assert.doesNotMatch(body, /\$argon2|passwordHash|tokenHash/);
        assert.ok(!body.includes(session), 'the session token lives only in the HttpOnly cookie');
      }
    });

    it('serves security headers', async () => {
      const res = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
    });
  });
});

describe('one-time sign-in of a new owner', () => {
  let env: HttpEnv;
  before(async () => {
    env = await testApp({ owner: false });
  });
  after(async () => {
    await env?.close();
  });

  it('signs in once with the bootstrap token, must set a password, then signs in with it', async () => {
    const boot = await env.services.auth.bootstrapOwner();
    assert.ok(boot, 'bootstrap on an empty instance');
    assert.equal(await env.services.auth.bootstrapOwner(), null, 'only once');
    const app = env.app;

    // No password yet: a password sign-in fails like any wrong password.
    expectError(await app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress: '10.1.0.1', payload: { email: boot.user.email, password: 'anything at all' } }), 401, 'auth.invalid_credentials');

    const first = await app.inject({ method: 'POST', url: '/api/auth/one-time', payload: { token: boot.oneTimeToken } });
    assert.equal(first.statusCode, 200, first.body);
    const body = first.json<SignInBody>();
    assert.equal(body.mustSetPassword, true);
    assert.equal(body.user.hasPassword, false);
    assert.equal(body.user.roles[0]?.role, 'owner');
      assert.equal(body.user.roles[0]?.locationId, null);
    const cookie = sessionCookieOf(first);
    assert.ok(cookie);

    const again = await app.inject({ method: 'POST', url: '/api/auth/one-time', payload: { token: boot.oneTimeToken } });
    expectError(again, 401, 'auth.token_invalid');
    assert.equal(sessionCookieOf(again), undefined);
    expectError(await app.inject({ method: 'POST', url: '/api/auth/one-time', payload: { token: 'x'.repeat(43) } }), 401, 'auth.token_invalid');

    const session: Session = { cookie, csrf: body.csrfToken, body };
    const short = await injectAs(app, asSession(session), { method: 'POST', url: '/api/auth/password', payload: { newPassword: 'short' } });
    assert.deepEqual(fieldPaths(expectError(short, 400, 'validation.failed')), ['newPassword']);
    expectError(await injectAs(app, asSession(session, false), { method: 'POST', url: '/api/auth/password', payload: { newPassword: 'a brand new password' } }), 403, 'auth.csrf');
    const set = await injectAs(app, asSession(session), { method: 'POST', url: '/api/auth/password', payload: { newPassword: 'a brand new password' } });
    assert.equal(set.statusCode, 204, set.body);

    const me = await injectAs(app, asSession(session), { method: 'GET', url: '/api/auth/me' });
    assert.equal(me.json<SignInBody>().mustSetPassword, false);

    const signedIn = await signIn(app, boot.user.email, 'a brand new password');
    assert.equal(signedIn.body.user.hasPassword, true);

    // Changing it again needs the current one.
    const wrongCurrent = await injectAs(app, asSession(signedIn), { method: 'POST', url: '/api/auth/password', payload: { currentPassword: 'not it', newPassword: 'another new password' } });
    assert.deepEqual(fieldPaths(expectError(wrongCurrent, 401, 'auth.invalid_credentials')), ['currentPassword']);

    // Signing out ends the session.
    const out = await injectAs(app, asSession(signedIn), { method: 'POST', url: '/api/auth/sign-out' });
    assert.equal(out.statusCode, 204);
    expectError(await injectAs(app, asSession(signedIn), { method: 'GET', url: '/api/auth/me' }), 401, 'auth.unauthenticated');
  });

  it('when the database is gone, /healthz says 503 and the API 500 without internals', async () => {
    const session = await signIn(env.app, 'owner@lockwarden.local', 'a brand new password');
    await env.database.close();
    const health = await env.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 503);
    assert.equal(health.json<{ status: string }>().status, 'unavailable');
    const res = await injectAs(env.app, asSession(session), { method: 'GET', url: '/api/meta' });
    assert.equal(res.statusCode, 500, res.body);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'internal');
    assert.doesNotMatch(res.body, /PGlite|closed|\.ts:\d+|\s{4}at /i);
  });
});
