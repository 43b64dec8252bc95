/**
 * People and their access: invitations, role grants on the location tree, access requests and their
 * decisions, each site's document owner, and in-app notifications.
 */
import { requireStepUp } from '../domain/second-factor.js';

import {
  AccessDecisionSchema,
  AccessRequestCreateSchema,
  DocumentOwnerSchema,
  GrantCreateSchema,
  GrantRevokeSchema,
  grantState,
  InviteSchema,
  outcome,
  REQUEST_LAPSE_MS,
  requestState,
  requiredApprovals,
  rolePlaceProblem,
  type AccessGrantView,
  type AccessRequestView,
} from '../domain/access.js';
import { AppError, isAppError, validationError } from '../domain/errors.js';
import type { LocationKind } from '../domain/locations.js';
import { grantableRoles, isAllowed, scopeOf, type Actor, type Resource, type Role, type User } from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { AccessRepository, type GrantListRow, type RequestListRow } from '../store/access-repository.js';
import { IdentityRepository } from '../store/identity-repository.js';
import { LocationRepository } from '../store/location-repository.js';
import { actorId, authorize, type ServiceContext } from './context.js';
import { entryReadResource, entryResource, locationResource } from './scope.js';

/** Owner and admin: granting them (directly, by invitation or by approving a request) needs a step-up. */
const isAdminRole = (role: string | null | undefined): boolean => role === 'owner' || role === 'admin';

export interface Notification {
  id: string;
  subject: string;
  link: string | null;
  createdAt: Date;
  readAt: Date | null;
}

/** The user behind a user actor; system actors cannot request or decide. */
function userOf(actor: Actor): Extract<Actor, { kind: 'user' }> {
  if (actor.kind !== 'user') throw new AppError('auth.forbidden', 'only a signed-in person can do this');
  return actor;
}

function organisationOr(path: string | null): Resource | undefined {
  return path === null ? undefined : { locationPath: path };
}

export class AccessService {
  constructor(
    private readonly ctx: ServiceContext,
    /** Issues a one-time sign-in link for a new account (the auth service's). */
    private readonly issueLink: (db: Db, userId: string) => Promise<string>,
  ) {}

  private now() {
    return this.ctx.clock.now();
  }

  /** Where a role would apply: a location's path, or null for the whole organisation. */
  private async placeOf(db: Db, locationId: string | null): Promise<{ path: string | null; kind: string | null }> {
    if (locationId === null) return { path: null, kind: null };
    const loc = await locationResource(db, locationId).catch((e: unknown) => {
      if (isAppError(e, 'location.not_found')) throw new AppError('location.not_found', `location ${locationId} not found`, [{ path: 'locationId', message: 'no such location' }]);
      throw e;
    });
    return { path: loc.locationPath, kind: loc.kind };
  }

  /** Refuses unless `actor` may hand out `role` at the place, and the role fits the place. */
  private requireGrantable(actor: Actor, role: Role, place: { path: string | null; kind: string | null }): void {
    const problem = rolePlaceProblem(role, place.kind as LocationKind | null);
    if (problem) throw validationError([{ path: 'locationId', message: problem }]);
    const path = place.path;
    authorize(actor, 'access.grant', organisationOr(path));
    if (!grantableRoles(actor, path, this.now()).includes(role)) {
      throw new AppError('access.not_grantable', `you may not grant the ${role} role here`, [{ path: 'role', message: 'above what you may grant here' }]);
    }
  }

  /**
   * Invites a person: an account without a password, a role on a location, and a one-time sign-in
   * link (valid 24 hours) for the inviter to pass on.
   */
  async invite(actor: Actor, input: unknown): Promise<{ user: User; oneTimeToken: string }> {
    const data = parseInput(InviteSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      const place = await this.placeOf(tx, data.locationId);
      authorize(actor, 'user.write', organisationOr(place.path));
      this.requireGrantable(actor, data.role, place);
      if (isAdminRole(data.role)) requireStepUp(actor, 'access.grant_admin', this.now());
      const ids = new IdentityRepository(tx);
      if (await ids.userByEmail(data.email)) {
        throw new AppError('user.duplicate', `an account with email ${data.email} exists; grant it a role instead`, [{ path: 'email', message: 'already registered' }]);
      }
      const now = this.now();
      const user = await ids.insertUser({ id: this.ctx.ids.uuid(), email: data.email, displayName: data.displayName, passwordHash: null, createdAt: now });
      await new AccessRepository(tx).insertGrant({ id: this.ctx.ids.uuid(), userId: user.id, kind: 'role', role: data.role, locationId: data.locationId, grantedBy: actorId(actor), grantedAt: now });
      const token = await this.issueLink(tx, user.id);
      await this.ctx.audit.append(tx, { actor, action: 'user.invite', target: { type: 'user', id: user.id, label: user.email }, locationId: data.locationId, details: { role: data.role, locationId: data.locationId, displayName: data.displayName } });
      const roles = (await new AccessRepository(tx).liveRolesOf([user.id], now)).get(user.id) ?? [];
      return { user: { id: user.id, email: user.email, displayName: user.displayName, roles, hasPassword: false, createdAt: user.createdAt }, oneTimeToken: token };
    });
  }

  /** Grants a role on a location (or organisation-wide) to an existing person, optionally for a time. */
  async grant(actor: Actor, input: unknown): Promise<AccessGrantView> {
    const data = parseInput(GrantCreateSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      const place = await this.placeOf(tx, data.locationId);
      this.requireGrantable(actor, data.role, place);
      if (isAdminRole(data.role)) requireStepUp(actor, 'access.grant_admin', this.now());
      if (actor.kind === 'user' && actor.userId === data.userId) throw new AppError('access.self_approval', 'nobody grants access to themselves; ask someone else');
      if (!(await new IdentityRepository(tx).userById(data.userId))) throw new AppError('user.not_found', `user ${data.userId} not found`, [{ path: 'userId', message: 'no such user' }]);
      const now = this.now();
      const repo = new AccessRepository(tx);
      const g = await repo.insertGrant({
        id: this.ctx.ids.uuid(),
        userId: data.userId,
        kind: 'role',
        role: data.role,
        locationId: data.locationId,
        grantedBy: actorId(actor),
        grantedAt: now,
        expiresAt: data.durationHours === null ? null : new Date(now.getTime() + data.durationHours * 3600_000),
      });
      await this.ctx.audit.append(tx, { actor, action: 'access.grant', target: { type: 'access_grant', id: g.id }, locationId: data.locationId, details: { userId: data.userId, role: data.role, locationId: data.locationId, expiresAt: g.expiresAt?.toISOString() ?? null } });
      await repo.insertNotifications([{ id: this.ctx.ids.uuid(), userId: data.userId, subject: `You were granted ${data.role}${place.path ? ' on a location' : ' on the whole organisation'}`, link: '/access', createdAt: now }]);
      return this.presentGrant((await repo.grantById(g.id))!, now);
    });
  }

  /** Ends a grant at once. The last organisation-wide owner cannot be removed. */
  async revoke(actor: Actor, grantId: string, input: unknown): Promise<AccessGrantView> {
    const { reason } = parseInput(GrantRevokeSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new AccessRepository(tx);
      const row = await repo.grantById(grantId);
      if (!row) throw new AppError('access.grant_not_found', `grant ${grantId} not found`);
      const g = row.grant;
      if (g.kind === 'reveal') {
        const entry = await entryResource(tx, g.entryId!);
        authorize(actor, 'access.grant', organisationOr(entry.locationPath));
      } else {
        authorize(actor, 'access.grant', organisationOr(row.locationPath));
        // Only someone who could hand out this role here may take it away (a manager does not end an admin).
        if (!grantableRoles(actor, row.locationPath, this.now()).includes(g.role!)) throw new AppError('access.not_grantable', `you may not revoke the ${g.role} role here`);
      }
      const now = this.now();
      if (grantState(g, now) !== 'active') throw new AppError('access.not_pending', 'this grant has already ended');
      if (g.kind === 'role' && g.role === 'owner' && g.locationId === null) {
        const owners = await repo.holdersCovering(null, ['owner'], now);
        if (owners.length <= 1) throw new AppError('access.last_owner', 'this is the last owner of the organisation; grant another owner first');
      }
      await repo.revokeGrant(grantId, actorId(actor), reason, now);
      await this.ctx.audit.append(tx, { actor, action: 'access.revoke', target: { type: 'access_grant', id: grantId, label: row.userEmail }, locationId: g.locationId, details: { userId: g.userId, kind: g.kind, role: g.role, entryId: g.entryId, reason } });
      await repo.insertNotifications([{ id: this.ctx.ids.uuid(), userId: g.userId, subject: `Your access was revoked: ${reason}`, link: '/access', createdAt: now }]);
      return this.presentGrant((await repo.grantById(grantId))!, now);
    });
  }

  /** Grants the reader may see: on locations in their `user.read` scope (all, organisation-wide). */
  async grants(actor: Actor, opts: { locationId?: string; userId?: string; includeInactive?: boolean } = {}): Promise<AccessGrantView[]> {
    const now = this.now();
    const own = actor.kind === 'user' && opts.userId === actor.userId;
    const scope = own ? null : scopeOf(actor, 'user.read', now);
    if (!own && scope !== null && scope.length === 0) authorize(actor, 'user.read', 'anywhere');
    const underPath = opts.locationId ? (await locationResource(this.ctx.db, opts.locationId)).locationPath : undefined;
    const rows = await new AccessRepository(this.ctx.db).grants({ scope, userId: opts.userId, underPath, includeInactive: opts.includeInactive ?? false, now });
    return rows.map((r) => this.presentGrant(r, now));
  }

  /** Asks for access one does not have. The site's document owner is told; approvers see it in their inbox. */
  async request(actor: Actor, input: unknown): Promise<AccessRequestView> {
    const me = userOf(actor);
    const data = parseInput(AccessRequestCreateSchema, input);
    const id = await inTransaction(this.ctx.db, async (tx) => {
      const now = this.now();
      const repo = new AccessRepository(tx);
      let required: number;
      let notifyPath: string | null;
      let shape: { kind: 'role' | 'reveal'; role: Role | null; locationId: string | null; entryId: string | null };
      if (data.kind === 'role') {
        const place = await this.placeOf(tx, data.locationId);
        const problem = rolePlaceProblem(data.role, place.kind as LocationKind | null);
        if (problem) throw validationError([{ path: 'locationId', message: problem }]);
        required = requiredApprovals({ kind: 'role', role: data.role, locationKind: place.kind as never });
        notifyPath = place.path;
        shape = { kind: 'role', role: data.role, locationId: data.locationId, entryId: null };
      } else {
        const entry = await entryResource(tx, data.entryId);
        // Only someone who can read the entry learns it exists.
        if (!isAllowed(actor, 'handbook.read', entryReadResource(entry), now)) throw new AppError('handbook.not_found', `handbook entry ${data.entryId} not found`);
        required = requiredApprovals({ kind: 'reveal', entryScope: entry.locationPath === null ? 'model' : 'lock' });
        notifyPath = entry.locationPath;
        shape = { kind: 'reveal', role: null, locationId: null, entryId: data.entryId };
      }
      if (await repo.pendingRequestLike(me.userId, shape, now)) throw new AppError('access.duplicate_request', 'you already have a pending request for this');
      const id = this.ctx.ids.uuid();
      await repo.insertRequest({ id, requesterId: me.userId, ...shape, justification: data.justification, durationHours: data.durationHours, requiredApprovals: required, state: 'pending', createdAt: now, lapsesAt: new Date(now.getTime() + REQUEST_LAPSE_MS) });
      await this.ctx.audit.append(tx, { actor, action: 'access.request', target: { type: 'access_request', id }, locationId: shape.locationId, details: { ...shape, justification: data.justification, durationHours: data.durationHours, requiredApprovals: required } });
      const owner = await this.documentOwnerFor(tx, notifyPath);
      if (owner && owner !== me.userId) {
        await repo.insertNotifications([{ id: this.ctx.ids.uuid(), userId: owner, subject: `${me.email} requests ${shape.kind === 'role' ? `the ${shape.role} role` : 'to reveal handbook secrets'}`, link: '/access', createdAt: now }]);
      }
      return id;
    });
    return this.requestView(actor, id);
  }

  /** The document owner of the site that contains `path` (null: none named, or organisation-wide). */
  private async documentOwnerFor(db: Db, path: string | null): Promise<string | null> {
    if (path === null) return null;
    const ids = path.split('/').filter(Boolean);
    const locs = await new LocationRepository(db).byIds(ids);
    const site = locs.find((l) => l.kind === 'site');
    return site?.documentOwnerId ?? null;
  }

  /** Whether `actor` has authority to decide the request (not whether they already did). */
  private canAuthorize(actor: Actor, r: RequestListRow, now: Date): boolean {
    if (actor.kind !== 'user' || actor.userId === r.request.requesterId) return false;
    if (r.request.kind === 'role') return grantableRoles(actor, r.locationPath, now).includes(r.request.role!);
    const res = { entryId: r.request.entryId!, locationPath: r.entryLocationPath };
    return isAllowed(actor, 'access.grant', organisationOr(r.entryLocationPath), now) && isAllowed(actor, 'handbook.reveal', res, now);
  }

  /** Approves or denies. Never the requester; each approver once; enough approvals create the grant. */
  async decide(actor: Actor, requestId: string, input: unknown): Promise<AccessRequestView> {
    const me = userOf(actor);
    const data = parseInput(AccessDecisionSchema, input);
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new AccessRepository(tx);
      const r = await repo.requestById(requestId, true);
      if (!r) throw new AppError('access.request_not_found', `access request ${requestId} not found`);
      const now = this.now();
      if (r.request.requesterId === me.userId) throw new AppError('access.self_approval', 'you cannot decide your own request');
      if (!this.canAuthorize(actor, r, now)) throw new AppError('auth.forbidden', 'you have no authority over what this request asks for');
      // Approving an owner or admin role is granting it; denying needs no confirmation.
      if (data.decision === 'approve' && r.request.kind === 'role' && isAdminRole(r.request.role)) requireStepUp(actor, 'access.grant_admin', now);
      const state = requestState(r.request, now);
      if (state !== 'pending') throw new AppError('access.not_pending', `this request is ${state}`);
      const prior = await repo.decisionsOf([requestId]);
      if (prior.some((d) => d.approverId === me.userId)) throw new AppError('access.already_decided', 'you already decided this request');
      await repo.insertDecision({ requestId, approverId: me.userId, requesterId: r.request.requesterId, decision: data.decision, reason: data.reason, decidedAt: now });
      const result = outcome(r.request.requiredApprovals, [...prior, { decision: data.decision }]);
      await this.ctx.audit.append(tx, { actor, action: `access.request.${data.decision}`, target: { type: 'access_request', id: requestId, label: r.requesterEmail }, locationId: r.request.locationId, details: { reason: data.reason, outcome: result, approvals: prior.length + 1, required: r.request.requiredApprovals } });
      if (result === 'pending') return;
      let grantId: string | null = null;
      if (result === 'approved') {
        grantId = this.ctx.ids.uuid();
        await repo.insertGrant({
          id: grantId,
          userId: r.request.requesterId,
          kind: r.request.kind,
          role: r.request.role,
          locationId: r.request.kind === 'role' ? r.request.locationId : null,
          entryId: r.request.entryId,
          requestId,
          grantedBy: me.userId,
          grantedAt: now,
          expiresAt: new Date(now.getTime() + r.request.durationHours * 3600_000),
        });
      }
      await repo.setRequestState(requestId, result, now, grantId);
      await repo.insertNotifications([{ id: this.ctx.ids.uuid(), userId: r.request.requesterId, subject: `Your access request was ${result}: ${data.reason}`, link: '/access', createdAt: now }]);
    });
    return this.requestView(actor, requestId);
  }

  /** The requester withdraws a pending request. */
  async cancel(actor: Actor, requestId: string): Promise<AccessRequestView> {
    const me = userOf(actor);
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new AccessRepository(tx);
      const r = await repo.requestById(requestId, true);
      if (!r || r.request.requesterId !== me.userId) throw new AppError('access.request_not_found', `access request ${requestId} not found`);
      const state = requestState(r.request, this.now());
      if (state !== 'pending') throw new AppError('access.not_pending', `this request is ${state}`);
      await repo.setRequestState(requestId, 'cancelled', this.now());
      await this.ctx.audit.append(tx, { actor, action: 'access.request.cancel', target: { type: 'access_request', id: requestId }, locationId: r.request.locationId });
    });
    return this.requestView(actor, requestId);
  }

  /**
   * Requests the reader may see: `mine` (their own), `inbox` (pending ones they may decide), or
   * `all` (every request on what they have authority over, decided or not).
   */
  async requests(actor: Actor, view: 'mine' | 'inbox' | 'all'): Promise<AccessRequestView[]> {
    const me = userOf(actor);
    const now = this.now();
    const repo = new AccessRepository(this.ctx.db);
    const rows = await repo.requests(view === 'mine' ? { requesterId: me.userId } : { pendingOnly: view === 'inbox' });
    const visible = view === 'mine' ? rows : rows.filter((r) => this.canAuthorize(actor, r, now));
    const decisions = await repo.decisionsOf(visible.map((r) => r.request.id));
    const out = visible.map((r) => this.presentRequest(actor, r, decisions, now));
    return view === 'inbox' ? out.filter((r) => r.canDecide) : out;
  }

  private async requestView(actor: Actor, id: string): Promise<AccessRequestView> {
    const repo = new AccessRepository(this.ctx.db);
    const r = await repo.requestById(id);
    if (!r) throw new AppError('access.request_not_found', `access request ${id} not found`);
    const now = this.now();
    const mine = actor.kind === 'user' && r.request.requesterId === actor.userId;
    if (!mine && !this.canAuthorize(actor, r, now)) throw new AppError('access.request_not_found', `access request ${id} not found`);
    return this.presentRequest(actor, r, await repo.decisionsOf([id]), now);
  }

  async getRequest(actor: Actor, id: string): Promise<AccessRequestView> {
    userOf(actor);
    return this.requestView(actor, id);
  }

  /** Names (or clears) a site's document owner: told of every access request on the site. */
  async setDocumentOwner(actor: Actor, locationId: string, input: unknown): Promise<void> {
    const { userId } = parseInput(DocumentOwnerSchema, input);
    await inTransaction(this.ctx.db, async (tx) => {
      const loc = await locationResource(tx, locationId);
      authorize(actor, 'location.write', loc);
      if (loc.kind !== 'site') throw new AppError('validation.failed', 'only a site has a document owner', [{ path: 'locationId', message: 'not a site' }]);
      if (userId && !(await new IdentityRepository(tx).userById(userId))) throw new AppError('user.not_found', `user ${userId} not found`, [{ path: 'userId', message: 'no such user' }]);
      await new LocationRepository(tx).update(locationId, { documentOwnerId: userId, updatedAt: this.now() });
      await this.ctx.audit.append(tx, { actor, action: 'location.document_owner', target: { type: 'location', id: locationId }, locationId, details: { userId } });
    });
  }

  async notifications(actor: Actor): Promise<Notification[]> {
    const me = userOf(actor);
    return (await new AccessRepository(this.ctx.db).notificationsOf(me.userId)).map((n) => ({ id: n.id, subject: n.subject, link: n.link, createdAt: n.createdAt, readAt: n.readAt }));
  }

  async markNotificationsRead(actor: Actor): Promise<void> {
    const me = userOf(actor);
    await new AccessRepository(this.ctx.db).markNotificationsRead(me.userId, this.now());
  }

  private presentGrant(r: GrantListRow, now: Date): AccessGrantView {
    const g = r.grant;
    return {
      id: g.id,
      userId: g.userId,
      userEmail: r.userEmail,
      userName: r.userName,
      kind: g.kind,
      role: g.role,
      locationId: g.locationId,
      locationName: r.locationName,
      entryId: g.entryId,
      entryTitle: r.entryTitle,
      requestId: g.requestId,
      grantedBy: g.grantedBy,
      grantedAt: g.grantedAt,
      expiresAt: g.expiresAt,
      revokedAt: g.revokedAt,
      revokedBy: g.revokedBy,
      revokeReason: g.revokeReason,
      state: grantState(g, now),
    };
  }

  private presentRequest(actor: Actor, r: RequestListRow, decisions: Awaited<ReturnType<AccessRepository['decisionsOf']>>, now: Date): AccessRequestView {
    const q = r.request;
    const mine = decisions.filter((d) => d.requestId === q.id);
    const state = requestState(q, now);
    return {
      id: q.id,
      requesterId: q.requesterId,
      requesterEmail: r.requesterEmail,
      requesterName: r.requesterName,
      kind: q.kind,
      role: q.role,
      locationId: q.locationId,
      locationName: r.locationName,
      entryId: q.entryId,
      entryTitle: r.entryTitle,
      justification: q.justification,
      durationHours: q.durationHours,
      requiredApprovals: q.requiredApprovals,
      state,
      createdAt: q.createdAt,
      lapsesAt: q.lapsesAt,
      decidedAt: q.decidedAt,
      grantId: q.grantId,
      decisions: mine.map((d) => ({ approverId: d.approverId, approverEmail: d.approverEmail, decision: d.decision, reason: d.reason, decidedAt: d.decidedAt })),
      canDecide: state === 'pending' && this.canAuthorize(actor, r, now) && !mine.some((d) => actor.kind === 'user' && d.approverId === actor.userId),
    };
  }
}
