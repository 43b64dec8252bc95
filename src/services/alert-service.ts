/**
 * Alerts on locks (`src/domain/alerts.ts`): raised by the system from what devices report, read by
 * whoever may read the lock, acknowledged (with a note) by whoever operates it. Raising and
 * acknowledging are audited in the same transaction.
 */
import { and, desc, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { ALERT_TITLES, AlertAcknowledgeSchema, AlertListSchema, type AlertKind, type LockAlert } from '../domain/alerts.js';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { lockAlerts, locations, locks } from '../store/schema.js';
import { pathIn } from '../store/scope-sql.js';
import { actorId, actorLabel, authorize, readScope, type ServiceContext } from './context.js';
import { hideAs, lockResource } from './scope.js';

/** Who raises alerts: the process reacting to what devices report. */
export const DEVICE_EVENTS: Actor = { kind: 'system', name: 'device-events' };

type Row = { alert: typeof lockAlerts.$inferSelect; lockName: string };

function present({ alert: a, lockName }: Row): LockAlert {
  return {
    id: a.id,
    lockId: a.lockId,
    lockName,
    kind: a.kind,
    title: ALERT_TITLES[a.kind],
    detail: a.detail,
    source: a.source,
    raisedAt: a.raisedAt,
    lastSeenAt: a.lastSeenAt,
    count: a.count,
    acknowledgedAt: a.acknowledgedAt,
    acknowledgedBy: a.acknowledgedBy,
    note: a.note,
  };
}

export class AlertService {
  constructor(private readonly ctx: ServiceContext) {}

  /**
   * Raises `kind` on every lock the driver `driver` reaches as `externalId` (normally one); an open
   * alert of that kind on the lock counts up instead. Returns the alerts, none for an unknown device.
   */
  async raiseForDevice(driver: string, externalId: string, kind: AlertKind, detail: string): Promise<LockAlert[]> {
    const rows = await this.ctx.db
      .select({ id: locks.id })
      .from(locks)
      .where(and(eq(locks.driver, driver as never), eq(locks.externalId, externalId), sql`${locks.serviceState} <> 'retired'`));
    const out: LockAlert[] = [];
    for (const r of rows) out.push(await this.raise(DEVICE_EVENTS, r.id, kind, { detail, source: driver }));
    return out;
  }

  /** Raises `kind` on one lock (system actors only: people report through the lock's own actions). */
  async raise(actor: Actor, lockId: string, kind: AlertKind, opts: { detail: string; source: string }): Promise<LockAlert> {
    if (actor.kind !== 'system') throw new AppError('auth.forbidden', 'not allowed: alerts are raised by the system');
    const now = this.ctx.clock.now();
    return inTransaction(this.ctx.db, async (tx) => {
      const [lock] = await tx.select({ id: locks.id, name: locks.name, locationId: locks.locationId }).from(locks).where(eq(locks.id, lockId));
      if (!lock) throw new AppError('lock.not_found', `no lock with id ${lockId}`);
      const [row] = await tx
        .insert(lockAlerts)
        .values({ id: this.ctx.ids.uuid(), lockId, kind, detail: opts.detail, source: opts.source, raisedAt: now, lastSeenAt: now })
        .onConflictDoUpdate({
          target: [lockAlerts.lockId, lockAlerts.kind],
          targetWhere: isNull(lockAlerts.acknowledgedAt),
          set: { lastSeenAt: now, count: sql`${lockAlerts.count} + 1`, detail: opts.detail },
        })
        .returning();
      const alert = row!;
      await this.ctx.audit.append(tx, {
        actor,
        action: 'alert.raise',
        target: { type: 'lock', id: lockId, label: lock.name },
        locationId: lock.locationId,
        details: { alertId: alert.id, kind, source: opts.source, detail: opts.detail, count: alert.count },
      });
      return present({ alert, lockName: lock.name });
    });
  }

  /** Alerts on locks the actor may read: open ones (default) or all, newest first; one lock's with `lockId`. */
  async list(actor: Actor, input: unknown = {}): Promise<LockAlert[]> {
    const q = parseInput(AlertListSchema, input ?? {});
    const conditions: (SQL | undefined)[] = [];
    if (q.lockId) {
      authorize(actor, 'lock.read', await lockResource(this.ctx.db, q.lockId));
      conditions.push(eq(lockAlerts.lockId, q.lockId));
    } else {
      conditions.push(pathIn(locations.path, readScope(actor, 'lock.read', this.ctx.clock.now())));
    }
    if (q.state === 'open') conditions.push(isNull(lockAlerts.acknowledgedAt));
    return (await this.rows(this.ctx.db, and(...conditions)).orderBy(desc(lockAlerts.lastSeenAt)).limit(500)).map(present);
  }

  /** Closes an open alert with a note saying what was done. */
  async acknowledge(actor: Actor, id: string, input: unknown): Promise<LockAlert> {
    const { note } = parseInput(AlertAcknowledgeSchema, input);
    const [found] = await this.rows(this.ctx.db, eq(lockAlerts.id, id));
    const notFound = () => new AppError('alert.not_found', `no alert with id ${id}`);
    if (!found) throw notFound();
    authorize(actor, 'lock.operate', hideAs(await lockResource(this.ctx.db, found.alert.lockId), notFound));
    const now = this.ctx.clock.now();
    return inTransaction(this.ctx.db, async (tx) => {
      const [row] = await tx
        .update(lockAlerts)
        .set({ acknowledgedAt: now, acknowledgedById: actor.kind === 'user' ? actor.userId : null, acknowledgedBy: actorLabel(actor), note })
        .where(and(eq(lockAlerts.id, id), isNull(lockAlerts.acknowledgedAt)))
        .returning();
      if (!row) throw new AppError('alert.already_acknowledged', `this alert was acknowledged already`);
      await this.ctx.audit.append(tx, {
        actor,
        action: 'alert.acknowledge',
        target: { type: 'lock', id: row.lockId, label: found.lockName },
        locationId: found.locationId,
        details: { alertId: id, kind: row.kind, note, by: actorId(actor) },
      });
      return present({ alert: row, lockName: found.lockName });
    });
  }

  private rows(db: Db, where: SQL | undefined) {
    return db
      .select({ alert: lockAlerts, lockName: locks.name, locationId: locks.locationId })
      .from(lockAlerts)
      .innerJoin(locks, eq(locks.id, lockAlerts.lockId))
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(where)
      .$dynamic();
  }
}
