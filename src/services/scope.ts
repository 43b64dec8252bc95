/**
 * Where a thing sits, for the policy: each lookup returns the resource `authorize` needs, or throws
 * the thing's own not-found error. Kept in one place so every service asks the same question.
 */
import { eq } from 'drizzle-orm';
import { AppError } from '../domain/errors.js';
import { inScope, type Resource } from '../domain/identity.js';
import type { Db } from '../store/database.js';
import { credentials, handbookEntries, locations, locks } from '../store/schema.js';

/**
 * A place resource that carries its thing's own not-found error: `authorize` throws that error,
 * not `auth.forbidden`, to a reader whose grants do not reach the place (who may not know the thing
 * exists), so a real id outside one's scope and a random id get the same 404.
 */
export function hideAs<R extends { locationPath: string | null }>(r: R, notFound: () => AppError): R & { notFound: () => AppError } {
  return { ...r, notFound };
}

export async function locationResource(db: Db, locationId: string): Promise<{ locationPath: string; kind: string; notFound: () => AppError }> {
  const notFound = () => new AppError('location.not_found', `location ${locationId} not found`);
  const [row] = await db.select({ path: locations.path, kind: locations.kind }).from(locations).where(eq(locations.id, locationId));
  if (!row) throw notFound();
  return { locationPath: row.path, kind: row.kind, notFound };
}

export async function lockResource(db: Db, lockId: string): Promise<{ locationPath: string; notFound: () => AppError }> {
  const notFound = () => new AppError('lock.not_found', `lock ${lockId} not found`);
  const [row] = await db.select({ path: locations.path }).from(locks).innerJoin(locations, eq(locations.id, locks.locationId)).where(eq(locks.id, lockId));
  if (!row) throw notFound();
  return { locationPath: row.path, notFound };
}

export async function credentialResource(db: Db, credentialId: string): Promise<{ locationPath: string; notFound: () => AppError }> {
  const [row] = await db
    .select({ path: locations.path })
    .from(credentials)
    .innerJoin(locks, eq(locks.id, credentials.lockId))
    .innerJoin(locations, eq(locations.id, locks.locationId))
    .where(eq(credentials.id, credentialId));
  const notFound = () => new AppError('credential.not_found', `credential ${credentialId} not found`);
  if (!row) throw notFound();
  return { locationPath: row.path, notFound };
}

/**
 * A handbook entry as the policy sees it: an override sits where its lock is; a model's entry has no
 * place (`locationPath` null: reading it is open to any handbook reader, changing or revealing it
 * needs an organisation-wide grant or a reveal grant for this entry).
 */
export async function entryResource(db: Db, entryId: string): Promise<{ entryId: string; locationPath: string | null; notFound: () => AppError }> {
  const [row] = await db
    .select({ lockId: handbookEntries.lockId, path: locations.path })
    .from(handbookEntries)
    .leftJoin(locks, eq(locks.id, handbookEntries.lockId))
    .leftJoin(locations, eq(locations.id, locks.locationId))
    .where(eq(handbookEntries.id, entryId));
  const notFound = () => new AppError('handbook.not_found', `handbook entry ${entryId} not found`);
  if (!row) throw notFound();
  return { entryId, locationPath: row.lockId ? row.path : null, notFound };
}

/** Reading an entry: a model's entry is shared catalogue; an override is read where its lock is. */
export function entryReadResource(r: { entryId: string; locationPath: string | null; notFound?: () => AppError }): Resource {
  return r.locationPath === null ? 'anywhere' : r;
}

/** Handbook rows in scope: a model's entry is shared catalogue; an override only where its lock is. */
export function visibleRows<R extends { entry: { lockId: string | null }; locationPath: string | null }>(rows: R[], scope: string[] | null): R[] {
  return scope === null ? rows : rows.filter((r) => r.entry.lockId === null || (r.locationPath !== null && inScope(scope, r.locationPath)));
}

/** Changing an entry: an override where its lock is; a model's entry is the organisation's. */
export function writeResource(r: { entryId: string; locationPath: string | null; notFound?: () => AppError }): Resource | undefined {
  return r.locationPath === null ? undefined : { locationPath: r.locationPath, ...(r.notFound ? { notFound: r.notFound } : {}) };
}
