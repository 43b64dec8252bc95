import { and, asc, eq, gt, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Role } from '../domain/identity.js';
import type { Db } from './database.js';
import { accessGrants, apiTokens, locations, oneTimeTokens, sessions, users } from './schema.js';

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

/** A live grant as the request's principal needs it: with its location's path (scope) and name (shown). */
export interface LiveGrant {
  id: string;
  kind: 'role' | 'reveal';
  role: Role | null;
  locationId: string | null;
  locationPath: string | null;
  locationName: string | null;
  entryId: string | null;
  expiresAt: Date | null;
}

/** Who a request is: the credential's row, its user and the user's grants live at `now`. */
export interface Principal<T> {
  credential: T;
  user: UserRow;
  grants: LiveGrant[];
}

type LiveGrantJson = Omit<LiveGrant, 'expiresAt'> & { expiresAt: string | null };

/**
 * The user's grants live at `now` (not revoked, not expired), oldest first, as one JSON array: a
 * correlated subquery, so the credential, its user and the grants come back in ONE statement. Every
 * request runs it, and on the embedded database each statement costs a round trip into WebAssembly.
 */
function liveGrantsOf(userId: SQL | typeof users.id, now: Date): SQL<LiveGrantJson[]> {
  return sql<LiveGrantJson[]>`coalesce((
    select json_agg(json_build_object('id', g.id, 'kind', g.kind, 'role', g.role, 'locationId', g.location_id,
      'locationPath', l.path, 'locationName', l.name, 'entryId', g.entry_id, 'expiresAt', g.expires_at) order by g.granted_at, g.id)
    from ${accessGrants} g left join ${locations} l on l.id = g.location_id
    where g.user_id = ${userId} and g.revoked_at is null and (g.expires_at is null or g.expires_at > ${now.toISOString()}::timestamptz)
  ), '[]'::json)`;
}

function liveGrants(json: LiveGrantJson[] | string): LiveGrant[] {
  // node-postgres and PGlite both parse json columns; a driver that does not gives the text.
  const list = typeof json === 'string' ? (JSON.parse(json) as LiveGrantJson[]) : json;
  return list.map((g) => ({ ...g, expiresAt: g.expiresAt === null ? null : new Date(g.expiresAt) }));
}

/** Accounts, sessions, API tokens and one-time sign-in tokens. */
export class IdentityRepository {
  constructor(private readonly db: Db) {}

  /**
   * Serializes first-start bootstraps until the transaction ends: api processes starting together
   * on one PostgreSQL must not each create an owner.
   */
  async lockBootstrap(): Promise<void> {
    await this.db.execute(sql`select pg_advisory_xact_lock(7215004223)`);
  }

  async userCount(): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(users);
    return Number(row?.n ?? 0);
  }

  async users(): Promise<UserRow[]> {
    return this.db.select().from(users).orderBy(asc(users.email));
  }

  async userById(id: string): Promise<UserRow | null> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row ?? null;
  }

  async userByEmail(email: string): Promise<UserRow | null> {
    const [row] = await this.db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`);
    return row ?? null;
  }

  async insertUser(row: typeof users.$inferInsert): Promise<UserRow> {
    const [created] = await this.db.insert(users).values(row).returning();
    return created!;
  }

  async setPasswordHash(userId: string, hash: string): Promise<void> {
    await this.db.update(users).set({ passwordHash: hash }).where(eq(users.id, userId));
  }

  async insertSession(row: typeof sessions.$inferInsert): Promise<void> {
    await this.db.insert(sessions).values(row);
  }

  /** A session not yet expired at `now`, its user and the user's live grants, in one statement. */
  async sessionPrincipal(tokenHash: string, now: Date): Promise<Principal<SessionRow> | null> {
    const [row] = await this.db
      .select({ credential: sessions, user: users, grants: liveGrantsOf(users.id, now) })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)));
    return row ? { credential: row.credential, user: row.user, grants: liveGrants(row.grants) } : null;
  }

  /** An API token (revoked or expired ones too: the caller decides), its user and the user's live grants, in one statement. */
  async apiTokenPrincipal(tokenHash: string, now: Date): Promise<Principal<ApiTokenRow> | null> {
    const [row] = await this.db
      .select({ credential: apiTokens, user: users, grants: liveGrantsOf(users.id, now) })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(eq(apiTokens.tokenHash, tokenHash));
    return row ? { credential: row.credential, user: row.user, grants: liveGrants(row.grants) } : null;
  }

  async sessionByHash(tokenHash: string, now: Date): Promise<SessionRow | null> {
    const [row] = await this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)));
    return row ?? null;
  }

  async touchSession(tokenHash: string, now: Date, expiresAt: Date): Promise<void> {
    await this.db.update(sessions).set({ lastSeenAt: now, expiresAt }).where(eq(sessions.tokenHash, tokenHash));
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.tokenHash, tokenHash));
  }

  async deleteSessionsOfUser(userId: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.userId, userId));
  }

  async deleteExpiredSessions(now: Date): Promise<void> {
    await this.db.delete(sessions).where(lt(sessions.expiresAt, now));
  }

  async insertApiToken(row: typeof apiTokens.$inferInsert): Promise<ApiTokenRow> {
    const [created] = await this.db.insert(apiTokens).values(row).returning();
    return created!;
  }

  async apiTokensOfUser(userId: string): Promise<ApiTokenRow[]> {
    return this.db.select().from(apiTokens).where(eq(apiTokens.userId, userId)).orderBy(asc(apiTokens.createdAt));
  }

  async touchApiToken(id: string, now: Date): Promise<void> {
    await this.db.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, id));
  }

  async revokeApiToken(id: string, userId: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    return rows.length === 1;
  }

  async insertOneTimeToken(row: typeof oneTimeTokens.$inferInsert): Promise<void> {
    await this.db.insert(oneTimeTokens).values(row);
  }

  /** Marks an unexpired, unused one-time token as used and returns its user, atomically. */
  async consumeOneTimeToken(tokenHash: string, purpose: string, now: Date): Promise<string | null> {
    const rows = await this.db
      .update(oneTimeTokens)
      .set({ usedAt: now })
      .where(and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now)))
      .returning({ userId: oneTimeTokens.userId });
    return rows[0]?.userId ?? null;
  }
}
