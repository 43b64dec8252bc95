import { and, asc, count, eq, isNotNull, isNull } from 'drizzle-orm';
import type { SessionStage } from '../domain/second-factor.js';
import type { Db } from './database.js';
import { recoveryCodes, secondFactors, sessions } from './schema.js';

export type SecondFactorRow = typeof secondFactors.$inferSelect;
export type WebAuthnChallenge = { challenge: string; purpose: 'register' | 'authenticate'; expiresAt: string };

/** Second factors, recovery codes, and the second-factor state kept on each session. */
export class SecondFactorRepository {
  constructor(private readonly db: Db) {}

  /** The user's confirmed factors (a TOTP still being enrolled is left out), oldest first. */
  async confirmedOf(userId: string): Promise<SecondFactorRow[]> {
    return this.db
      .select()
      .from(secondFactors)
      .where(and(eq(secondFactors.userId, userId), isNotNull(secondFactors.confirmedAt)))
      .orderBy(asc(secondFactors.createdAt), asc(secondFactors.id));
  }

  async byId(id: string): Promise<SecondFactorRow | null> {
    const [row] = await this.db.select().from(secondFactors).where(eq(secondFactors.id, id));
    return row ?? null;
  }

  /** A factor locked for update (a TOTP code's time step, a passkey's counter). */
  async byIdForUpdate(id: string): Promise<SecondFactorRow | null> {
    const [row] = await this.db.select().from(secondFactors).where(eq(secondFactors.id, id)).for('update');
    return row ?? null;
  }

  async byCredentialId(credentialId: string): Promise<SecondFactorRow | null> {
    const [row] = await this.db.select().from(secondFactors).where(eq(secondFactors.credentialId, credentialId));
    return row ?? null;
  }

  async insert(row: typeof secondFactors.$inferInsert): Promise<SecondFactorRow> {
    const [created] = await this.db.insert(secondFactors).values(row).returning();
    return created!;
  }

  /** Drops the user's unconfirmed TOTP enrolments (a new one replaces them). */
  async deletePendingTotp(userId: string): Promise<void> {
    await this.db.delete(secondFactors).where(and(eq(secondFactors.userId, userId), eq(secondFactors.kind, 'totp'), isNull(secondFactors.confirmedAt)));
  }

  async update(id: string, set: Partial<typeof secondFactors.$inferInsert>): Promise<void> {
    await this.db.update(secondFactors).set(set).where(eq(secondFactors.id, id));
  }

  async delete(id: string): Promise<boolean> {
    const rows = await this.db.delete(secondFactors).where(eq(secondFactors.id, id)).returning({ id: secondFactors.id });
    return rows.length === 1;
  }

  /** Removes every factor and recovery code of a user; returns how many factors there were. */
  async deleteAllOf(userId: string): Promise<number> {
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    const rows = await this.db.delete(secondFactors).where(eq(secondFactors.userId, userId)).returning({ id: secondFactors.id });
    return rows.length;
  }

  /** Replaces the user's recovery codes with new ones (their MACs). */
  async replaceRecoveryCodes(userId: string, macs: string[], now: Date): Promise<void> {
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await this.db.insert(recoveryCodes).values(macs.map((codeMac) => ({ userId, codeMac, createdAt: now })));
  }

  /** Marks an unused recovery code used, atomically; false when it is unknown or already used. */
  async useRecoveryCode(userId: string, mac: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .update(recoveryCodes)
      .set({ usedAt: now })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeMac, mac), isNull(recoveryCodes.usedAt)))
      .returning({ mac: recoveryCodes.codeMac });
    return rows.length === 1;
  }

  async recoveryCodesLeft(userId: string): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
    return Number(row?.n ?? 0);
  }

  async setSessionStage(tokenHash: string, stage: SessionStage, stepUpAt?: Date): Promise<void> {
    await this.db.update(sessions).set({ stage, ...(stepUpAt ? { stepUpAt } : {}) }).where(eq(sessions.tokenHash, tokenHash));
  }

  async setStepUp(tokenHash: string, at: Date): Promise<void> {
    await this.db.update(sessions).set({ stepUpAt: at }).where(eq(sessions.tokenHash, tokenHash));
  }

  async setChallenge(tokenHash: string, challenge: WebAuthnChallenge | null): Promise<void> {
    await this.db.update(sessions).set({ webauthnChallenge: challenge }).where(eq(sessions.tokenHash, tokenHash));
  }

  /** Takes the session's WebAuthn challenge (it works once) and returns it. */
  async takeChallenge(tokenHash: string): Promise<WebAuthnChallenge | null> {
    const [row] = await this.db.select({ c: sessions.webauthnChallenge }).from(sessions).where(eq(sessions.tokenHash, tokenHash)).for('update');
    await this.db.update(sessions).set({ webauthnChallenge: null }).where(eq(sessions.tokenHash, tokenHash));
    return row?.c ?? null;
  }
}
