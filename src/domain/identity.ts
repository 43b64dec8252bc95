import { z } from 'zod';

/** Roles of the brief. Until location-scoped grants land, a user's role applies to the whole organisation. */
export const ROLES = ['owner', 'admin', 'manager', 'technician', 'auditor', 'occupant'] as const;
export type Role = (typeof ROLES)[number];

/** Who is acting. Every service call takes one, so authorization and audit have a subject. */
export type Actor =
  | { kind: 'user'; userId: string; email: string; role: Role; via: 'session' | 'token' }
  /** The local CLI on a data folder no server owns: whoever can read the folder holds everything. */
  | { kind: 'system'; name: 'local-cli' | 'bootstrap' | 'demo-loader' };

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
  | 'token.manage_own'
  | 'handbook.read'
  | 'handbook.write'
  | 'handbook.verify'
  | 'handbook.reveal'
  | 'keys.rotate'
  | 'audit.read';

const READ_ALL: Action[] = ['location.read', 'model.read', 'lock.read', 'credential.read', 'token.manage_own', 'handbook.read'];
const CREDENTIALS: Action[] = ['credential.read', 'credential.write', 'credential.reveal', 'lock.operate'];
// Technicians follow procedures and confirm them (verify, and reveal a code to perform a reset, each
// reveal recorded); editing the handbook is for managers and up; an auditor reads and never reveals.
const HANDBOOK: Action[] = ['handbook.read', 'handbook.write', 'handbook.verify', 'handbook.reveal'];
const GRANTS: Record<Role, readonly Action[]> = {
  owner: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CREDENTIALS, 'user.read', 'user.write', 'token.manage_own', ...HANDBOOK, 'keys.rotate', 'audit.read'],
  admin: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CREDENTIALS, 'user.read', 'token.manage_own', ...HANDBOOK, 'keys.rotate', 'audit.read'],
  manager: [...READ_ALL, 'lock.write', 'lock.retire', 'location.write', ...CREDENTIALS, ...HANDBOOK],
  technician: [...READ_ALL, 'lock.operate', 'handbook.verify', 'handbook.reveal'],
  auditor: [...READ_ALL, 'user.read', 'audit.read'],
  // An occupant's view is limited to their own unit; until unit grants exist, they see nothing.
  occupant: ['token.manage_own'],
};

/**
 * The one authorization decision: may `actor` do `action`? Deny by default. Location scopes arrive
 * with the access issue; the signature already takes the resource so callers need not change.
 */
export function isAllowed(actor: Actor, action: Action, _resource?: { locationPath?: string }): boolean {
  if (actor.kind === 'system') return true;
  return GRANTS[actor.role]?.includes(action) ?? false;
}

/** Lists every action a role is granted, for the UI to hide what it cannot do. */
export function allowedActions(actor: Actor): Action[] {
  if (actor.kind === 'system') return [...GRANTS.owner];
  return [...(GRANTS[actor.role] ?? [])];
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
    password: PasswordSchema.optional(),
  })
  .strict();

export const ApiTokenCreateSchema = z
  .object({
    name: z.string().trim().min(1, 'name the token').max(100),
    expiresInDays: z.number().int().min(1).max(3650).nullable().default(90),
  })
  .strict();

/** A user as the services return it (never with a password hash). */
export interface User {
  id: string;
  email: string;
  displayName: string;
  role: Role;
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
}
