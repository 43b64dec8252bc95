/**
 * Single sign-on with OpenID Connect: the owner's settings, how a person's claims at the identity
 * provider (IdP) become a lockwarden account, and the sentences a person sees when a sign-in is
 * refused. Rules and schemas only, no I/O.
 */
import { z } from 'zod';
import { ROLES, type Role } from './identity.js';

/** Roles an SSO sign-up or a group mapping may give: never owner (an owner is made by an owner). */
export const SSO_ROLES = ROLES.filter((r): r is Exclude<Role, 'owner'> => r !== 'owner');
export type SsoRole = (typeof SSO_ROLES)[number];

/**
 * An issuer URL: http(s), no credentials, no query or fragment (discovery appends its own path).
 * Plain http is accepted for an IdP on a trusted network; the outbound URL policy (issue 19, item 4)
 * is not on this branch, so private addresses are not refused here.
 */
const IssuerUrl = z
  .string()
  .trim()
  .min(1, 'enter the issuer URL of your identity provider')
  .max(2000)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'the issuer URL must be an http(s) address without a user name, query or fragment, such as https://login.example.com/realms/main');

const RolePlace = {
  role: z.enum(SSO_ROLES, { message: `the role must be one of ${SSO_ROLES.join(', ')} (owner cannot be given by single sign-on)` }),
  locationId: z.uuid('choose a location (or none for the whole organisation)').nullable().default(null),
};

/** One group of the IdP and the role (and place) someone in it gets when their account is made by SSO. */
export const GroupRoleSchema = z.object({ group: z.string().trim().min(1, 'enter the group name').max(200), ...RolePlace }).strict();

/** The owner's SSO settings as sent; `clientSecret` omitted keeps the stored one. */
export const OidcSettingsSchema = z
  .object({
    enabled: z.boolean(),
    providerName: z.string().trim().min(1, 'enter the name people know the provider by, such as "Contoso login"').max(60),
    issuerUrl: IssuerUrl,
    clientId: z.string().trim().min(1, 'enter the client id the provider gave lockwarden').max(300),
    clientSecret: z.string().min(1, 'enter the client secret').max(2000).optional(),
    selfSignUp: z.object({ enabled: z.boolean().default(false), ...RolePlace }).strict().default({ enabled: false, role: 'technician', locationId: null }),
    /** The claim that lists a person's groups (`groups` at most providers); null: no mapping. */
    groupClaim: z.string().trim().min(1).max(100).nullable().default(null),
    groupRoles: z.array(GroupRoleSchema).max(50).default([]),
    /** Accounts linked to the IdP cannot sign in with a password. */
    passwordSignInOffForSsoUsers: z.boolean().default(false),
    /** The IdP enforces its own second factor: an `amr` claim saying so stands in for lockwarden's. */
    idpProvidesMfa: z.boolean().default(false),
  })
  .strict();
export type OidcSettingsInput = z.infer<typeof OidcSettingsSchema>;

/** The stored settings: the client secret only sealed. */
export type OidcSettings = Omit<OidcSettingsInput, 'clientSecret'> & { clientSecretSealed: string | null };

/** The settings as an owner reads them: never the secret, only whether one is stored. */
export type OidcSettingsView = Omit<OidcSettingsInput, 'clientSecret'> & { hasClientSecret: boolean; redirectUrl: string };

/** Why an SSO sign-in was refused: each has the sentence a person reads (`SSO_MESSAGES`). */
export const SSO_REFUSALS = [
  'not_configured',
  'expired',
  'state_mismatch',
  'cancelled',
  'provider_error',
  'unreachable',
  'not_verified',
  'no_email',
  'unverified_email',
  'no_account',
  'disabled',
  'linked_elsewhere',
] as const;
export type SsoRefusal = (typeof SSO_REFUSALS)[number];

/** What a person reads on the sign-in page for each refusal (never a code). */
export const SSO_MESSAGES: Record<SsoRefusal, string> = {
  not_configured: 'Single sign-on is not set up here. Sign in with your email and password.',
  expired: 'That sign-in took too long or was started in another browser. Please try again.',
  state_mismatch: 'The answer from your identity provider did not belong to this sign-in, so it was refused. Please try again.',
  cancelled: 'The sign-in was cancelled at your identity provider.',
  provider_error: 'Your identity provider did not complete the sign-in. Please try again, or ask your administrator.',
  unreachable: 'Your identity provider could not be reached. Please try again in a moment.',
  not_verified: "Your identity provider's answer could not be verified, so you were not signed in. Please try again.",
  no_email: 'Your identity provider did not share your email address, so lockwarden cannot tell which account is yours.',
  unverified_email: 'Your identity provider has not verified your email address, so it cannot be matched to an account here. Ask your administrator to verify it at the provider.',
  no_account: 'There is no account here for your email address, and accounts are not created by signing in. Ask an owner or admin to invite you.',
  disabled: 'This account is disabled. Ask an owner or admin.',
  linked_elsewhere: 'This account is already linked to a different identity at your provider. Ask an owner or admin.',
};

/** The sentence for a refusal key from the sign-in page's address; anything unknown gets a general one. */
export function ssoMessage(key: string | null): string | null {
  if (!key) return null;
  return (SSO_MESSAGES as Record<string, string>)[key] ?? SSO_MESSAGES.provider_error;
}

/**
 * Whether the IdP's `amr` (RFC 8176) says the person gave more than one factor: `mfa`, or two
 * different methods. Only consulted when the owner marked the IdP as enforcing MFA.
 */
export function amrShowsMfa(amr: unknown): boolean {
  if (!Array.isArray(amr)) return false;
  const methods = new Set(amr.filter((m): m is string => typeof m === 'string'));
  return methods.has('mfa') || methods.size >= 2;
}

/** The groups in a claim value: a list of names, or one name. */
export function groupsOf(claim: unknown): string[] {
  if (typeof claim === 'string') return [claim];
  if (Array.isArray(claim)) return claim.filter((g): g is string => typeof g === 'string');
  return [];
}

/**
 * The role a new account made by SSO gets: the first mapping whose group the person is in, else the
 * self-sign-up default. Order is the owner's: put the narrower groups first.
 */
export function signUpRole(settings: Pick<OidcSettings, 'selfSignUp' | 'groupRoles'>, groups: string[]): { role: SsoRole; locationId: string | null; group: string | null } {
  const hit = settings.groupRoles.find((m) => groups.includes(m.group));
  if (hit) return { role: hit.role, locationId: hit.locationId, group: hit.group };
  return { role: settings.selfSignUp.role, locationId: settings.selfSignUp.locationId, group: null };
}
