/**
 * Second factors (an authenticator app's TOTP, WebAuthn passkeys and security keys, one-time
 * recovery codes), the owner's policy of who must have one, and step-up ("confirm it's you"): the
 * rules and input schemas only, no I/O.
 */
import { z } from 'zod';
import { AppError } from './errors.js';
import type { Actor, Role } from './identity.js';

/** How long a step-up counts: a fresh second factor (or password) within the last 5 minutes. */
export const STEP_UP_WINDOW_MS = 5 * 60_000;
/** Recovery codes issued at once; each works once. */
export const RECOVERY_CODE_COUNT = 10;
/** Roles that can reveal secrets and administer: the only ones the owner's policy can require a second factor of. */
export const POLICY_ROLES = ['owner', 'admin'] as const satisfies readonly Role[];
/** How long a WebAuthn challenge stays valid. */
export const WEBAUTHN_CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * What a session may do: `full`, or only finish signing in with a second factor (`second_factor`),
 * or only enrol one because the owner's policy requires it (`enrolment`).
 */
export const SESSION_STAGES = ['full', 'second_factor', 'enrolment'] as const;
export type SessionStage = (typeof SESSION_STAGES)[number];

/**
 * What an API token may do: `read` (GET only), `write` (everything except the step-up actions),
 * `full` (the step-up actions too: the token itself was made after a step-up, and expires within 30 days).
 */
export const TOKEN_SCOPES = ['read', 'write', 'full'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
/** A `full` token lives at most this many days. */
export const FULL_TOKEN_MAX_DAYS = 30;

/**
 * How sure the server is that the person is at the keyboard now: a session's last step-up, or an
 * API token's scope. Absent on actors the server did not build from a credential: treated as none.
 */
export type Assurance = { kind: 'session'; stepUpAt: Date | null } | { kind: 'token'; scope: TokenScope };

/** The acts that need a step-up, named as the audit log and the error message name them. */
export type StepUpAction =
  | 'handbook.secret.reveal'
  | 'credential.reveal'
  | 'handbook.export_secrets'
  | 'token.create'
  | 'keys.rotate'
  | 'access.grant_admin'
  | 'second_factor.policy'
  | 'backup.create'
  | 'second_factor.reset_user'
  | 'second_factor.enrol'
  | 'second_factor.remove'
  | 'second_factor.recovery_codes'
  | 'sso.settings';

const WHAT: Record<StepUpAction, string> = {
  'handbook.secret.reveal': 'revealing a handbook secret',
  'credential.reveal': 'revealing a PIN',
  'handbook.export_secrets': 'exporting a handbook with its secrets',
  'token.create': 'creating an API token',
  'keys.rotate': 'rotating the master key',
  'access.grant_admin': 'granting the owner or admin role',
  'second_factor.policy': 'changing the second-factor policy',
  'backup.create': 'starting a backup',
  'second_factor.reset_user': "removing someone else's second factors",
  'second_factor.enrol': 'adding a second factor',
  'second_factor.remove': 'removing a second factor',
  'second_factor.recovery_codes': 'making new recovery codes',
  'sso.settings': 'changing single sign-on',
};

/** Whether `assurance` allows a step-up action at `now`. */
export function hasFreshStepUp(assurance: Assurance | undefined, now: Date): boolean {
  if (!assurance) return false;
  if (assurance.kind === 'token') return assurance.scope === 'full';
  return assurance.stepUpAt !== null && now.getTime() - assurance.stepUpAt.getTime() < STEP_UP_WINDOW_MS && assurance.stepUpAt.getTime() <= now.getTime();
}

/**
 * Throws `auth.step_up_required` unless `actor` confirmed who they are within the last 5 minutes
 * (the local CLI on the data folder holds everything already, so it never needs to).
 */
export function requireStepUp(actor: Actor, action: StepUpAction, now: Date): void {
  if (actor.kind === 'system') return;
  if (hasFreshStepUp(actor.assurance, now)) return;
  if (actor.assurance?.kind === 'token') {
    throw new AppError('auth.step_up_required', `${WHAT[action]} needs an API token with scope "full" (this token's scope is "${actor.assurance.scope}")`);
  }
  throw new AppError('auth.step_up_required', `confirm it's you before ${WHAT[action]}: enter a code from your authenticator app, use your passkey, or enter your password if you have no second factor`);
}

/** Whether the owner's policy requires a second factor of someone holding `roles`. */
export function policyApplies(policy: SecondFactorPolicy, roles: readonly Role[]): boolean {
  return roles.some((r) => (policy.requiredForRoles as readonly Role[]).includes(r));
}

/** The owner's setting: which roles must sign in with a second factor. */
export const SecondFactorPolicySchema = z
  .object({ requiredForRoles: z.array(z.enum(POLICY_ROLES, { message: 'only owner and admin can be required to use a second factor' })).max(2) })
  .strict();
export type SecondFactorPolicy = z.infer<typeof SecondFactorPolicySchema>;
export const DEFAULT_POLICY: SecondFactorPolicy = { requiredForRoles: [] };

const SixDigits = z.string().trim().regex(/^\d{6}$/, 'enter the 6-digit code from your authenticator app');
/** A recovery code as printed (`xxxxx-xxxxx`); spaces, dashes and case do not matter. */
const RecoveryCode = z
  .string()
  .max(40)
  .transform((s) => s.replace(/[\s-]/g, '').toLowerCase())
  .refine((s) => /^[a-z2-7]{10}$/.test(s), 'enter a recovery code as printed, such as abcde-fghij');
/** The browser's WebAuthn answer, checked in full by @simplewebauthn/server; here only its shape and size. */
const WebAuthnResponse = z
  .object({ id: z.string().min(1).max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.record(z.string(), z.unknown()) })
  .passthrough()
  .refine((v) => JSON.stringify(v).length < 64 * 1024, 'the authenticator answer is too large');

export const TotpConfirmSchema = z.object({ code: SixDigits, label: z.string().trim().min(1).max(60).default('Authenticator app') }).strict();
export const WebAuthnRegisterSchema = z.object({ response: WebAuthnResponse, label: z.string().trim().min(1).max(60).default('Passkey') }).strict();

/** Proving a second factor: at sign-in and for a step-up. */
export const FactorProofSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('totp'), code: SixDigits }).strict(),
  z.object({ method: z.literal('recovery'), code: RecoveryCode }).strict(),
  z.object({ method: z.literal('webauthn'), response: WebAuthnResponse }).strict(),
]);
/** A step-up: a second factor, or the password when none is enrolled. */
export const StepUpSchema = z.discriminatedUnion('method', [
  ...FactorProofSchema.options,
  z.object({ method: z.literal('password'), password: z.string().min(1, 'enter your password').max(256) }).strict(),
]);
export type FactorProof = z.infer<typeof FactorProofSchema>;
export type StepUpProof = z.infer<typeof StepUpSchema>;

export const SECOND_FACTOR_KINDS = ['totp', 'webauthn'] as const;
export type SecondFactorKind = (typeof SECOND_FACTOR_KINDS)[number];

/** A second factor as the account's owner sees it (never its secret). */
export interface SecondFactorView {
  id: string;
  kind: SecondFactorKind;
  label: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** The signed-in user's second-factor picture. */
export interface SecondFactorStatus {
  factors: SecondFactorView[];
  recoveryCodesLeft: number;
  /** Whether the owner's policy requires this user to have one. */
  requiredByPolicy: boolean;
  /** When the current session last confirmed who it is (null: never). */
  stepUpAt: Date | null;
  stepUpExpiresAt: Date | null;
}
