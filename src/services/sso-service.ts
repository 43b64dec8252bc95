/**
 * Single sign-on with OpenID Connect (openid-client): the owner's settings, and signing a person in
 * through the organisation's identity provider (IdP) with the authorization code flow, PKCE (S256),
 * state and nonce. Accounts are matched by the IdP's subject once linked, and linked only by an
 * email the IdP verified; an account is made by signing in only when the owner turned self-sign-up
 * on. A sign-in at the IdP is the first factor: the second-factor rules apply as after a password,
 * unless the owner marked the IdP as enforcing MFA and its `amr` claim shows it did.
 * No HTTP types: the callback URL and the attempt (sealed, kept by the browser) come in as data.
 */
import * as oidc from 'openid-client';
import { z } from 'zod';
import { rolePlaceProblem } from '../domain/access.js';
import { AppError, validationError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import {
  amrShowsMfa,
  groupsOf,
  OidcSettingsSchema,
  signUpRole,
  type OidcSettings,
  type OidcSettingsView,
  type SsoRefusal,
} from '../domain/oidc.js';
import { requireStepUp } from '../domain/second-factor.js';
import { parseInput } from '../domain/validation.js';
import { AccessRepository } from '../store/access-repository.js';
import { inTransaction } from '../store/database.js';
import { IdentityRepository, type UserRow } from '../store/identity-repository.js';
import { LocationRepository } from '../store/location-repository.js';
import { MetaRepository } from '../store/meta-repository.js';
import { SsoRepository } from '../store/sso-repository.js';
import type { AuthService, SignedIn } from './auth-service.js';
import { outboundOf, type ServiceContext } from './context.js';
import { OutboundError, outboundFetch, type OutboundPolicy } from '../net/outbound.js';
import { loadSsoSettings, normaliseIssuer, SSO_SETTINGS_KEY } from './sso-settings.js';

/** How long a person has between leaving for the IdP and coming back. */
export const SSO_ATTEMPT_TTL_MS = 10 * 60_000;
/** Seconds one request to the IdP may take (discovery, token, userinfo). */
const IDP_TIMEOUT_S = 10;
/** Discovery is reused this long (the IdP's endpoints and keys rarely change; openid-client refetches keys it lacks). */
const DISCOVERY_TTL_MS = 10 * 60_000;
const SECRET_CONTEXT = 'sso:client_secret';
const ATTEMPT_CONTEXT = 'sso:attempt';
const SCOPES = 'openid email profile';

/** What the browser keeps between leaving for the IdP and the callback (sealed; never readable by it). */
const AttemptSchema = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), redirectUri: z.string(), expiresAt: z.number() }).strict();

/** A started sign-in: where to send the browser, and the sealed attempt it must bring back. */
export interface SsoStart {
  url: string;
  attempt: string;
}

/** The outcome of the callback: a session, or the reason it was refused (a sentence in `SSO_MESSAGES`). */
export type SsoFinish = { ok: true; signedIn: SignedIn; created: boolean; linked: boolean } | { ok: false; reason: SsoRefusal };

/** Refusals as thrown inside `finish`, turned into `{ ok: false }` with their audit entry. */
class Refused extends Error {
  constructor(
    readonly reason: SsoRefusal,
    readonly label: string,
    readonly details: Record<string, unknown> = {},
    readonly userId: string | null = null,
  ) {
    super(reason);
  }
}

function isOrgOwner(actor: Actor): boolean {
  return actor.kind === 'system' || actor.grants.some((g) => g.kind === 'role' && g.role === 'owner' && g.locationPath === null);
}

/** What an error from openid-client says, for the audit log: its code and the IdP's error code, never a body. */
function libraryReason(e: unknown): Record<string, unknown> {
  const err = e as { code?: unknown; error?: unknown; name?: unknown };
  return { error: typeof err.code === 'string' ? err.code : typeof err.name === 'string' ? err.name : 'Error', ...(typeof err.error === 'string' ? { providerError: err.error } : {}) };
}

/** Single sign-on settings and sign-in through the identity provider. */
export class SsoService {
  private discovered: { key: string; at: number; config: oidc.Configuration } | null = null;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly auth: AuthService,
  ) {}

  /** What the sign-in page needs: whether to show the button, and the provider's name for it. */
  async publicInfo(): Promise<{ enabled: boolean; providerName: string | null }> {
    const s = await loadSsoSettings(this.ctx.db);
    return s?.enabled && s.clientSecretSealed ? { enabled: true, providerName: s.providerName } : { enabled: false, providerName: null };
  }

  /** Whether `userId` is linked to an identity at the provider (such an account needs no password here). */
  async signsInWithSso(userId: string): Promise<boolean> {
    return (await new SsoRepository(this.ctx.db).ofUser(userId)).length > 0;
  }

  /** The settings for an organisation-wide owner (never the client secret), with the redirect URL to register at the IdP. */
  async settings(actor: Actor, redirectUrl: string): Promise<OidcSettingsView | null> {
    if (!isOrgOwner(actor)) throw new AppError('auth.forbidden', 'only an owner of the whole organisation manages single sign-on');
    const s = await loadSsoSettings(this.ctx.db);
    return s ? this.view(s, redirectUrl) : null;
  }

  private view(s: OidcSettings, redirectUrl: string): OidcSettingsView {
    const { clientSecretSealed, ...rest } = s;
    return { ...rest, hasClientSecret: clientSecretSealed !== null, redirectUrl };
  }

  /**
   * Saves the settings: an organisation-wide owner, after a step-up (it changes how people sign in).
   * A missing `clientSecret` keeps the stored one. When enabled, the issuer must answer discovery
   * as an OpenID provider. Audited without the secret.
   */
  async setSettings(actor: Actor, input: unknown, redirectUrl: string): Promise<OidcSettingsView> {
    const data = parseInput(OidcSettingsSchema, input);
    if (!isOrgOwner(actor)) throw new AppError('auth.forbidden', 'only an owner of the whole organisation manages single sign-on');
    requireStepUp(actor, 'sso.settings', this.ctx.clock.now());
    const before = await loadSsoSettings(this.ctx.db);
    const places = [
      { path: 'selfSignUp.locationId', role: data.selfSignUp.role, locationId: data.selfSignUp.locationId },
      ...data.groupRoles.map((m, i) => ({ path: `groupRoles.${i}.locationId`, role: m.role, locationId: m.locationId })),
    ];
    const locations = new LocationRepository(this.ctx.db);
    const problems: { path: string; message: string }[] = [];
    for (const p of places) {
      const kind = p.locationId ? ((await locations.byId(p.locationId))?.kind ?? undefined) : null;
      if (kind === undefined) problems.push({ path: p.path, message: 'no such location' });
      else {
        const problem = rolePlaceProblem(p.role, kind);
        if (problem) problems.push({ path: p.path, message: problem });
      }
    }
    if (data.groupRoles.length && !data.groupClaim) problems.push({ path: 'groupClaim', message: 'name the claim that lists groups (often "groups") to map groups to roles' });
    const { clientSecret, ...rest } = data;
    // A new client id or issuer with the old secret would be a confusing half-change: ask for the secret again.
    const sameClient = before && before.clientId === data.clientId && normaliseIssuer(before.issuerUrl) === normaliseIssuer(data.issuerUrl);
    const sealed = clientSecret !== undefined ? this.ctx.secrets.encrypt(clientSecret, SECRET_CONTEXT) : sameClient ? before.clientSecretSealed : null;
    if (data.enabled && !sealed) problems.push({ path: 'clientSecret', message: 'enter the client secret the provider gave lockwarden' });
    if (problems.length) throw validationError(problems);
    const settings: OidcSettings = { ...rest, clientSecretSealed: sealed };
    if (data.enabled) {
      try {
        this.discovered = null;
        await this.configuration(settings);
      } catch (e) {
        // The outbound policy's refusal is ours and safe to show; the IdP's answer is never echoed: it may be anything the URL points at.
        const refused = outboundRefusal(e);
        if (refused) throw validationError([{ path: 'issuerUrl', message: refused }]);
        throw validationError([{ path: 'issuerUrl', message: 'no OpenID provider answered at this issuer URL (its /.well-known/openid-configuration could not be read or names another issuer)' }]);
      }
    }
    await inTransaction(this.ctx.db, async (tx) => {
      await new MetaRepository(tx).set(SSO_SETTINGS_KEY, settings, this.ctx.clock.now());
      await this.ctx.audit.append(tx, {
        actor,
        action: 'sso.settings.set',
        target: { type: 'deployment', id: 'sso_settings', label: 'single sign-on' },
        details: { before: before ? this.view(before, redirectUrl) : null, after: this.view(settings, redirectUrl), clientSecretChanged: clientSecret !== undefined },
      });
    });
    this.discovered = null;
    return this.view(settings, redirectUrl);
  }

  /** The IdP's configuration from discovery, cached for a few minutes per issuer, client and secret. */
  private async configuration(s: OidcSettings): Promise<oidc.Configuration> {
    const key = JSON.stringify([s.issuerUrl, s.clientId, s.clientSecretSealed]);
    const now = Date.now();
    if (this.discovered?.key === key && now - this.discovered.at < DISCOVERY_TTL_MS) return this.discovered.config;
    const secret = this.ctx.secrets.decrypt(s.clientSecretSealed!, SECRET_CONTEXT);
    const url = new URL(s.issuerUrl);
    const viaPolicy = policyFetch(outboundOf(this.ctx));
    const config = await oidc.discovery(url, s.clientId, undefined, oidc.ClientSecretBasic(secret), {
      timeout: IDP_TIMEOUT_S,
      [oidc.customFetch]: viaPolicy,
      // Plain http only when the owner configured an http issuer (an IdP on a trusted network, or a test).
      ...(url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    config.timeout = IDP_TIMEOUT_S;
    // Token, userinfo and key requests go through the same outbound policy as discovery.
    config[oidc.customFetch] = viaPolicy;
    this.discovered = { key, at: now, config };
    return config;
  }

  /**
   * Starts a sign-in: fresh state, nonce and PKCE verifier, sealed into the attempt the browser keeps
   * (bound to this deployment's key), and the IdP's authorization URL to send the browser to.
   */
  async begin(redirectUri: string): Promise<SsoStart> {
    const s = await loadSsoSettings(this.ctx.db);
    if (!s?.enabled || !s.clientSecretSealed) throw new AppError('sso.not_configured', 'single sign-on is not set up');
    let config: oidc.Configuration;
    try {
      config = await this.configuration(s);
    } catch (e) {
      await this.ctx.audit.record(this.ctx.db, { actor: { kind: 'anonymous', label: 'unknown' }, action: 'auth.sso.sign_in', outcome: 'failure', details: { reason: 'unreachable', stage: 'start', ...libraryReason(e) } });
      throw new AppError('sso.unreachable', 'your identity provider could not be reached; please try again in a moment');
    }
    const verifier = oidc.randomPKCECodeVerifier();
    const attempt = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier, redirectUri, expiresAt: Date.now() + SSO_ATTEMPT_TTL_MS };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: s.groupClaim ? `${SCOPES} groups` : SCOPES,
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: attempt.state,
      nonce: attempt.nonce,
    });
    return { url: url.href, attempt: this.ctx.secrets.encrypt(JSON.stringify(attempt), ATTEMPT_CONTEXT) };
  }

  /**
   * Finishes a sign-in at the callback: checks the attempt, the state, then exchanges the code (with
   * the PKCE verifier; openid-client checks the ID token's signature, issuer, audience and nonce),
   * finds or links or (self-sign-up) makes the account, and opens a session. Every outcome is audited.
   */
  async finish(callbackUrl: URL, sealedAttempt: string | undefined): Promise<SsoFinish> {
    try {
      return await this.finishOrThrow(callbackUrl, sealedAttempt);
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      await this.ctx.audit.record(this.ctx.db, {
        actor: { kind: 'anonymous', label: e.label },
        action: 'auth.sso.sign_in',
        outcome: e.reason === 'unreachable' || e.reason === 'provider_error' ? 'failure' : 'denied',
        ...(e.userId ? { target: { type: 'user', id: e.userId, label: e.label } } : {}),
        details: { reason: e.reason, ...e.details },
      });
      return { ok: false, reason: e.reason };
    }
  }

  private async finishOrThrow(callbackUrl: URL, sealedAttempt: string | undefined): Promise<SsoFinish> {
    const s = await loadSsoSettings(this.ctx.db);
    if (!s?.enabled || !s.clientSecretSealed) throw new Refused('not_configured', 'unknown');
    const attempt = this.openAttempt(sealedAttempt);
    if (!attempt) throw new Refused('expired', 'unknown');
    const params = callbackUrl.searchParams;
    // Checked here before anything reaches the IdP: an answer to someone else's attempt goes no further.
    if (params.get('state') !== attempt.state) throw new Refused('state_mismatch', 'unknown');
    const idpError = params.get('error');
    if (idpError) throw new Refused(idpError === 'access_denied' ? 'cancelled' : 'provider_error', 'unknown', { providerError: idpError.slice(0, 100) });

    let config: oidc.Configuration;
    try {
      config = await this.configuration(s);
    } catch (e) {
      throw new Refused('unreachable', 'unknown', libraryReason(e));
    }
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: attempt.verifier, expectedState: attempt.state, expectedNonce: attempt.nonce, idTokenExpected: true }, { redirect_uri: attempt.redirectUri });
      const idClaims = tokens.claims()!;
      // Many providers put email and groups only in userinfo; its subject must be the ID token's.
      const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
      claims = { ...info, ...idClaims };
    } catch (e) {
      throw new Refused('not_verified', 'unknown', libraryReason(e));
    }
    const issuer = String(claims.iss);
    const subject = String(claims.sub);
    const email = typeof claims.email === 'string' ? claims.email.trim() : null;
    const label = email ?? `${subject} at ${s.providerName}`;
    const mfa = s.idpProvidesMfa && amrShowsMfa(claims.amr);
    const links = new SsoRepository(this.ctx.db);
    const identity = new IdentityRepository(this.ctx.db);

    const linked = await links.byIdentity(issuer, subject);
    if (linked) {
      const user = await identity.userById(linked.userId);
      if (!user) throw new Refused('no_account', label);
      if (user.disabledAt) throw new Refused('disabled', user.email, {}, user.id);
      await links.touch(issuer, subject, this.ctx.clock.now());
      return { ok: true, created: false, linked: false, signedIn: await this.open(user, { subject, mfa, how: 'linked' }) };
    }
    // Linking needs an email the IdP vouches for: an unverified one could be anybody's.
    if (!email) throw new Refused('no_email', label, { subject });
    if (claims.email_verified !== true) throw new Refused('unverified_email', email, { subject });
    const existing = await identity.userByEmail(email);
    if (existing) {
      if (existing.disabledAt) throw new Refused('disabled', existing.email, {}, existing.id);
      const other = (await links.ofUser(existing.id)).find((l) => normaliseIssuer(l.issuer) === normaliseIssuer(issuer));
      if (other) throw new Refused('linked_elsewhere', existing.email, { subject }, existing.id);
      await inTransaction(this.ctx.db, async (tx) => {
        const now = this.ctx.clock.now();
        await new SsoRepository(tx).insert({ issuer, subject, userId: existing.id, emailAtLink: email, linkedAt: now, lastSignInAt: now });
        await this.ctx.audit.append(tx, { actor: { kind: 'system', name: 'sso' }, action: 'auth.sso.link', target: { type: 'user', id: existing.id, label: existing.email }, details: { issuer, subject, by: 'verified_email' } });
      });
      return { ok: true, created: false, linked: true, signedIn: await this.open(existing, { subject, mfa, how: 'linked_now' }) };
    }
    if (!s.selfSignUp.enabled) throw new Refused('no_account', email, { subject });
    const groups = s.groupClaim ? groupsOf(claims[s.groupClaim]) : [];
    const place = signUpRole(s, groups);
    const name = typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 100) : email.split('@')[0]!;
    const user = await inTransaction(this.ctx.db, async (tx) => {
      const now = this.ctx.clock.now();
      const created = await new IdentityRepository(tx).insertUser({ id: this.ctx.ids.uuid(), email, displayName: name, passwordHash: null, createdAt: now });
      await new AccessRepository(tx).insertGrant({ id: this.ctx.ids.uuid(), userId: created.id, kind: 'role', role: place.role, locationId: place.locationId, grantedBy: 'system:sso', grantedAt: now });
      await new SsoRepository(tx).insert({ issuer, subject, userId: created.id, emailAtLink: email, linkedAt: now, lastSignInAt: now });
      await this.ctx.audit.appendMany(tx, [
        { actor: { kind: 'system', name: 'sso' }, action: 'user.create', target: { type: 'user', id: created.id, label: email }, locationId: place.locationId, details: { role: place.role, locationId: place.locationId, displayName: name, withPassword: false, via: 'sso_self_sign_up', group: place.group } },
        { actor: { kind: 'system', name: 'sso' }, action: 'auth.sso.link', target: { type: 'user', id: created.id, label: email }, details: { issuer, subject, by: 'self_sign_up' } },
      ]);
      return created;
    });
    return { ok: true, created: true, linked: true, signedIn: await this.open(user, { subject, mfa, how: 'self_sign_up' }) };
  }

  private open(user: UserRow, o: { subject: string; mfa: boolean; how: string }): Promise<SignedIn> {
    return this.auth.openSession(user, 'auth.sso.sign_in', { secondFactorDone: o.mfa, details: { subject: o.subject, match: o.how, ...(o.mfa ? { secondFactor: 'at_identity_provider' } : {}) } });
  }

  /** The attempt the browser brought back, if it is ours, whole and not expired. */
  private openAttempt(sealed: string | undefined): z.infer<typeof AttemptSchema> | null {
    if (!sealed) return null;
    try {
      const a = AttemptSchema.parse(JSON.parse(this.ctx.secrets.decrypt(sealed, ATTEMPT_CONTEXT)));
      return a.expiresAt > Date.now() ? a : null;
    } catch {
      return null;
    }
  }
}

/** The outbound policy's refusal inside an error from openid-client (thrown as is, or as its cause), else null. */
function outboundRefusal(e: unknown): string | null {
  for (let x: unknown = e, depth = 0; x && depth < 3; x = (x as { cause?: unknown }).cause, depth++) {
    if (x instanceof OutboundError && x.reason === 'refused') return x.message;
  }
  return null;
}

/**
 * openid-client's fetch, under the server's outbound policy (kind `sso`): the provider's address is
 * resolved and checked (no loopback, private or metadata address unless the owner allows `sso` on a
 * private network), the connection is pinned to it, no redirect is followed, and answers are bounded.
 */
function policyFetch(policy: OutboundPolicy) {
  return async (url: string, options: { body?: unknown; headers: Record<string, string>; method: string }): Promise<Response> => {
    // openid-client sends forms as URLSearchParams (token endpoint) and JSON or JWTs as strings.
    const body = options.body instanceof URLSearchParams ? options.body.toString() : typeof options.body === 'string' ? options.body : undefined;
    const res = await outboundFetch(policy, 'sso', url, {
      method: options.method === 'POST' ? 'POST' : 'GET',
      headers: options.headers,
      ...(body === undefined ? {} : { body }),
      maxBytes: 1024 * 1024,
      timeoutMs: IDP_TIMEOUT_S * 1000,
      maxRedirects: 0,
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    return new Response(res.status === 204 || res.status === 304 ? null : new Uint8Array(res.body), { status: res.status, headers });
  };
}
