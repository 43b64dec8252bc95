import { z } from 'zod';
import { FULL_TOKEN_MAX_DAYS, TOKEN_SCOPES, type Assurance, type TokenScope } from './second-factor.js';

/** Roles of the brief. A role is granted on a location subtree (or the whole organisation). */
export const ROLES = ['owner', 'admin', 'manager', 'technician', 'auditor', 'occupant'] as const;
export type Role = (typeof ROLES)[number];

/**
 * One active grant as the policy sees it: a role on a subtree (`locationPath` null = the whole
 * organisation), or the right to reveal one handbook entry's secrets. Grants that expired or were
 * revoked are never in an actor: they are re-read on every request, as of that request's time.
 */
export type ActorGrant =
  | { kind: 'role'; id: string; role: Role; locationId: string | null; locationPath: string | null; expiresAt: Date | null }
  | { kind: 'reveal'; id: string; entryId: string; expiresAt: Date | null };

/** Who is acting. Every service call takes one, so authorization and audit have a subject. */
export type Actor =
  | {
      kind: 'user';
      userId: string;
      email: string;
      via: 'session' | 'token';
      grants: ActorGrant[];
      /** The session's last step-up or the token's scope (src/domain/second-factor.ts); absent = none. */
      assurance?: Assurance;
    }
  /** The local CLI on a data folder no server owns: whoever can read the folder holds everything. */
  | { kind: 'system'; name: 'local-cli' | 'bootstrap' | 'demo-loader' | 'device-events' | 'turnover' | 'reset-resumer' | 'sso' | 'audit' };

/** Actions the policy knows. Unknown actions are denied. */
export type Action =
  | 'location.read'
  | 'location.write'
  | 'model.read'
  | 'model.write'
  | 'lock.read'
  | 'lock.write'
  | 'lock.retire'
  | 'credential.read'
  | 'credential.write'
  | 'credential.reveal'
  | 'lock.operate'
  | 'user.read'
  | 'user.write'
  | 'access.grant'
  | 'token.manage_own'
  | 'handbook.read'
  | 'handbook.write'
  | 'handbook.verify'
  | 'handbook.reveal'
  | 'keys.rotate'
  | 'integration.manage'
  | 'audit.read'
  /** Write a backup archive: the whole database and the deployment's keys, encrypted. */
  | 'backup.create'
  /** Reset cases: see them; open, decide, cancel and close them; do the steps at the door; approve one as the second person. */
  | 'reset.read'
  | 'reset.manage'
  | 'reset.perform'
  | 'reset.approve';

/**
 * What a resource is to the policy:
 * - `{ locationPath }`: something at a place in the tree; a grant must cover that place;
 * - `'anywhere'`: shared catalogue (models, generic procedures) or one's own things; any grant whose
 *   role has the action will do;
 * - `{ entryId, locationPath }`: a handbook entry (model entries have no place: `null`), for reveals;
 * - nothing: the organisation itself (users, keys, catalogue edits); only an organisation-wide grant.
 */
export type Resource = { locationPath: string } | { entryId: string; locationPath: string | null } | 'anywhere';

const CREDENTIALS: Action[] = ['credential.read', 'credential.write', 'credential.reveal', 'lock.operate'];
const HANDBOOK: Action[] = ['handbook.read', 'handbook.write', 'handbook.verify', 'handbook.reveal'];
const RESET: Action[] = ['reset.read', 'reset.manage', 'reset.perform', 'reset.approve'];
const EVERYTHING: Action[] = [
  'location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CREDENTIALS,
  'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HANDBOOK, 'keys.rotate', 'integration.manage', 'audit.read', 'backup.create', ...RESET,
];

/**
 * The written policy: what each role may do within the subtree it is granted on. Technicians follow
 * procedures and operate locks; revealing a handbook secret is something they request per entry.
 * An auditor reads everything in scope, the audit log included, and changes nothing. A reset case is
 * opened, decided and closed by a manager or above; technicians do its steps at the door; approving
 * a compromise reset is a manager's (and never the opener's: the reset-case rules refuse that). An occupant
 * sees their unit, its locks and its credentials (masked).
 */
export const ROLE_ACTIONS: Record<Role, readonly Action[]> = {
  owner: EVERYTHING,
  admin: EVERYTHING,
  manager: ['location.read', 'location.write', 'model.read', 'lock.read', 'lock.write', 'lock.retire', ...CREDENTIALS, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HANDBOOK, ...RESET],
  technician: ['location.read', 'model.read', 'lock.read', 'credential.read', 'lock.operate', 'token.manage_own', 'handbook.read', 'handbook.verify', 'reset.read', 'reset.perform'],
  auditor: ['location.read', 'model.read', 'lock.read', 'credential.read', 'user.read', 'token.manage_own', 'handbook.read', 'audit.read', 'reset.read'],
  occupant: ['location.read', 'lock.read', 'credential.read', 'token.manage_own'],
};

/** Which roles a role may hand out (by invitation, direct grant or approving a request). */
export const GRANTABLE: Record<Role, readonly Role[]> = {
  owner: ROLES,
  admin: ['admin', 'manager', 'technician', 'auditor', 'occupant'],
  manager: ['manager', 'technician', 'occupant'],
  technician: [],
  auditor: [],
  occupant: [],
};

/** Whether a grant at `grantPath` (null = organisation) covers `path`. Paths are `/id/.../id/`. */
export function covers(grantPath: string | null, path: string): boolean {
  return grantPath === null || path.startsWith(grantPath);
}

function live(g: ActorGrant, now: Date | undefined): boolean {
  return g.expiresAt === null || now === undefined || g.expiresAt > now;
}

/**
 * The one authorization decision: may `actor` do `action` on `resource`? Deny by default. `now`,
 * when given, re-checks expiry (actors are built from grants already live at the request's time).
 */
export function isAllowed(actor: Actor, action: Action, resource?: Resource, now?: Date): boolean {
  if (actor.kind === 'system') return true;
  for (const g of actor.grants) {
    if (!live(g, now)) continue;
    if (g.kind === 'reveal') {
      if (action === 'handbook.reveal' && resource !== undefined && resource !== 'anywhere' && 'entryId' in resource && resource.entryId === g.entryId) return true;
      continue;
    }
    if (!ROLE_ACTIONS[g.role]?.includes(action)) continue;
    if (resource === 'anywhere') return true;
    if (resource === undefined || resource.locationPath === null) {
      if (g.locationPath === null) return true;
      continue;
    }
    if (covers(g.locationPath, resource.locationPath)) return true;
  }
  return false;
}

/**
 * Where `actor` may do `action`: `null` means everywhere (an organisation-wide grant, or the
 * system), otherwise the subtree paths its grants cover (possibly none). List queries filter by it.
 */
export function scopeOf(actor: Actor, action: Action, now?: Date): string[] | null {
  if (actor.kind === 'system') return null;
  const paths: string[] = [];
  for (const g of actor.grants) {
    if (g.kind !== 'role' || !live(g, now) || !ROLE_ACTIONS[g.role]?.includes(action)) continue;
    if (g.locationPath === null) return null;
    paths.push(g.locationPath);
  }
  // Drop paths inside another granted path: one prefix test each is enough.
  return paths.filter((p) => !paths.some((q) => q !== p && p.startsWith(q)));
}

/** Whether `path` is inside `scope` (from `scopeOf`). */
export function inScope(scope: string[] | null, path: string): boolean {
  return scope === null || scope.some((p) => path.startsWith(p));
}

/** Every action the actor holds somewhere, for the UI to hide what it cannot do (the server decides). */
export function allowedActions(actor: Actor): Action[] {
  if (actor.kind === 'system') return [...EVERYTHING];
  const out = new Set<Action>();
  for (const g of actor.grants) {
    if (g.kind === 'role') for (const a of ROLE_ACTIONS[g.role] ?? []) out.add(a);
    else out.add('handbook.reveal');
  }
  return [...out];
}

/**
 * The actions the actor holds organisation-wide (what needs no place: integrations, the audit log, the
 * catalogue, people): the UI shows those pages only to such holders (a site-scoped admin would get 403).
 */
export function organisationActions(actor: Actor): Action[] {
  return allowedActions(actor).filter((a) => isAllowed(actor, a));
}

/** The roles an actor may hand out at `path` (null = organisation-wide). */
export function grantableRoles(actor: Actor, path: string | null, now?: Date): Role[] {
  if (actor.kind === 'system') return [...ROLES];
  const out = new Set<Role>();
  for (const g of actor.grants) {
    if (g.kind !== 'role' || !live(g, now) || !ROLE_ACTIONS[g.role].includes('access.grant')) continue;
    if (g.locationPath !== null && (path === null || !path.startsWith(g.locationPath))) continue;
    for (const r of GRANTABLE[g.role]) out.add(r);
  }
  return ROLES.filter((r) => out.has(r));
}

export const PasswordSchema = z
  .string()
  .min(12, 'use at least 12 characters')
  .max(256, 'use at most 256 characters');

export const SignInSchema = z
  .object({ email: z.string().trim().toLowerCase().email('enter an email address'), password: z.string().min(1, 'enter your password').max(256) })
  .strict();

export const OneTimeSignInSchema = z.object({ token: z.string().min(20).max(200) }).strict();

export const SetPasswordSchema = z
  .object({ currentPassword: z.string().max(256).optional(), newPassword: PasswordSchema })
  .strict();

export const UserCreateSchema = z
  .object({
    email: z.string().trim().toLowerCase().email('enter an email address'),
    displayName: z.string().trim().min(1).max(120),
    role: z.enum(ROLES),
    /** Where the role applies; null or absent: the whole organisation. */
    locationId: z.string().uuid('locationId must be an id').nullable().default(null),
    password: PasswordSchema.optional(),
  })
  .strict();

/**
 * An API token from the API: it always expires (within a year, a `full` one within 30 days) and has a
 * scope; creating one needs a step-up (src/domain/second-factor.ts).
 */
export const ApiTokenCreateSchema = z
  .object({
    name: z.string().trim().min(1, 'name the token').max(100),
    scope: z.enum(TOKEN_SCOPES, { message: 'scope must be read, write or full' }).default('write'),
    expiresInDays: z.number({ message: 'expiresInDays must be a number of days' }).int().min(1).max(365, 'a token expires within 365 days').default(30),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.scope === 'full' && v.expiresInDays > FULL_TOKEN_MAX_DAYS) {
      ctx.addIssue({ code: 'custom', path: ['expiresInDays'], message: `a token with scope full expires within ${FULL_TOKEN_MAX_DAYS} days` });
    }
  });

/**
 * A token issued from the local CLI on the data folder (whoever holds the folder holds everything):
 * `full` by default, and it may be made without expiry.
 */
export const LocalApiTokenCreateSchema = z
  .object({
    name: z.string().trim().min(1, 'name the token').max(100),
    scope: z.enum(TOKEN_SCOPES, { message: 'scope must be read, write or full' }).default('full'),
    expiresInDays: z.number().int().min(1).max(3650).nullable().default(90),
  })
  .strict();

/** A user as the services return it (never with a password hash). */
export interface User {
  id: string;
  email: string;
  displayName: string;
  /** Active role grants, for display (the policy works from the actor's grants). */
  roles: { role: Role; locationId: string | null; locationName: string | null }[];
  hasPassword: boolean;
  createdAt: Date;
}

/** An API token's metadata; the secret itself is shown once, at creation. */
export interface ApiToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  scope: TokenScope;
}
