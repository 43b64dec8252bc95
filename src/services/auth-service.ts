import { AppError } from '../domain/errors.js';
import {
  allowedActions,
  organisationActions,
  ApiTokenCreateSchema,
  LocalApiTokenCreateSchema,
  scopeOf,
  OneTimeSignInSchema,
  SetPasswordSchema,
  SignInSchema,
  UserCreateSchema,
  type Action,
  type Actor,
  type ActorGrant,
  type ApiToken,
  type User,
} from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { dummyHash, hashPassword, verifyPassword } from '../crypto/passwords.js';
import { hashToken } from '../crypto/tokens.js';
import { inTransaction, type Db } from '../store/database.js';
import { IdentityRepository, type ApiTokenRow, type LiveGrant, type UserRow } from '../store/identity-repository.js';
import { AccessRepository } from '../store/access-repository.js';
import { LocationRepository } from '../store/location-repository.js';
import { rolePlaceProblem } from '../domain/access.js';
import { actorId, authorize, type ServiceContext } from './context.js';
import { endAccess, endSessions } from './session-control.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { SecondFactorService } from './second-factor-service.js';
import { requireStepUp, type SessionStage, type TokenScope } from '../domain/second-factor.js';
import { ssoPasswordRefusal } from './sso-settings.js';

const SESSION_IDLE_MS = 12 * 3600_000;
/** A session ends 7 days after sign-in however active it is (OWASP ASVS 5.0 V7.3.2). */
export const SESSION_ABSOLUTE_MS = 7 * 24 * 3600_000;
const SESSION_TOUCH_MS = 5 * 60_000;
const ONE_TIME_TTL_MS = 24 * 3600_000;
/** Token secrets start with this so leaked ones are recognisable (and scannable). */
export const API_TOKEN_PREFIX = 'lwt_';

export interface SignedIn {
  user: User;
  sessionToken: string;
  csrfToken: string;
  allowedActions: Action[];
  organisationActions: Action[];
  /** A fresh device cookie for this browser (src/services/sign-in-throttle.ts). */
  deviceCookie: string;
  /** `full`, or limited to giving the second factor or enrolling one (src/domain/second-factor.ts). */
  stage: SessionStage;
}

/** A session resolved from its cookie. */
export interface SessionPrincipal {
  actor: Actor;
  csrfToken: string;
  user: User;
  stage: SessionStage;
  /** The stored hash of the cookie: the session's identity for the services. */
  tokenHash: string;
}

function presentUser(u: UserRow, roles: User['roles']): User {
  return { id: u.id, email: u.email, displayName: u.displayName, roles, hasPassword: u.passwordHash !== null, createdAt: u.createdAt };
}

function presentToken(t: ApiTokenRow): ApiToken {
  return { id: t.id, name: t.name, prefix: t.prefix, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt, scope: t.scope };
}


/** Accounts, sign-in, sessions and API tokens. */
export class AuthService {
  constructor(private readonly ctx: ServiceContext) {}

  private get repo() {
    return new IdentityRepository(this.ctx.db);
  }

  private get signInThrottle() {
    return new SignInThrottle(this.ctx);
  }

  /**
   * The actor for a signed-in user: their grants live now, read on every request, so an expired or
   * revoked grant stops working at once.
   */
  private async userActor(u: UserRow, via: 'session' | 'token'): Promise<{ actor: Actor; user: User }> {
    const grants = await new AccessRepository(this.ctx.db).liveGrantsOf(u.id, this.ctx.clock.now());
    const user = await this.present(u);
    return { actor: { kind: 'user', userId: u.id, email: u.email, via, grants }, user };
  }

  /** The same actor from grants already read with the credential (one statement per request). */
  private actorFrom(u: UserRow, live: LiveGrant[], via: 'session' | 'token', assurance: NonNullable<Extract<Actor, { kind: 'user' }>['assurance']>): { actor: Actor; user: User } {
    const grants = live.map((g): ActorGrant =>
      g.kind === 'reveal'
        ? { kind: 'reveal', id: g.id, entryId: g.entryId!, expiresAt: g.expiresAt }
        : { kind: 'role', id: g.id, role: g.role!, locationId: g.locationId, locationPath: g.locationPath, expiresAt: g.expiresAt },
    );
    const roles = live.filter((g) => g.kind === 'role').map((g) => ({ role: g.role!, locationId: g.locationId, locationName: g.locationName }));
    return { actor: { kind: 'user', userId: u.id, email: u.email, via, grants, assurance }, user: presentUser(u, roles) };
  }

  private async present(u: UserRow, db: Db = this.ctx.db): Promise<User> {
    const roles = (await new AccessRepository(db).liveRolesOf([u.id], this.ctx.clock.now())).get(u.id) ?? [];
    return presentUser(u, roles);
  }

  /** Stores a new single-use sign-in link for `userId` in `db` (an invitation's transaction). */
  readonly issueSignInLink = (db: Db, userId: string): Promise<string> => this.newOneTimeToken(new IdentityRepository(db), userId);

  /**
   * On a brand-new instance, creates the owner account without a password and returns a one-time
   * sign-in token for it. Returns null when accounts already exist.
   */
  async bootstrapOwner(email = 'owner@lockwarden.local'): Promise<{ user: User; oneTimeToken: string } | null> {
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new IdentityRepository(tx);
      await repo.lockBootstrap();
      if ((await repo.userCount()) > 0) return null;
      const now = this.ctx.clock.now();
      const user = await repo.insertUser({ id: this.ctx.ids.uuid(), email, displayName: 'Owner', passwordHash: null, createdAt: now });
      await new AccessRepository(tx).insertGrant({ id: this.ctx.ids.uuid(), userId: user.id, kind: 'role', role: 'owner', locationId: null, grantedBy: 'system:bootstrap', grantedAt: now });
      const oneTimeToken = await this.newOneTimeToken(repo, user.id);
      await this.ctx.audit.appendMany(tx, [
        { actor: { kind: 'system', name: 'bootstrap' }, action: 'user.create', target: { type: 'user', id: user.id, label: email }, details: { role: 'owner' } },
        { actor: { kind: 'system', name: 'bootstrap' }, action: 'auth.one_time_link.issue', target: { type: 'user', id: user.id, label: email } },
      ]);
      return { user: await this.present(user, tx), oneTimeToken };
    });
  }

  /** Issues a fresh one-time sign-in token for an account (used by `lockwarden users one-time`). */
  async issueOneTimeToken(actor: Actor, email: string): Promise<string> {
    authorize(actor, 'user.write');
    const user = await this.repo.userByEmail(email);
    if (!user) throw new AppError('user.not_found', `no account with email ${email}`);
    const token = await inTransaction(this.ctx.db, async (tx) => {
      const token = await this.newOneTimeToken(new IdentityRepository(tx), user.id);
      await this.ctx.audit.append(tx, { actor, action: 'auth.one_time_link.issue', target: { type: 'user', id: user.id, label: user.email } });
      return token;
    });
    await this.signInThrottle.clearAccount(user.email);
    return token;
  }

  /** Stores a new single-use sign-in token (only its hash) valid for 24 h, and returns the secret. */
  private async newOneTimeToken(repo: IdentityRepository, userId: string): Promise<string> {
    const now = this.ctx.clock.now();
    const token = this.ctx.ids.secret(32);
    await repo.insertOneTimeToken({ tokenHash: hashToken(token), userId, purpose: 'sign-in', createdAt: now, expiresAt: new Date(now.getTime() + ONE_TIME_TTL_MS) });
    return token;
  }

  /**
   * Creates an account with a role (organisation-wide unless a location is given), from the local CLI
   * or tests; people invite others through `AccessService.invite`, which checks what they may grant.
   */
  async createUser(actor: Actor, input: unknown): Promise<User> {
    const data = parseInput(UserCreateSchema, input);
    authorize(actor, 'user.write');
    if (await this.repo.userByEmail(data.email)) {
      throw new AppError('user.duplicate', `an account with email ${data.email} exists`, [{ path: 'email', message: 'already registered' }]);
    }
    const kind = data.locationId ? (await new LocationRepository(this.ctx.db).byId(data.locationId))?.kind : null;
    if (kind === undefined) throw new AppError('location.not_found', `location ${data.locationId} not found`, [{ path: 'locationId', message: 'no such location' }]);
    const problem = rolePlaceProblem(data.role, kind);
    if (problem) throw new AppError('validation.failed', `Invalid input: locationId: ${problem}`, [{ path: 'locationId', message: problem }]);
    const passwordHash = data.password ? await hashPassword(data.password) : null;
    return inTransaction(this.ctx.db, async (tx) => {
      const now = this.ctx.clock.now();
      const user = await new IdentityRepository(tx).insertUser({ id: this.ctx.ids.uuid(), email: data.email, displayName: data.displayName, passwordHash, createdAt: now });
      await new AccessRepository(tx).insertGrant({ id: this.ctx.ids.uuid(), userId: user.id, kind: 'role', role: data.role, locationId: data.locationId, grantedBy: actorId(actor), grantedAt: now });
      await this.ctx.audit.append(tx, { actor, action: 'user.create', target: { type: 'user', id: user.id, label: user.email }, locationId: data.locationId, details: { role: data.role, locationId: data.locationId, displayName: data.displayName, withPassword: passwordHash !== null } });
      return this.present(user, tx);
    });
  }

  /** People the reader may see: everyone with an organisation-wide `user.read`, else those holding a role in scope. */
  async listUsers(actor: Actor): Promise<User[]> {
    const now = this.ctx.clock.now();
    const scope = scopeOf(actor, 'user.read', now);
    if (scope !== null && scope.length === 0) authorize(actor, 'user.read', 'anywhere');
    const access = new AccessRepository(this.ctx.db);
    let rows = await this.repo.users();
    if (scope === null) {
      const roles = await access.liveRolesOf(rows.map((u) => u.id), now);
      return rows.map((u) => presentUser(u, roles.get(u.id) ?? []));
    }
    // A scoped reader sees people through their roles in scope, and only those roles: someone's
    // roles elsewhere (with the names of those places) are outside what the reader may see.
    const roles = new Map<string, User['roles']>();
    for (const g of await access.grants({ scope, includeInactive: false, now })) {
      if (g.grant.kind !== 'role') continue;
      const list = roles.get(g.grant.userId) ?? [];
      list.push({ role: g.grant.role!, locationId: g.grant.locationId, locationName: g.locationName });
      roles.set(g.grant.userId, list);
    }
    rows = rows.filter((u) => roles.has(u.id));
    return rows.map((u) => presentUser(u, roles.get(u.id)!));
  }

  /**
   * Checks email and password, throttled per account and client address, or per device cookie for
   * a browser that signed in to this account before; opens a session.
   */
  async signIn(input: unknown, clientKey: string, deviceCookie?: string): Promise<SignedIn> {
    const { email, password } = parseInput(SignInSchema, input);
    let attempt: Awaited<ReturnType<SignInThrottle['begin']>>;
    try {
      attempt = await this.signInThrottle.begin(email, clientKey, deviceCookie);
    } catch (e) {
      await this.ctx.audit.record(this.ctx.db, { actor: { kind: 'anonymous', label: email }, action: 'auth.sign_in_failed', outcome: 'denied', target: { type: 'user', id: email, label: email }, details: { reason: 'throttled' } });
      throw e;
    }
    const user = await this.repo.userByEmail(email);
    const ok = user?.passwordHash && !user.disabledAt ? await verifyPassword(user.passwordHash, password) : (await verifyPassword(await dummyHash(), password), false);
    if (!ok || !user) {
      const reason = !user ? 'unknown_account' : user.disabledAt ? 'disabled' : !user.passwordHash ? 'no_password' : 'wrong_password';
      await this.ctx.audit.record(this.ctx.db, { actor: { kind: 'anonymous', label: email }, action: 'auth.sign_in_failed', outcome: 'failure', target: { type: 'user', id: user?.id ?? email, label: email }, details: { reason } });
      throw new AppError('auth.invalid_credentials', 'email or password is wrong');
    }
    // Checked only after the password proved right, so it tells nothing to someone guessing.
    const sso = await ssoPasswordRefusal(this.ctx.db, user.id);
    if (sso) {
      await this.ctx.audit.record(this.ctx.db, { actor: { kind: 'anonymous', label: email }, action: 'auth.sign_in_failed', outcome: 'denied', target: { type: 'user', id: user.id, label: email }, details: { reason: 'password_off_for_sso' } });
      throw new AppError('auth.password_sign_in_off', `this account signs in with ${sso.providerName}: password sign-in is turned off for it. Use "Sign in with ${sso.providerName}"`);
    }
    await attempt.succeeded();
    return this.openSession(user, 'auth.sign_in');
  }

  /** Signs in with a one-time token (first start, or an owner-issued reset); the token is spent. */
  async oneTimeSignIn(input: unknown): Promise<SignedIn> {
    const { token } = parseInput(OneTimeSignInSchema, input);
    const userId = await this.repo.consumeOneTimeToken(hashToken(token), 'sign-in', this.ctx.clock.now());
    const user = userId ? await this.repo.userById(userId) : null;
    if (!user || user.disabledAt) {
      await this.ctx.audit.record(this.ctx.db, { actor: { kind: 'anonymous', label: user?.email ?? 'unknown' }, action: 'auth.one_time_sign_in', outcome: 'failure', ...(user ? { target: { type: 'user', id: user.id, label: user.email } } : {}), details: { reason: user ? 'disabled' : 'invalid_used_or_expired' } });
      throw new AppError('auth.token_invalid', 'this sign-in link is invalid, used or expired');
    }
    return this.openSession(user, 'auth.one_time_sign_in');
  }

  /**
   * Opens a session for `user` after a first factor was proven (a password, a one-time link, or a
   * sign-in at the single sign-on provider), in the stage the second-factor rules give it.
   * `secondFactorDone`: the identity provider proved a second factor the owner trusts.
   */
  async openSession(
    user: UserRow,
    action: 'auth.sign_in' | 'auth.one_time_sign_in' | 'auth.sso.sign_in',
    opts: { secondFactorDone?: boolean; details?: Record<string, unknown> } = {},
  ): Promise<SignedIn> {
    const now = this.ctx.clock.now();
    const sessionToken = this.ctx.ids.secret(32);
    const csrfToken = this.ctx.ids.secret(24);
    const { actor, user: shown } = await this.userActor(user, 'session');
    // A password (or a one-time link, or an IdP sign-in) alone opens only a limited session when the
    // account has a second factor, or must enrol one under the owner's policy; the auth hook enforces the stage.
    const stage = opts.secondFactorDone ? 'full' : await new SecondFactorService(this.ctx).stageAtSignIn(user.id);
    // An account with no password signs in only at the provider: that fresh sign-in is its "confirm
    // it's you" (it has nothing else to confirm with until it enrols a second factor, which needs one).
    const confirmed = action === 'auth.sso.sign_in' && stage === 'full' && !user.passwordHash;
    const details = { ...opts.details, ...(stage !== 'full' ? { stage } : {}), ...(confirmed ? { stepUp: 'sign_in_at_identity_provider' } : {}) };
    await inTransaction(this.ctx.db, async (tx) => {
      await new IdentityRepository(tx).insertSession({ tokenHash: hashToken(sessionToken), userId: user.id, csrfToken, createdAt: now, expiresAt: new Date(now.getTime() + SESSION_IDLE_MS), lastSeenAt: now, stage, ...(confirmed ? { stepUpAt: now } : {}) });
      await this.ctx.audit.append(tx, { actor, action, target: { type: 'user', id: user.id, label: user.email }, ...(Object.keys(details).length ? { details } : {}) });
    });
    const limited = stage !== 'full';
    return {
      user: shown,
      sessionToken,
      csrfToken,
      allowedActions: limited ? [] : allowedActions(actor),
      organisationActions: limited ? [] : organisationActions(actor),
      deviceCookie: this.signInThrottle.deviceCookie(user.email),
      stage,
    };
  }

  /** Resolves a session cookie to its actor and CSRF token, sliding its expiry; null when invalid. */
  async authenticateSession(sessionToken: string): Promise<SessionPrincipal | null> {
    const now = this.ctx.clock.now();
    const tokenHash = hashToken(sessionToken);
    const found = await this.repo.sessionPrincipal(tokenHash, now);
    if (!found) return null;
    const { credential: session, user, grants } = found;
    const endsAt = session.createdAt.getTime() + SESSION_ABSOLUTE_MS;
    if (now.getTime() >= endsAt) {
      await this.repo.deleteSession(tokenHash);
      return null;
    }
    if (user.disabledAt) return null;
    if (now.getTime() - session.lastSeenAt.getTime() > SESSION_TOUCH_MS) {
      await this.repo.touchSession(tokenHash, now, new Date(Math.min(now.getTime() + SESSION_IDLE_MS, endsAt)));
    }
    return { ...this.actorFrom(user, grants, 'session', { kind: 'session', stepUpAt: session.stepUpAt }), csrfToken: session.csrfToken, stage: session.stage, tokenHash };
  }

  /** Resolves an API token (`lwt_...`) to its actor; null when unknown, revoked or expired. */
  async authenticateToken(secret: string): Promise<{ actor: Actor; user: User; scope: TokenScope } | null> {
    if (!secret.startsWith(API_TOKEN_PREFIX)) return null;
    const now = this.ctx.clock.now();
    const found = await this.repo.apiTokenPrincipal(hashToken(secret), now);
    if (!found) return null;
    const { credential: token, user, grants } = found;
    if (token.revokedAt || (token.expiresAt && token.expiresAt <= now) || user.disabledAt) return null;
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > SESSION_TOUCH_MS) await this.repo.touchApiToken(token.id, now);
    return { ...this.actorFrom(user, grants, 'token', { kind: 'token', scope: token.scope }), scope: token.scope };
  }

  async signOut(sessionToken: string): Promise<void> {
    const tokenHash = hashToken(sessionToken);
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new IdentityRepository(tx);
      const session = await repo.sessionByHash(tokenHash, this.ctx.clock.now());
      const user = session ? await repo.userById(session.userId) : null;
      await repo.deleteSession(tokenHash);
      // The audit record needs only who it was, not their grants (read outside this transaction).
      if (user) await this.ctx.audit.append(tx, { actor: { kind: 'user', userId: user.id, email: user.email, via: 'session', grants: [] }, action: 'auth.sign_out', target: { type: 'user', id: user.id, label: user.email } });
    });
  }

  /** Sets a password. Someone who already has one must give it; every other session ends. */
  async setPassword(actor: Actor, input: unknown): Promise<void> {
    const data = parseInput(SetPasswordSchema, input);
    if (actor.kind !== 'user') throw new AppError('auth.forbidden', 'only a signed-in user can set their password');
    const user = await this.repo.userById(actor.userId);
    if (!user) throw new AppError('user.not_found', 'account not found');
    if (user.passwordHash) {
      if (!data.currentPassword || !(await verifyPassword(user.passwordHash, data.currentPassword))) {
        throw new AppError('auth.invalid_credentials', 'current password is wrong', [{ path: 'currentPassword', message: 'does not match' }]);
      }
    }
    const hash = await hashPassword(data.newPassword);
    await inTransaction(this.ctx.db, async (tx) => {
      await new IdentityRepository(tx).setPasswordHash(user.id, hash);
      // Never the password, not even as an HMAC: a MAC of a password is a guessing oracle.
      await this.ctx.audit.append(tx, { actor, action: 'user.password.set', target: { type: 'user', id: user.id, label: user.email }, details: { first: user.passwordHash === null } });
    });
    await this.signInThrottle.clearAccount(user.email);
  }

  /**
   * Creates an API token for the actor, scoped and expiring, only from a session that confirmed who
   * it is within the last 5 minutes (a token never makes another); the secret is returned once and
   * stored only as a hash.
   */
  async createApiToken(actor: Actor, input: unknown): Promise<{ token: ApiToken; secret: string }> {
    const data = parseInput(ApiTokenCreateSchema, input);
    authorize(actor, 'token.manage_own', 'anywhere');
    if (actor.kind !== 'user') throw new AppError('auth.forbidden', 'tokens belong to a user');
    if (actor.via === 'token') throw new AppError('auth.forbidden', 'an API token cannot create API tokens; create one from a signed-in session');
    requireStepUp(actor, 'token.create', this.ctx.clock.now());
    return this.issueApiToken(actor, actor.userId, data.name, data.expiresInDays, data.scope);
  }

  /** Issues a token for a named account from the local CLI (whoever holds the data folder). */
  async createApiTokenFor(actor: Actor, email: string, input: unknown): Promise<{ token: ApiToken; secret: string }> {
    const data = parseInput(LocalApiTokenCreateSchema, input);
    authorize(actor, 'user.write');
    const user = await this.repo.userByEmail(email);
    if (!user) throw new AppError('user.not_found', `no account with email ${email}`);
    return this.issueApiToken(actor, user.id, data.name, data.expiresInDays, data.scope);
  }

  private async issueApiToken(actor: Actor, userId: string, name: string, expiresInDays: number | null, scope: TokenScope) {
    const now = this.ctx.clock.now();
    const secret = `${API_TOKEN_PREFIX}${this.ctx.ids.secret(32)}`;
    return inTransaction(this.ctx.db, async (tx) => this.insertApiToken(tx, actor, userId, name, expiresInDays, now, secret, scope));
  }

  private async insertApiToken(tx: Db, actor: Actor, userId: string, name: string, expiresInDays: number | null, now: Date, secret: string, scope: TokenScope) {
    const row = await new IdentityRepository(tx).insertApiToken({
      id: this.ctx.ids.uuid(),
      userId,
      name,
      prefix: secret.slice(0, API_TOKEN_PREFIX.length + 6),
      tokenHash: hashToken(secret),
      createdAt: now,
      expiresAt: expiresInDays === null ? null : new Date(now.getTime() + expiresInDays * 86400_000),
      scope,
    });
    await this.ctx.audit.append(tx, { actor, action: 'token.create', target: { type: 'api_token', id: row.id, label: `${name} (${row.prefix}…)` }, details: { userId, expiresAt: row.expiresAt, scope }, secrets: { token: secret } });
    return { token: presentToken(row), secret };
  }

  async listApiTokens(actor: Actor): Promise<ApiToken[]> {
    authorize(actor, 'token.manage_own', 'anywhere');
    if (actor.kind !== 'user') return [];
    return (await this.repo.apiTokensOfUser(actor.userId)).map(presentToken);
  }

  async revokeApiToken(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'token.manage_own', 'anywhere');
    await inTransaction(this.ctx.db, async (tx) => {
      if (actor.kind !== 'user' || !(await new IdentityRepository(tx).revokeApiToken(id, actor.userId, this.ctx.clock.now()))) {
        throw new AppError('token.not_found', `token ${id} not found`);
      }
      await this.ctx.audit.append(tx, { actor, action: 'token.revoke', target: { type: 'api_token', id } });
    });
  }

  /**
   * Ends every session of the signed-in user, this one included, and with `revokeApiTokens` also
   * revokes all their API tokens ("sign out everywhere", after a lost laptop or a leaked cookie).
   */
  async signOutEverywhere(actor: Actor, opts: { revokeApiTokens?: boolean } = {}): Promise<{ sessionsEnded: number; tokensRevoked: number }> {
    if (actor.kind !== 'user') throw new AppError('auth.forbidden', 'only a signed-in user can sign out everywhere');
    return endAccess(this.ctx, actor.userId, opts.revokeApiTokens ?? false);
  }

  /** Ends every session (and with `revokeApiTokens` every API token) of another user; needs user.write. */
  async revokeUserSessions(actor: Actor, userId: string, opts: { revokeApiTokens?: boolean } = {}): Promise<{ sessionsEnded: number; tokensRevoked: number }> {
    authorize(actor, 'user.write');
    if (!(await this.repo.userById(userId))) throw new AppError('user.not_found', `user ${userId} not found`);
    return endAccess(this.ctx, userId, opts.revokeApiTokens ?? false);
  }

  /** Ends the actor's other sessions, keeping `keepSessionToken` (after a password change). */
  async endOtherSessions(actor: Actor, keepSessionToken: string | null): Promise<number> {
    if (actor.kind !== 'user') return 0;
    return endSessions(this.ctx, actor.userId, keepSessionToken ? hashToken(keepSessionToken) : null);
  }
}
