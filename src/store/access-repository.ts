import { and, asc, desc, eq, gt, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { ActorGrant, Role } from '../domain/identity.js';
import type { Db } from './database.js';
import { pathIn } from './scope-sql.js';
import { accessDecisions, accessGrants, accessRequests, handbookEntries, locations, locks, notifications, users } from './schema.js';

export type GrantRow = typeof accessGrants.$inferSelect;
export type RequestRow = typeof accessRequests.$inferSelect;
export type DecisionRow = typeof accessDecisions.$inferSelect;

/** A grant or request with the names people read: the user, the location, the entry. */
export interface GrantListRow {
  grant: GrantRow;
  userEmail: string;
  userName: string;
  locationName: string | null;
  locationPath: string | null;
  entryTitle: string | null;
}
export interface RequestListRow {
  request: RequestRow;
  requesterEmail: string;
  requesterName: string;
  locationName: string | null;
  locationPath: string | null;
  entryTitle: string | null;
  /** Where the request's subject sits: the location's path, or the entry's lock's location path. */
  entryLocationPath: string | null;
}

/** Grants, access requests and their decisions, and in-app notifications. */
export class AccessRepository {
  constructor(private readonly db: Db) {}

  /** The grants live at `now` of one user, as the policy reads them (role grants with their subtree path). */
  async liveGrantsOf(userId: string, now: Date): Promise<ActorGrant[]> {
    const rows = await this.db
      .select({ g: accessGrants, path: locations.path })
      .from(accessGrants)
      .leftJoin(locations, eq(locations.id, accessGrants.locationId))
      .where(and(eq(accessGrants.userId, userId), isNull(accessGrants.revokedAt), or(isNull(accessGrants.expiresAt), gt(accessGrants.expiresAt, now))));
    return rows.map(({ g, path }): ActorGrant =>
      g.kind === 'reveal'
        ? { kind: 'reveal', id: g.id, entryId: g.entryId!, expiresAt: g.expiresAt }
        : { kind: 'role', id: g.id, role: g.role!, locationId: g.locationId, locationPath: path ?? null, expiresAt: g.expiresAt },
    );
  }

  /** Live role grants of many users, for showing who holds what. */
  async liveRolesOf(userIds: string[], now: Date): Promise<Map<string, { role: Role; locationId: string | null; locationName: string | null }[]>> {
    const out = new Map<string, { role: Role; locationId: string | null; locationName: string | null }[]>();
    if (!userIds.length) return out;
    const rows = await this.db
      .select({ userId: accessGrants.userId, role: accessGrants.role, locationId: accessGrants.locationId, locationName: locations.name })
      .from(accessGrants)
      .leftJoin(locations, eq(locations.id, accessGrants.locationId))
      .where(and(inArray(accessGrants.userId, userIds), eq(accessGrants.kind, 'role'), isNull(accessGrants.revokedAt), or(isNull(accessGrants.expiresAt), gt(accessGrants.expiresAt, now))))
      .orderBy(asc(accessGrants.grantedAt));
    for (const r of rows) {
      const list = out.get(r.userId) ?? [];
      list.push({ role: r.role!, locationId: r.locationId, locationName: r.locationName });
      out.set(r.userId, list);
    }
    return out;
  }

  async insertGrant(row: typeof accessGrants.$inferInsert): Promise<GrantRow> {
    const [created] = await this.db.insert(accessGrants).values(row).returning();
    return created!;
  }

  async grantById(id: string): Promise<GrantListRow | null> {
    const [row] = await this.grantSelect().where(eq(accessGrants.id, id));
    return row ?? null;
  }

  /** Revokes a grant that is not revoked yet; false when it already was. */
  async revokeGrant(id: string, by: string, reason: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .update(accessGrants)
      .set({ revokedAt: now, revokedBy: by, revokeReason: reason })
      .where(and(eq(accessGrants.id, id), isNull(accessGrants.revokedAt)))
      .returning({ id: accessGrants.id });
    return rows.length === 1;
  }

  private grantSelect() {
    return this.db
      .select({
        grant: accessGrants,
        userEmail: users.email,
        userName: users.displayName,
        locationName: locations.name,
        locationPath: locations.path,
        entryTitle: handbookEntries.title,
      })
      .from(accessGrants)
      .innerJoin(users, eq(users.id, accessGrants.userId))
      .leftJoin(locations, eq(locations.id, accessGrants.locationId))
      .leftJoin(handbookEntries, eq(handbookEntries.id, accessGrants.entryId));
  }

  /**
   * Grants visible in `scope` (role grants on a location inside it; organisation-wide and reveal
   * grants only to an unrestricted reader), optionally of one user or on one location's subtree.
   */
  async grants(opts: { scope: string[] | null; userId?: string; underPath?: string; includeInactive: boolean; now: Date }): Promise<GrantListRow[]> {
    const conds: (SQL | undefined)[] = [];
    if (opts.scope !== null) conds.push(and(sql`${accessGrants.locationId} is not null`, pathIn(locations.path, opts.scope)));
    if (opts.userId) conds.push(eq(accessGrants.userId, opts.userId));
    if (opts.underPath) conds.push(sql`${locations.path} like ${`${opts.underPath}%`}`);
    if (!opts.includeInactive) conds.push(and(isNull(accessGrants.revokedAt), or(isNull(accessGrants.expiresAt), gt(accessGrants.expiresAt, opts.now))));
    return this.grantSelect()
      .where(and(...conds))
      .orderBy(sql`${locations.path} asc nulls first`, asc(users.email), desc(accessGrants.grantedAt))
      .limit(2000);
  }

  async insertRequest(row: typeof accessRequests.$inferInsert): Promise<void> {
    await this.db.insert(accessRequests).values(row);
  }

  private requestSelect() {
    return this.db
      .select({
        request: accessRequests,
        requesterEmail: users.email,
        requesterName: users.displayName,
        locationName: locations.name,
        locationPath: locations.path,
        entryTitle: handbookEntries.title,
        entryLocationPath: sql<string | null>`(select l2.path from ${locks} k join ${locations} l2 on l2.id = k.location_id where k.id = ${handbookEntries.lockId})`,
      })
      .from(accessRequests)
      .innerJoin(users, eq(users.id, accessRequests.requesterId))
      .leftJoin(locations, eq(locations.id, accessRequests.locationId))
      .leftJoin(handbookEntries, eq(handbookEntries.id, accessRequests.entryId));
  }

  /** One request, locked for a decision when `forUpdate`. */
  async requestById(id: string, forUpdate = false): Promise<RequestListRow | null> {
    if (forUpdate) await this.db.execute(sql`select 1 from ${accessRequests} where id = ${id} for update`);
    const [row] = await this.requestSelect().where(eq(accessRequests.id, id));
    return row ?? null;
  }

  /** Requests by one requester, or every request (the service filters by authority). */
  async requests(opts: { requesterId?: string; pendingOnly?: boolean }): Promise<RequestListRow[]> {
    const conds: SQL[] = [];
    if (opts.requesterId) conds.push(eq(accessRequests.requesterId, opts.requesterId));
    if (opts.pendingOnly) conds.push(eq(accessRequests.state, 'pending'));
    return this.requestSelect()
      .where(and(...conds))
      .orderBy(desc(accessRequests.createdAt))
      .limit(500);
  }

  async pendingRequestLike(requesterId: string, r: { kind: string; role: Role | null; locationId: string | null; entryId: string | null }, now: Date): Promise<boolean> {
    const [row] = await this.db
      .select({ id: accessRequests.id })
      .from(accessRequests)
      .where(
        and(
          eq(accessRequests.requesterId, requesterId),
          eq(accessRequests.state, 'pending'),
          gt(accessRequests.lapsesAt, now),
          eq(accessRequests.kind, r.kind as 'role'),
          r.role === null ? isNull(accessRequests.role) : eq(accessRequests.role, r.role),
          r.locationId === null ? isNull(accessRequests.locationId) : eq(accessRequests.locationId, r.locationId),
          r.entryId === null ? isNull(accessRequests.entryId) : eq(accessRequests.entryId, r.entryId),
        ),
      );
    return row !== undefined;
  }

  async setRequestState(id: string, state: RequestRow['state'], now: Date, grantId: string | null = null): Promise<void> {
    await this.db.update(accessRequests).set({ state, decidedAt: now, grantId }).where(and(eq(accessRequests.id, id), eq(accessRequests.state, 'pending')));
  }

  async insertDecision(row: typeof accessDecisions.$inferInsert): Promise<void> {
    await this.db.insert(accessDecisions).values(row);
  }

  async decisionsOf(requestIds: string[]): Promise<(DecisionRow & { approverEmail: string })[]> {
    if (!requestIds.length) return [];
    const rows = await this.db
      .select({ d: accessDecisions, approverEmail: users.email })
      .from(accessDecisions)
      .innerJoin(users, eq(users.id, accessDecisions.approverId))
      .where(inArray(accessDecisions.requestId, requestIds))
      .orderBy(asc(accessDecisions.decidedAt));
    return rows.map((r) => ({ ...r.d, approverEmail: r.approverEmail }));
  }

  /** Users holding a live grant with one of `roles` whose subtree covers `path` (null = organisation-wide only). */
  async holdersCovering(path: string | null, roles: Role[], now: Date): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ userId: accessGrants.userId })
      .from(accessGrants)
      .leftJoin(locations, eq(locations.id, accessGrants.locationId))
      .where(
        and(
          eq(accessGrants.kind, 'role'),
          inArray(accessGrants.role, roles),
          isNull(accessGrants.revokedAt),
          or(isNull(accessGrants.expiresAt), gt(accessGrants.expiresAt, now)),
          path === null ? isNull(accessGrants.locationId) : or(isNull(accessGrants.locationId), sql`${path} like ${locations.path} || '%'`),
        ),
      );
    return rows.map((r) => r.userId);
  }

  async insertNotifications(rows: (typeof notifications.$inferInsert)[]): Promise<void> {
    if (rows.length) await this.db.insert(notifications).values(rows);
  }

  async notificationsOf(userId: string, limit = 50) {
    return this.db.select().from(notifications).where(eq(notifications.userId, userId)).orderBy(desc(notifications.createdAt)).limit(limit);
  }

  async markNotificationsRead(userId: string, now: Date): Promise<void> {
    await this.db.update(notifications).set({ readAt: now }).where(and(eq(notifications.userId, userId), isNull(notifications.readAt)));
  }
}
