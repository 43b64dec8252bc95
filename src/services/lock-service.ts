import { eq } from 'drizzle-orm';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import type { LockModel } from '../domain/lock-models.js';
import { LockCreateSchema, LockFilterSchema, LockRetireSchema, LockUpdateSchema, type Lock, type LockCreate } from '../domain/locks.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { LocationRepository } from '../store/location-repository.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { LockRepository, type LockRow } from '../store/lock-repository.js';
import { ResetCaseRepository } from '../store/reset-case-repository.js';
import { locks } from '../store/schema.js';
import { authorize, readScope, type ServiceContext } from './context.js';
import { hideAs, lockResource } from './scope.js';

export interface LockPage {
  items: Lock[];
  total: number;
  limit: number;
  offset: number;
}

/** Use cases on installed locks. */
export class LockService {
  constructor(private readonly ctx: ServiceContext) {}

  /** A filtered, sorted page of locks. */
  async list(actor: Actor, filter: unknown): Promise<LockPage> {
    const f = parseInput(LockFilterSchema, filter ?? {});
    const scope = readScope(actor, 'lock.read', this.ctx.clock.now());
    const { rows, total } = await new LockRepository(this.ctx.db).list(f, scope);
    return { items: await this.present(this.ctx.db, rows), total, limit: f.limit, offset: f.offset };
  }

  async get(actor: Actor, id: string): Promise<Lock> {
    // The row carries its location's path: one read for the scope check and the lock (as lockResource would give).
    const row = await new LockRepository(this.ctx.db).byId(id);
    const notFound = () => new AppError('lock.not_found', `lock ${id} not found`);
    if (!row) throw notFound();
    authorize(actor, 'lock.read', hideAs({ locationPath: row.locationPathIds }, notFound));
    return (await this.present(this.ctx.db, [row]))[0]!;
  }

  /** Adds a lock at a location; storage and override default to the model's. */
  async create(actor: Actor, input: unknown, opts: { isDemo?: boolean } = {}): Promise<Lock> {
    const data = parseInput(LockCreateSchema, input);
    const created = await inTransaction(this.ctx.db, async (tx) => {
      const loc = await this.requireLocation(tx, data.locationId);
      authorize(actor, 'lock.write', { locationPath: loc.path });
      const model = await this.requireModel(tx, data.modelId);
      await this.requireFreeExternalId(tx, data.driver, data.externalId, null);
      const now = this.ctx.clock.now();
      const id = this.ctx.ids.uuid();
      await new LockRepository(tx).insert(newLockRow(id, data, model, now, opts.isDemo ?? false));
      await this.ctx.audit.append(tx, { actor, action: 'lock.create', target: { type: 'lock', id, label: data.name }, locationId: data.locationId, details: { modelId: data.modelId, driver: data.driver, externalId: data.externalId } });
      return this.load(tx, id);
    });
    await this.ctx.hooks?.locksSaved?.([created.id]);
    return created;
  }

  /** Edits a lock. With `expectedVersion`, an edit based on a stale copy is refused. */
  async update(actor: Actor, id: string, input: unknown): Promise<Lock> {
    const { expectedVersion, ...data } = parseInput(LockUpdateSchema, input);
    const updated = await inTransaction(this.ctx.db, async (tx) => {
      authorize(actor, 'lock.write', await lockResource(tx, id));
      const current = await this.load(tx, id);
      if (current.serviceState === 'retired') throw new AppError('lock.retired', 'a retired lock cannot be edited');
      if (expectedVersion !== undefined && expectedVersion !== current.version) throw conflict();
      // A reset case owns the service state from its snapshot to its close-out (the reconciler keys on it).
      if (current.serviceState === 'reset_in_progress' && data.serviceState !== undefined) {
        throw new AppError('reset.case_open', 'a reset case is in progress on this lock: its service state changes when the case closes', [{ path: 'serviceState', message: 'set by the reset case' }]);
      }
      if (data.modelId) await this.requireModel(tx, data.modelId);
      if (data.locationId) authorize(actor, 'lock.write', { locationPath: (await this.requireLocation(tx, data.locationId)).path });
      if (data.driver !== undefined || data.externalId !== undefined) {
        await this.requireFreeExternalId(tx, data.driver ?? current.driver, data.externalId === undefined ? current.externalId : data.externalId, id);
      }
      const now = this.ctx.clock.now();
      const patch = { ...data, updatedAt: now, ...(data.batteryPercent !== undefined ? { batteryReportedAt: now } : {}) };
      if (!(await new LockRepository(tx).updateAtVersion(id, current.version, patch))) throw conflict();
      await this.ctx.audit.append(tx, { actor, action: 'lock.update', target: { type: 'lock', id, label: data.name ?? current.name }, locationId: data.locationId ?? current.locationId, details: { changes: data, version: current.version + 1 } });
      return this.load(tx, id);
    });
    await this.ctx.hooks?.locksSaved?.([id]);
    return updated;
  }

  /** Takes a lock out of service for good, with a reason; it stays in the inventory as history. */
  async retire(actor: Actor, id: string, input: unknown): Promise<Lock> {
    const { reason } = parseInput(LockRetireSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      authorize(actor, 'lock.retire', await lockResource(tx, id));
      // The lock row first: a reset case opened at the same moment waits for this (or this for it).
      await tx.select({ id: locks.id }).from(locks).where(eq(locks.id, id)).for('update');
      const current = await this.load(tx, id);
      if (current.serviceState === 'retired') throw new AppError('lock.retired', 'this lock is already retired');
      const open = await new ResetCaseRepository(tx).openForLock(id);
      if (open) {
        throw new AppError('reset.case_open', `this lock has an open reset case (${open.id}, ${open.state.replace(/_/g, ' ')}): close or cancel it before retiring the lock`, [{ path: 'id', message: 'has an open reset case' }]);
      }
      const now = this.ctx.clock.now();
      const ok = await new LockRepository(tx).updateAtVersion(id, current.version, {
        serviceState: 'retired',
        retiredAt: now,
        retiredReason: reason,
        updatedAt: now,
      });
      if (!ok) throw conflict();
      await this.ctx.audit.append(tx, { actor, action: 'lock.retire', target: { type: 'lock', id, label: current.name }, locationId: current.locationId, details: { reason } });
      return this.load(tx, id);
    });
  }

  private async load(db: Db, id: string): Promise<Lock> {
    const row = await new LockRepository(db).byId(id);
    if (!row) throw new AppError('lock.not_found', `lock ${id} not found`);
    return (await this.present(db, [row]))[0]!;
  }

  private async requireModel(db: Db, id: string) {
    const model = await new LockModelRepository(db).byId(id);
    if (!model) throw new AppError('model.not_found', `model ${id} not found`, [{ path: 'modelId', message: 'no such model' }]);
    return model;
  }

  private async requireLocation(db: Db, id: string) {
    const loc = await new LocationRepository(db).byId(id);
    if (!loc) throw new AppError('location.not_found', `location ${id} not found`, [{ path: 'locationId', message: 'no such location' }]);
    if (loc.kind === 'organisation') {
      throw new AppError('lock.invalid_location', 'a lock is installed at a site or below, not on the organisation', [
        { path: 'locationId', message: 'choose a site, building, floor, unit or door' },
      ]);
    }
    return loc;
  }

  private async requireFreeExternalId(db: Db, driver: string, externalId: string | null, selfId: string | null) {
    if (externalId === null) return;
    const other = await new LockRepository(db).byExternalId(driver, externalId);
    if (other && other.id !== selfId) {
      throw new AppError('lock.duplicate_external_id', `another lock already uses ${driver} id "${externalId}"`, [
        { path: 'externalId', message: 'already used by another lock on this driver' },
      ]);
    }
  }

  /** Shapes rows for callers: resolves the location path into names once per page. */
  private async present(db: Db, rows: LockRow[]): Promise<Lock[]> {
    const ids = new Set(rows.flatMap((r) => r.locationPathIds.split('/').filter(Boolean)));
    const locs = new Map((await new LocationRepository(db).byIds([...ids])).map((l) => [l.id, l]));
    return rows.map(({ lock, manufacturer, modelNumber, family, locationPathIds }) => {
      const path = locationPathIds
        .split('/')
        .filter(Boolean)
        .map((id) => locs.get(id))
        .filter((l) => l !== undefined)
        .map((l) => ({ id: l.id, name: l.name, kind: l.kind }));
      const { batteryReportedAt: _b, ...rest } = lock;
      return { ...rest, manufacturer, modelNumber, family, locationPath: path, siteId: path.find((p) => p.kind === 'site')?.id ?? null };
    });
  }
}

function conflict(): AppError {
  return new AppError('lock.version_conflict', 'this lock was changed by someone else since you opened it; reload and try again');
}

/** A new lock's row: the model's storage and override unless the input says otherwise. */
export function newLockRow(id: string, data: LockCreate, model: Pick<LockModel, 'credentialStorage' | 'mechanicalOverride'>, now: Date, isDemo: boolean) {
  return {
    id,
    name: data.name,
    modelId: data.modelId,
    locationId: data.locationId,
    serial: data.serial,
    firmware: data.firmware,
    installedOn: data.installedOn,
    driver: data.driver,
    externalId: data.externalId,
    credentialStorage: data.credentialStorage ?? model.credentialStorage,
    mechanicalOverride: data.mechanicalOverride ?? model.mechanicalOverride,
    batteryPercent: data.batteryPercent,
    batteryReportedAt: data.batteryPercent === null ? null : now,
    serviceState: data.serviceState,
    notes: data.notes,
    isDemo,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}
