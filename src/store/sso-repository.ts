import { and, eq } from 'drizzle-orm';
import type { Db } from './database.js';
import { ssoIdentities } from './schema.js';

export type SsoIdentityRow = typeof ssoIdentities.$inferSelect;

/** Links between accounts and identities at the single sign-on provider. */
export class SsoRepository {
  constructor(private readonly db: Db) {}

  /** The link of an IdP identity (issuer + subject), if any. */
  async byIdentity(issuer: string, subject: string): Promise<SsoIdentityRow | null> {
    const [row] = await this.db.select().from(ssoIdentities).where(and(eq(ssoIdentities.issuer, issuer), eq(ssoIdentities.subject, subject)));
    return row ?? null;
  }

  /** The account's links (at most one per issuer). */
  async ofUser(userId: string): Promise<SsoIdentityRow[]> {
    return this.db.select().from(ssoIdentities).where(eq(ssoIdentities.userId, userId));
  }

  async insert(row: typeof ssoIdentities.$inferInsert): Promise<void> {
    await this.db.insert(ssoIdentities).values(row);
  }

  async touch(issuer: string, subject: string, at: Date): Promise<void> {
    await this.db.update(ssoIdentities).set({ lastSignInAt: at }).where(and(eq(ssoIdentities.issuer, issuer), eq(ssoIdentities.subject, subject)));
  }
}
