/**
 * A lock's device history (`src/domain/lock-events.ts`): every event a driver reports about a lock in
 * the inventory is kept in words; a reported factory reset, tamper or unusable message also raises an
 * alert on the lock (`AlertService`). Read by whoever may read the lock.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { DriverEvent } from '../drivers/contract.js';
import type { AlertKind } from '../domain/alerts.js';
import type { Actor } from '../domain/identity.js';
import { describeEvent, type LockEvent } from '../domain/lock-events.js';
import { queryRows } from '../store/database.js';
import { lockEvents, locks } from '../store/schema.js';
import { AlertService, DEVICE_EVENTS } from './alert-service.js';
import { authorize, type ServiceContext } from './context.js';
import { ResetCaseService } from './reset-case-service.js';
import { lockResource } from './scope.js';

const ALERTING: Partial<Record<DriverEvent['type'], AlertKind>> = { reset_detected: 'factory_reset', tamper: 'tamper', device_error: 'device_error' };

export class LockEventService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Records `event` from the driver `driver` on the locks it reaches as `event.externalId`; returns how many. */
  async record(driver: string, event: DriverEvent): Promise<number> {
    const summary = describeEvent(event);
    if (summary === null) return 0;
    const rows = await this.ctx.db
      .select({ id: locks.id })
      .from(locks)
      .where(and(eq(locks.driver, driver as never), eq(locks.externalId, event.externalId), sql`${locks.serviceState} <> 'retired'`));
    if (rows.length === 0) return 0;
    await this.ctx.db.insert(lockEvents).values(rows.map((r) => ({ id: this.ctx.ids.uuid(), lockId: r.id, at: event.at, type: event.type, summary, source: driver })));
    const kind = ALERTING[event.type];
    if (kind) {
      const alerts = new AlertService(this.ctx);
      for (const r of rows) await alerts.raise(DEVICE_EVENTS, r.id, kind, { detail: `${summary} (${driver} driver, ${event.at.toISOString()})`, source: driver });
    }
    // A lock with an open reset case: the case's verification shows the reset the lock reported.
    if (event.type === 'reset_detected') {
      const cases = new ResetCaseService(this.ctx);
      for (const r of rows) await cases.observeDeviceReset(r.id, { driver, externalId: event.externalId, at: event.at, detail: summary });
    }
    return rows.length;
  }

  /**
   * Removes device history older than `before`, a batch at a time so no statement holds the table
   * long (system only: the worker runs it hourly). Returns how many events went.
   */
  async prune(before: Date, batch = 5000): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (
        await queryRows(
          this.ctx.db,
          sql`delete from ${lockEvents} where ${lockEvents.id} in (select ${lockEvents.id} from ${lockEvents} where ${lockEvents.at} < ${before} limit ${batch}) returning 1 as gone`,
        )
      ).length;
      total += n;
      if (n < batch) return total;
    }
  }

  /** The lock's device history, newest first. */
  async list(actor: Actor, lockId: string, limit = 100): Promise<LockEvent[]> {
    authorize(actor, 'lock.read', await lockResource(this.ctx.db, lockId));
    const rows = await this.ctx.db.select().from(lockEvents).where(eq(lockEvents.lockId, lockId)).orderBy(desc(lockEvents.at)).limit(Math.min(Math.max(limit, 1), 500));
    return rows.map((r) => ({ ...r, type: r.type as LockEvent['type'] }));
  }
}
