import { sql } from 'drizzle-orm';
import { queryRows, type Db } from './database.js';
import { pathIn } from './scope-sql.js';
import { locations, locks, resetCaseSteps, resetCases } from './schema.js';

/** One failed verification check as the dashboard lists it. */
export interface VerificationFailureRow {
  caseId: string;
  lockId: string;
  lockName: string;
  check: string;
  note: string;
  actor: string;
  at: string;
}

const iso = (col: unknown) => sql`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The dashboard's aggregations over reset cases, counted in SQL and limited to a reader's scope
 * (`null` = everywhere, else location subtrees) through the case's lock and its location.
 */
export class ResetDashboardRepository {
  constructor(private readonly db: Db) {}

  private scoped(scope: string[] | null) {
    return pathIn(locations.path, scope) ?? sql`true`;
  }

  /** Open cases (not closed or cancelled) counted by state. */
  async openByState(scope: string[] | null): Promise<{ state: string; count: number }[]> {
    return queryRows(
      this.db,
      sql`select ${resetCases.state} as state, count(*)::int as count
          from ${resetCases}
          join ${locks} on ${locks.id} = ${resetCases.lockId}
          join ${locations} on ${locations.id} = ${locks.locationId}
          where ${resetCases.state} not in ('closed','cancelled') and ${this.scoped(scope)}
          group by ${resetCases.state}`,
    );
  }

  /** Cases opened since `since`, counted per ISO week (Monday, UTC) and reason. */
  async openedByWeek(scope: string[] | null, since: Date): Promise<{ week: string; reason: string; count: number }[]> {
    return queryRows(
      this.db,
      sql`select to_char(date_trunc('week', ${resetCases.openedAt} at time zone 'UTC'), 'YYYY-MM-DD') as week, ${resetCases.reason} as reason, count(*)::int as count
          from ${resetCases}
          join ${locks} on ${locks.id} = ${resetCases.lockId}
          join ${locations} on ${locations.id} = ${locks.locationId}
          where ${resetCases.openedAt} >= ${since.toISOString()} and ${this.scoped(scope)}
          group by 1, 2
          order by 1, 2`,
    );
  }

  /**
   * Failed verification checks recorded since `since`, from the step log (a repeated reset clears
   * the case's current checks; the log keeps every failure): how many, and the latest `limit`.
   */
  async verificationFailures(scope: string[] | null, since: Date, limit: number): Promise<{ count: number; latest: VerificationFailureRow[] }> {
    const failures = sql`from ${resetCaseSteps}
          cross join lateral jsonb_array_elements(${resetCaseSteps.events}) as e(ev)
          join ${resetCases} on ${resetCases.id} = ${resetCaseSteps.caseId}
          join ${locks} on ${locks.id} = ${resetCases.lockId}
          join ${locations} on ${locations.id} = ${locks.locationId}
          where ${resetCaseSteps.phase} = 'done' and ${resetCaseSteps.at} >= ${since.toISOString()}
            and e.ev->>'type' = 'check_result' and e.ev->>'passed' = 'false' and ${this.scoped(scope)}`;
    const [total] = await queryRows<{ count: number }>(this.db, sql`select count(*)::int as count ${failures}`);
    const latest = await queryRows<VerificationFailureRow>(
      this.db,
      sql`select ${resetCases.id} as "caseId", ${locks.id} as "lockId", ${locks.name} as "lockName", e.ev->>'check' as "check",
                 coalesce(e.ev->>'note', '') as note, ${resetCaseSteps.actorLabel} as actor, ${iso(resetCaseSteps.at)} as at
          ${failures}
          order by ${resetCaseSteps.at} desc, ${resetCaseSteps.seq} desc
          limit ${limit}`,
    );
    return { count: total?.count ?? 0, latest };
  }
}
