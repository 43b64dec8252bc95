import { and, asc, eq, inArray, like, sql } from 'drizzle-orm';
import type { Location } from '../domain/locations.js';
import type { Db } from './database.js';
import { locations, locks } from './schema.js';

type Row = typeof locations.$inferSelect;
const toLocation = (r: Row): Location => ({ ...r });

/** Reads and writes the location tree. */
export class LocationRepository {
  constructor(private readonly db: Db) {}

  /** Every location, ordered by path so parents come before children. */
  async all(): Promise<Location[]> {
    return (await this.db.select().from(locations).orderBy(asc(locations.path))).map(toLocation);
  }

  async byId(id: string): Promise<Location | null> {
    const [row] = await this.db.select().from(locations).where(eq(locations.id, id));
    return row ? toLocation(row) : null;
  }

  async byIds(ids: string[]): Promise<Location[]> {
    if (ids.length === 0) return [];
    return (await this.db.select().from(locations).where(inArray(locations.id, ids))).map(toLocation);
  }

  /** Every location whose path starts with `path` (the subtree, itself included). */
  async subtree(path: string): Promise<Location[]> {
    return (await this.db.select().from(locations).where(like(locations.path, `${path}%`))).map(toLocation);
  }

  async insert(row: typeof locations.$inferInsert): Promise<Location> {
    const [created] = await this.db.insert(locations).values(row).returning();
    return toLocation(created!);
  }

  async update(id: string, patch: Partial<typeof locations.$inferInsert>): Promise<Location> {
    const [updated] = await this.db.update(locations).set(patch).where(eq(locations.id, id)).returning();
    return toLocation(updated!);
  }

  async siblingNameTaken(parentId: string | null, name: string, exceptId?: string): Promise<boolean> {
    const parentCond = parentId === null ? sql`${locations.parentId} is null` : eq(locations.parentId, parentId);
    const rows = await this.db
      .select({ id: locations.id })
      .from(locations)
      .where(and(parentCond, sql`lower(${locations.name}) = lower(${name})`));
    return rows.some((r) => r.id !== exceptId);
  }

  /** Number of non-retired locks placed directly at each location. */
  async lockCounts(): Promise<Map<string, number>> {
    const rows = await this.db
      .select({ locationId: locks.locationId, n: sql<number>`count(*)::int` })
      .from(locks)
      .where(sql`${locks.serviceState} <> 'retired'`)
      .groupBy(locks.locationId);
    return new Map(rows.map((r) => [r.locationId, Number(r.n)]));
  }
}
