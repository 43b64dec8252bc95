/**
 * Use cases on the credentials of locks: see desired vs observed with drift, add/edit/revoke PINs,
 * reveal a code, adopt or remove unmanaged codes, remove a paired controller, change many locks at
 * once, lock and unlock. Changes are written as desired state and applied by reconcile jobs.
 */
import { requireStepUp } from '../domain/second-factor.js';
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import {
  BulkChangeSchema,
  type BulkChange,
  PinCreateSchema,
  PinUpdateSchema,
  RevealSchema,
  capabilitiesFromModel,
  checkPinForLock,
  checkPinNameForLock,
  checkSchedule,
  checkSlot,
  compareSlots,
  generatePin,
  type Credential,
  type SlotState,
} from '../domain/credentials.js';
import { generatedPinLength } from '../domain/pin-rules.js';
import { canOperateRemotely, isDriverError, type DeviceStatus, type DriverCapabilities, type LockDriver, type ObservedController, type ObservedCredentials } from '../drivers/contract.js';
import { interleaveByHub } from '../jobs/queue.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { CredentialRepository, type CredentialRow } from '../store/credential-repository.js';
import { bulkOperationItems, locations, lockModels, locks, type StoredObservedPin } from '../store/schema.js';
import { authorize, readScope, reconcileRequests, type ServiceContext } from './context.js';
import { credentialResource, locationResource, lockResource } from './scope.js';
import { inScope } from '../domain/identity.js';
import { takeReveal } from './throttle.js';
import { desiredPins, observedPrints } from './reconciler.js';

type LockRecord = typeof locks.$inferSelect & { modelCaps: (typeof lockModels.$inferSelect)['capabilities'] };

/** Locks in a bulk change's first recorded slice, and in each one after it. */
const BULK_FIRST_SLICE = 100;
const BULK_SLICE = 250;
/**
 * Capability asks a bulk change has in flight at once. Each is a round trip to the lock's driver
 * (over HTTP to `lockwarden sim`, a node query on Z-Wave); asked one after another, 10,000 of them
 * held a 10,000-lock change up for over a minute while the hubs waited for work.
 */
const BULK_CAPABILITY_ASKS = 16;

/** One slot as the lock page shows it. */
export interface SlotView {
  slot: number;
  state: SlotState;
  credential: Credential | null;
  /** `offline`: the lock holds it as an offline (time-bound, algorithmic) code. */
  observed: { name: string; schedule: StoredObservedPin['schedule']; enabled: boolean; offline?: boolean } | null;
}

/** A lock's credentials: wanted, reported, and how they differ. */
export interface LockCredentialsView {
  lockId: string;
  driver: string;
  capabilities: DriverCapabilities;
  observation: { readAt: Date | null; inDoubt: boolean; lastError: string | null; status: DeviceStatus | null } | null;
  slots: SlotView[];
  credentials: Credential[];
  controllers: (ObservedCredentials['controllers'][number] & { removal: Credential | null })[];
  digitalKeys: ObservedCredentials['digitalKeys'];
  biometrics: ObservedCredentials['biometrics'];
  drift: number;
}

/** A lock's paired controllers as the lock reports them now, with lockwarden's removals in progress. */
export interface LockControllersView {
  lockId: string;
  readAt: Date;
  controllers: (ObservedController & { removal: Credential | null })[];
}

export interface BulkView {
  id: string;
  kind: string;
  description: string;
  createdBy: string;
  createdAt: Date;
  total: number;
  done: number;
  failed: number;
  pending: number;
  finished: boolean;
  failures: { lockId: string; error: string }[];
}

/** Credentials on locks. */
export class CredentialService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Throws unless `actor` may change credentials on the lock (used by routes that act on devices directly). */
  async assertCanWrite(actor: Actor, lockId: string): Promise<void> {
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
  }

  /** Desired vs observed credentials of one lock, slot by slot. */
  async forLock(actor: Actor, lockId: string): Promise<LockCredentialsView> {
    authorize(actor, 'credential.read', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId);
    const repo = new CredentialRepository(this.ctx.db);
    const rows = await repo.forLock(lockId);
    const obs = await repo.observation(lockId);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const observed = new Map((obs?.pins ?? []).map((p) => [p.slot, p]));
    const slots = compareSlots(desiredPins(rows), observedPrints(obs?.pins ?? [])).map((c) => {
      const o = observed.get(c.slot);
      const row = c.credentialId ? byId.get(c.credentialId) : undefined;
      return {
        slot: c.slot,
        state: c.state,
        credential: row ? present(row) : null,
        observed: o ? { name: o.name, schedule: o.schedule, enabled: o.enabled, ...(o.offline ? { offline: true } : {}) } : null,
      };
    });
    const removals = new Map(rows.filter((r) => r.kind === 'controller').map((r) => [r.controllerId, r]));
    return {
      lockId,
      driver: lock.driver,
      capabilities: await this.capabilities(lock),
      observation: obs ? { readAt: obs.readAt, inDoubt: obs.inDoubt, lastError: obs.lastError, status: obs.status } : null,
      slots,
      credentials: rows.filter((r) => r.kind === 'pin').map(present),
      controllers: (obs?.controllers ?? []).map((c) => {
        const r = removals.get(c.id);
        return { ...c, removal: r ? present(r) : null };
      }),
      digitalKeys: obs?.digitalKeys ?? [],
      biometrics: obs?.biometrics ?? [],
      drift: slots.filter((s) => s.state !== 'in_sync').length,
    };
  }

  /** Adds a PIN for a person; the code is generated unless typed. Returns it once, with the code. */
  async addPin(actor: Actor, lockId: string, input: unknown): Promise<{ credential: Credential; code: string }> {
    const data = parseInput(PinCreateSchema, input);
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { writable: true });
    const caps = await this.capabilities(lock);
    checkSchedule(data.schedule, caps);
    if (data.slot !== undefined) checkSlot(data.slot, caps);
    // The lock's own rules (name length here, the code's rules below) are checked before anything is stored or sent.
    checkPinNameForLock(data.holder, caps);
    const result = await inTransaction(this.ctx.db, async (tx) => {
      const taken = await this.takenOnLock(tx, lockId);
      const code = data.code ?? generatePin(generatedLength(caps, data.length), this.ctx.randomInt, (c) => taken.codes.has(this.print(c, lockId)), caps);
      checkPinForLock(code, caps);
      if (taken.codes.has(this.print(code, lockId))) {
        throw new AppError('credential.duplicate_pin', 'this lock already holds that code in another slot; choose another', [{ path: 'code', message: 'already on this lock' }]);
      }
      const slot = data.slot ?? firstFree(caps, taken.slots);
      if (slot === null) throw new AppError('credential.slot_taken', `all ${caps.pin.slots} slots of this lock are in use`, [{ path: 'slot', message: 'no free slot' }]);
      if (taken.slots.has(slot)) throw new AppError('credential.slot_taken', `slot ${slot} is in use`, [{ path: 'slot', message: 'in use; choose another slot' }]);
      const row = this.newPinRow(actor, lockId, slot, data.holder, code, data.schedule);
      await new CredentialRepository(tx).insert([row]);
      await this.ctx.audit.append(tx, { actor, action: 'credential.pin.add', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId, slot, holder: data.holder, schedule: data.schedule.kind, generated: data.code === undefined }, secrets: { code } });
      return { credential: present({ ...row, attempts: 0, lastError: null, version: 1, confirmedAt: null, removedAt: null }), code };
    });
    await this.queue([lock], 'pin added');
    return result;
  }

  /** Edits a PIN's holder, code or schedule; a changed code or schedule is written to the lock again. */
  async updatePin(actor: Actor, credentialId: string, input: unknown): Promise<Credential> {
    const data = parseInput(PinUpdateSchema, input);
    authorize(actor, 'credential.write', await credentialResource(this.ctx.db, credentialId));
    const row = await this.requireCredential(this.ctx.db, credentialId);
    if (row.kind !== 'pin') throw new AppError('credential.wrong_state', 'only PINs can be edited');
    if (row.status === 'removing' || row.status === 'removed') throw new AppError('credential.wrong_state', 'this PIN has been revoked');
    const lock = await this.requireLock(this.ctx.db, row.lockId, { writable: true });
    const caps = await this.capabilities(lock);
    if (data.schedule) checkSchedule(data.schedule, caps);
    if (data.holder !== undefined) checkPinNameForLock(data.holder, caps);
    const updated = await inTransaction(this.ctx.db, async (tx) => {
      const patch: Partial<CredentialRow> = { updatedAt: this.ctx.clock.now() };
      if (data.holder !== undefined) patch.holder = data.holder;
      if (data.code !== undefined) {
        checkPinForLock(data.code, caps);
        const taken = await this.takenOnLock(tx, row.lockId, row.id);
        if (taken.codes.has(this.print(data.code, row.lockId))) {
          throw new AppError('credential.duplicate_pin', 'this lock already holds that code in another slot', [{ path: 'code', message: 'already on this lock' }]);
        }
        patch.codeCipher = this.ctx.secrets.encrypt(data.code, `credential:${row.id}`);
        patch.codeMac = this.print(data.code, row.lockId);
      }
      if (data.schedule !== undefined) patch.schedule = data.schedule;
      if (data.code !== undefined || data.schedule !== undefined || data.holder !== undefined) Object.assign(patch, { status: 'pending', attempts: 0, lastError: null });
      if (!(await new CredentialRepository(tx).updateAtVersion(row.id, data.version, patch))) {
        throw new AppError('credential.version_conflict', 'this PIN was changed since you opened it; reload and try again');
      }
      await this.ctx.audit.append(tx, {
        actor,
        action: 'credential.pin.update',
        target: credentialTarget({ ...row, holder: data.holder ?? row.holder }, lock),
        locationId: lock.locationId,
        details: { lockId: row.lockId, slot: row.slot, changed: Object.keys(data).filter((k) => k !== 'version'), ...(data.holder !== undefined ? { holder: data.holder } : {}), ...(data.schedule ? { schedule: data.schedule.kind } : {}) },
        ...(data.code !== undefined ? { secrets: { code: data.code } } : {}),
      });
      return present(await this.requireCredential(tx, row.id));
    });
    await this.queue([lock], 'pin edited');
    return updated;
  }

  /** Revokes a PIN or a controller removal's target: it is taken off the lock by the next job. */
  async revoke(actor: Actor, credentialId: string): Promise<Credential> {
    authorize(actor, 'credential.write', await credentialResource(this.ctx.db, credentialId));
    const row = await this.requireCredential(this.ctx.db, credentialId);
    if (row.status === 'removing' || row.status === 'removed') return present(row);
    const lock = await this.requireLock(this.ctx.db, row.lockId, { writable: true });
    await inTransaction(this.ctx.db, async (tx) => {
      await new CredentialRepository(tx).updateAtVersion(row.id, row.version, { status: 'removing', attempts: 0, lastError: null, updatedAt: this.ctx.clock.now() });
      await this.ctx.audit.append(tx, { actor, action: row.kind === 'controller' ? 'credential.controller.remove' : 'credential.revoke', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId: row.lockId, slot: row.slot } });
    });
    await this.queue([lock], 'pin revoked');
    return present(await this.requireCredential(this.ctx.db, row.id));
  }

  /** Tries a failed credential again from zero attempts. */
  async retry(actor: Actor, credentialId: string): Promise<Credential> {
    authorize(actor, 'credential.write', await credentialResource(this.ctx.db, credentialId));
    const row = await this.requireCredential(this.ctx.db, credentialId);
    if (row.status !== 'failed') throw new AppError('credential.wrong_state', 'only a failed credential can be retried');
    const lock = await this.requireLock(this.ctx.db, row.lockId, { writable: true });
    await inTransaction(this.ctx.db, async (tx) => {
      await new CredentialRepository(tx).updateAtVersion(row.id, row.version, { status: 'pending', attempts: 0, lastError: null, updatedAt: this.ctx.clock.now() });
      await this.ctx.audit.append(tx, { actor, action: 'credential.retry', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId: row.lockId, slot: row.slot, lastError: row.lastError } });
    });
    await this.queue([lock], 'retry');
    return present(await this.requireCredential(this.ctx.db, row.id));
  }

  /** Shows a PIN's code, on an explicit request with a reason. */
  async reveal(actor: Actor, credentialId: string, input: unknown): Promise<{ code: string }> {
    const { reason } = parseInput(RevealSchema, input);
    authorize(actor, 'credential.reveal', await credentialResource(this.ctx.db, credentialId));
    requireStepUp(actor, 'credential.reveal', this.ctx.clock.now());
    await takeReveal(this.ctx, actor, 'reveal');
    const row = await this.requireCredential(this.ctx.db, credentialId);
    if (!row.codeCipher) throw new AppError('credential.wrong_state', 'the code of this credential is not known to lockwarden');
    const code = this.ctx.secrets.decrypt(row.codeCipher, `credential:${row.id}`);
    const lock = await this.requireLock(this.ctx.db, row.lockId);
    // Recorded before the code leaves: no audit entry, no code.
    await this.ctx.audit.record(this.ctx.db, { actor, action: 'credential.reveal', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId: row.lockId, slot: row.slot, reason }, secrets: { code } });
    return { code };
  }

  /** Takes an unmanaged code found on the lock under management, for a named holder. */
  async adopt(actor: Actor, lockId: string, input: unknown): Promise<Credential> {
    const { slot, holder } = parseInput(AdoptSchema, input);
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { writable: true });
    const created = await inTransaction(this.ctx.db, async (tx) => {
      const observed = await this.unmanagedSlot(tx, lockId, slot);
      const code = observed.codeCipher ? this.ctx.secrets.decrypt(observed.codeCipher, `observation:${lockId}:${slot}`) : null;
      const row = this.newPinRow(actor, lockId, slot, holder, code, observed.schedule, { origin: 'adopted', status: 'confirmed', confirmedAt: this.ctx.clock.now() });
      await new CredentialRepository(tx).insert([row]);
      await this.ctx.audit.append(tx, { actor, action: 'credential.adopt', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId, slot, holder, codeKnown: code !== null }, ...(code !== null ? { secrets: { code } } : {}) });
      return row.id;
    });
    await this.queue([lock], 'adopted');
    return present(await this.requireCredential(this.ctx.db, created));
  }

  /** Removes an unmanaged code from the lock. */
  async removeUnmanaged(actor: Actor, lockId: string, input: unknown): Promise<Credential> {
    const { slot } = parseInput(SlotSchema, input);
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { writable: true });
    const created = await inTransaction(this.ctx.db, async (tx) => {
      const observed = await this.unmanagedSlot(tx, lockId, slot);
      const row = this.newPinRow(actor, lockId, slot, observed.name || `unmanaged code in slot ${slot}`, null, observed.schedule, { origin: 'adopted', status: 'removing' });
      row.codeMac = observed.fingerprint;
      await new CredentialRepository(tx).insert([row]);
      await this.ctx.audit.append(tx, { actor, action: 'credential.unmanaged.remove', target: credentialTarget(row, lock), locationId: lock.locationId, details: { lockId, slot } });
      return row.id;
    });
    await this.queue([lock], 'unmanaged removed');
    return present(await this.requireCredential(this.ctx.db, created));
  }

  /**
   * Reads the lock's paired controllers from the lock now (every Matter fabric, the simulator's hubs
   * and phones), for whoever may manage the lock's credentials. The read is audited: it asks the lock.
   */
  async listControllers(actor: Actor, lockId: string): Promise<LockControllersView> {
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId);
    const caps = await this.capabilities(lock);
    if (!caps.controllers) throw new AppError('credential.not_supported', 'this lock does not let lockwarden manage its controllers');
    const driver = this.driverFor(lock);
    const event = { actor, action: 'credential.controller.list', target: { type: 'lock', id: lock.id, label: lock.name }, locationId: lock.locationId } as const;
    let listed: ObservedController[];
    try {
      listed = await driver.listControllers(lock.externalId!);
    } catch (e) {
      const err = deviceError(e);
      await this.ctx.audit.record(this.ctx.db, { ...event, outcome: 'failure', details: { error: err.code } });
      throw err;
    }
    await this.ctx.audit.record(this.ctx.db, { ...event, details: { controllers: listed.length } });
    const removals = new Map((await new CredentialRepository(this.ctx.db).forLock(lockId)).filter((r) => r.kind === 'controller').map((r) => [r.controllerId, r]));
    return {
      lockId,
      readAt: this.ctx.clock.now(),
      controllers: listed.map((c) => {
        const r = removals.get(c.id);
        return { ...c, removal: r ? present(r) : null };
      }),
    };
  }

  /**
   * Unpairs a controller (hub, phone, fabric) from the lock, through a reconcile job. lockwarden's own
   * pairing is refused; the controller must be one the lock reported (its last read, else a read now).
   */
  async removeController(actor: Actor, lockId: string, controllerId: string): Promise<Credential> {
    authorize(actor, 'credential.write', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { writable: true, notInReset: true });
    const caps = await this.capabilities(lock);
    if (!caps.controllers) throw new AppError('credential.not_supported', 'this lock does not let lockwarden manage its controllers');
    const refuseSelf = () => new AppError('credential.wrong_state', 'removing lockwarden itself would leave the lock unmanaged; use a factory reset case instead');
    if (controllerId === 'lockwarden') throw refuseSelf();
    const repo = new CredentialRepository(this.ctx.db);
    const obs = await repo.observation(lockId);
    let controller = obs?.controllers.find((c) => c.id === controllerId);
    // Paired since the last read (listed live on the lock page): ask the lock.
    controller ??= (await this.driverFor(lock).listControllers(lock.externalId!).catch((e: unknown) => {
      throw deviceError(e);
    })).find((c) => c.id === controllerId);
    if (!controller) throw new AppError('credential.not_found', `the lock did not report a controller "${controllerId}"`);
    if (controller.self) throw refuseSelf();
    const existing = (await repo.forLock(lockId)).find((r) => r.kind === 'controller' && r.controllerId === controllerId);
    if (existing) return present(existing);
    const now = this.ctx.clock.now();
    const id = this.ctx.ids.uuid();
    await inTransaction(this.ctx.db, async (tx) => {
      await new CredentialRepository(tx).insert([{ id, lockId, kind: 'controller', slot: null, controllerId, holder: controller.label, codeCipher: null, codeMac: null, schedule: { kind: 'always' }, status: 'removing', origin: 'lockwarden', createdBy: actorName(actor), createdAt: now, updatedAt: now }]);
      await this.ctx.audit.append(tx, { actor, action: 'credential.controller.remove', target: { type: 'controller', id: controllerId, label: `${controller.label} on ${lock.name}` }, locationId: lock.locationId, details: { lockId, credentialId: id } });
    });
    await this.queue([lock], 'controller removed');
    return present(await this.requireCredential(this.ctx.db, id));
  }

  /** Reads the lock now (drift check) through a job. */
  async refresh(actor: Actor, lockId: string): Promise<void> {
    authorize(actor, 'credential.read', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { notInReset: true });
    await this.queue([lock], 'read requested', true);
  }

  /** Locks or unlocks the lock remotely, where it allows it. */
  async operate(actor: Actor, lockId: string, action: 'lock' | 'unlock'): Promise<{ bolt: DeviceStatus['bolt'] }> {
    authorize(actor, 'lock.operate', await lockResource(this.ctx.db, lockId));
    const lock = await this.requireLock(this.ctx.db, lockId, { writable: true, notInReset: true });
    const caps = await this.capabilities(lock);
    if (!canOperateRemotely(caps, action)) throw new AppError('device.not_supported', `this lock cannot be ${action === 'lock' ? 'locked' : 'unlocked'} remotely`);
    const driver = this.driverFor(lock);
    const event = { actor, action: `lock.${action}`, target: { type: 'lock', id: lock.id, label: lock.name }, locationId: lock.locationId } as const;
    // Recorded before the command goes out: no audit entry, no unlock. A failure is recorded too.
    await this.ctx.audit.record(this.ctx.db, event);
    try {
      await (action === 'lock' ? driver.lock(lock.externalId!) : driver.unlock(lock.externalId!));
      const status = await driver.status(lock.externalId!);
      return { bolt: status.bolt };
    } catch (e) {
      const err = deviceError(e);
      await this.ctx.audit.record(this.ctx.db, { ...event, outcome: 'failure', details: { error: err.code } });
      throw err;
    }
  }

  /** Changes many locks at once: revokes PINs and adds new ones, then queues one job per lock. */
  /**
   * Adds and/or revokes PINs on many locks. The change is recorded in slices, taking the locks one
   * hub at a time in turn, and each slice's jobs are queued as soon as it is written: on a large
   * fleet the first locks are being changed while the rest is still being recorded. A slice is one
   * transaction; should the process stop between slices, the slices written go ahead and the bulk
   * change lists only their locks.
   */
  async bulkChange(actor: Actor, input: unknown): Promise<BulkView> {
    const data = parseInput(BulkChangeSchema, input);
    if (data.target.locationId) authorize(actor, 'credential.write', await locationResource(this.ctx.db, data.target.locationId));
    const scope = readScope(actor, 'credential.write', this.ctx.clock.now());
    const targets = await this.resolveTargets(data.target);
    const outside = targets.find((t) => !inScope(scope, t.locationPath));
    if (outside) authorize(actor, 'credential.write', { locationPath: outside.locationPath });
    if (targets.length === 0) throw new AppError('validation.failed', 'Invalid input: target: no active locks there', [{ path: 'target', message: 'no active locks there' }]);
    const bulkId = this.ctx.ids.uuid();
    const description = data.description ?? describeBulk(data, targets.length);
    const ordered = interleaveByHub(targets.map((lock) => ({ lock, driver: lock.driver, hub: lock.externalId ? (this.ctx.drivers.get(lock.driver)?.hubOf(lock.externalId) ?? '') : '' }))).map((t) => t.lock);
    for (let i = 0; i < ordered.length; ) {
      // A small first slice, so every hub has work within a moment; then larger ones.
      const size = i === 0 ? BULK_FIRST_SLICE : BULK_SLICE;
      const slice = ordered.slice(i, i + size);
      await this.recordBulkSlice(actor, data, bulkId, description, slice, i === 0 ? ordered.length : null);
      await this.queue(slice, description);
      i += slice.length;
      await new Promise((r) => setImmediate(r));
    }
    return this.bulk(actor, bulkId);
  }

  /** Records one slice; the first (`total` given) also records the bulk change and its one audit entry. */
  private async recordBulkSlice(actor: Actor, data: BulkChange, bulkId: string, description: string, targets: LockRecord[], total: number | null): Promise<void> {
    const first = total !== null;
    const now = this.ctx.clock.now();
    const repo = new CredentialRepository(this.ctx.db);
    const existing = groupBy(await repo.forLocks(targets.map((l) => l.id)), (r) => r.lockId);
    const observations = new Map((await repo.observations(targets.map((l) => l.id))).map((o) => [o.lockId, o]));
    const inserts: CredentialRow[] = [];
    const revokeIds: string[] = [];
    const items: { bulkId: string; lockId: string; credentialId: string | null; target: 'confirmed' | 'removed' | null; error: string | null }[] = [];
    const holders = new Set(data.revoke?.holders?.map((h) => h.toLowerCase()));
    const capsOf = await this.capabilitiesOf(targets);
    for (const [n, lock] of targets.entries()) {
      // Planning is CPU work; let device answers and timers through now and then.
      if (n % 25 === 24) await new Promise((r) => setImmediate(r));
      const rows = existing.get(lock.id) ?? [];
      const caps = capsOf.get(lock.id)!;
      const revoked = new Set<string>();
      for (const r of rows) {
        if (r.kind !== 'pin' || !data.revoke || r.status === 'removing') continue;
        if (data.revoke.all || holders.has(r.holder.toLowerCase())) {
          revoked.add(r.id);
          revokeIds.push(r.id);
          items.push({ bulkId, lockId: lock.id, credentialId: r.id, target: 'removed', error: null });
        }
      }
      const kept = rows.filter((r) => r.kind === 'pin' && !revoked.has(r.id));
      const slots = new Set<number>([...kept.map((r) => r.slot!), ...(observations.get(lock.id)?.pins ?? []).filter((p) => !rows.some((r) => r.slot === p.slot)).map((p) => p.slot)]);
      // Revoked PINs hold their slot until the lock confirms removal: new PINs go elsewhere.
      for (const r of rows) if (revoked.has(r.id)) slots.add(r.slot!);
      const codes = new Set<string>([...kept.map((r) => r.codeMac ?? ''), ...(observations.get(lock.id)?.pins ?? []).map((p) => p.fingerprint ?? '')]);
      for (const add of data.add) {
        try {
          checkSchedule(add.schedule, caps);
          checkPinNameForLock(add.holder, caps);
          const code = add.code ?? generatePin(generatedLength(caps, add.length), this.ctx.randomInt, (c) => codes.has(this.print(c, lock.id)), caps);
          checkPinForLock(code, caps);
          if (codes.has(this.print(code, lock.id))) throw new AppError('credential.duplicate_pin', 'the lock already holds that code');
          const slot = firstFree(caps, slots);
          if (slot === null) throw new AppError('credential.slot_taken', 'no free slot');
          const row = this.newPinRow(actor, lock.id, slot, add.holder, code, add.schedule);
          slots.add(slot);
          codes.add(row.codeMac!);
          inserts.push({ ...row, attempts: 0, lastError: null, version: 1, confirmedAt: null, removedAt: null });
          items.push({ bulkId, lockId: lock.id, credentialId: row.id, target: 'confirmed', error: null });
        } catch (e) {
          items.push({ bulkId, lockId: lock.id, credentialId: null, target: null, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    await inTransaction(this.ctx.db, async (tx) => {
      const r = new CredentialRepository(tx);
      if (first) await r.createBulk({ id: bulkId, kind: data.add.length ? 'add_pin' : 'revoke_holder', description, createdBy: actorName(actor), createdAt: now }, []);
      await r.insert(inserts);
      for (let i = 0; i < revokeIds.length; i += 1000) {
        await tx.execute(sql`update credentials set status = 'removing', attempts = 0, last_error = null, version = version + 1, updated_at = ${now} where id in ${inList(revokeIds.slice(i, i + 1000))}`);
      }
      await r.createBulkItems(items);
      if (first) {
        const typed = Object.fromEntries(data.add.flatMap((a, i) => (a.code ? [[`add.${i}.code`, a.code]] : [])));
        await this.ctx.audit.append(tx, {
          actor,
          action: 'credential.bulk',
          target: { type: 'bulk', id: bulkId, label: description },
          locationId: data.target.locationId ?? null,
          details: { locks: total, target: data.target.locationId ? { locationId: data.target.locationId } : { lockIds: total <= 50 ? data.target.lockIds : undefined }, add: data.add.map((a) => ({ holder: a.holder, schedule: a.schedule.kind, typedCode: a.code !== undefined })), revoke: data.revoke ?? null },
          secrets: typed,
        });
      }
    });
  }

  /** A bulk change's progress, derived from its credentials' statuses. */
  async bulk(actor: Actor, bulkId: string): Promise<BulkView> {
    const scope = readScope(actor, 'credential.read', this.ctx.clock.now());
    const repo = new CredentialRepository(this.ctx.db);
    const op = await repo.bulk(bulkId);
    if (!op) throw new AppError('job.not_found', `bulk operation ${bulkId} not found`);
    // A scoped reader sees a bulk change only if every lock it touched is in their scope.
    if (scope !== null && !(await this.bulkWithin(bulkId, scope))) throw new AppError('auth.forbidden', 'not allowed: credential.read');
    const items = await repo.bulkItems(bulkId);
    let done = 0;
    let failed = 0;
    const failures: { lockId: string; error: string }[] = [];
    for (const i of items) {
      if (i.error || i.status === 'failed') {
        failed++;
        failures.push({ lockId: i.lockId, error: i.error ?? i.lastError ?? 'failed' });
      } else if (i.status === i.target || (i.target === 'confirmed' && i.status === 'removed')) done++;
    }
    const pending = items.length - done - failed;
    return { id: op.id, kind: op.kind, description: op.description, createdBy: op.createdBy, createdAt: op.createdAt, total: items.length, done, failed, pending, finished: pending === 0, failures: failures.slice(0, 100) };
  }

  /** Recent bulk changes, newest first. */
  async bulks(actor: Actor): Promise<BulkView[]> {
    const scope = readScope(actor, 'credential.read', this.ctx.clock.now());
    const ops = await new CredentialRepository(this.ctx.db).recentBulks(20);
    const visible = [];
    for (const o of ops) if (scope === null || (await this.bulkWithin(o.id, scope))) visible.push(o);
    return Promise.all(visible.map((o) => this.bulk(actor, o.id)));
  }

  /** Whether every lock a bulk change touched sits inside `scope`. */
  private async bulkWithin(bulkId: string, scope: string[]): Promise<boolean> {
    const paths = await this.ctx.db
      .selectDistinct({ path: locations.path })
      .from(bulkOperationItems)
      .innerJoin(locks, eq(locks.id, bulkOperationItems.lockId))
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(eq(bulkOperationItems.bulkId, bulkId));
    return paths.every((p) => inScope(scope, p.path));
  }

  private newPinRow(actor: Actor, lockId: string, slot: number, holder: string, code: string | null, schedule: CredentialRow['schedule'], extra: Partial<CredentialRow> = {}): CredentialRow {
    const id = this.ctx.ids.uuid();
    const now = this.ctx.clock.now();
    return {
      id,
      lockId,
      kind: 'pin',
      slot,
      controllerId: null,
      holder,
      codeCipher: code === null ? null : this.ctx.secrets.encrypt(code, `credential:${id}`),
      codeMac: code === null ? null : this.print(code, lockId),
      schedule,
      status: 'pending',
      origin: 'lockwarden',
      attempts: 0,
      lastError: null,
      version: 1,
      createdBy: actorName(actor),
      createdAt: now,
      updatedAt: now,
      confirmedAt: null,
      removedAt: null,
      ...extra,
    };
  }

  private print(code: string, lockId: string): string {
    return this.ctx.secrets.fingerprint(code, lockId);
  }

  /** Slots and code fingerprints in use on a lock: by live credentials and by codes found on it. */
  private async takenOnLock(db: Db, lockId: string, except?: string): Promise<{ slots: Set<number>; codes: Set<string> }> {
    const repo = new CredentialRepository(db);
    const rows = (await repo.forLock(lockId)).filter((r) => r.kind === 'pin' && r.id !== except);
    const obs = await repo.observation(lockId);
    const exceptSlot = except ? (await repo.byId(except))?.slot : undefined;
    const observed = (obs?.pins ?? []).filter((p) => p.slot !== exceptSlot);
    return {
      slots: new Set([...rows.map((r) => r.slot!), ...observed.map((p) => p.slot)]),
      codes: new Set([...rows.filter((r) => r.status !== 'removing').map((r) => r.codeMac ?? ''), ...observed.map((p) => p.fingerprint ?? '')].filter(Boolean)),
    };
  }

  private async unmanagedSlot(db: Db, lockId: string, slot: number): Promise<StoredObservedPin> {
    const repo = new CredentialRepository(db);
    const obs = await repo.observation(lockId);
    const observed = obs?.pins.find((p) => p.slot === slot);
    if (!observed) throw new AppError('credential.not_found', `the lock did not report a code in slot ${slot}`, [{ path: 'slot', message: 'no code there' }]);
    const rows = await repo.forLock(lockId);
    if (rows.some((r) => r.slot === slot && r.kind === 'pin')) throw new AppError('credential.wrong_state', `slot ${slot} is already managed by lockwarden`);
    return observed;
  }

  /** Each lock's capabilities (as `capabilities`), BULK_CAPABILITY_ASKS asks in flight at a time. */
  private async capabilitiesOf(targets: LockRecord[]): Promise<Map<string, DriverCapabilities>> {
    const out = new Map<string, DriverCapabilities>();
    let next = 0;
    const lane = async () => {
      while (next < targets.length) {
        const lock = targets[next++]!;
        out.set(lock.id, await this.capabilities(lock));
      }
    };
    await Promise.all(Array.from({ length: Math.min(BULK_CAPABILITY_ASKS, targets.length) }, lane));
    return out;
  }

  private async capabilities(lock: LockRecord): Promise<DriverCapabilities> {
    const driver = this.ctx.drivers.get(lock.driver);
    if (driver && lock.externalId) {
      try {
        return await driver.capabilities(lock.externalId);
      } catch {
        // The device could not be asked; the catalogue's word is the next best.
      }
    }
    return capabilitiesFromModel(lock.modelCaps);
  }

  private driverFor(lock: LockRecord): LockDriver {
    const driver = this.ctx.drivers.get(lock.driver);
    if (!driver || !lock.externalId) throw new AppError('device.not_supported', `lockwarden cannot reach this lock (driver "${lock.driver}"${lock.externalId ? '' : ', no device id'})`);
    return driver;
  }

  /**
   * The lock row. `writable`: refused when retired. `notInReset`: refused while a reset case owns the
   * lock (the reconciler leaves it alone then, so a read or removal asked here would never land).
   */
  private async requireLock(db: Db, lockId: string, opts: { writable?: boolean; notInReset?: boolean } = {}): Promise<LockRecord> {
    const [row] = await db
      .select({ lock: locks, modelCaps: lockModels.capabilities })
      .from(locks)
      .innerJoin(lockModels, eq(lockModels.id, locks.modelId))
      .where(eq(locks.id, lockId));
    if (!row) throw new AppError('lock.not_found', `lock ${lockId} not found`);
    if (opts.writable && row.lock.serviceState === 'retired') throw new AppError('lock.retired', 'this lock is retired');
    if (opts.notInReset && row.lock.serviceState === 'reset_in_progress') {
      throw new AppError('reset.case_open', 'a reset case owns this lock until it closes: the case reads the lock and sends it commands (open the case from the lock page)');
    }
    return { ...row.lock, modelCaps: row.modelCaps };
  }

  private async requireCredential(db: Db, id: string): Promise<CredentialRow> {
    const row = await new CredentialRepository(db).byId(id);
    if (!row) throw new AppError('credential.not_found', `credential ${id} not found`);
    return row;
  }

  private async resolveTargets(target: { lockIds?: string[] | undefined; locationId?: string | undefined }): Promise<(LockRecord & { locationPath: string })[]> {
    const base = this.ctx.db
      .select({ lock: locks, modelCaps: lockModels.capabilities, locationPath: locations.path })
      .from(locks)
      .innerJoin(lockModels, eq(lockModels.id, locks.modelId))
      .innerJoin(locations, eq(locations.id, locks.locationId));
    const rows = target.lockIds
      ? await base.where(inArray(locks.id, target.lockIds))
      : await base.where(sql`${locations.path} like ${`%/${target.locationId}/%`}`);
    if (target.lockIds && rows.length !== new Set(target.lockIds).size) {
      const found = new Set(rows.map((r) => r.lock.id));
      const missing = target.lockIds.find((id) => !found.has(id));
      throw new AppError('lock.not_found', `lock ${missing} not found`, [{ path: 'target.lockIds', message: `unknown lock ${missing}` }]);
    }
    if (target.locationId && rows.length === 0) {
      const [loc] = await this.ctx.db.select({ id: locations.id }).from(locations).where(eq(locations.id, target.locationId));
      if (!loc) throw new AppError('location.not_found', `location ${target.locationId} not found`, [{ path: 'target.locationId', message: 'no such location' }]);
    }
    return rows.filter((r) => r.lock.serviceState !== 'retired').map((r) => ({ ...r.lock, modelCaps: r.modelCaps, locationPath: r.locationPath }));
  }

  private async queue(targets: LockRecord[], reason: string, read = false): Promise<void> {
    await this.ctx.jobs.enqueue(reconcileRequests(this.ctx.drivers, targets, reason, read));
  }
}

const SlotSchema = z.object({ slot: z.number().int().min(1, 'slots start at 1') }).strict();
const AdoptSchema = z.object({ slot: z.number().int().min(1, 'slots start at 1'), holder: PinCreateSchema.shape.holder }).strict();

/** The code length to generate: what was asked, else 6 where the lock allows it, within its limits. */
function generatedLength(caps: DriverCapabilities, asked?: number): number {
  // A lock with no allowed length (or no PINs) is refused by checkPinForLock right after.
  return generatedPinLength(caps, asked) ?? Math.max(caps.pin.minLength, Math.min(6, caps.pin.maxLength));
}

function firstFree(caps: DriverCapabilities, taken: Set<number>): number | null {
  for (let s = 1; s <= caps.pin.slots; s++) if (!taken.has(s)) return s;
  return null;
}

function present(r: CredentialRow): Credential {
  return {
    id: r.id,
    lockId: r.lockId,
    kind: r.kind,
    slot: r.slot,
    controllerId: r.controllerId,
    holder: r.holder,
    schedule: r.schedule,
    status: r.status,
    origin: r.origin,
    attempts: r.attempts,
    lastError: r.lastError,
    version: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    confirmedAt: r.confirmedAt,
  };
}

/** A credential as an audit target: who holds it, which slot, on which lock. */
function credentialTarget(row: Pick<CredentialRow, 'id' | 'holder' | 'slot'>, lock: { name: string }) {
  return { type: 'credential', id: row.id, label: `${row.holder}${row.slot !== null ? ` (slot ${row.slot})` : ''} on ${lock.name}` };
}

function actorName(actor: Actor): string {
  return actor.kind === 'user' ? actor.email : `system:${actor.name}`;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of items) out.set(key(i), [...(out.get(key(i)) ?? []), i]);
  return out;
}

function inList(ids: string[]) {
  return sql`(${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`;
}

function describeBulk(data: ReturnType<typeof BulkChangeSchema.parse>, n: number): string {
  const parts: string[] = [];
  if (data.revoke) parts.push(data.revoke.all ? 'revoke all PINs' : `revoke PINs of ${data.revoke.holders!.join(', ')}`);
  if (data.add.length) parts.push(`add PINs for ${data.add.map((a) => a.holder).join(', ')}`);
  return `${parts.join(' and ')} on ${n} lock${n === 1 ? '' : 's'}`;
}

/** A driver failure as the application error people see. */
export function deviceError(e: unknown): AppError {
  if (!isDriverError(e)) return e instanceof AppError ? e : new AppError('internal', 'the device command failed');
  switch (e.code) {
    case 'driver.not_supported':
      return new AppError('device.not_supported', e.message);
    case 'driver.refused':
      return new AppError('device.refused', `the lock refused the command: ${e.message}`);
    case 'driver.unknown_device':
      return new AppError('device.unreachable', `the driver does not know this device: ${e.message}`);
    default:
      return new AppError('device.unreachable', `the lock did not answer (${e.code}): ${e.message}`);
  }
}
