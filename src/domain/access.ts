/**
 * Access requests and grants: the rules, no I/O. A request asks for a role on a location (or on the
 * whole organisation) or for the right to reveal one handbook entry's secrets, with a justification
 * and a duration. Others decide it: never the requester; some requests need two approvers.
 */
import { z } from 'zod';
import { ROLES, type Role } from './identity.js';
import type { LocationKind } from './locations.js';

export const REQUEST_STATES = ['pending', 'approved', 'denied', 'cancelled', 'lapsed'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];
export type GrantState = 'active' | 'expired' | 'revoked';

/** A pending request nobody decided lapses after this long. */
export const REQUEST_LAPSE_MS = 7 * 24 * 3600_000;
/** The longest grant a request (or a temporary direct grant) may ask for: a year. */
export const MAX_DURATION_HOURS = 8760;

const justification = z.string().trim().min(10, 'say why in at least 10 characters').max(1000, 'use at most 1000 characters');
const duration = z.number().int('whole hours').min(1, 'at least 1 hour').max(MAX_DURATION_HOURS, `at most ${MAX_DURATION_HOURS} hours (a year)`);
const uuid = (what: string) => z.string().uuid(`${what} must be an id`);

export const AccessRequestCreateSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('role'), role: z.enum(ROLES), locationId: uuid('locationId').nullable(), justification, durationHours: duration }).strict(),
  z.object({ kind: z.literal('reveal'), entryId: uuid('entryId'), justification, durationHours: duration }).strict(),
]);
export type AccessRequestCreate = z.infer<typeof AccessRequestCreateSchema>;

export const AccessDecisionSchema = z
  .object({ decision: z.enum(['approve', 'deny']), reason: z.string().trim().min(1, 'give a reason').max(1000) })
  .strict();

export const GrantCreateSchema = z
  .object({
    userId: uuid('userId'),
    role: z.enum(ROLES),
    locationId: uuid('locationId').nullable(),
    /** null: until revoked. */
    durationHours: duration.nullable().default(null),
  })
  .strict();

export const GrantRevokeSchema = z.object({ reason: z.string().trim().min(1, 'give a reason').max(1000) }).strict();

export const InviteSchema = z
  .object({
    email: z.string().trim().toLowerCase().email('enter an email address'),
    displayName: z.string().trim().min(1, 'enter a name').max(120),
    role: z.enum(ROLES),
    locationId: uuid('locationId').nullable(),
  })
  .strict();

export const DocumentOwnerSchema = z.object({ userId: uuid('userId').nullable() }).strict();

/**
 * Where a role may be granted: an occupant's role is on their unit (that is what "their own unit"
 * means); every other role on any place or the whole organisation. Returns why not, or null.
 */
export function rolePlaceProblem(role: Role, locationKind: LocationKind | null): string | null {
  if (role === 'occupant' && locationKind !== 'unit') return 'an occupant is granted their own unit: choose a unit';
  return null;
}

/**
 * How many distinct approvers a request needs. Two for the keys to a whole place: revealing secrets
 * of an entry that serves a whole site or the organisation (a model's generic entry), or an owner or
 * admin role. One otherwise.
 */
export function requiredApprovals(req: { kind: 'role'; role: Role; locationKind: LocationKind | null } | { kind: 'reveal'; entryScope: 'lock' | 'model' }): number {
  if (req.kind === 'reveal') return req.entryScope === 'model' ? 2 : 1;
  if (req.role === 'owner' || req.role === 'admin') return 2;
  if (req.locationKind === null || req.locationKind === 'organisation') return 2;
  return 1;
}

/** A request's state as of `now`: an undecided request past its lapse time has lapsed. */
export function requestState(r: { state: Exclude<RequestState, 'lapsed'>; lapsesAt: Date }, now: Date): RequestState {
  return r.state === 'pending' && r.lapsesAt <= now ? 'lapsed' : r.state;
}

/** A grant's state as of `now`. Expiry is decided here, at use time; nothing sweeps. */
export function grantState(g: { revokedAt: Date | null; expiresAt: Date | null }, now: Date): GrantState {
  if (g.revokedAt) return 'revoked';
  if (g.expiresAt && g.expiresAt <= now) return 'expired';
  return 'active';
}

/**
 * The outcome of the decisions so far: any deny denies; enough distinct approvals approve. Callers
 * have already refused a decision by the requester and a second decision by the same person.
 */
export function outcome(required: number, decisions: { decision: 'approve' | 'deny' }[]): 'pending' | 'approved' | 'denied' {
  if (decisions.some((d) => d.decision === 'deny')) return 'denied';
  return decisions.filter((d) => d.decision === 'approve').length >= required ? 'approved' : 'pending';
}

export interface AccessGrantView {
  id: string;
  userId: string;
  userEmail: string;
  userName: string;
  kind: 'role' | 'reveal';
  role: Role | null;
  locationId: string | null;
  locationName: string | null;
  entryId: string | null;
  entryTitle: string | null;
  requestId: string | null;
  grantedBy: string;
  grantedAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  revokeReason: string | null;
  state: GrantState;
}

export interface AccessRequestView {
  id: string;
  requesterId: string;
  requesterEmail: string;
  requesterName: string;
  kind: 'role' | 'reveal';
  role: Role | null;
  locationId: string | null;
  locationName: string | null;
  entryId: string | null;
  entryTitle: string | null;
  justification: string;
  durationHours: number;
  requiredApprovals: number;
  state: RequestState;
  createdAt: Date;
  lapsesAt: Date;
  decidedAt: Date | null;
  grantId: string | null;
  decisions: { approverId: string; approverEmail: string; decision: 'approve' | 'deny'; reason: string; decidedAt: Date }[];
  /** Whether the reader may decide it now (has authority, is not the requester, has not decided). */
  canDecide: boolean;
}
