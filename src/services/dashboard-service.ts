/**
 * The dashboard: open reset cases by state, cases opened per week by reason (the last 12 weeks),
 * failed verification checks, and the turnovers due today. Counted in SQL, limited to what the
 * reader may see (their `reset.read` scope), like every list.
 */
import type { Actor } from '../domain/identity.js';
import { RESET_REASONS, RESET_STATES, type ResetReason, type ResetState } from '../domain/reset-case.js';
import { ResetDashboardRepository, type VerificationFailureRow } from '../store/reset-dashboard-repository.js';
import { readScope, type ServiceContext } from './context.js';
import type { TurnoverService, TurnoverView } from './turnover-service.js';

/** Weeks the "resets over time" chart covers, this one included. */
export const DASHBOARD_WEEKS = 12;
const LATEST_FAILURES = 10;
const WEEK_MS = 7 * 24 * 3600_000;

/**
 * A turnover due today, as the turnover work will report it. The slot is here so the dashboard and
 * its API have their final shape; until the turnover service provides them the list is empty.
 */
export interface Dashboard {
  /** Every state a case can be open in, in workflow order, with how many cases are in it. */
  casesByState: { state: ResetState; count: number }[];
  /** One row per ISO week (Monday, UTC), oldest first, the last `DASHBOARD_WEEKS`: cases opened, by reason. */
  resetsByWeek: { week: string; total: number; byReason: Partial<Record<ResetReason, number>> }[];
  /** Failed verification checks recorded in the same weeks: how many, and the latest. */
  verificationFailures: { count: number; latest: VerificationFailureRow[] };
  /** Units where a guest leaves or arrives today, with each lock's state (the turnover service's view). */
  turnoversToday: TurnoverView[];
  /** The first day the weekly figures count from (YYYY-MM-DD). */
  since: string;
}

/** The start (Monday 00:00 UTC) of the ISO week holding `d`. */
export function weekStart(d: Date): Date {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = (day.getUTCDay() + 6) % 7; // Monday = 0
  return new Date(day.getTime() - dow * 24 * 3600_000);
}

export class DashboardService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly turnovers: TurnoverService,
  ) {}

  /** The dashboard for `actor`, scoped like the reset case list. */
  async get(actor: Actor): Promise<Dashboard> {
    const now = this.ctx.clock.now();
    const scope = readScope(actor, 'reset.read', now);
    const repo = new ResetDashboardRepository(this.ctx.db);
    const first = new Date(weekStart(now).getTime() - (DASHBOARD_WEEKS - 1) * WEEK_MS);
    const [open, weekly, failures, turnovers] = await Promise.all([
      repo.openByState(scope),
      repo.openedByWeek(scope, first),
      repo.verificationFailures(scope, first, LATEST_FAILURES),
      this.turnovers.dueTodayEverywhere(actor),
    ]);
    const openCount = new Map(open.map((r) => [r.state, Number(r.count)]));
    const weeks = Array.from({ length: DASHBOARD_WEEKS }, (_, i) => new Date(first.getTime() + i * WEEK_MS).toISOString().slice(0, 10));
    return {
      casesByState: RESET_STATES.filter((s) => s !== 'closed' && s !== 'cancelled').map((state) => ({ state, count: openCount.get(state) ?? 0 })),
      resetsByWeek: weeks.map((week) => {
        const rows = weekly.filter((r) => r.week === week);
        const byReason: Partial<Record<ResetReason, number>> = {};
        for (const r of rows) if ((RESET_REASONS as readonly string[]).includes(r.reason)) byReason[r.reason as ResetReason] = Number(r.count);
        return { week, total: rows.reduce((n, r) => n + Number(r.count), 0), byReason };
      }),
      verificationFailures: { count: Number(failures.count), latest: failures.latest },
      turnoversToday: turnovers,
      since: weeks[0]!,
    };
  }
}
