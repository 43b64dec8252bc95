/**
 * Single sign-on over HTTP against a real OpenID provider (oidc-provider in-process on 127.0.0.1):
 * the owner's settings (owner only, step-up, the client secret never shown, logged or exported),
 * the authorization code flow with PKCE, a forged state, a replayed code, an injected nonce, linking
 * by verified email only, self-sign-up off and on (default role, group mapping), the second-factor
 * policy after an IdP sign-in, and password sign-in refused for SSO users when the owner says so.
 * The person's part at the provider is its own login and consent forms, filled over HTTP.
 */
import assert from 'node:assert/strict';
import { outboundPolicy } from '../../src/net/outbound.js';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Role } from '../../src/domain/identity.js';
import { SSO_MESSAGES, ssoMessage, amrShowsMfa } from '../../src/domain/oidc.js';
import { createApp, LOG_REDACT } from '../../src/server/app.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { asSession, expectError, injectAs, sessionCookieOf, signIn, type Session } from '../helpers/http.js';
import { CookieJar, loginAtProvider, startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';

const PUBLIC_URL = 'http://lockwarden.test';
const REDIRECT = `${PUBLIC_URL}/api/auth/sso/callback`;
const OWNER = 'owner@example.test';
const OWNER_PASSWORD = 'correct horse battery staple';
const TECH = 'tech@example.test';
const MANAGER = 'manager@example.test';
const ADMIN = 'admin@example.test';
const PASSWORD = 'a long enough password';

describe('single sign-on with OpenID Connect over HTTP', () => {
  let env: TestEnv;
  let app: FastifyInstance;
  let idp: TestProvider;
  const logLines: string[] = [];
  let n = 0;
  const addr = () => `198.51.100.${(++n % 250) + 1}`;
  let owner: Session;
  let siteId: string;
  let unitId: string;

  const createUser = (email: string, role: Role, password?: string, locationId: string | null = null) =>
    env.services.auth.createUser({ kind: 'system', name: 'bootstrap' }, { email, displayName: email.split('@')[0], role, locationId, ...(password ? { password } : {}) });
  const baseSettings = () => ({
    enabled: true,
    providerName: 'Example Login',
    issuerUrl: idp.issuer,
    clientId: idp.clientId,
    selfSignUp: { enabled: false, role: 'technician', locationId: null },
    groupClaim: null,
    groupRoles: [] as unknown[],
    passwordSignInOffForSsoUsers: false,
    idpProvidesMfa: false,
  });
  const put = (s: Session, body: unknown) => injectAs(app, asSession(s), { method: 'PUT', url: '/api/settings/sso', payload: body as object });
  const saveSettings = async (patch: Record<string, unknown>) => {
    const res = await put(owner, { ...baseSettings(), ...patch });
    assert.equal(res.statusCode, 200, res.body);
    return res;
  };
  const setCookie = (res: LightMyRequestResponse, name: string) => res.cookies.find((c) => c.name === name);

  /** Starts a sign-in at lockwarden: the IdP URL and the attempt cookie. */
  const start = async () => {
    const res = await app.inject({ method: 'GET', url: '/api/auth/sso/start', remoteAddress: addr() });
    assert.equal(res.statusCode, 303, res.body);
    const attempt = setCookie(res, 'lw_sso');
    assert.ok(attempt, 'the attempt cookie is set');
    assert.equal(attempt.sameSite, 'Lax');
    assert.equal(attempt.httpOnly, true);
    return { idpUrl: res.headers.location as string, attempt: attempt.value };
  };
  /** Brings the browser back to the callback with the attempt cookie: where it is sent, and the session cookie if any. */
  const callback = async (callbackUrl: string, attempt: string | undefined) => {
    assert.ok(callbackUrl.startsWith(REDIRECT), `the IdP sends back to the registered redirect URL: ${callbackUrl}`);
    const u = new URL(callbackUrl);
    const res = await app.inject({ method: 'GET', url: `${u.pathname}${u.search}`, remoteAddress: addr(), ...(attempt ? { cookies: { lw_sso: attempt } } : {}) });
    assert.equal(res.statusCode, 303, res.body);
    const cookie = sessionCookieOf(res);
    return { location: res.headers.location as string, cookie, res };
  };
  /** A whole sign-in as `login` at the IdP. */
  const ssoSignIn = async (login: string) => {
    const { idpUrl, attempt } = await start();
    return { ...(await callback(await loginAtProvider(idpUrl, login), attempt)), attempt };
  };
  const me = async (cookie: string) => {
    const res = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ user: { email: string; hasPassword: boolean; roles: { role: string; locationId: string | null }[] }; stage: string; csrfToken: string }>();
  };
  const audit = async (action: string) => {
    const res = await injectAs(app, asSession(owner), { method: 'GET', url: `/api/audit?action=${encodeURIComponent(action)}&limit=500` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ items: { action: string; actorLabel: string; outcome: string; targetLabel: string | null; details: Record<string, unknown> }[] }>().items;
  };
  const userCount = async () => (await env.services.auth.listUsers({ kind: 'system', name: 'bootstrap' })).length;

  before(async () => {
    process.env.LOCKWARDEN_PUBLIC_URL = PUBLIC_URL;
    idp = await startTestProvider([REDIRECT]);
    env = await testServices();
    await loadDemoFleet(env.services.ctx);
    await createUser(OWNER, 'owner', OWNER_PASSWORD);
    await createUser(TECH, 'technician', PASSWORD);
    await createUser(MANAGER, 'manager', PASSWORD);
    await createUser(ADMIN, 'admin', PASSWORD);
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    app = await createApp({ services: env.services, logger: { level: 'trace', redact: { paths: LOG_REDACT, censor: '[redacted]' }, stream }, fleet: env.fleet });
    await app.ready();
    owner = await signIn(app, OWNER, OWNER_PASSWORD, addr());
    const locs = (await injectAs(app, asSession(owner), { method: 'GET', url: '/api/locations' })).json<{ items: { id: string; kind: string }[] }>().items;
    siteId = locs.find((l) => l.kind === 'site')!.id;
    unitId = locs.find((l) => l.kind === 'unit')!.id;
    idp.accounts.set('tess', { email: TECH, email_verified: true, name: 'Tess Tech' });
  });
  after(async () => {
    await app?.close();
    await env?.close();
    await idp?.close();
  });

  it('has no sign-in button until the owner sets SSO up, and says so in a sentence', async () => {
    const info = await app.inject({ method: 'GET', url: '/api/auth/sso' });
    assert.deepEqual(info.json(), { enabled: false, providerName: null });
    const res = await app.inject({ method: 'GET', url: '/api/auth/sso/start' });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/signin?sso=not_configured');
    assert.match(ssoMessage('not_configured')!, /not set up/);
  });

  it('lets only an organisation-wide owner change the settings, after confirming it is them; bad input names the field', async () => {
    const manager = await signIn(app, MANAGER, PASSWORD, addr());
    expectError(await put(manager, baseSettings()), 403, 'auth.forbidden');
    expectError(await injectAs(app, asSession(manager), { method: 'GET', url: '/api/settings/sso' }), 403, 'auth.forbidden');
    const admin = await signIn(app, ADMIN, PASSWORD, addr());
    expectError(await put(admin, { ...baseSettings(), clientSecret: idp.clientSecret }), 403, 'auth.forbidden');
    const notConfirmed = await signIn(app, OWNER, OWNER_PASSWORD, addr(), { stepUp: false });
    const e = expectError(await put(notConfirmed, { ...baseSettings(), clientSecret: idp.clientSecret }), 403, 'auth.step_up_required');
    assert.match(e.message, /confirm it's you before changing single sign-on/);
    const anonymous = await app.inject({ method: 'PUT', url: '/api/settings/sso', payload: baseSettings() });
    assert.equal(anonymous.statusCode, 401);

    const bad = expectError(await put(owner, { ...baseSettings(), issuerUrl: 'ftp://login.example.test', clientSecret: 'x' }), 400, 'validation.failed');
    assert.deepEqual(bad.fields?.map((f) => f.path), ['issuerUrl']);
    const noSecret = expectError(await put(owner, baseSettings()), 400, 'validation.failed');
    assert.deepEqual(noSecret.fields?.map((f) => f.path), ['clientSecret']);
    const ownerRole = expectError(await put(owner, { ...baseSettings(), clientSecret: 'x', selfSignUp: { enabled: true, role: 'owner', locationId: null } }), 400, 'validation.failed');
    assert.deepEqual(ownerRole.fields?.map((f) => f.path), ['selfSignUp.role']);
    const occupantNoUnit = expectError(await put(owner, { ...baseSettings(), clientSecret: 'x', selfSignUp: { enabled: true, role: 'occupant', locationId: siteId } }), 400, 'validation.failed');
    assert.deepEqual(occupantNoUnit.fields?.map((f) => f.path), ['selfSignUp.locationId']);
    // Nothing answers at this issuer: refused, and nothing fetched is echoed.
    const nowhere = expectError(await put(owner, { ...baseSettings(), issuerUrl: 'http://127.0.0.1:9/', clientSecret: 'x' }), 400, 'validation.failed');
    assert.deepEqual(nowhere.fields?.map((f) => f.path), ['issuerUrl']);
    assert.equal((await injectAs(app, asSession(owner), { method: 'GET', url: '/api/settings/sso' })).json<{ settings: unknown }>().settings, null, 'nothing was saved');
    // Under the default outbound policy (no private network allowed for sso), the test's provider on
    // this machine is refused before anything is fetched, in the policy's own words.
    const allowed = env.services.ctx.outbound;
    env.services.ctx.outbound = outboundPolicy();
    try {
      const local = expectError(await put(owner, { ...baseSettings(), clientSecret: idp.clientSecret }), 400, 'validation.failed');
      assert.deepEqual(local.fields?.map((f) => f.path), ['issuerUrl']);
      assert.match(local.fields[0]!.message, /127\.0\.0\.1 is this machine \(loopback\).*single sign-on provider.*LOCKWARDEN_ALLOW_PRIVATE_TARGETS/);
    } finally {
      env.services.ctx.outbound = allowed;
    }
    assert.equal((await injectAs(app, asSession(owner), { method: 'GET', url: '/api/settings/sso' })).json<{ settings: unknown }>().settings, null, 'nothing was saved');
  });

  it('keeps the client secret sealed: never in a GET, the audit log, an export or the logs', async () => {
    const saved = await saveSettings({ clientSecret: idp.clientSecret });
    assert.equal(saved.json<{ hasClientSecret: boolean }>().hasClientSecret, true);
    assert.equal(saved.json<{ redirectUrl: string }>().redirectUrl, REDIRECT);
    const got = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/settings/sso' });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json<{ settings: { hasClientSecret: boolean; issuerUrl: string } }>().settings.issuerUrl, idp.issuer);
    // Saving again without the secret keeps it.
    await saveSettings({ providerName: 'Example Login' });
    const info = await app.inject({ method: 'GET', url: '/api/auth/sso' });
    assert.deepEqual(info.json(), { enabled: true, providerName: 'Example Login' });
    const stored = await env.services.ctx.db.execute<{ value: unknown }>(`select value from instance_meta where key = 'sso_settings'`);
    const exported = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/audit/export?format=jsonl' });
    const entries = await audit('sso.settings.set');
    assert.ok(entries.length >= 2 && entries.every((e) => e.outcome === 'success'));
    for (const [what, text] of [
      ['GET answer', got.body],
      ['PUT answer', saved.body],
      ['stored settings', JSON.stringify(stored)],
      ['audit entries', JSON.stringify(entries)],
      ['audit export', exported.body],
      ['log', logLines.join('')],
    ] as const) {
      assert.ok(!text.includes(idp.clientSecret), `the client secret is in the ${what}`);
    }
    assert.match(JSON.stringify(stored), /clientSecretSealed":"v1\./, 'stored sealed');
  });

  it('signs a person in through the provider (code + PKCE S256, state, nonce), linking by verified email, then by subject', async () => {
    const { idpUrl } = await start();
    const q = new URL(idpUrl).searchParams;
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.ok(q.get('code_challenge') && q.get('state') && q.get('nonce'));
    assert.equal(q.get('redirect_uri'), REDIRECT);

    const first = await ssoSignIn('tess');
    assert.equal(first.location, '/locks');
    assert.ok(first.cookie, 'a session cookie is set');
    assert.equal(setCookie(first.res, 'lw_sso')?.value, '', 'the attempt cookie is cleared');
    const who = await me(first.cookie);
    assert.equal(who.user.email, TECH);
    assert.equal(who.stage, 'full');
    // The session works like a password session: a CSRF-protected change goes through.
    const out = await app.inject({ method: 'POST', url: '/api/auth/sign-out', headers: { cookie: first.cookie, 'x-csrf-token': who.csrfToken } });
    assert.equal(out.statusCode, 204);

    const links = await audit('auth.sso.link');
    assert.equal(links.filter((l) => l.targetLabel === TECH).length, 1);
    assert.equal(links[0]!.details.by, 'verified_email');
    const again = await ssoSignIn('tess');
    assert.equal((await me(again.cookie!)).user.email, TECH);
    assert.equal((await audit('auth.sso.link')).filter((l) => l.targetLabel === TECH).length, 1, 'linked once');
    const signIns = (await audit('auth.sso.sign_in')).filter((e) => e.outcome === 'success' && e.actorLabel === TECH);
    assert.deepEqual(signIns.map((e) => e.details.match), ['linked', 'linked_now'], 'newest first: matched by subject the second time');
  });

  it('refuses an answer whose state belongs to no attempt of this browser', async () => {
    const { idpUrl, attempt } = await start();
    const back = new URL(await loginAtProvider(idpUrl, 'tess'));
    back.searchParams.set('state', 'forged-state-value');
    const r = await callback(back.toString(), attempt);
    assert.equal(r.location, '/signin?sso=state_mismatch');
    assert.equal(r.cookie, undefined, 'no session');
    // The same answer without the attempt cookie (another browser) is refused too.
    const { idpUrl: u2 } = await start();
    const r2 = await callback(await loginAtProvider(u2, 'tess'), undefined);
    assert.equal(r2.location, '/signin?sso=expired');
    assert.equal(r2.cookie, undefined);
    const denied = (await audit('auth.sso.sign_in')).filter((e) => e.outcome === 'denied').map((e) => e.details.reason);
    assert.ok(denied.includes('state_mismatch') && denied.includes('expired'), JSON.stringify(denied));
  });

  it('refuses a replayed authorization code', async () => {
    const { idpUrl, attempt } = await start();
    const back = await loginAtProvider(idpUrl, 'tess');
    const once = await callback(back, attempt);
    assert.ok(once.cookie);
    const twice = await callback(back, attempt);
    assert.equal(twice.location, '/signin?sso=not_verified');
    assert.equal(twice.cookie, undefined, 'no second session from one code');
    const last = (await audit('auth.sso.sign_in'))[0]!;
    assert.equal(last.outcome, 'denied');
    assert.equal(last.details.reason, 'not_verified');
  });

  it('refuses an ID token whose nonce is not the one this attempt sent', async () => {
    const { idpUrl, attempt } = await start();
    const tampered = new URL(idpUrl);
    tampered.searchParams.set('nonce', 'a-nonce-the-attacker-chose');
    const r = await callback(await loginAtProvider(tampered.toString(), 'tess'), attempt);
    assert.equal(r.location, '/signin?sso=not_verified');
    assert.equal(r.cookie, undefined);
  });

  it('sends the PKCE verifier with the code: the same answer with another verifier is refused by the provider', async () => {
    const { idpUrl, attempt } = await start();
    const back = await loginAtProvider(idpUrl, 'tess');
    // Only the test can do this (the attempt is sealed with the deployment's key): same state and
    // nonce, another verifier, as if the code had been stolen and brought back with a guessed one.
    const secrets = env.services.ctx.secrets;
    const opened = JSON.parse(secrets.decrypt(attempt, 'sso:attempt')) as Record<string, unknown>;
    const forged = secrets.encrypt(JSON.stringify({ ...opened, verifier: 'x'.repeat(64) }), 'sso:attempt');
    const r = await callback(back, forged);
    assert.equal(r.location, '/signin?sso=not_verified');
    assert.equal(r.cookie, undefined);
    const last = (await audit('auth.sso.sign_in'))[0]!;
    assert.equal(last.details.providerError, 'invalid_grant');
    // The provider refused the exchange before spending the code: whoever holds the real verifier still gets in.
    const genuine = await callback(back, attempt);
    assert.equal(genuine.location, '/locks');
    assert.ok(genuine.cookie);
  });

  it('refuses the answer to one attempt brought back with another attempt of the same browser', async () => {
    const a = await start();
    const b = await start();
    const r = await callback(await loginAtProvider(a.idpUrl, 'tess'), b.attempt);
    assert.equal(r.location, '/signin?sso=state_mismatch');
  });

  it('never links an unverified email, and says so in a sentence', async () => {
    idp.accounts.set('mallory', { email: MANAGER, email_verified: false });
    const before = await userCount();
    const r = await ssoSignIn('mallory');
    assert.equal(r.location, '/signin?sso=unverified_email');
    assert.equal(r.cookie, undefined);
    assert.equal(await userCount(), before);
    assert.equal((await audit('auth.sso.link')).filter((l) => l.targetLabel === MANAGER).length, 0);
    assert.match(SSO_MESSAGES.unverified_email, /has not verified your email address/);
    // The manager can still sign in with a password; nothing was linked.
    await signIn(app, MANAGER, PASSWORD, addr(), { stepUp: false });
  });

  it('makes no account when self-sign-up is off', async () => {
    idp.accounts.set('nora', { email: 'nora@example.test', email_verified: true });
    const before = await userCount();
    const r = await ssoSignIn('nora');
    assert.equal(r.location, '/signin?sso=no_account');
    assert.equal(await userCount(), before);
    const last = (await audit('auth.sso.sign_in'))[0]!;
    assert.equal(last.actorLabel, 'nora@example.test');
    assert.equal(last.details.reason, 'no_account');
  });

  it('with self-sign-up on, makes the account with the default role and place, or the mapped group role', async () => {
    await saveSettings({ selfSignUp: { enabled: true, role: 'technician', locationId: siteId }, groupClaim: 'groups', groupRoles: [{ group: 'facilities', role: 'manager', locationId: siteId }, { group: 'residents', role: 'occupant', locationId: unitId }] });
    idp.accounts.set('nora', { email: 'nora@example.test', email_verified: true, name: 'Nora New' });
    const r = await ssoSignIn('nora');
    assert.equal(r.location, '/locks');
    const nora = await me(r.cookie!);
    assert.equal(nora.user.email, 'nora@example.test');
    assert.equal(nora.user.hasPassword, false);
    assert.deepEqual(nora.user.roles.map((x) => [x.role, x.locationId]), [['technician', siteId]]);
    // With no password and no second factor, the provider sign-in itself is the fresh confirmation:
    // she can enrol an authenticator app now (a step-up act), and could not otherwise ever confirm.
    const enrol = await app.inject({ method: 'POST', url: '/api/auth/security/totp', headers: { cookie: r.cookie!, 'x-csrf-token': nora.csrfToken } });
    assert.equal(enrol.statusCode, 200, enrol.body);
    const byPassword = await app.inject({ method: 'POST', url: '/api/auth/step-up', headers: { cookie: r.cookie!, 'x-csrf-token': nora.csrfToken }, payload: { method: 'password', password: 'anything at all' } });
    assert.equal(byPassword.statusCode, 400, byPassword.body);
    assert.match(byPassword.json<{ error: { message: string } }>().error.message, /no password: it signs in through single sign-on. Sign in again with your provider/);

    idp.accounts.set('fay', { email: 'fay@example.test', email_verified: true, groups: ['staff', 'facilities'] });
    const fay = await me((await ssoSignIn('fay')).cookie!);
    assert.deepEqual(fay.user.roles.map((x) => [x.role, x.locationId]), [['manager', siteId]]);
    const created = (await audit('user.create')).filter((e) => e.details.via === 'sso_self_sign_up');
    assert.deepEqual(created.map((e) => [e.targetLabel, e.details.role, e.details.group]), [
      ['fay@example.test', 'manager', 'facilities'],
      ['nora@example.test', 'technician', null],
    ]);
    await saveSettings({ selfSignUp: { enabled: false, role: 'technician', locationId: null } });
  });

  it('an IdP sign-in is the first factor: the second-factor policy still applies to it', async () => {
    const policy = await injectAs(app, asSession(owner), { method: 'PUT', url: '/api/settings/second-factor-policy', payload: { requiredForRoles: ['admin'] } });
    assert.equal(policy.statusCode, 200, policy.body);
    idp.accounts.set('ada', { email: ADMIN, email_verified: true });
    const r = await ssoSignIn('ada');
    assert.equal((await me(r.cookie!)).stage, 'enrolment', 'an admin without a second factor must enrol one first');
    const blocked = await app.inject({ method: 'GET', url: '/api/locks', headers: { cookie: r.cookie! } });
    expectError(blocked, 403, 'auth.enrolment_required');
    // Marking the IdP as enforcing MFA does not help without an amr claim saying so.
    await saveSettings({ idpProvidesMfa: true });
    assert.equal((await me((await ssoSignIn('ada')).cookie!)).stage, 'enrolment');
    await saveSettings({ idpProvidesMfa: false });
    assert.equal(amrShowsMfa(['pwd', 'otp']), true);
    assert.equal(amrShowsMfa(['mfa']), true);
    assert.equal(amrShowsMfa(['pwd']), false);
    assert.equal(amrShowsMfa('mfa'), false);
  });

  it('refuses password sign-in for an account linked to the provider when the owner turns that on', async () => {
    await saveSettings({ passwordSignInOffForSsoUsers: true });
    const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: TECH, password: PASSWORD }, remoteAddress: addr() });
    const e = expectError(res, 403, 'auth.password_sign_in_off');
    assert.match(e.message, /signs in with Example Login: password sign-in is turned off for it/);
    assert.equal(sessionCookieOf(res), undefined);
    // A wrong password still reads as a wrong password (the setting tells nothing without it).
    expectError(await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: TECH, password: 'not the password at all' }, remoteAddress: addr() }), 401, 'auth.invalid_credentials');
    // Someone not linked is unaffected; and the linked person still gets in through the provider.
    await signIn(app, MANAGER, PASSWORD, addr(), { stepUp: false });
    assert.ok((await ssoSignIn('tess')).cookie);
    await saveSettings({ passwordSignInOffForSsoUsers: false });
    await signIn(app, TECH, PASSWORD, addr(), { stepUp: false });
    const refusals = (await audit('auth.sign_in_failed')).filter((x) => x.details.reason === 'password_off_for_sso');
    assert.equal(refusals.length, 1);
  });

  it('turned off, the button goes and a started sign-in cannot finish', async () => {
    const { idpUrl, attempt } = await start();
    const back = await loginAtProvider(idpUrl, 'tess', new CookieJar());
    await saveSettings({ enabled: false });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/auth/sso' })).json(), { enabled: false, providerName: null });
    const r = await callback(back, attempt);
    assert.equal(r.location, '/signin?sso=not_configured');
    assert.equal(r.cookie, undefined);
    await saveSettings({ enabled: true });
    assert.ok(!logLines.join('').includes(idp.clientSecret), 'the client secret never reached the log');
  });
});
