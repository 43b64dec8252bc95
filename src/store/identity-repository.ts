import { and, asc, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { apiTokens, oneTimeTokens, sessions, users } from './schema.js';

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

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

  async apiTokenByHash(tokenHash: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.tokenHash, tokenHash));
    return row ?? null;
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
