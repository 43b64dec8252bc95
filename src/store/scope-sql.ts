import { or, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';

/**
 * A location-path column inside a scope from the policy: `undefined` (no condition) for `null`
 * (everywhere), `false` for no paths, else `path like 'p1%' or path like 'p2%' ...`.
 */
export function pathIn(column: AnyPgColumn | SQL, scope: string[] | null): SQL | undefined {
  if (scope === null) return undefined;
  if (scope.length === 0) return sql`false`;
  return or(...scope.map((p) => sql`${column} like ${`${p}%`}`));
}
