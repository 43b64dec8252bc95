/**
 * Where a thing sits, for the policy: each lookup returns the resource `authorize` needs, or throws
 * the thing's own not-found error. Kept in one place so every service asks the same question.
 */
import { eq } from 'drizzle-orm';
import { AppError } from '../domain/errors.js';
import { inScope, type Resource } from '../domain/identity.js';
import type { Db } from '../store/database.js';
import { credentials, handbookEntries, locations, locks } from '../store/schema.js';

export async function locationResource(db: Db, locationId: string): Promise<{ locationPath: string; kind: string }> {
  const [row] = await db.select({ path: locations.path, kind: locations.kind }).from(locations).where(eq(locations.id, locationId));
  if (!row) throw new AppError('location.not_found', `location ${locationId} not found`);
  return { locationPath: row.path, kind: row.kind };
}

export async function lockResource(db: Db, lockId: string): Promise<{ locationPath: string }> {
  const [row] = await db.select({ path: locations.path }).from(locks).innerJoin(locations, eq(locations.id, locks.locationId)).where(eq(locks.id, lockId));
  if (!row) throw new AppError('lock.not_found', `lock ${lockId} not found`);
  return { locationPath: row.path };
}

export async function credentialResource(db: Db, credentialId: string): Promise<{ locationPath: string }> {
  const [row] = await db
    .select({ path: locations.path })
    .from(credentials)
    .innerJoin(locks, eq(locks.id, credentials.lockId))
    .innerJoin(locations, eq(locations.id, locks.locationId))
    .where(eq(credentials.id, credentialId));
  if (!row) throw new AppError('credential.not_found', `credential ${credentialId} not found`);
  return { locationPath: row.path };
}

/**
 * A handbook entry as the policy sees it: an override sits where its lock is; a model's entry has no
 * place (`locationPath` null: reading it is open to any handbook reader, changing or revealing it
 * needs an organisation-wide grant or a reveal grant for this entry).
 */
export async function entryResource(db: Db, entryId: string): Promise<{ entryId: string; locationPath: string | null }> {
  const [row] = await db
    .select({ lockId: handbookEntries.lockId, path: locations.path })
    .from(handbookEntries)
    .leftJoin(locks, eq(locks.id, handbookEntries.lockId))
    .leftJoin(locations, eq(locations.id, locks.locationId))
    .where(eq(handbookEntries.id, entryId));
  if (!row) throw new AppError('handbook.not_found', `handbook entry ${entryId} not found`);
  return { entryId, locationPath: row.lockId ? row.path : null };
}

/** Reading an entry: a model's entry is shared catalogue; an override is read where its lock is. */
export function entryReadResource(r: { entryId: string; locationPath: string | null }): Resource {
  return r.locationPath === null ? 'anywhere' : r;
}

/** Handbook rows in scope: a model's entry is shared catalogue; an override only where its lock is. */
export function visibleRows<R extends { entry: { lockId: string | null }; locationPath: string | null }>(rows: R[], scope: string[] | null): R[] {
  return scope === null ? rows : rows.filter((r) => r.entry.lockId === null || (r.locationPath !== null && inScope(scope, r.locationPath)));
}

/** Changing an entry: an override where its lock is; a model's entry is the organisation's. */
export function writeResource(r: { entryId: string; locationPath: string | null }): Resource | undefined {
  return r.locationPath === null ? undefined : { locationPath: r.locationPath };
}
