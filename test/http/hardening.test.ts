/**
 * Issue 5 hardening over HTTP: sign-in throttling that an attacker cannot turn into a lock-out
 * (device cookies), throttled secret reveals (429 + Retry-After, nothing revealed), session expiry,
 * sign out everywhere, ending another user's sessions, disabled users, and security headers.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createApp } from '../../src/server/app.js';
import { SESSION_ABSOLUTE_MS } from '../../src/services/auth-service.js';
import { users } from '../../src/store/schema.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { asSession, asToken, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, sessionCookieOf, signIn, stepUp, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const MIN = 60_000;

/** The `lw_device=...` value a response set, or undefined. */
function deviceCookieOf(res: LightMyRequestResponse): string | undefined {
  return res.cookies.find((c) => c.name === 'lw_device')?.value;
}

describe('sign-in throttling cannot lock the real user out', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  const email = 'victim@example.test';
  const password = 'the victim password 1';
  before(async () => {
    env = await testApp();
    app = env.app;
    await env.createUser(email, 'technician', password);
  });
  after(() => env.close());

  const attempt = (pw: string, remoteAddress: string, device?: string, who = email) =>
    app.inject({ method: 'POST', url: '/api/auth/sign-in', remoteAddress, payload: { email: who, password: pw }, ...(device ? { cookies: { lw_device: device } } : {}) });

  it('a sign-in sets a device cookie: httpOnly, SameSite=Strict, only for /api/auth', async () => {
    const res = await attempt(password, '10.1.0.1');
    assert.equal(res.statusCode, 200, res.body);
    const c = res.cookies.find((x) => x.name === 'lw_device')!;
    assert.ok(c.value.length > 40);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/api/auth');
    assert.ok(c.maxAge! >= 90 * 86400);
  });

  it('an attacker burning 100 failures from one address blocks unknown browsers, not the user in their known browser', async () => {
    const known = deviceCookieOf(await attempt(password, '10.1.0.2'))!;
    let failures = 0;
    let capped: LightMyRequestResponse | null = null;
    for (let i = 0; i < 150 && !capped; i++) {
      const res = await attempt(`guess number ${i}`, '10.6.6.6');
      if (res.statusCode === 401) failures++;
      else {
        const err = expectError(res, 429, 'auth.throttled');
        if (/one-time sign-in link/.test(err.message)) capped = res;
        else {
          const retry = Number(res.headers['retry-after']);
          assert.ok(retry >= 1 && retry <= 15 * 60, `Retry-After ${retry}`);
          assert.match(err.message, /try again in .* \(at \d{4}-/);
        }
      }
      env.clock.advance(16 * MIN);
    }
    assert.equal(failures, 100, 'exactly 100 guesses were checked (NIST SP 800-63B)');
    assert.ok(capped, 'then the account refuses unknown browsers');
    assert.equal(capped.headers['retry-after'], undefined, 'no time to wait for: the cap holds until a known browser, a new password or a one-time link');
    // Even the right password from an unknown browser (any address) is refused, and no session is set.
    const unknown = await attempt(password, '10.1.0.9');
    expectError(unknown, 429, 'auth.throttled');
    assert.equal(sessionCookieOf(unknown), undefined);
    // A device cookie for another account, or a forged one, does not help.
    await env.createUser('other@example.test', 'auditor', 'the other password 1');
    const otherDevice = deviceCookieOf(await attempt('the other password 1', '10.1.0.3', undefined, 'other@example.test'))!;
    expectError(await attempt(password, '10.1.0.3', otherDevice), 429, 'auth.throttled');
    expectError(await attempt(password, '10.1.0.3', `${known.split('.')[0]}.forgedmac`), 429, 'auth.throttled');
    // The real user, in the browser they signed in with before, signs in at once.
    const ok = await attempt(password, '10.1.0.2', known);
    assert.equal(ok.statusCode, 200, ok.body);
    // That success ends the run of failures: unknown browsers may try again.
    assert.equal((await attempt(password, '10.1.0.9')).statusCode, 200);
  });

  it('a stolen device cookie is worth 20 guesses, then it is an unknown browser like any other', async () => {
    const u = 'cookie-theft@example.test';
    const pw = 'cookie theft password 1';
    await env.createUser(u, 'technician', pw);
    const stolen = deviceCookieOf(await attempt(pw, '10.2.0.1', undefined, u))!;
    let checked = 0;
    for (let i = 0; i < 20; i++) {
      const res = await attempt(`guess ${i}`, '10.6.6.7', stolen, u);
      if (res.statusCode === 401) checked++;
      else expectError(res, 429, 'auth.throttled');
      env.clock.advance(16 * MIN);
    }
    assert.equal(checked, 20);
    // The account's own counter was untouched by those 20: an unknown browser has its 5 free tries.
    for (let i = 0; i < 5; i++) expectError(await attempt(`more ${i}`, '10.6.6.8', stolen, u), 401, 'auth.invalid_credentials');
    expectError(await attempt('and one more', '10.6.6.8', stolen, u), 429, 'auth.throttled');
  });

  it('failures with a known browser wait like anyone (5 free, then doubling), without touching the account', async () => {
    const u = 'typo@example.test';
    const pw = 'typo typo password 1';
    await env.createUser(u, 'technician', pw);
    const mine = deviceCookieOf(await attempt(pw, '10.3.0.1', undefined, u))!;
    for (let i = 0; i < 5; i++) expectError(await attempt(`typo ${i}`, '10.3.0.1', mine, u), 401, 'auth.invalid_credentials');
    const slowed = expectError(await attempt(pw, '10.3.0.1', mine, u), 429, 'auth.throttled');
    assert.match(slowed.message, /try again in 1 s/);
    // Meanwhile an unknown browser is not slowed by the known one's typos.
    assert.equal((await attempt(pw, '10.3.0.2', undefined, u)).statusCode, 200);
  });
});

describe('secret reveals are throttled per account', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  let tech: Session;
  let secretId: string;
  let credentialId: string;
  let entryId: string;
  const VALUE = '73910455';

  before(async () => {
    env = await testApp({ demo: true });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.createUser('tech@example.test', 'technician', 'technician password 1');
    tech = await signIn(app, 'tech@example.test', 'technician password 1');
    const list = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/handbook/entries' });
    entryId = list.json<{ items: { id: string }[] }>().items[0]!.id;
    const s = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/handbook/entries/${entryId}/secrets`, payload: { kind: 'master_code', value: VALUE } });
    assert.equal(s.statusCode, 201, s.body);
    secretId = s.json<{ id: string }>().id;
    // The technician may reveal this entry's secrets (an approved access request), not PINs.
    await env.grantReveal('tech@example.test', entryId);
    const locks = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locks?limit=50' });
    for (const l of locks.json<{ items: { id: string }[] }>().items) {
      const pin = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/locks/${l.id}/pins`, payload: { holder: 'Guest' } });
      if (pin.statusCode === 201) {
        credentialId = pin.json<{ credential: { id: string } }>().credential.id;
        break;
      }
    }
    assert.ok(credentialId, 'a PIN to reveal');
  });
  after(() => env.close());

  const revealSecret = (s: Session) => injectAs(app, asSession(s), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'reset at the door' } });
  const revealPin = (s: Session) => injectAs(app, asSession(s), { method: 'POST', url: `/api/credentials/${credentialId}/reveal`, payload: { reason: 'tell the guest' } });

  it('10 reveals (PIN and handbook together) pass at once; the 11th is 429 with Retry-After and reveals nothing', async () => {
    let pinCode = '';
    for (let i = 0; i < 5; i++) {
      const a = await revealSecret(tech);
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(a.json<{ value: string }>().value, VALUE);
      // A technician may not reveal PINs (credential.reveal): refused by the policy before counting.
      expectError(await revealPin(tech), 403, 'auth.forbidden');
      assert.equal((await revealSecret(owner)).statusCode, 200);
      const pin = await revealPin(owner);
      assert.equal(pin.statusCode, 200);
      pinCode = pin.json<{ code: string }>().code;
    }
    for (let i = 0; i < 5; i++) assert.equal((await revealSecret(tech)).statusCode, 200);
    const refused = await revealSecret(tech);
    const err = expectError(refused, 429, 'reveal.throttled');
    assert.equal(refused.headers['retry-after'], '5');
    assert.match(err.message, /try again in 5 s \(at 2026-/);
    assert.ok(!refused.body.includes(VALUE));
    // The owner's count is their own (PINs and secrets together: 10 so far).
    const ownerRefused = await revealPin(owner);
    expectError(ownerRefused, 429, 'reveal.throttled');
    assert.ok(pinCode.length >= 4 && !ownerRefused.body.includes(pinCode));
    // Waiting as told works; the next wait doubles.
    env.clock.advance(5000);
    assert.equal((await revealSecret(tech)).statusCode, 200);
    expectError(await revealSecret(tech), 429, 'reveal.throttled');
    env.clock.advance(10_000);
    assert.equal((await revealSecret(tech)).statusCode, 200);
    // A new ten-minute window starts fresh (the technician's 5-minute step-up is over too: confirm again).
    env.clock.advance(10 * MIN);
    await stepUp(app, tech, { method: 'password', password: 'technician password 1' });
    for (let i = 0; i < 10; i++) assert.equal((await revealSecret(tech)).statusCode, 200);
  });

  it('PDF exports with secrets: 3 an hour, then 429; exports without secrets are not counted', async () => {
    const url = `/api/handbook/export.pdf?includeSecrets=true&reason=${encodeURIComponent('binder for the site')}`;
    for (let i = 0; i < 3; i++) assert.equal((await injectAs(app, asSession(tech), { method: 'GET', url })).statusCode, 200);
    const refused = await injectAs(app, asSession(tech), { method: 'GET', url });
    expectError(refused, 429, 'reveal.throttled');
    assert.equal(refused.headers['retry-after'], '60');
    assert.equal((await injectAs(app, asSession(tech), { method: 'GET', url: '/api/handbook/export.pdf' })).statusCode, 200);
  });
});

describe('sessions: absolute lifetime, sign out everywhere, ending another user, disabled users', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  before(async () => {
    env = await testApp();
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
  });
  after(() => env.close());

  const me = (s: Session | Record<string, string>) => injectAs(app, 'cookie' in s && typeof s.cookie === 'string' && 'csrf' in s ? asSession(s as Session) : (s as Record<string, string>), { method: 'GET', url: '/api/auth/me' });
  const newToken = async (s: Session) => (await injectAs(app, asSession(s), { method: 'POST', url: '/api/tokens', payload: { name: `t${Math.random()}` } })).json<{ secret: string }>().secret;

  it('a session in constant use still ends 7 days after sign-in', async () => {
    await env.createUser('busy@example.test', 'technician', 'busy busy password 1');
    const s = await signIn(app, 'busy@example.test', 'busy busy password 1');
    let elapsed = 0;
    while (elapsed + 6 * 3600_000 < SESSION_ABSOLUTE_MS) {
      env.clock.advance(6 * 3600_000);
      elapsed += 6 * 3600_000;
      assert.equal((await me(s)).statusCode, 200, `still valid after ${elapsed / 3600_000} h`);
    }
    env.clock.advance(SESSION_ABSOLUTE_MS - elapsed);
    expectError(await me(s), 401, 'auth.unauthenticated');
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
  });

  it('sign out everywhere ends every own session; with revokeApiTokens the tokens too; others are untouched', async () => {
    await env.createUser('many@example.test', 'technician', 'many many password 1');
    const a = await signIn(app, 'many@example.test', 'many many password 1');
    const b = await signIn(app, 'many@example.test', 'many many password 1');
    const token = await newToken(a);
    expectError(await injectAs(app, asSession(a, false), { method: 'POST', url: '/api/auth/sign-out-everywhere' }), 403, 'auth.csrf');
    const res = await injectAs(app, asSession(a), { method: 'POST', url: '/api/auth/sign-out-everywhere' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { sessionsEnded: 2, tokensRevoked: 0 });
    expectError(await me(a), 401, 'auth.unauthenticated');
    expectError(await me(b), 401, 'auth.unauthenticated');
    assert.equal((await me(asToken(token))).statusCode, 200, 'tokens kept unless asked');
    assert.equal((await me(owner)).statusCode, 200, "another user's session is untouched");
    const c = await signIn(app, 'many@example.test', 'many many password 1');
    const all = await injectAs(app, asSession(c), { method: 'POST', url: '/api/auth/sign-out-everywhere', payload: { revokeApiTokens: true } });
    assert.deepEqual(all.json(), { sessionsEnded: 1, tokensRevoked: 1 });
    expectError(await me(asToken(token)), 401, 'auth.token_invalid');
  });

  it('an owner ends another user\'s sessions (and tokens); others may not; unknown users are 404', async () => {
    await env.createUser('target@example.test', 'technician', 'target target password 1');
    // An auditor reads people but may not end their sessions.
    await env.createUser('admin@example.test', 'auditor', 'admin admin password 1');
    const t = await signIn(app, 'target@example.test', 'target target password 1');
    const token = await newToken(t);
    const admin = await signIn(app, 'admin@example.test', 'admin admin password 1');
    const id = t.body.user.id;
    expectError(await injectAs(app, asSession(t), { method: 'POST', url: `/api/users/${owner.body.user.id}/sessions/revoke` }), 403, 'auth.forbidden');
    expectError(await injectAs(app, asSession(admin), { method: 'POST', url: `/api/users/${id}/sessions/revoke` }), 403, 'auth.forbidden');
    expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/users/00000000-0000-4000-8000-000000000000/sessions/revoke' }), 404, 'user.not_found');
    expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/users/nope/sessions/revoke' }), 400, 'validation.failed');
    const res = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/users/${id}/sessions/revoke`, payload: { revokeApiTokens: true } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { sessionsEnded: 1, tokensRevoked: 1 });
    expectError(await me(t), 401, 'auth.unauthenticated');
    expectError(await me(asToken(token)), 401, 'auth.token_invalid');
    assert.equal((await me(owner)).statusCode, 200);
  });

  it("a disabled user's session and token stop working at the next request, and sign-in fails", async () => {
    await env.createUser('leaver@example.test', 'technician', 'leaver leaver password 1');
    const s = await signIn(app, 'leaver@example.test', 'leaver leaver password 1');
    const token = await newToken(s);
    await env.database.db.update(users).set({ disabledAt: env.clock.now() }).where(eq(users.id, s.body.user.id));
    expectError(await me(s), 401, 'auth.unauthenticated');
    expectError(await me(asToken(token)), 401, 'auth.token_invalid');
    expectError(await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: 'leaver@example.test', password: 'leaver leaver password 1' } }), 401, 'auth.invalid_credentials');
  });

  it('a new password ends the other sessions and keeps this one', async () => {
    await env.createUser('pw@example.test', 'technician', 'old old password 1');
    const a = await signIn(app, 'pw@example.test', 'old old password 1');
    const b = await signIn(app, 'pw@example.test', 'old old password 1');
    const res = await injectAs(app, asSession(a), { method: 'POST', url: '/api/auth/password', payload: { currentPassword: 'old old password 1', newPassword: 'new new password 1' } });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal((await me(a)).statusCode, 200);
    expectError(await me(b), 401, 'auth.unauthenticated');
  });
});

describe('security headers', () => {
  let env: TestEnv;
  let app: FastifyInstance;
  let plain: FastifyInstance;
  let cookie: string;
  before(async () => {
    env = await testServices();
    await env.services.auth.createUser({ kind: 'system', name: 'bootstrap' }, { email: 'h@example.test', displayName: 'H', role: 'owner', password: 'headers password 1' });
    const webDir = mkdtempSync(path.join(tmpdir(), 'lw-web-'));
    writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><html><head><script type="module" src="/assets/app.js"></script></head><body></body></html>');
    app = await createApp({ services: env.services, webDir, secureCookies: true });
    plain = await createApp({ services: env.services, webDir });
    const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: 'h@example.test', password: 'headers password 1' } });
    cookie = sessionCookieOf(res)!;
  });
  after(async () => {
    await app.close();
    await plain.close();
    await env.close();
  });

  const common = (res: LightMyRequestResponse) => {
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.match(String(res.headers['permissions-policy']), /camera=\(\).*geolocation=\(\)/);
    assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
    assert.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
  };

  it('an HTML page: the SPA policy, scripts only from this origin, no inline script', async () => {
    for (const url of ['/', '/locks/123', '/index.html']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      common(res);
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /script-src 'self'(;|$)/, url);
      assert.doesNotMatch(csp.match(/script-src[^;]*/)![0], /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /object-src 'none'/);
    }
  });

  it('an API answer: a deny-all policy and no-store', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
    assert.equal(res.statusCode, 200, res.body);
    common(res);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-security-policy']), /^default-src 'none'/);
  });

  it('errors carry them too (401, 404, 400)', async () => {
    for (const [method, url] of [
      ['GET', '/api/locks'],
      ['GET', '/api/nowhere'],
      ['POST', '/api/auth/sign-in'],
    ] as const) {
      const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: { email: 'x' } } : {}) });
      assert.ok(res.statusCode >= 400, `${url}: ${res.statusCode}`);
      common(res);
      assert.equal(res.headers['cache-control'], 'no-store', url);
      assert.match(String(res.headers['content-security-policy']), /^default-src 'none'/, url);
    }
  });

  it('the built web UI has no inline script the policy would block', { skip: !existsSync('dist/web/index.html') && 'web UI not built' }, () => {
    const html = readFileSync('dist/web/index.html', 'utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const [, attrs, body] of scripts) {
      assert.match(attrs!, /\bsrc="\/assets\//, 'every script is a file from this origin');
      assert.equal(body!.trim(), '', 'no inline script');
    }
    assert.doesNotMatch(html, /\son[a-z]+="/i, 'no inline event handlers');
  });

  it('no Strict-Transport-Security without LOCKWARDEN_SECURE_COOKIES', async () => {
    const res = await plain.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.headers['strict-transport-security'], undefined);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });
});
