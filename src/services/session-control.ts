/**
 * Ending sessions and API tokens in bulk: "sign out everywhere", an owner ending another user's
 * access, and the other sessions after a password change. Kept apart from AuthService so the
 * queries live in one place.
 */
import { and, eq, isNull, ne } from 'drizzle-orm';
import { inTransaction } from '../store/database.js';
import { apiTokens, sessions } from '../store/schema.js';
import type { ServiceContext } from './context.js';

/** Deletes the sessions of `userId`, except the one whose hash is `keepHash`; returns how many. */
export async function endSessions(ctx: Pick<ServiceContext, 'db'>, userId: string, keepHash: string | null): Promise<number> {
  const rows = await ctx.db
    .delete(sessions)
    .where(keepHash ? and(eq(sessions.userId, userId), ne(sessions.tokenHash, keepHash)) : eq(sessions.userId, userId))
    .returning({ h: sessions.tokenHash });
  return rows.length;
}

/** Ends every session of `userId` and, when asked, revokes each of their live API tokens, at once. */
export async function endAccess(ctx: Pick<ServiceContext, 'db' | 'clock'>, userId: string, revokeApiTokens: boolean): Promise<{ sessionsEnded: number; tokensRevoked: number }> {
  return inTransaction(ctx.db, async (tx) => {
    const sessionsEnded = await endSessions({ db: tx }, userId, null);
    const tokensRevoked = revokeApiTokens
      ? (await tx.update(apiTokens).set({ revokedAt: ctx.clock.now() }).where(and(eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt))).returning({ id: apiTokens.id })).length
      : 0;
    return { sessionsEnded, tokensRevoked };
  });
}
