import { randomUUID } from 'node:crypto';
import { AccessRepository } from '../../src/store/access-repository.js';
import { IdentityRepository } from '../../src/store/identity-repository.js';
/**
 * An app over a fresh test database, driven through Fastify's `inject` (no sockets), with an owner
 * account that has a password, and helpers to sign in and send authenticated requests.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Actor, Role } from '../../src/domain/identity.js';
import { createApp } from '../../src/server/app.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import type { Engine } from '../../src/store/database.js';
import { testServices, type TestEnv, type TestServicesOptions } from './db.js';

export const BOOTSTRAP: Actor = { kind: 'system', name: 'bootstrap' };
export const OWNER_EMAIL = 'owner@example.test';
export const OWNER_PASSWORD = 'correct horse battery staple';

export interface HttpEnv extends TestEnv {
  app: FastifyInstance;
  /** Creates a user with a password (a system actor does it, as the CLI would). */
  createUser(email: string, role: Role, password?: string, locationId?: string | null): Promise<void>;
  /** Gives a user the right to reveal one entry's secrets for a few hours, as an approved request would. */
  grantReveal(email: string, entryId: string): Promise<void>;
  /** Closes the app, then the database. */
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Load the demo fleet (2 sites, 9 models, 40 locks). */
  demo?: boolean;
  /** Create the owner account with a password (default true); false leaves the instance empty. */
  owner?: boolean;
  /** Runs on the app before it is ready, e.g. to add a route. */
  configure?: (app: FastifyInstance) => void;
  /** Passed to `testServices` (e.g. `runtime.outbound`, or a simulator fleet on the test's clock). */
  services?: TestServicesOptions;
  /** The database engine (default PGlite). */
  engine?: Engine;
}

/** A logger-less app over a fresh database, with the owner account `OWNER_EMAIL` / `OWNER_PASSWORD`. */
export async function testApp(opts: TestAppOptions = {}): Promise<HttpEnv> {
  const env = await testServices(opts.engine ?? 'pglite', opts.services);
  // Closing twice is harmless, so a test may close the database under the app on purpose.
  const database = env.database;
  const closeDb = () => database.close();
  let dbClosed: Promise<void> | null = null;
  env.database = { ...database, close: () => (dbClosed ??= closeDb()) };
  try {
    if (opts.demo) await loadDemoFleet(env.services.ctx);
    const createUser = async (email: string, role: Role, password?: string, locationId: string | null = null) => {
      await env.services.auth.createUser(BOOTSTRAP, { email, displayName: email.split('@')[0], role, locationId, ...(password ? { password } : {}) });
    };
    if (opts.owner !== false) await createUser(OWNER_EMAIL, 'owner', OWNER_PASSWORD);
    const app = await createApp({ services: env.services, logger: false, fleet: env.fleet });
    opts.configure?.(app);
    await app.ready();
    return {
      ...env,
      app,
      createUser,
      grantReveal: async (email, entryId) => {
        const user = await new IdentityRepository(env.services.ctx.db).userByEmail(email);
        const now = env.services.ctx.clock.now();
        await new AccessRepository(env.services.ctx.db).insertGrant({ id: randomUUID(), userId: user!.id, kind: 'reveal', entryId, grantedBy: 'system:test', grantedAt: now, expiresAt: new Date(now.getTime() + 8 * 3600_000) });
      },
      close: async () => {
        try {
          await app.close();
        } finally {
          await env.database.close();
        }
      },
    };
  } catch (e) {
    await env.database.close();
    throw e;
  }
}

/** A signed-in browser session: the cookie header value (`lw_session=...`) and the CSRF token. */
export interface Session {
  cookie: string;
  csrf: string;
  body: SignInBody;
}

export interface SignInBody {
  user: { id: string; email: string; roles: { role: string; locationId: string | null; locationName: string | null }[]; hasPassword: boolean };
  csrfToken: string;
  allowedActions: string[];
  mustSetPassword?: boolean;
  stage?: 'full' | 'second_factor' | 'enrolment';
  secondFactorMethods?: string[];
}

/** The `lw_session=...` pair from a response's set-cookie header, or undefined. */
export function sessionCookieOf(res: LightMyRequestResponse): string | undefined {
  const raw = res.headers['set-cookie'];
  const all = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const line = all.find((c) => c.startsWith('lw_session='));
  return line?.split(';')[0];
}

/**
 * Signs in through POST /api/auth/sign-in and fails the test unless that works. Unless `stepUp` is
 * false, the session then confirms it is the user with the password (POST /api/auth/step-up), so
 * step-up actions (reveals, token creation, key rotation ...) work for the next 5 minutes of the
 * test clock, as they do for a person who just confirmed.
 */
export async function signIn(app: FastifyInstance, email: string, password: string, remoteAddress?: string, opts: { stepUp?: boolean } = {}): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email, password }, ...(remoteAddress ? { remoteAddress } : {}) });
  assert.equal(res.statusCode, 200, `sign-in as ${email} failed: ${res.body}`);
  const cookie = sessionCookieOf(res);
  assert.ok(cookie, 'sign-in sets the session cookie');
  const body = res.json<SignInBody>();
  const session = { cookie, csrf: body.csrfToken, body };
  if (opts.stepUp !== false && (body.stage ?? 'full') === 'full') await stepUp(app, session, { method: 'password', password });
  return session;
}

/** Confirms "it's you" in `session` (POST /api/auth/step-up) and fails the test unless that works. */
export async function stepUp(app: FastifyInstance, session: Session, proof: Record<string, unknown>): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/step-up', headers: asSession(session), payload: proof });
  assert.equal(res.statusCode, 200, `step-up failed: ${res.body}`);
}

/** Headers for a request in `session`: the cookie, plus the CSRF header unless `csrf` is false. */
export function asSession(session: Session, csrf = true): Record<string, string> {
  return { cookie: session.cookie, ...(csrf ? { 'x-csrf-token': session.csrf } : {}) };
}

/** Headers for a request with an API token. */
export function asToken(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
}

/** The error body every failure carries. */
export interface ErrorBody {
  error: { code: string; message: string; fields?: { path: string; message: string }[]; requestId?: string };
}

/** Asserts `res` failed with `status` and `code`, and returns its error. */
export function expectError(res: LightMyRequestResponse, status: number, code: string): ErrorBody['error'] {
  assert.equal(res.statusCode, status, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`);
  const body = res.json<ErrorBody>();
  assert.equal(body.error.code, code, `expected ${code}: ${res.body}`);
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

/** The paths of an error's field errors. */
export function fieldPaths(err: ErrorBody['error']): string[] {
  return (err.fields ?? []).map((f) => f.path);
}

/** `app.inject` with the session's headers merged in. */
export function injectAs(app: FastifyInstance, headers: Record<string, string>, opts: InjectOptions): Promise<LightMyRequestResponse> {
  return app.inject({ ...opts, headers: { ...headers, ...(opts.headers as Record<string, string> | undefined) } });
}
