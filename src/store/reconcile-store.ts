/**
 * The reconciler's reads and writes, batched: many locks are reconciled at once (one job per lock,
 * hundreds in flight), and each would otherwise cost a dozen round trips. Requests arriving within a
 * few milliseconds of each other share one query (loads, in-doubt marks) or one transaction
 * (outcomes). A failed batch rejects every request in it, so each job fails and is retried alone.
 */
import DataLoader from 'dataloader';
import { eq, inArray, sql } from 'drizzle-orm';
import type { CredentialStatus } from '../domain/credentials.js';
import { CredentialRepository, type CredentialRow, type ObservationRow } from './credential-repository.js';
import { inTransaction, type Db } from './database.js';
import { lockObservations, locks } from './schema.js';

export type LockRow = typeof locks.$inferSelect;

/** One lock as the reconciler starts from it. */
export interface LockSnapshot {
  lock: LockRow;
  /** Its credentials (not removed), by kind, slot and age. */
  rows: CredentialRow[];
  observation: ObservationRow | null;
}

/** A credential's new state, applied only if nobody changed it since it was read (`version`). */
export interface CredentialOutcome {
  id: string;
  version: number;
  status: CredentialStatus;
  attempts: number;
  lastError: string | null;
}

/** Everything one reconciliation records, in one transaction with the others of its batch. */
export interface ReconcileRecord {
  observation: typeof lockObservations.$inferInsert & { updatedAt: Date };
  outcomes: CredentialOutcome[];
  /** Battery level read this time, if any. */
  batteryPercent: number | null;
}

export interface ReconcileStoreOptions {
  /** How long a request waits for others to join its batch. */
  windowMs?: number;
  maxBatch?: number;
}

/** Batched storage for the reconciler; one per process. */
export class ReconcileStore {
  private readonly snapshots: DataLoader<string, LockSnapshot | null>;
  private readonly doubts: DataLoader<{ lockId: string; at: Date }, null>;
  private readonly records: DataLoader<ReconcileRecord, null>;

  constructor(
    private readonly db: Db,
    opts: ReconcileStoreOptions = {},
  ) {
    const common = { cache: false, maxBatchSize: opts.maxBatch ?? 200, batchScheduleFn: (run: () => void) => setTimeout(run, opts.windowMs ?? 5) };
    this.snapshots = new DataLoader((ids) => this.loadMany([...ids]), common);
    this.doubts = new DataLoader((marks) => this.markMany([...marks]), common);
    this.records = new DataLoader((records) => this.saveMany([...records]), common);
  }

  /** The lock, its credentials and its last observation; null when there is no such lock. */
  load(lockId: string): Promise<LockSnapshot | null> {
    return this.snapshots.load(lockId);
  }

  /** Flags a lock's observation as possibly out of date, before writes are sent to it. */
  async markInDoubt(lockId: string, at: Date): Promise<void> {
    await this.doubts.load({ lockId, at });
  }

  /** Saves the new observation, the credentials' outcomes and the battery level. */
  async record(record: ReconcileRecord): Promise<void> {
    await this.records.load(record);
  }

  private async loadMany(ids: string[]): Promise<(LockSnapshot | null)[]> {
    const found = await this.db.select({ lock: locks, observation: lockObservations }).from(locks).leftJoin(lockObservations, eq(lockObservations.lockId, locks.id)).where(inArray(locks.id, ids));
    const rows = await new CredentialRepository(this.db).forLocks(ids);
    rows.sort((a, b) => a.kind.localeCompare(b.kind) || (a.slot ?? -1) - (b.slot ?? -1) || a.createdAt.getTime() - b.createdAt.getTime());
    const byLock = new Map<string, CredentialRow[]>();
    for (const r of rows) byLock.set(r.lockId, [...(byLock.get(r.lockId) ?? []), r]);
    const byId = new Map(found.map((f) => [f.lock.id, { lock: f.lock, observation: f.observation, rows: byLock.get(f.lock.id) ?? [] }]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  private async markMany(marks: { lockId: string; at: Date }[]): Promise<null[]> {
    const latest = new Map(marks.map((m) => [m.lockId, m.at]));
    await this.db
      .insert(lockObservations)
      .values([...latest].map(([lockId, at]) => ({ lockId, inDoubt: true, updatedAt: at })))
      .onConflictDoUpdate({ target: lockObservations.lockId, set: { inDoubt: true, updatedAt: sql`excluded.updated_at` } });
    return marks.map(() => null);
  }

  private async saveMany(records: ReconcileRecord[]): Promise<null[]> {
    // Normally one job per lock runs at a time, but a direct call (a person's "read now" beside a
    // job) can put two records of one lock in a batch: those go in successive rounds, in order.
    const rounds: ReconcileRecord[][] = [];
    for (const r of records) {
      const round = rounds.find((x) => !x.some((y) => y.observation.lockId === r.observation.lockId));
      if (round) round.push(r);
      else rounds.push([r]);
    }
    await inTransaction(this.db, async (tx) => {
      for (const round of rounds) await this.saveRound(tx, round);
    });
    return records.map(() => null);
  }

  private async saveRound(tx: Db, records: ReconcileRecord[]): Promise<void> {
    const observations = records.map(({ observation: o }) => ({
      lock_id: o.lockId,
      read_at: o.readAt?.toISOString() ?? null,
      pins: o.pins ?? [],
      controllers: o.controllers ?? [],
      digital_keys: o.digitalKeys ?? [],
      biometrics: o.biometrics ?? [],
      status: o.status ?? null,
      in_doubt: o.inDoubt ?? false,
      last_error: o.lastError ?? null,
      updated_at: o.updatedAt.toISOString(),
    }));
    const outcomes = records.flatMap((r) => r.outcomes.map((o) => ({ ...o, at: r.observation.updatedAt.toISOString() })));
    const batteries = records.filter((r) => r.batteryPercent !== null).map((r) => ({ lockId: r.observation.lockId, batteryPercent: r.batteryPercent, at: r.observation.updatedAt.toISOString() }));
    await tx.execute(sql`
      insert into lock_observations (lock_id, read_at, pins, controllers, digital_keys, biometrics, status, in_doubt, last_error, updated_at)
      select lock_id, read_at, pins, controllers, digital_keys, biometrics, status, in_doubt, last_error, updated_at
      from jsonb_to_recordset(${JSON.stringify(observations)}::jsonb)
        as v(lock_id uuid, read_at timestamptz, pins jsonb, controllers jsonb, digital_keys jsonb, biometrics jsonb, status jsonb, in_doubt boolean, last_error text, updated_at timestamptz)
      on conflict (lock_id) do update set read_at = excluded.read_at, pins = excluded.pins, controllers = excluded.controllers,
        digital_keys = excluded.digital_keys, biometrics = excluded.biometrics, status = excluded.status, in_doubt = excluded.in_doubt,
        last_error = excluded.last_error, updated_at = excluded.updated_at`);
    if (outcomes.length) {
      // A person may have changed a credential meanwhile (its version moved on); their change queued its own job.
      await tx.execute(sql`
        update credentials c set status = v.status, attempts = v.attempts, last_error = v."lastError", updated_at = v.at, version = c.version + 1,
          confirmed_at = case when v.status = 'confirmed' then v.at else c.confirmed_at end,
          removed_at = case when v.status = 'removed' then v.at else c.removed_at end
        from jsonb_to_recordset(${JSON.stringify(outcomes)}::jsonb) as v(id uuid, version int, status text, attempts int, "lastError" text, at timestamptz)
        where c.id = v.id and c.version = v.version`);
    }
    if (batteries.length) {
      await tx.execute(sql`
        update locks l set battery_percent = v."batteryPercent", battery_reported_at = v.at
        from jsonb_to_recordset(${JSON.stringify(batteries)}::jsonb) as v("lockId" uuid, "batteryPercent" int, at timestamptz)
        where l.id = v."lockId"`);
    }
  }
}
