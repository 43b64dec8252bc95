/**
 * Second factors and step-up: enrolling an authenticator app (TOTP, RFC 6238 via otplib) or a passkey /
 * security key (WebAuthn via @simplewebauthn/server), one-time recovery codes, proving a factor at
 * sign-in, "confirm it's you" before the most dangerous acts, and the owner's policy of who must
 * have a second factor. No HTTP types: the relying party (origin, host) comes in as plain data.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { generateSecret, generateURI, verifySync } from 'otplib';
import QRCode from 'qrcode';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import {
  DEFAULT_POLICY,
  FactorProofSchema,
  policyApplies,
  RECOVERY_CODE_COUNT,
  requireStepUp,
  SecondFactorPolicySchema,
  STEP_UP_WINDOW_MS,
  StepUpSchema,
  TotpConfirmSchema,
  WEBAUTHN_CHALLENGE_TTL_MS,
  WebAuthnRegisterSchema,
  type FactorProof,
  type SecondFactorPolicy,
  type SecondFactorStatus,
  type SecondFactorView,
  type SessionStage,
  type StepUpProof,
} from '../domain/second-factor.js';
import { humanWait, retryAfterSeconds, ThrottledError, type ThrottlePolicy } from '../domain/throttle.js';
import { parseInput } from '../domain/validation.js';
import { verifyPassword } from '../crypto/passwords.js';
import { AccessRepository } from '../store/access-repository.js';
import { inTransaction, type Db } from '../store/database.js';
import { IdentityRepository } from '../store/identity-repository.js';
import { MetaRepository } from '../store/meta-repository.js';
import { SecondFactorRepository, type SecondFactorRow } from '../store/second-factor-repository.js';
import { authorize, type ServiceContext } from './context.js';
import { Throttle } from './throttle.js';

/** Who the passkeys are for: the browser's origin and the host name they are bound to. */
export interface RelyingParty {
  origin: string;
  rpID: string;
}

/** The session a second-factor call acts on (by its stored hash; the cookie never reaches a service). */
export interface SessionRef {
  tokenHash: string;
}

const POLICY_KEY = 'second_factor_policy';
const TOTP_PERIOD_S = 30;
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * Failed second-factor proofs per account (TOTP, recovery code, passkey), at sign-in and step-up
 * alike: 5 without waiting, then 1 s, 2 s ... up to 15 min, and 100 in a row at most (NIST SP
 * 800-63B 5.2.2), after which an owner or admin removes the account's factors. Cleared by a success.
 */
export const SECOND_FACTOR_POLICY: ThrottlePolicy = { free: 5, windowMs: Infinity, baseDelayMs: 1000, maxDelayMs: 15 * 60_000, cap: 100, capWindowMs: Infinity };
const throttleKey = (userId: string) => `second-factor:account:${userId}`;

function present(row: SecondFactorRow): SecondFactorView {
  return { id: row.id, kind: row.kind, label: row.label, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt };
}

function userOf(actor: Actor): Extract<Actor, { kind: 'user' }> {
  if (actor.kind !== 'user') throw new AppError('auth.forbidden', 'second factors belong to a signed-in person');
  return actor;
}

/** Second factors, recovery codes, step-up and the owner's second-factor policy. */
export class SecondFactorService {
  private readonly throttle: Throttle;

  constructor(private readonly ctx: ServiceContext) {
    this.throttle = new Throttle(ctx);
  }

  // ---- policy ----

  /** The owner's policy: which roles must sign in with a second factor. */
  async policy(db: Db = this.ctx.db): Promise<SecondFactorPolicy> {
    // Inside a transaction, read through it: on the embedded database a second connection would wait for it.
    return (await new MetaRepository(db).get<SecondFactorPolicy>(POLICY_KEY)) ?? DEFAULT_POLICY;
  }

  /** Changes the policy: an organisation-wide owner only, after a step-up; audited. Applies from each person's next sign-in. */
  async setPolicy(actor: Actor, input: unknown): Promise<SecondFactorPolicy> {
    const data = parseInput(SecondFactorPolicySchema, input);
    if (actor.kind === 'user' && !actor.grants.some((g) => g.kind === 'role' && g.role === 'owner' && g.locationPath === null)) {
      throw new AppError('auth.forbidden', 'only an owner of the whole organisation sets the second-factor policy');
    }
    requireStepUp(actor, 'second_factor.policy', this.ctx.clock.now());
    const policy: SecondFactorPolicy = { requiredForRoles: [...new Set(data.requiredForRoles)] };
    const before = await this.policy();
    await inTransaction(this.ctx.db, async (tx) => {
      await new MetaRepository(tx).set(POLICY_KEY, policy, this.ctx.clock.now());
      await this.ctx.audit.append(tx, { actor, action: 'second_factor.policy.set', target: { type: 'deployment', id: 'second_factor_policy', label: 'second-factor policy' }, details: { before: before.requiredForRoles, after: policy.requiredForRoles } });
    });
    return policy;
  }

  /**
   * The stage a new session of `userId` starts in: `second_factor` when the account has one,
   * `enrolment` when the policy requires one it lacks, else `full`.
   */
  async stageAtSignIn(userId: string): Promise<SessionStage> {
    if ((await new SecondFactorRepository(this.ctx.db).confirmedOf(userId)).length > 0) return 'second_factor';
    return (await this.requiredFor(this.ctx.db, userId)) ? 'enrolment' : 'full';
  }

  private async requiredFor(db: Db, userId: string): Promise<boolean> {
    const roles = ((await new AccessRepository(db).liveRolesOf([userId], this.ctx.clock.now())).get(userId) ?? []).map((r) => r.role);
    return policyApplies(await this.policy(db), roles);
  }

  // ---- status ----

  /** The ways `userId` can give a second factor at sign-in (none when the account has no factor). */
  async methodsOf(userId: string): Promise<('totp' | 'webauthn' | 'recovery')[]> {
    const repo = new SecondFactorRepository(this.ctx.db);
    const kinds = new Set((await repo.confirmedOf(userId)).map((f) => f.kind));
    const out: ('totp' | 'webauthn' | 'recovery')[] = [];
    if (kinds.has('totp')) out.push('totp');
    if (kinds.has('webauthn')) out.push('webauthn');
    if (out.length && (await repo.recoveryCodesLeft(userId)) > 0) out.push('recovery');
    return out;
  }

  /** The signed-in user's factors, recovery codes left, whether the policy applies, and this session's step-up. */
  async status(actor: Actor): Promise<SecondFactorStatus> {
    const me = userOf(actor);
    const repo = new SecondFactorRepository(this.ctx.db);
    const stepUpAt = me.assurance?.kind === 'session' ? me.assurance.stepUpAt : null;
    return {
      factors: (await repo.confirmedOf(me.userId)).map(present),
      recoveryCodesLeft: await repo.recoveryCodesLeft(me.userId),
      requiredByPolicy: await this.requiredFor(this.ctx.db, me.userId),
      stepUpAt,
      stepUpExpiresAt: stepUpAt ? new Date(stepUpAt.getTime() + STEP_UP_WINDOW_MS) : null,
    };
  }

  // ---- enrolment ----

  /**
   * Enrolment needs a step-up, except in a session limited to enrolment (its password was just
   * given): otherwise a stolen session could add the thief's own factor.
   */
  private requireEnrolmentRight(actor: Actor, stage: SessionStage): Extract<Actor, { kind: 'user' }> {
    const me = userOf(actor);
    if (stage !== 'enrolment') requireStepUp(actor, 'second_factor.enrol', this.ctx.clock.now());
    return me;
  }

  /** Starts enrolling an authenticator app: a new seed (sealed at rest), its otpauth URI and a QR code of it. */
  async beginTotp(actor: Actor, stage: SessionStage): Promise<{ factorId: string; secret: string; otpauthUri: string; qrSvg: string }> {
    const me = this.requireEnrolmentRight(actor, stage);
    const secret = generateSecret({ length: 20 });
    const id = this.ctx.ids.uuid();
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecondFactorRepository(tx);
      await repo.deletePendingTotp(me.userId);
      await repo.insert({ id, userId: me.userId, kind: 'totp', label: 'Authenticator app', secretCipher: this.ctx.secrets.encrypt(secret, `second_factor:${id}`), createdAt: this.ctx.clock.now() });
    });
    const otpauthUri = generateURI({ issuer: 'lockwarden', label: me.email, secret });
    const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
    return { factorId: id, secret, otpauthUri, qrSvg };
  }

  /** Confirms an authenticator app with its first code; the first factor of an account also gets recovery codes. */
  async confirmTotp(actor: Actor, session: SessionRef, stage: SessionStage, factorId: string, input: unknown): Promise<{ factor: SecondFactorView; recoveryCodes: string[] | null }> {
    const { code, label } = parseInput(TotpConfirmSchema, input);
    const me = this.requireEnrolmentRight(actor, stage);
    await this.takeAttempt(me.userId);
    const out = await inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecondFactorRepository(tx);
      const row = await repo.byIdForUpdate(factorId);
      if (!row || row.userId !== me.userId || row.kind !== 'totp' || row.confirmedAt) throw new AppError('second_factor.not_found', 'this authenticator enrolment was not found or is already done; start again');
      const step = this.totpStep(row, code);
      if (step === null) return null;
      const now = this.ctx.clock.now();
      await repo.update(row.id, { confirmedAt: now, lastTimeStep: step, label, lastUsedAt: now });
      return this.afterEnrolment(tx, actor, session, stage, { ...row, label, confirmedAt: now, lastUsedAt: now });
    });
    if (!out) {
      // Recorded outside the enrolment's transaction, which has nothing to commit.
      await this.ctx.audit.record(this.ctx.db, { actor, action: 'second_factor.enrol_failed', outcome: 'failure', target: { type: 'user', id: me.userId, label: me.email }, details: { kind: 'totp' } });
      throw new AppError('auth.second_factor_invalid', 'that code is not the one your authenticator app shows now; check the time on your phone and try the next code', [{ path: 'code', message: 'wrong code' }]);
    }
    await this.throttle.clear([throttleKey(me.userId)]);
    return out;
  }

  /** WebAuthn registration options for the signed-in user; the challenge is kept with the session. */
  async passkeyRegistrationOptions(actor: Actor, session: SessionRef, stage: SessionStage, rp: RelyingParty): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const me = this.requireEnrolmentRight(actor, stage);
    const repo = new SecondFactorRepository(this.ctx.db);
    const existing = (await repo.confirmedOf(me.userId)).filter((f) => f.kind === 'webauthn');
    const options = await generateRegistrationOptions({
      rpName: 'lockwarden',
      rpID: rp.rpID,
      userName: me.email,
      userID: new TextEncoder().encode(me.userId),
      attestationType: 'none',
      excludeCredentials: existing.map((f) => ({ id: f.credentialId!, transports: (f.transports ?? []) as never })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    await repo.setChallenge(session.tokenHash, { challenge: options.challenge, purpose: 'register', expiresAt: new Date(this.ctx.clock.now().getTime() + WEBAUTHN_CHALLENGE_TTL_MS).toISOString() });
    return options;
  }

  /** Verifies the authenticator's registration answer against the session's challenge and stores the passkey. */
  async registerPasskey(actor: Actor, session: SessionRef, stage: SessionStage, rp: RelyingParty, input: unknown): Promise<{ factor: SecondFactorView; recoveryCodes: string[] | null }> {
    const { response, label } = parseInput(WebAuthnRegisterSchema, input);
    const me = this.requireEnrolmentRight(actor, stage);
    const expectedChallenge = await this.challengeOf(session, 'register');
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({ response: response as unknown as RegistrationResponseJSON, expectedChallenge, expectedOrigin: rp.origin, expectedRPID: rp.rpID, requireUserVerification: false });
    } catch {
      verified = { verified: false };
    }
    if (!verified.verified) {
      await this.ctx.audit.record(this.ctx.db, { actor, action: 'second_factor.enrol_failed', outcome: 'failure', target: { type: 'user', id: me.userId, label: me.email }, details: { kind: 'webauthn' } });
      throw new AppError('auth.second_factor_invalid', 'the passkey could not be registered; try again');
    }
    const cred = verified.registrationInfo.credential;
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecondFactorRepository(tx);
      if (await repo.byCredentialId(cred.id)) throw new AppError('validation.failed', 'this passkey is already registered', [{ path: 'response', message: 'already registered' }]);
      const now = this.ctx.clock.now();
      const row = await repo.insert({
        id: this.ctx.ids.uuid(),
        userId: me.userId,
        kind: 'webauthn',
        label,
        credentialId: cred.id,
        publicKey: Buffer.from(cred.publicKey).toString('base64url'),
        signCount: cred.counter,
        transports: cred.transports ?? [],
        createdAt: now,
        confirmedAt: now,
        lastUsedAt: now,
      });
      return this.afterEnrolment(tx, actor, session, stage, row);
    });
  }

  /** Audits an enrolment, gives the account's first factor its recovery codes, and ends an enrolment-only stage. */
  private async afterEnrolment(tx: Db, actor: Actor, session: SessionRef, stage: SessionStage, row: SecondFactorRow): Promise<{ factor: SecondFactorView; recoveryCodes: string[] | null }> {
    const me = userOf(actor);
    const repo = new SecondFactorRepository(tx);
    const first = (await repo.confirmedOf(me.userId)).length === 1 && (await repo.recoveryCodesLeft(me.userId)) === 0;
    const recoveryCodes = first ? await this.newRecoveryCodes(repo, me.userId) : null;
    const now = this.ctx.clock.now();
    // Enrolling proves the new factor: it counts as this session's step-up.
    if (stage === 'enrolment') await repo.setSessionStage(session.tokenHash, 'full', now);
    else await repo.setStepUp(session.tokenHash, now);
    await this.ctx.audit.append(tx, { actor, action: 'second_factor.enrol', target: { type: 'user', id: me.userId, label: me.email }, details: { factorId: row.id, kind: row.kind, label: row.label, recoveryCodesIssued: recoveryCodes?.length ?? 0 } });
    return { factor: present(row), recoveryCodes };
  }

  private async newRecoveryCodes(repo: SecondFactorRepository, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
      const chars = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[this.ctx.randomInt(RECOVERY_ALPHABET.length)]).join('');
      return `${chars.slice(0, 5)}-${chars.slice(5)}`;
    });
    await repo.replaceRecoveryCodes(userId, codes.map((c) => this.recoveryMac(userId, c.replace('-', ''))), this.ctx.clock.now());
    return codes;
  }

  /** Keyed with a key outside the database: a stolen database gives no way to test guesses offline. */
  private recoveryMac(userId: string, normalized: string): string {
    return this.ctx.secrets.fingerprint(normalized, `recovery code v1:${userId}`);
  }

  /** New recovery codes for the signed-in user (the old ones stop working); needs a step-up. */
  async regenerateRecoveryCodes(actor: Actor): Promise<string[]> {
    const me = userOf(actor);
    requireStepUp(actor, 'second_factor.recovery_codes', this.ctx.clock.now());
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecondFactorRepository(tx);
      if ((await repo.confirmedOf(me.userId)).length === 0) throw new AppError('second_factor.not_enrolled', 'recovery codes come with a second factor: add an authenticator app or a passkey first');
      const codes = await this.newRecoveryCodes(repo, me.userId);
      await this.ctx.audit.append(tx, { actor, action: 'second_factor.recovery_codes.regenerate', target: { type: 'user', id: me.userId, label: me.email }, details: { count: codes.length } });
      return codes;
    });
  }

  /** Removes one of the user's own factors, after a step-up; the last one stays while the policy requires it. */
  async remove(actor: Actor, factorId: string): Promise<void> {
    const me = userOf(actor);
    requireStepUp(actor, 'second_factor.remove', this.ctx.clock.now());
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecondFactorRepository(tx);
      const row = await repo.byId(factorId);
      if (!row || row.userId !== me.userId || !row.confirmedAt) throw new AppError('second_factor.not_found', `second factor ${factorId} not found`);
      const all = await repo.confirmedOf(me.userId);
      if (all.length === 1 && (await this.requiredFor(tx, me.userId))) {
        throw new AppError('second_factor.required_by_policy', 'your organisation requires a second factor for your role: add another one before removing this one');
      }
      await repo.delete(row.id);
      // Without a factor, recovery codes would be a second factor of nothing: they go with the last one.
      if (all.length === 1) await repo.deleteAllOf(me.userId);
      await this.ctx.audit.append(tx, { actor, action: 'second_factor.remove', target: { type: 'user', id: me.userId, label: me.email }, details: { factorId: row.id, kind: row.kind, label: row.label, last: all.length === 1 } });
    });
  }

  /**
   * Removes every second factor and recovery code of another person (a lost phone and lost codes):
   * an organisation-wide user.write holder, after a step-up; their sessions end. Audited.
   */
  async resetUser(actor: Actor, userId: string): Promise<{ removed: number }> {
    authorize(actor, 'user.write');
    requireStepUp(actor, 'second_factor.reset_user', this.ctx.clock.now());
    if (actor.kind === 'user' && actor.userId === userId) throw new AppError('access.self_approval', 'remove your own second factors on your Security page');
    return inTransaction(this.ctx.db, async (tx) => {
      const user = await new IdentityRepository(tx).userById(userId);
      if (!user) throw new AppError('user.not_found', `user ${userId} not found`);
      const removed = await new SecondFactorRepository(tx).deleteAllOf(userId);
      await new IdentityRepository(tx).deleteSessionsOfUser(userId);
      await this.ctx.audit.append(tx, { actor, action: 'second_factor.reset_user', target: { type: 'user', id: userId, label: user.email }, details: { removed } });
      return { removed };
    });
  }

  // ---- proving a factor: at sign-in, and step-up ----

  /** WebAuthn options to sign in or step up with one of the user's passkeys; the challenge is kept with the session. */
  async passkeyAuthenticationOptions(userId: string, session: SessionRef, rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const repo = new SecondFactorRepository(this.ctx.db);
    const keys = (await repo.confirmedOf(userId)).filter((f) => f.kind === 'webauthn');
    if (keys.length === 0) throw new AppError('second_factor.not_enrolled', 'this account has no passkey; use your authenticator app or a recovery code');
    const options = await generateAuthenticationOptions({ rpID: rp.rpID, allowCredentials: keys.map((k) => ({ id: k.credentialId!, transports: (k.transports ?? []) as never })), userVerification: 'preferred' });
    await repo.setChallenge(session.tokenHash, { challenge: options.challenge, purpose: 'authenticate', expiresAt: new Date(this.ctx.clock.now().getTime() + WEBAUTHN_CHALLENGE_TTL_MS).toISOString() });
    return options;
  }

  /**
   * Finishes a sign-in that stopped at the second factor: the session becomes full and the proof
   * counts as its step-up. Throttled and audited like a sign-in.
   */
  async completeSignIn(userId: string, email: string, session: SessionRef, stage: SessionStage, rp: RelyingParty, input: unknown): Promise<void> {
    const proof = parseInput(FactorProofSchema, input);
    if (stage !== 'second_factor') throw new AppError('validation.failed', 'this session is not waiting for a second factor');
    const actor: Extract<Actor, { kind: 'user' }> = { kind: 'user', userId, email, via: 'session', grants: [] };
    await this.prove(actor, session, rp, proof, 'auth.second_factor');
    await new SecondFactorRepository(this.ctx.db).setSessionStage(session.tokenHash, 'full', this.ctx.clock.now());
  }

  /** "Confirm it's you": a second factor, or the password when none is enrolled; good for 5 minutes in this session. */
  async stepUp(actor: Actor, session: SessionRef, rp: RelyingParty, input: unknown): Promise<{ stepUpAt: Date; expiresAt: Date }> {
    const me = userOf(actor);
    if (me.via !== 'session') throw new AppError('auth.forbidden', 'an API token cannot confirm who is at the keyboard; its scope decides what it may do');
    const proof = parseInput(StepUpSchema, input);
    await this.prove(me, session, rp, proof, 'auth.step_up');
    const now = this.ctx.clock.now();
    await new SecondFactorRepository(this.ctx.db).setStepUp(session.tokenHash, now);
    return { stepUpAt: now, expiresAt: new Date(now.getTime() + STEP_UP_WINDOW_MS) };
  }

  private async prove(actor: Extract<Actor, { kind: 'user' }>, session: SessionRef, rp: RelyingParty, proof: StepUpProof, action: 'auth.second_factor' | 'auth.step_up'): Promise<void> {
    const factors = await new SecondFactorRepository(this.ctx.db).confirmedOf(actor.userId);
    const target = { type: 'user', id: actor.userId, label: actor.email };
    if (proof.method === 'password' && factors.length > 0) {
      throw new AppError('validation.failed', 'this account has a second factor: confirm with it (or a recovery code), not the password', [{ path: 'method', message: 'use your second factor' }]);
    }
    if (proof.method !== 'password' && factors.length === 0) {
      throw new AppError('second_factor.not_enrolled', 'this account has no second factor; confirm with your password');
    }
    try {
      await this.takeAttempt(actor.userId);
    } catch (e) {
      await this.ctx.audit.record(this.ctx.db, { actor, action: `${action}_failed`, outcome: 'denied', target, details: { method: proof.method, reason: 'throttled' } });
      throw e;
    }
    const ok = await this.check(actor.userId, session, rp, factors, proof);
    if (!ok) {
      await this.ctx.audit.record(this.ctx.db, { actor, action: `${action}_failed`, outcome: 'failure', target, details: { method: proof.method } });
      throw new AppError(
        proof.method === 'password' ? 'auth.invalid_credentials' : 'auth.second_factor_invalid',
        proof.method === 'totp' ? 'that code is wrong or was already used; wait for the next code'
          : proof.method === 'recovery' ? 'that recovery code is wrong or was already used'
          : proof.method === 'webauthn' ? 'the passkey did not confirm; try again'
          : 'the password is wrong',
        [{ path: proof.method === 'password' ? 'password' : proof.method === 'webauthn' ? 'response' : 'code', message: 'does not match' }],
      );
    }
    await this.throttle.clear([throttleKey(actor.userId)]);
    await this.ctx.audit.record(this.ctx.db, { actor, action, target, details: { method: proof.method, ...(ok !== true ? { factorId: ok } : {}) } });
    if (proof.method === 'recovery') {
      const left = await new SecondFactorRepository(this.ctx.db).recoveryCodesLeft(actor.userId);
      await this.ctx.audit.record(this.ctx.db, { actor, action: 'second_factor.recovery_code.use', target, details: { left } });
    }
  }

  /** True (or the factor's id) when the proof holds; spends what it uses (a time step, a recovery code, a challenge). */
  private async check(userId: string, session: SessionRef, rp: RelyingParty, factors: SecondFactorRow[], proof: StepUpProof): Promise<boolean | string> {
    switch (proof.method) {
      case 'password': {
        const user = await new IdentityRepository(this.ctx.db).userById(userId);
        if (user && !user.passwordHash) {
          throw new AppError('validation.failed', "this account has no password: it signs in through single sign-on. Sign in again with your provider (that confirms it's you for 5 minutes), or add an authenticator app on the Security page", [{ path: 'password', message: 'this account has no password' }]);
        }
        return !!user?.passwordHash && (await verifyPassword(user.passwordHash, proof.password));
      }
      case 'recovery':
        return new SecondFactorRepository(this.ctx.db).useRecoveryCode(userId, this.recoveryMac(userId, proof.code), this.ctx.clock.now());
      case 'totp':
        for (const f of factors.filter((x) => x.kind === 'totp')) {
          const used = await inTransaction(this.ctx.db, async (tx) => {
            const repo = new SecondFactorRepository(tx);
            const row = await repo.byIdForUpdate(f.id);
            const step = row ? this.totpStep(row, proof.code) : null;
            if (step === null) return false;
            await repo.update(f.id, { lastTimeStep: step, lastUsedAt: this.ctx.clock.now() });
            return true;
          });
          if (used) return f.id;
        }
        return false;
      case 'webauthn':
        return this.checkPasskey(session, rp, factors, proof);
    }
  }

  private async checkPasskey(session: SessionRef, rp: RelyingParty, factors: SecondFactorRow[], proof: Extract<FactorProof, { method: 'webauthn' }>): Promise<boolean | string> {
    const expectedChallenge = await this.challengeOf(session, 'authenticate').catch(() => null);
    const f = factors.find((x) => x.kind === 'webauthn' && x.credentialId === proof.response.id);
    if (!expectedChallenge || !f) return false;
    try {
      const result = await verifyAuthenticationResponse({
        response: proof.response as unknown as AuthenticationResponseJSON,
        expectedChallenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.rpID,
        credential: { id: f.credentialId!, publicKey: new Uint8Array(Buffer.from(f.publicKey!, 'base64url')), counter: f.signCount ?? 0, transports: (f.transports ?? []) },
        requireUserVerification: false,
      });
      if (!result.verified) return false;
      await new SecondFactorRepository(this.ctx.db).update(f.id, { signCount: result.authenticationInfo.newCounter, lastUsedAt: this.ctx.clock.now() });
      return f.id;
    } catch {
      return false;
    }
  }

  /**
   * The time step `code` proves for a TOTP factor, or null: the current step or one either side
   * (a phone's clock a little off), never a step at or before the last one used (no replay).
   */
  private totpStep(row: SecondFactorRow, code: string): number | null {
    const secret = this.ctx.secrets.decrypt(row.secretCipher!, `second_factor:${row.id}`);
    const epoch = Math.floor(this.ctx.clock.now().getTime() / 1000);
    const result = verifySync({ secret, token: code, epoch, period: TOTP_PERIOD_S, epochTolerance: TOTP_PERIOD_S, ...(row.lastTimeStep !== null ? { afterTimeStep: row.lastTimeStep } : {}) });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  }

  /** The session's WebAuthn challenge for `purpose`, taken (it works once) while still fresh. */
  private async challengeOf(session: SessionRef, purpose: 'register' | 'authenticate'): Promise<string> {
    const c = await inTransaction(this.ctx.db, (tx) => new SecondFactorRepository(tx).takeChallenge(session.tokenHash));
    if (!c || c.purpose !== purpose || new Date(c.expiresAt) <= this.ctx.clock.now()) {
      throw new AppError('auth.second_factor_invalid', 'the passkey request expired or was already used; try again');
    }
    return c.challenge;
  }

  private async takeAttempt(userId: string): Promise<void> {
    const result = await this.throttle.take([{ key: throttleKey(userId), policy: SECOND_FACTOR_POLICY }]);
    if (result.allowed) return;
    if (result.reason === 'cap') {
      throw new ThrottledError('auth.throttled', 'too many wrong second-factor attempts on this account; ask an owner or admin to remove your second factors so you can enrol again', null, null);
    }
    const seconds = retryAfterSeconds(result.retryAt, this.ctx.clock.now());
    throw new ThrottledError('auth.throttled', `too many wrong codes; try again in ${humanWait(seconds)} (at ${result.retryAt.toISOString()})`, result.retryAt, seconds);
  }
}
