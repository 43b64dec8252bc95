/**
 * Second factors and step-up over HTTP, on the test clock: enrolling an authenticator app (codes
 * computed with otplib from the secret the API shows), signing in with it, a wrong code, a replayed
 * code, throttling, recovery codes used once, the owner's policy enforced at sign-in (a session
 * limited to enrolment), and "confirm it's you" missing / expired / fresh before each guarded action.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateSync } from 'otplib';
import type { LightMyRequestResponse } from 'fastify';
import { STEP_UP_WINDOW_MS } from '../../src/domain/second-factor.js';
import { IdentityRepository } from '../../src/store/identity-repository.js';
import { asSession, asToken, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, sessionCookieOf, signIn, stepUp, testApp, type HttpEnv, type Session, type SignInBody } from '../helpers/http.js';

const ADMIN = 'admin@example.test';
const TECH = 'tech@example.test';
const PASSWORD = 'a long enough password';

describe('second factor and step-up over HTTP', () => {
  let env: HttpEnv;
  // Each sign-in from its own address: the per-address sign-in throttle is not what these tests are about.
  let n = 0;
  const addr = () => `198.51.100.${(++n % 250) + 1}`;
  const epoch = () => Math.floor(env.clock.now().getTime() / 1000);
  const totp = (secret: string, offsetSteps = 0) => generateSync({ secret, epoch: epoch() + offsetSteps * 30 });
  const post = (s: Session, url: string, payload?: unknown) => injectAs(env.app, asSession(s), { method: 'POST', url, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const get = (s: Session, url: string) => injectAs(env.app, asSession(s), { method: 'GET', url });
  const rawSignIn = async (email: string, password: string) => {
    const res = await env.app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email, password }, remoteAddress: addr() });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<SignInBody>();
    return { cookie: sessionCookieOf(res)!, csrf: body.csrfToken, body } satisfies Session;
  };
  const auditActions = async (action: string) => {
    const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr());
    const res = await get(owner, `/api/audit?action=${encodeURIComponent(action)}&limit=500`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ items: { action: string; actorLabel: string; outcome: string; details: Record<string, unknown> }[] }>().items;
  };

  let secretId: string;
  let credentialId: string;
  let techId: string;

  before(async () => {
    env = await testApp({ demo: true });
    await env.createUser(ADMIN, 'admin', PASSWORD);
    await env.createUser(TECH, 'technician', PASSWORD);
    techId = (await new IdentityRepository(env.services.ctx.db).userByEmail(TECH))!.id;
    const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr());
    const entries = await get(owner, '/api/handbook/entries?manufacturer=Vaultline%20Demo');
    const entryId = entries.json<{ items: { id: string }[] }>().items[0]!.id;
    const s = await post(owner, `/api/handbook/entries/${entryId}/secrets`, { kind: 'master_code', value: '739104' });
    assert.equal(s.statusCode, 201, s.body);
    secretId = s.json<{ id: string }>().id;
    const locks = await get(owner, '/api/locks?limit=1');
    const lock = locks.json<{ items: { id: string }[] }>().items[0]!;
    const pin = await post(owner, `/api/locks/${lock.id}/pins`, { holder: 'Step-up Canary', schedule: { kind: 'always' } });
    assert.equal(pin.statusCode, 201, pin.body);
    credentialId = pin.json<{ credential: { id: string } }>().credential.id;
  });
  after(() => env.close());

  describe('an authenticator app (TOTP)', () => {
    let session: Session;
    let secret: string;
    let recovery: string[];

    it('enrols only after a step-up, with the seed sealed at rest and recovery codes shown once', async () => {
      session = await signIn(env.app, ADMIN, PASSWORD, addr(), { stepUp: false });
      expectError(await post(session, '/api/auth/security/totp'), 403, 'auth.step_up_required');
      await stepUp(env.app, session, { method: 'password', password: PASSWORD });
      const begin = await post(session, '/api/auth/security/totp');
      assert.equal(begin.statusCode, 200, begin.body);
      const b = begin.json<{ factorId: string; secret: string; otpauthUri: string; qrSvg: string }>();
      secret = b.secret;
      assert.match(b.otpauthUri, /^otpauth:\/\/totp\/lockwarden:admin%40example\.test\?secret=[A-Z2-7]+&issuer=lockwarden$/);
      assert.match(b.qrSvg, /^<svg/);
      const stored = await env.services.ctx.db.execute<{ secret_cipher: string }>(`select secret_cipher from second_factors where id = '${b.factorId}'` as never);
      const cipher = (stored as { rows: { secret_cipher: string }[] }).rows[0]!.secret_cipher;
      assert.ok(cipher.startsWith('v1.') && !cipher.includes(secret), 'the seed is stored only sealed');

      const wrong = await post(session, `/api/auth/security/totp/${b.factorId}/confirm`, { code: totp(secret) === '000000' ? '111111' : '000000' });
      expectError(wrong, 401, 'auth.second_factor_invalid');
      const ok = await post(session, `/api/auth/security/totp/${b.factorId}/confirm`, { code: totp(secret), label: 'My phone' });
      assert.equal(ok.statusCode, 200, ok.body);
      const out = ok.json<{ factor: { kind: string; label: string }; recoveryCodes: string[] }>();
      assert.deepEqual([out.factor.kind, out.factor.label], ['totp', 'My phone']);
      recovery = out.recoveryCodes;
      assert.equal(recovery.length, 10);
      for (const c of recovery) assert.match(c, /^[a-z2-7]{5}-[a-z2-7]{5}$/);
      const codes = await env.services.ctx.db.execute(`select code_mac from recovery_codes`);
      const macs = (codes as { rows: { code_mac: string }[] }).rows.map((r) => r.code_mac);
      assert.equal(macs.length, 10);
      for (const c of recovery) assert.ok(!macs.some((m) => m.includes(c.replace('-', ''))), 'recovery codes are stored only as MACs');
      const status = await get(session, '/api/auth/security');
      assert.equal(status.json<{ recoveryCodesLeft: number }>().recoveryCodesLeft, 10);
      assert.ok(!status.body.includes(recovery[0]!), 'recovery codes are not shown again');
      const audit = await auditActions('second_factor.enrol');
      assert.deepEqual(audit.map((e) => [e.actorLabel, e.details.kind]), [[ADMIN, 'totp']]);
    });

    it('stops a password sign-in at the second factor until a code is given', async () => {
      env.clock.advance(60_000);
      const half = await rawSignIn(ADMIN, PASSWORD);
      assert.equal(half.body.stage, 'second_factor');
      assert.deepEqual(half.body.secondFactorMethods, ['totp', 'recovery']);
      assert.deepEqual(half.body.allowedActions, []);
      expectError(await get(half, '/api/locks'), 401, 'auth.second_factor_required');
      expectError(await get(half, '/api/auth/security'), 401, 'auth.second_factor_required');
      const me = await get(half, '/api/auth/me');
      assert.equal(me.json<SignInBody>().stage, 'second_factor');
      expectError(await post(half, '/api/auth/second-factor', { method: 'totp', code: '12345' }), 400, 'validation.failed');
      const wrongCode = totp(secret, 5);
      expectError(await post(half, '/api/auth/second-factor', { method: 'totp', code: wrongCode }), 401, 'auth.second_factor_invalid');
      const code = totp(secret);
      const done = await post(half, '/api/auth/second-factor', { method: 'totp', code });
      assert.equal(done.statusCode, 200, done.body);
      assert.equal(done.json<SignInBody>().stage, 'full');
      assert.ok(done.json<SignInBody>().allowedActions.includes('handbook.reveal'));
      assert.equal((await get(half, '/api/locks')).statusCode, 200);
      // The code just given counts as the session's step-up.
      const reveal = await post(half, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' });
      assert.equal(reveal.statusCode, 200, reveal.body);

      // The same code again, in another sign-in within its 30 s: refused (no replay).
      const again = await rawSignIn(ADMIN, PASSWORD);
      expectError(await post(again, '/api/auth/second-factor', { method: 'totp', code }), 401, 'auth.second_factor_invalid');
      // A code one step from now (a phone clock a little off) works, once.
      env.clock.advance(30_000);
      const drifted = totp(secret, -1);
      assert.equal((await post(again, '/api/auth/second-factor', { method: 'totp', code: drifted === code ? totp(secret) : drifted })).statusCode, 200);
      const failed = await auditActions('auth.second_factor_failed');
      assert.ok(failed.length >= 2 && failed.every((e) => e.outcome === 'failure' && e.actorLabel === ADMIN));
    });

    it('throttles wrong codes like sign-in: 5 free, then waits, and a right code still waits its turn', async () => {
      env.clock.advance(60_000);
      const s = await rawSignIn(ADMIN, PASSWORD);
      const wrong = () => post(s, '/api/auth/second-factor', { method: 'totp', code: totp(secret, 10) });
      for (let i = 0; i < 5; i++) expectError(await wrong(), 401, 'auth.second_factor_invalid');
      const limited = await post(s, '/api/auth/second-factor', { method: 'totp', code: totp(secret) });
      const err = expectError(limited, 429, 'auth.throttled');
      assert.match(err.message, /try again in/);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      const denied = await auditActions('auth.second_factor_failed');
      assert.ok(denied.some((e) => e.outcome === 'denied' && e.details.reason === 'throttled'));
      env.clock.advance(5 * 60_000);
      const ok = await post(s, '/api/auth/second-factor', { method: 'totp', code: totp(secret) });
      assert.equal(ok.statusCode, 200, ok.body);
    });

    it('takes each recovery code once, audits its use, and refuses the password as a step-up once a factor exists', async () => {
      env.clock.advance(60_000);
      const s = await rawSignIn(ADMIN, PASSWORD);
      const code = recovery[0]!;
      const ok = await post(s, '/api/auth/second-factor', { method: 'recovery', code: code.toUpperCase().replace('-', ' ') });
      assert.equal(ok.statusCode, 200, ok.body);
      const s2 = await rawSignIn(ADMIN, PASSWORD);
      expectError(await post(s2, '/api/auth/second-factor', { method: 'recovery', code }), 401, 'auth.second_factor_invalid');
      assert.equal((await post(s2, '/api/auth/second-factor', { method: 'recovery', code: recovery[1]! })).statusCode, 200);
      const status = await get(s2, '/api/auth/security');
      assert.equal(status.json<{ recoveryCodesLeft: number }>().recoveryCodesLeft, 8);
      const used = await auditActions('second_factor.recovery_code.use');
      assert.deepEqual(used.map((e) => e.details.left), [8, 9]);
      expectError(await post(s2, '/api/auth/step-up', { method: 'password', password: PASSWORD }), 400, 'validation.failed');
      env.clock.advance(STEP_UP_WINDOW_MS + 1000);
      expectError(await post(s2, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' }), 403, 'auth.step_up_required');
      assert.equal((await post(s2, '/api/auth/step-up', { method: 'totp', code: totp(secret) })).statusCode, 200);
      assert.equal((await post(s2, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' })).statusCode, 200);
    });

    it('makes new recovery codes only after a step-up; the old ones then stop working', async () => {
      env.clock.advance(60_000);
      const s = await rawSignIn(ADMIN, PASSWORD);
      assert.equal((await post(s, '/api/auth/second-factor', { method: 'totp', code: totp(secret) })).statusCode, 200);
      env.clock.advance(STEP_UP_WINDOW_MS + 1000);
      expectError(await post(s, '/api/auth/security/recovery-codes'), 403, 'auth.step_up_required');
      assert.equal((await post(s, '/api/auth/step-up', { method: 'totp', code: totp(secret) })).statusCode, 200);
      const res = await post(s, '/api/auth/security/recovery-codes');
      assert.equal(res.statusCode, 200, res.body);
      const fresh = res.json<{ recoveryCodes: string[] }>().recoveryCodes;
      assert.equal(fresh.length, 10);
      assert.ok(!fresh.includes(recovery[2]!));
      assert.equal((await get(s, '/api/auth/security')).json<{ recoveryCodesLeft: number }>().recoveryCodesLeft, 10);
      const s2 = await rawSignIn(ADMIN, PASSWORD);
      expectError(await post(s2, '/api/auth/second-factor', { method: 'recovery', code: recovery[2]! }), 401, 'auth.second_factor_invalid');
      assert.equal((await post(s2, '/api/auth/second-factor', { method: 'recovery', code: fresh[0]! })).statusCode, 200);
      const regenerated = await auditActions('second_factor.recovery_codes.regenerate');
      assert.deepEqual(regenerated.map((e) => [e.actorLabel, e.details.count]), [[ADMIN, 10]]);
    });

    it('removes a factor only after a step-up; an owner or admin can reset another person', async () => {
      env.clock.advance(10 * 60_000);
      const s = await rawSignIn(ADMIN, PASSWORD);
      assert.equal((await post(s, '/api/auth/second-factor', { method: 'totp', code: totp(secret) })).statusCode, 200);
      const factors = (await get(s, '/api/auth/security')).json<{ factors: { id: string }[] }>().factors;
      env.clock.advance(STEP_UP_WINDOW_MS + 1000);
      expectError(await injectAs(env.app, asSession(s), { method: 'DELETE', url: `/api/auth/security/factors/${factors[0]!.id}` }), 403, 'auth.step_up_required');
      // The owner resets the admin (a lost phone): step-up needed, then the admin's factors and sessions are gone.
      const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr());
      const adminId = (await new IdentityRepository(env.services.ctx.db).userByEmail(ADMIN))!.id;
      const reset = await post(owner, `/api/users/${adminId}/second-factors/reset`);
      assert.equal(reset.statusCode, 200, reset.body);
      assert.deepEqual(reset.json(), { removed: 1 });
      expectError(await get(s, '/api/locks'), 401, 'auth.unauthenticated');
      assert.equal((await rawSignIn(ADMIN, PASSWORD)).body.stage, 'full');
      assert.equal((await auditActions('second_factor.reset_user')).length, 1);
    });
  });

  describe('the owner policy', () => {
    it('is set by an owner after a step-up and sends an admin without a factor to enrolment at sign-in', async () => {
      env.clock.advance(10 * 60_000);
      const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr(), { stepUp: false });
      const put = (s: Session, body: unknown) => injectAs(env.app, asSession(s), { method: 'PUT', url: '/api/settings/second-factor-policy', payload: body as object });
      expectError(await put(owner, { requiredForRoles: ['admin'] }), 403, 'auth.step_up_required');
      await stepUp(env.app, owner, { method: 'password', password: OWNER_PASSWORD });
      expectError(await put(owner, { requiredForRoles: ['technician'] }), 400, 'validation.failed');
      const admin = await signIn(env.app, ADMIN, PASSWORD, addr());
      expectError(await put(admin, { requiredForRoles: [] }), 403, 'auth.forbidden');
      assert.equal((await put(owner, { requiredForRoles: ['admin'] })).statusCode, 200);
      const set = await auditActions('second_factor.policy.set');
      assert.deepEqual(set.map((e) => e.details.after), [['admin']]);

      // A technician is not covered; an admin without a factor is limited to enrolment.
      assert.equal((await rawSignIn(TECH, PASSWORD)).body.stage, 'full');
      const s = await rawSignIn(ADMIN, PASSWORD);
      assert.equal(s.body.stage, 'enrolment');
      expectError(await get(s, '/api/locks'), 403, 'auth.enrolment_required');
      expectError(await post(s, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' }), 403, 'auth.enrolment_required');
      const status = await get(s, '/api/auth/security');
      assert.equal(status.json<{ requiredByPolicy: boolean }>().requiredByPolicy, true);
      // Enrolment in this stage needs no separate step-up: the password was just given.
      const begin = (await post(s, '/api/auth/security/totp')).json<{ factorId: string; secret: string }>();
      const done = await post(s, `/api/auth/security/totp/${begin.factorId}/confirm`, { code: generateSync({ secret: begin.secret, epoch: epoch() }) });
      assert.equal(done.statusCode, 200, done.body);
      assert.equal((await get(s, '/api/locks')).statusCode, 200);
      // The last factor cannot go while the policy requires one.
      const factorId = done.json<{ factor: { id: string } }>().factor.id;
      expectError(await injectAs(env.app, asSession(s), { method: 'DELETE', url: `/api/auth/security/factors/${factorId}` }), 409, 'second_factor.required_by_policy');
      assert.equal((await put(owner, { requiredForRoles: [] })).statusCode, 200);
      assert.equal((await injectAs(env.app, asSession(s), { method: 'DELETE', url: `/api/auth/security/factors/${factorId}` })).statusCode, 204);
      assert.equal((await auditActions('second_factor.remove')).length, 1);
    });
  });

  describe('step-up before each guarded action', () => {
    let tokenForGrant = 0;
    /** Each guarded action, as a request that would succeed with a fresh step-up. */
    const guarded: { name: string; ok: number; request: () => Promise<{ method: string; url: string; payload?: object }> }[] = [
      { name: 'reveal a handbook secret', ok: 200, request: async () => ({ method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'checking the master code' } }) },
      { name: 'reveal a PIN', ok: 200, request: async () => ({ method: 'POST', url: `/api/credentials/${credentialId}/reveal`, payload: { reason: 'tenant locked out' } }) },
      { name: 'export a PDF with secrets', ok: 200, request: async () => ({ method: 'GET', url: '/api/handbook/export.pdf?scope=manufacturer&manufacturer=Vaultline%20Demo&includeSecrets=true&reason=binder%20for%20the%20job' }) },
      { name: 'create an API token', ok: 201, request: async () => ({ method: 'POST', url: '/api/tokens', payload: { name: `step-up ${tokenForGrant++}` } }) },
      { name: 'rotate keys', ok: 200, request: async () => ({ method: 'POST', url: '/api/keys/rotate' }) },
      { name: 'grant admin', ok: 201, request: async () => ({ method: 'POST', url: '/api/access/grants', payload: { userId: techId, role: 'admin', locationId: null, durationHours: 1 } }) },
      { name: 'invite an owner', ok: 201, request: async () => ({ method: 'POST', url: '/api/users/invite', payload: { email: `new-owner-${tokenForGrant++}@example.test`, displayName: 'New Owner', role: 'owner', locationId: null } }) },
      { name: 'change the second-factor policy', ok: 200, request: async () => ({ method: 'PUT', url: '/api/settings/second-factor-policy', payload: { requiredForRoles: [] } }) },
      { name: 'start a backup', ok: 200, request: async () => ({ method: 'POST', url: '/api/admin/backup', payload: { passphrase: 'a backup passphrase' } }) },
    ];
    const send = async (s: Session, r: { method: string; url: string; payload?: object }): Promise<LightMyRequestResponse> => injectAs(env.app, asSession(s), r);

    for (const g of guarded) {
      it(`${g.name}: refused without a step-up, refused once it is over 5 minutes old, done when fresh`, async () => {
        const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr(), { stepUp: false });
        const missing = expectError(await send(owner, await g.request()), 403, 'auth.step_up_required');
        assert.match(missing.message, /confirm it's you/);
        expectError(await post(owner, '/api/auth/step-up', { method: 'password', password: 'not the password' }), 401, 'auth.invalid_credentials');
        await stepUp(env.app, owner, { method: 'password', password: OWNER_PASSWORD });
        env.clock.advance(STEP_UP_WINDOW_MS);
        expectError(await send(owner, await g.request()), 403, 'auth.step_up_required');
        await stepUp(env.app, owner, { method: 'password', password: OWNER_PASSWORD });
        env.clock.advance(STEP_UP_WINDOW_MS - 1000);
        const fresh = await send(owner, await g.request());
        assert.equal(fresh.statusCode, g.ok, `${g.name}: ${fresh.statusCode} ${fresh.body.slice(0, 300)}`);
      });
    }

    it('is per session: a step-up in one session does not count in another', async () => {
      const a = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr());
      const b = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr(), { stepUp: false });
      assert.equal((await post(a, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' })).statusCode, 200);
      expectError(await post(b, `/api/handbook/secrets/${secretId}/reveal`, { reason: 'checking the master code' }), 403, 'auth.step_up_required');
      const steps = await auditActions('auth.step_up');
      assert.ok(steps.length >= 1 && steps.every((e) => e.details.method === 'password' || e.details.method === 'totp'));
    });

    it('API tokens: scoped and expiring; only a full one may do step-up actions, a read one only reads, none makes tokens', async () => {
      const owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD, addr());
      const make = (payload: object) => post(owner, '/api/tokens', payload);
      const tooLong = expectError(await make({ name: 'forever', expiresInDays: null }), 400, 'validation.failed');
      assert.ok(tooLong.fields?.some((f) => f.path === 'expiresInDays'));
      expectError(await make({ name: 'long full', scope: 'full', expiresInDays: 90 }), 400, 'validation.failed');
      const made = async (scope: string) => {
        const res = await make({ name: `a ${scope} token`, scope, expiresInDays: 7 });
        assert.equal(res.statusCode, 201, res.body);
        const out = res.json<{ token: { scope: string; expiresAt: string }; secret: string }>();
        assert.equal(out.token.scope, scope);
        assert.ok(out.token.expiresAt);
        return out.secret;
      };
      const read = await made('read');
      const write = await made('write');
      const full = await made('full');
      const reveal = (secret: string) => injectAs(env.app, asToken(secret), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'checking the master code' } });
      assert.equal((await injectAs(env.app, asToken(read), { method: 'GET', url: '/api/locks' })).statusCode, 200);
      expectError(await reveal(read), 403, 'auth.forbidden');
      const w = expectError(await reveal(write), 403, 'auth.step_up_required');
      assert.match(w.message, /scope "full"/);
      assert.equal((await reveal(full)).statusCode, 200);
      expectError(await injectAs(env.app, asToken(full), { method: 'POST', url: '/api/tokens', payload: { name: 'child' } }), 403, 'auth.forbidden');
      expectError(await injectAs(env.app, asToken(full), { method: 'POST', url: '/api/auth/step-up', payload: { method: 'password', password: OWNER_PASSWORD } }), 403, 'auth.forbidden');
    });
  });

  it('needs a signed-in session for every new route (401 without one)', async () => {
    for (const [method, url] of [['GET', '/api/auth/security'], ['POST', '/api/auth/step-up'], ['POST', '/api/auth/second-factor'], ['PUT', '/api/settings/second-factor-policy']] as const) {
      expectError(await env.app.inject({ method, url, payload: {} }), 401, 'auth.unauthenticated');
    }
  });

  it('documents the new routes and the step-up error in the OpenAPI document', async () => {
    const doc = (await env.app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, { description?: string }>> }>();
    for (const p of ['/api/auth/step-up', '/api/auth/second-factor', '/api/auth/security/totp', '/api/auth/security/passkey', '/api/settings/second-factor-policy']) assert.ok(doc.paths[p], p);
    assert.match(doc.paths['/api/auth/step-up']!.post!.description!, /auth\.step_up_required/);
  });
});
