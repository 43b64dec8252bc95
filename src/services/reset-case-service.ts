/**
 * Reset cases: a factory reset run as a controlled change. Each request is one step with an
 * idempotency key: the service reads the lock through its driver where the step needs it, then
 * applies the step's domain events to the case, appends the step to the case's log, writes its side
 * effects (sealed snapshot, the lock's service state, rebuilt credentials) and the audit entry in
 * one transaction. A step whose device command must not run twice records an `intent` row first; a
 * retry (same key) after a crash looks at the lock before sending anything again.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { canonicalJson } from '../crypto/audit-chain.js';
import { dataKeyAad, newDataKey, open, seal, sealedVersion } from '../crypto/envelope.js';
import { checkPinForLock, capabilitiesFromModel, generatePin } from '../domain/credentials.js';
import { AppError } from '../domain/errors.js';
import type { Step } from '../domain/handbook.js';
import type { Actor } from '../domain/identity.js';
import {
  DEVICE_EVENT_TYPES,
  EVENTS_BY_STATE,
  MANUAL_CHECKS,
  PREFLIGHT_CHECKS,
  RESET_BLOCK_REASONS,
  RESET_REMEDIES,
  RESET_STATES,
  ResetCaseOpenSchema,
  applyEvent,
  lockedOut,
  missing,
  openCase,
  requiredChecks,
  type ResetCase,
  type ResetEvent,
  type ResetProfile,
  type SnapshotItem,
  type VerificationCheck,
} from '../domain/reset-case.js';
import { parseInput } from '../domain/validation.js';
import type { ResetRecordPdfData } from '../export/reset-record-pdf.js';
import { crashPoint } from '../crash-points.js';
import {
  isDriverError,
  type CredentialSchedule,
  type DeviceStatus,
  type DriverError,
  type EnrolledDevice,
  type EnrollmentMethod,
  type EnrollmentPreparation,
  type LockDriver,
  type ObservedController,
  type ObservedCredentials,
} from '../drivers/contract.js';
import { inTransaction, queryRows, type Db } from '../store/database.js';
import { HandbookRepository } from '../store/handbook-repository.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { ResetCaseRepository, type ResetCaseRow, type ResetStepRow } from '../store/reset-case-repository.js';
import { ResetPhotoRepository } from '../store/reset-photo-repository.js';
import { credentials, locations, locks, resetCases } from '../store/schema.js';
import { SecretRepository } from '../store/secret-repository.js';
import { actorId, actorLabel, authorize, readScope, reconcileRequests, type ServiceContext } from './context.js';
import { DEVICE_EVENTS } from './alert-service.js';
import { hideAs, lockResource } from './scope.js';
import { queueResetNotice } from './outbox-service.js';

const note = z.string().trim().max(2000).default('');
const evidence = z.array(z.string().trim().min(1).max(300)).max(20).default([]);

/** What a person (or the technician's phone) asks of a case; the service turns it into domain events. */
export const ResetCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('decide'), remedy: z.enum(RESET_REMEDIES), overrideReason: z.string().trim().max(2000).optional() }).strict(),
  /** `notify` (occupants_notified / monitoring_notified only): the notice goes out through the outbox with the step. */
  z.object({ type: z.literal('preflight_check'), check: z.enum(PREFLIGHT_CHECKS), passed: z.boolean(), note, evidence, notify: z.boolean().optional() }).strict(),
  /** Reads the battery through the driver and records the battery check against the model's minimum. */
  z.object({ type: z.literal('read_battery') }).strict(),
  z.object({ type: z.literal('approve'), note }).strict(),
  z.object({ type: z.literal('complete_preflight') }).strict(),
  z.object({ type: z.literal('take_snapshot') }).strict(),
  z.object({ type: z.literal('confirm_account_unbound'), note, evidence }).strict(),
  /** Removes the lock from its vendor cloud account through the driver (where it can), then verification re-reads. */
  z.object({ type: z.literal('unbind_cloud') }).strict(),
  /** Starts the timer of a timed hold; the server keeps when, so a reload does not restart it. */
  z.object({ type: z.literal('start_hold'), step: z.number().int().min(1).max(100) }).strict(),
  z.object({ type: z.literal('procedure_step'), step: z.number().int().min(1).max(100) }).strict(),
  /** The technician did the reset at the door; the lock is then read for setup mode. */
  z.object({ type: z.literal('confirm_reset') }).strict(),
  z.object({ type: z.literal('remote_reset') }).strict(),
  z.object({ type: z.literal('report_blocked'), reason: z.enum(RESET_BLOCK_REASONS), note }).strict(),
  z.object({ type: z.literal('confirm_device_replaced'), note }).strict(),
  /** Runs the driver's checks; `lockId` says which lock the technician is at. */
  z.object({ type: z.literal('run_checks'), lockId: z.string().uuid('lockId must be an id') }).strict(),
  z.object({ type: z.literal('manual_check'), lockId: z.string().uuid('lockId must be an id'), check: z.enum(MANUAL_CHECKS), passed: z.boolean(), note, evidence }).strict(),
  /**
   * Enrolls the lock again after the reset (inclusion, commissioning, join, reconnect, setup code)
   * and binds the device to this lock record; `code` is the DSK PIN or pairing code from its label.
   */
  z
    .object({
      type: z.literal('reenroll'),
      lockId: z.string().uuid('lockId must be an id'),
      code: z.string().trim().min(1, 'type the code from the lock\'s label').max(200).optional(),
      security: z.enum(['s2', 's0', 'none']).optional(),
      timeoutSeconds: z.number().int().min(5).max(240).default(120),
    })
    .strict(),
  /** Unpairs a controller that was on the lock before the reset and is still there, then re-reads. */
  z.object({ type: z.literal('remove_prior_controller'), lockId: z.string().uuid('lockId must be an id'), controllerId: z.string().trim().min(1).max(200) }).strict(),
  z.object({ type: z.literal('retry_reset'), note }).strict(),
  z.object({ type: z.literal('complete_verification') }).strict(),
  /** Restores the snapshot's PINs on the lock; those listed in `reissue` get a new code instead. */
  z.object({ type: z.literal('rebuild'), reissue: z.array(z.string().uuid()).max(1000).default([]) }).strict(),
  z.object({ type: z.literal('complete_rebuild') }).strict(),
  z.object({ type: z.literal('close'), note }).strict(),
  z.object({ type: z.literal('cancel'), note: z.string().trim().min(1, 'say why the case is cancelled').max(2000) }).strict(),
]);
export type ResetCommand = z.output<typeof ResetCommandSchema>;

export const ResetStepSchema = z
  .object({
    /** Chosen by the client per attempt of a step; a retry with the same key changes nothing again. */
    idempotencyKey: z.string().trim().min(8, 'idempotencyKey needs at least 8 characters').max(100),
    command: ResetCommandSchema,
  })
  .strict();

export const ResetCaseFilterSchema = z
  .object({
    lockId: z.string().uuid().optional(),
    /** States, comma-separated in a query string. */
    state: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(z.enum(RESET_STATES)).optional()),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

/** Steps with a device command that must not run twice (an intent row before the command). */
const DEVICE_ONCE = new Set<ResetCommand['type']>(['remote_reset', 'rebuild']);

/** Who finishes a step left half done by a crash. */
export const RESUMER: Actor = { kind: 'system', name: 'reset-resumer' };

const MANAGE = new Set(['decide', 'complete_preflight', 'take_snapshot', 'confirm_account_unbound', 'unbind_cloud', 'confirm_device_replaced', 'close', 'cancel']);

/** Steps that wait on a person at the lock; one at a time per case, a second is refused while one runs. */
const ONE_AT_A_TIME = new Set<ResetCommand['type']>(['reenroll']);

/** Options of a step that only the edge knows. */
export interface StepOptions {
  /** Aborted when the person gives up (the HTTP request closed): a waiting enrollment stops. */
  signal?: AbortSignal;
}

/** What the snapshot holds, sealed: the PINs to restore, and what was on the lock before. */
interface SnapshotPayload {
  /** `code` null: lockwarden never knew it (adopted from a lock that does not read codes back); rebuilt with a new code. */
  pins: { credentialId: string; slot: number; holder: string; code: string | null; schedule: CredentialSchedule }[];
  prior: { slots: number[]; codes: string[]; controllers: ObservedController[] };
}

/** A case as callers see it. */
export interface ResetCaseView {
  case: ResetCase;
  version: number;
  lock: { id: string; name: string; driver: string; externalId: string | null; serviceState: string };
  /** Events the case takes now. */
  next: string[];
  missing: string[];
  requiredChecks: VerificationCheck[];
  /** Who would still be locked out until the rebuild is done. */
  lockedOut: SnapshotItem[];
  /** The handbook procedure the case follows (the revision pinned when it was opened). */
  procedure: Step[] | null;
  steps: { seq: number; phase: string; command: string; stateBefore: string; stateAfter: string; actor: string; at: Date; events: Record<string, unknown>[] }[];
  /** Device commands started and not known to have finished (a crash between them). */
  openIntents: { command: string; idempotencyKey: string; at: Date }[];
  record: { signature: string; keyId: string } | null;
  /** The server's time, for timers counted from the server's clock. */
  now: Date;
}

/** How the case's lock enrolls again, for the form that does it. */
export interface ResetEnrollmentView {
  method: EnrollmentMethod | null;
  preparation: EnrollmentPreparation | null;
  unavailable: string | null;
  cloudUnbind: boolean;
}

/** The signed close-out record. */
export interface ResetCaseRecord {
  record: Record<string, unknown>;
  canonical: string;
  signature: string;
  keyId: string;
  publicKeyPem: string;
  verified: boolean;
}

type LockRow = typeof locks.$inferSelect;

/** Use cases on reset cases. */
export class ResetCaseService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Opens a case for a lock and a reason, with lockwarden's recommendation. */
  async open(actor: Actor, input: unknown): Promise<ResetCaseView> {
    const data = parseInput(ResetCaseOpenSchema, input);
    authorize(actor, 'reset.manage', await lockResource(this.ctx.db, data.lockId));
    const lock = await this.lockRow(this.ctx.db, data.lockId);
    if (lock.serviceState === 'retired') throw new AppError('lock.retired', 'this lock is retired: a reset case is for a lock in service', [{ path: 'lockId', message: 'retired' }]);
    const profile = await this.profile(lock);
    const id = this.ctx.ids.uuid();
    const now = this.ctx.clock.now();
    await inTransaction(this.ctx.db, async (tx) => {
      // Read again under the lock row's lock: a retirement at the same moment is seen, not raced.
      const [fresh] = await tx.select({ serviceState: locks.serviceState }).from(locks).where(eq(locks.id, lock.id)).for('update');
      if (fresh?.serviceState === 'retired') throw new AppError('lock.retired', 'this lock is retired: a reset case is for a lock in service', [{ path: 'lockId', message: 'retired' }]);
      const repo = new ResetCaseRepository(tx);
      const existing = await repo.openForLock(lock.id);
      if (existing) throw new AppError('reset.case_open', `this lock already has an open reset case (${existing.id}); finish or cancel it first`, [{ path: 'lockId', message: 'has an open case' }]);
      const c = openCase({ id, lockId: lock.id, reason: data.reason, description: data.description, alreadyTried: data.alreadyTried, profile, ctx: { actorId: actorId(actor), at: now } });
      await repo.insert(c, now);
      await repo.appendStep({ caseId: id, idempotencyKey: 'open', phase: 'done', command: 'open', request: { ...data }, events: [], stateBefore: 'triage', stateAfter: 'triage', actorId: actorId(actor), actorLabel: actorLabel(actor), at: now });
      await this.ctx.audit.append(tx, { actor, action: 'reset.open', target: { type: 'reset_case', id, label: lock.name }, locationId: lock.locationId, details: { lockId: lock.id, reason: data.reason, recommendation: c.recommendation.remedy } });
    });
    return this.view(this.ctx.db, id);
  }

  async get(actor: Actor, id: string): Promise<ResetCaseView> {
    const row = await this.caseRow(this.ctx.db, id);
    authorize(actor, 'reset.read', await this.caseLock(id, row.lockId));
    return this.view(this.ctx.db, id);
  }

  /** Cases in the reader's scope, newest first. */
  async list(actor: Actor, filter: unknown): Promise<{ items: (ResetCase & { version: number })[] }> {
    const f = parseInput(ResetCaseFilterSchema, filter ?? {});
    const scope = readScope(actor, 'reset.read', this.ctx.clock.now());
    const rows = await new ResetCaseRepository(this.ctx.db).list({ lockId: f.lockId, states: f.state, limit: f.limit }, scope);
    return { items: rows.map((r) => ({ ...r.data, version: r.version })) };
  }

  /**
   * One step of a case. A key already done returns the case as it is (the same request again is
   * harmless; a different request under a used key is refused). Nothing is changed by a step that
   * fails: the domain refuses before any device command, and the transaction rolls back.
   */
  async step(actor: Actor, id: string, input: unknown, opts: StepOptions = {}): Promise<ResetCaseView> {
    const { idempotencyKey: key, command } = parseInput(ResetStepSchema, input);
    const row = await this.caseRow(this.ctx.db, id);
    const place = await this.caseLock(id, row.lockId);
    authorize(actor, command.type === 'approve' ? 'reset.approve' : MANAGE.has(command.type) ? 'reset.manage' : 'reset.perform', place);
    if (ONE_AT_A_TIME.has(command.type)) {
      const r = await exclusive(this.ctx, id, 'try', () => this.runStep(actor, id, key, command, opts));
      if (r.busy) throw new AppError('reset.wrong_state', 'another step of this case is running (an enrollment waits for the lock): wait for it to finish or time out');
      return r.value;
    }
    if (!DEVICE_ONCE.has(command.type)) return this.runStep(actor, id, key, command);
    // A step whose device command must not run twice runs alone on its case: a person's retry and
    // the resumer (or two processes) never send it at the same time.
    const r = await exclusive(this.ctx, id, 'wait', () => this.runStep(actor, id, key, command));
    if (r.busy) throw new AppError('reset.wrong_state', 'another step of this case is running; try again');
    return r.value;
  }

  /**
   * Finishes every step whose device command was started (an `intent` row) and never recorded as
   * done, as if its client had repeated it with the same key, under the system actor
   * `reset-resumer`. Run at start and periodically by the process with the worker. A case where
   * another process is already on it is passed over; a step the device refuses now stays open for
   * the next pass (or the person's own retry). A case between steps is left for people.
   */
  async resumeOpenIntents(onError: (e: unknown) => void = () => undefined): Promise<{ resumed: number; busy: number; failed: number }> {
    const out = { resumed: 0, busy: 0, failed: 0 };
    for (const intent of await new ResetCaseRepository(this.ctx.db).allOpenIntents()) {
      const command = intentCommand(intent);
      if (!command) continue;
      try {
        const r = await exclusive(this.ctx, intent.caseId, 'try', () => this.runStep(RESUMER, intent.caseId, intent.idempotencyKey, command));
        if (r.busy) out.busy++;
        else out.resumed++;
      } catch (e) {
        out.failed++;
        onError(e);
      }
    }
    return out;
  }

  /**
   * A lock's driver reported a factory reset (`reset_detected`): the lock's open case, if any,
   * records it as an observation by the device (and, in verification, the lock as seen in setup
   * mode). Returns the case id, or null when the lock has no open case.
   */
  async observeDeviceReset(lockId: string, source: { driver: string; externalId: string; at: Date; detail: string }): Promise<string | null> {
    const open = await new ResetCaseRepository(this.ctx.db).openForLock(lockId);
    if (!open) return null;
    const who = { actorId: `device:${source.driver}/${source.externalId}`, at: source.at };
    const event: ResetEvent = { type: 'device_observed', observation: 'reset_detected', note: source.detail };
    return inTransaction(this.ctx.db, async (tx) => {
      const r = new ResetCaseRepository(tx);
      const current = await r.lockForStep(open.id);
      if (!current || !EVENTS_BY_STATE[current.state].includes('device_observed')) return null;
      const c = applyEvent(current.data, event, who);
      if (!(await r.save(c, current.version, this.ctx.clock.now()))) return null;
      const [lock] = await tx.select({ name: locks.name, locationId: locks.locationId }).from(locks).where(eq(locks.id, lockId));
      await r.appendStep({ caseId: open.id, idempotencyKey: `device:${this.ctx.ids.uuid()}`, phase: 'done', command: 'device_observed', request: { type: 'device_observed', driver: source.driver }, events: [event], stateBefore: current.state, stateAfter: c.state, actorId: who.actorId, actorLabel: `the lock (${source.driver} device ${source.externalId})`, at: source.at });
      await this.ctx.audit.append(tx, { actor: DEVICE_EVENTS, action: 'reset.device_observed', target: { type: 'reset_case', id: open.id, label: lock?.name ?? lockId }, locationId: lock?.locationId ?? null, details: { lockId, observation: 'reset_detected', driver: source.driver, state: current.state } });
      return open.id;
    });
  }

  /**
   * How the case's lock is enrolled again: the driver's method, and what the person needs first
   * (a link to reconnect an account). A driver that cannot say is reported in words, not as an error.
   */
  async enrollment(actor: Actor, id: string): Promise<ResetEnrollmentView> {
    const row = await this.caseRow(this.ctx.db, id);
    authorize(actor, 'reset.perform', await this.caseLock(id, row.lockId));
    const lock = await this.lockRow(this.ctx.db, row.lockId);
    const d = this.ctx.drivers.get(lock.driver);
    if (!d || !lock.externalId) return { method: null, preparation: null, unavailable: `lockwarden cannot reach ${lock.name}: it has no ${!d ? `driver "${lock.driver}"` : 'device id'}`, cloudUnbind: false };
    try {
      const caps = await d.capabilities(lock.externalId);
      if (!caps.enrollment) return { method: null, preparation: null, unavailable: `lockwarden cannot enroll this lock again by itself: enroll it with the vendor's app or hub, then run the checks`, cloudUnbind: caps.cloudUnbind };
      const preparation = await d.prepareEnrollment(lock.externalId).catch(() => null);
      return { method: caps.enrollment, preparation, unavailable: null, cloudUnbind: caps.cloudUnbind };
    } catch (e) {
      if (!isDriverError(e)) throw e;
      return { method: null, preparation: null, unavailable: `the lock's driver did not say how to enroll it (${e.message})`, cloudUnbind: false };
    }
  }

  private async runStep(actor: Actor, id: string, key: string, command: ResetCommand, opts: StepOptions = {}): Promise<ResetCaseView> {
    const repo = new ResetCaseRepository(this.ctx.db);
    const done = await repo.stepByKey(id, key, 'done');
    if (done) {
      if (done.command !== command.type || canonicalJson(done.request) !== canonicalJson(redact(command))) {
        throw new AppError('reset.idempotency_conflict', `idempotency key ${key} was already used for another step (${done.command})`, [{ path: 'idempotencyKey', message: 'already used' }]);
      }
      return this.view(this.ctx.db, id);
    }
    const row = await this.caseRow(this.ctx.db, id);
    if ((command.type === 'run_checks' || command.type === 'manual_check') && command.lockId !== row.lockId) {
      throw new AppError('reset.wrong_lock', `this result is for lock ${command.lockId}, which is not the lock of this case`, [{ path: 'command.lockId', message: 'not the lock in this case' }]);
    }
    if (command.type === 'manual_check' || command.type === 'preflight_check') await this.checkEvidence(id, command.evidence);
    const lock = await this.lockRow(this.ctx.db, row.lockId);
    const at = this.ctx.clock.now();
    const who = { actorId: actorId(actor), at };
    const gathered = await this.gather(actor, row, lock, key, command, who, opts);
    await inTransaction(this.ctx.db, async (tx) => {
      const r = new ResetCaseRepository(tx);
      const current = await r.lockForStep(id);
      if (!current) throw notFound(id);
      if (await r.stepByKey(id, key, 'done')) return; // a concurrent retry of the same step won
      let c = current.data;
      for (const e of gathered.events) c = applyEvent(c, e, who);
      if (!(await r.save(c, current.version, at))) throw new AppError('reset.wrong_state', 'the case changed meanwhile; reload it');
      await gathered.effects?.(tx, c);
      await r.appendStep({ caseId: id, idempotencyKey: key, phase: 'done', command: command.type, request: redact(command), events: gathered.events, stateBefore: current.state, stateAfter: c.state, actorId: actorId(actor), actorLabel: actorLabel(actor), at });
      await this.ctx.audit.append(tx, {
        actor,
        action: `reset.${command.type}`,
        target: { type: 'reset_case', id, label: lock.name },
        locationId: lock.locationId,
        details: { lockId: lock.id, from: current.state, to: c.state, events: gathered.events.map(auditEvent) },
      });
      crashPoint('reset.in_step_tx');
    });
    crashPoint('reset.step_committed');
    if (gathered.after) await gathered.after();
    return this.view(this.ctx.db, id);
  }

  /** The signed close-out record of a closed case, with whether its signature verifies here. */
  async record(actor: Actor, id: string): Promise<ResetCaseRecord> {
    const row = await this.caseRow(this.ctx.db, id);
    authorize(actor, 'reset.read', await this.caseLock(id, row.lockId));
    if (!row.record || !row.recordSignature || !row.recordKeyId) throw new AppError('reset.wrong_state', 'the case has no close-out record until it is closed');
    const signer = this.ctx.audit.signer;
    const verified = row.recordKeyId === signer.keyId && signer.verifyBytes(Buffer.from(row.record, 'utf8'), row.recordSignature);
    return { record: JSON.parse(row.record) as Record<string, unknown>, canonical: row.record, signature: row.recordSignature, keyId: row.recordKeyId, publicKeyPem: signer.publicKeyPem, verified };
  }

  /** The signed close-out record as a PDF: every step, actor, time and result, the checks with their evidence, the signature. */
  async recordPdf(actor: Actor, id: string): Promise<{ filename: string; bytes: Buffer }> {
    const rec = await this.record(actor, id);
    const row = await this.caseRow(this.ctx.db, id);
    const [place] = await this.ctx.db
      .select({ lockName: locks.name, location: locations.name })
      .from(locks)
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(eq(locks.id, row.lockId));
    const photos = await new ResetPhotoRepository(this.ctx.db).list(id);
    const der = createPublicKey(rec.publicKeyPem).export({ type: 'spki', format: 'der' });
    // The PDF library (and its fonts) load on first use, as for the handbook's PDF.
    const { renderResetRecordPdf } = await import('../export/reset-record-pdf.js');
    const bytes = await renderResetRecordPdf({
      record: rec.record as unknown as ResetRecordPdfData['record'],
      lockName: place?.lockName ?? row.lockId,
      location: place?.location ?? '',
      signature: rec.signature,
      keyId: rec.keyId,
      fingerprint: createHash('sha256').update(der).digest('hex').match(/.{4}/g)!.join(' '),
      verified: rec.verified,
      photos,
      printedFor: actorLabel(actor),
      printedAt: this.ctx.clock.now(),
    });
    return { filename: `reset-case-${id.slice(0, 8)}.pdf`, bytes };
  }

  /** Evidence naming a photo (an id) must be a photo of this case; other evidence is a free reference. */
  private async checkEvidence(caseId: string, evidence: string[]): Promise<void> {
    const ids = evidence.filter((e) => z.string().uuid().safeParse(e).success);
    const known = await new ResetPhotoRepository(this.ctx.db).existing(caseId, ids);
    const unknown = ids.filter((e) => !known.has(e));
    if (unknown.length) throw new AppError('reset.invalid', `evidence ${unknown.join(', ')} is not a photo of this case: upload the photo to the case first`, [{ path: 'command.evidence', message: 'not a photo of this case' }]);
  }

  // ---- steps ---------------------------------------------------------------------------------

  /**
   * Turns a command into domain events, doing the device work it needs first. Checks the case
   * takes the first event before touching the device, so an out-of-order step sends nothing.
   */
  private async gather(
    actor: Actor,
    row: ResetCaseRow,
    lock: LockRow,
    key: string,
    command: ResetCommand,
    who: { actorId: string; at: Date },
    opts: StepOptions = {},
  ): Promise<{ events: ResetEvent[]; effects?: (tx: Db, c: ResetCase) => Promise<void>; after?: () => Promise<void> }> {
    const c = row.data;
    const dry = (e: ResetEvent) => applyEvent(c, e, who);
    switch (command.type) {
      case 'decide':
        return { events: [{ type: 'decide', remedy: command.remedy, ...(command.overrideReason ? { overrideReason: command.overrideReason } : {}) }] };
      case 'preflight_check': {
        const events: ResetEvent[] = [{ type: 'preflight_check', check: command.check, passed: command.passed, note: command.note, evidence: command.evidence }];
        const to = command.check === 'occupants_notified' ? 'occupants' : command.check === 'monitoring_notified' ? 'monitoring' : null;
        if (!command.notify || !to) return { events };
        return { events, effects: (tx) => queueResetNotice(this.ctx, tx, { lockId: lock.id, lockName: lock.name, locationId: lock.locationId, caseId: row.id, reason: c.reason }, to).then(() => undefined) };
      }
      case 'read_battery': {
        dry({ type: 'preflight_check', check: 'battery_adequate', passed: false, note: '', evidence: [] });
        const status = await this.device(lock, (d, x) => d.status(x));
        const pct = status.batteryPercent;
        const min = c.profile.batteryMinPercent;
        const passed = status.online && pct !== null && pct >= min;
        const noteText = !status.online ? 'the lock did not answer: check the battery at the door' : pct === null ? 'the lock does not report its battery: check it at the door' : `read from the lock: ${pct}% (the reset needs at least ${min}%)`;
        return {
          events: [{ type: 'preflight_check', check: 'battery_adequate', passed, note: noteText, evidence: [] }],
          effects: async (tx) => {
            if (pct !== null) await tx.update(locks).set({ batteryPercent: pct, batteryReportedAt: who.at }).where(eq(locks.id, lock.id));
          },
        };
      }
      case 'approve':
        return { events: [{ type: 'approve', note: command.note }] };
      case 'complete_preflight':
        return { events: [{ type: 'complete_preflight' }] };
      case 'take_snapshot':
        return this.takeSnapshot(row, lock, who);
      case 'confirm_account_unbound':
        await this.checkEvidence(row.id, command.evidence);
        return { events: [{ type: 'account_unbound', note: command.note, evidence: command.evidence }] };
      case 'unbind_cloud':
        return this.unbindCloud(row, lock, who);
      case 'start_hold':
        return { events: [{ type: 'hold_started', step: command.step }] };
      case 'procedure_step':
        dry({ type: 'procedure_step', step: command.step });
        await this.checkHold(c, command.step, who.at);
        return { events: [{ type: 'procedure_step', step: command.step }] };
      case 'reenroll':
        return this.reenroll(actor, row, lock, command, who, opts);
      case 'remove_prior_controller': {
        dry({ type: 'check_result', check: 'prior_controllers_refused', passed: false, note: '', evidence: [] });
        await this.device(lock, (d, x) => d.removeController(x, command.controllerId));
        return { events: await this.driverChecks(row, lock, who) };
      }
      case 'confirm_reset': {
        dry({ type: 'reset_performed', method: 'physical' });
        const status = await this.device(lock, (d, x) => d.status(x));
        return { events: [{ type: 'reset_performed', method: 'physical' }, setupModeResult(status)] };
      }
      case 'remote_reset':
        return this.remoteReset(actor, row, lock, key, command, who);
      case 'report_blocked':
        return { events: [{ type: 'reset_blocked', reason: command.reason, note: command.note }] };
      case 'confirm_device_replaced':
        return { events: [{ type: 'device_replaced', note: command.note }] };
      case 'run_checks':
        return { events: await this.driverChecks(row, lock, who) };
      case 'manual_check':
        return { events: [{ type: 'check_result', check: command.check, passed: command.passed, note: command.note, evidence: command.evidence }] };
      case 'retry_reset':
        return { events: [{ type: 'retry_reset', note: command.note }] };
      case 'complete_verification':
        return { events: [{ type: 'complete_verification' }] };
      case 'rebuild':
        return this.rebuild(actor, row, lock, key, command.reissue, who);
      case 'complete_rebuild':
        return { events: [{ type: 'complete_rebuild' }] };
      case 'close':
        dry({ type: 'close', note: command.note });
        return {
          events: [{ type: 'close', note: command.note }],
          effects: async (tx, closed) => {
            await setServiceState(tx, lock.id, closed.outcome === 'device_replaced' ? 'needs_attention' : 'in_service', who.at);
            await this.sign(tx, closed);
          },
          // The lock is ours again: read it so the credentials page shows what the rebuild put there.
          after: () => this.ctx.jobs.enqueue(reconcileRequests(this.ctx.drivers, [lock], 'reset case closed', true)),
        };
      case 'cancel':
        return {
          events: [{ type: 'cancel', note: command.note }],
          // A case cancelled after its snapshot (a blocked reset not replaced) hands the lock back as needing attention.
          effects: async (tx) => {
            if (lock.serviceState === 'reset_in_progress') await setServiceState(tx, lock.id, 'needs_attention', who.at);
          },
        };
    }
  }

  /** A timed hold is ticked only once it ran its time on the server's clock (a reload does not restart it). */
  private async checkHold(c: ResetCase, step: number, now: Date): Promise<void> {
    if (c.procedureDone.includes(step)) return;
    const s = (await this.procedureOf(this.ctx.db, c))?.[step - 1];
    if (!s || s.kind !== 'hold' || !s.seconds) return;
    const started = c.holds?.[String(step)];
    if (!started) throw new AppError('reset.incomplete', `step ${step} is a ${s.seconds}-second hold: start its timer when you press the button`);
    const left = Math.ceil((Date.parse(started) + s.seconds * 1000 - now.getTime()) / 1000);
    if (left > 0) throw new AppError('reset.incomplete', `keep holding: ${left} s of the ${s.seconds}-second hold are left`);
  }

  /**
   * Removes the lock from its vendor account through the driver: on the account side of the case
   * that is the step itself; during verification the lock is read again at once.
   */
  private async unbindCloud(row: ResetCaseRow, lock: LockRow, who: { actorId: string; at: Date }) {
    const c = row.data;
    const inVerification = c.state === 'verification';
    if (inVerification) {
      if (!requiredChecks(c).includes('cloud_unbound')) throw new AppError('reset.invalid', 'this case does not need the cloud binding removed');
      applyEvent(c, { type: 'check_result', check: 'cloud_unbound', passed: false, note: '', evidence: [] }, who);
    } else applyEvent(c, { type: 'account_unbound', note: '', evidence: [] }, who);
    await this.device(lock, (d, x) => d.unbindCloud(x));
    if (inVerification) return { events: await this.driverChecks(row, lock, who) };
    return { events: [{ type: 'account_unbound' as const, note: `removed from the vendor account through lockwarden (${lock.driver})`, evidence: [] }] };
  }

  /**
   * Enrolls the lock again through its driver and binds the device to this lock record: the device
   * must be what the lock is (manufacturer and model where it says, the serial unless the device
   * was replaced) and bound to no other lock. The lock is then read under its new id for the checks.
   */
  private async reenroll(actor: Actor, row: ResetCaseRow, lock: LockRow, command: Extract<ResetCommand, { type: 'reenroll' }>, who: { actorId: string; at: Date }, opts: StepOptions) {
    const c = row.data;
    applyEvent(c, { type: 'reenrolled', from: lock.externalId, to: '-', method: '-', manufacturer: null, model: null, serial: null }, who);
    const d = this.driver(lock);
    const caps = await d.capabilities(lock.externalId!).catch(() => null);
    if (caps && !caps.enrollment) throw new AppError('device.not_supported', `lockwarden cannot enroll ${lock.name} again by itself: enroll it with the vendor's app or hub, then run the checks`);
    if (caps?.enrollment && caps.enrollment.code !== 'none' && !command.code) {
      throw new AppError('reset.invalid', `type the ${caps.enrollment.code === 'dsk_pin' ? '5-digit PIN' : 'pairing code'} from the lock's label`, [{ path: 'command.code', message: 'required' }]);
    }
    let device: EnrolledDevice;
    try {
      device = await d.enroll({
        previousExternalId: lock.externalId,
        ...(command.code ? { code: command.code } : {}),
        ...(command.security ? { security: command.security } : {}),
        timeoutMs: command.timeoutSeconds * 1000,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (!isDriverError(e)) throw e;
      throw enrollmentError(lock.name, e, command.timeoutSeconds);
    }
    const model = await new LockModelRepository(this.ctx.db).byId(lock.modelId);
    const mismatch = deviceMismatch(device, { manufacturer: model?.manufacturer ?? '', modelNumber: model?.modelNumber ?? '', serial: c.replacement ? '' : lock.serial });
    if (mismatch) throw new AppError('reset.device_mismatch', `the device that enrolled is not ${lock.name}: ${mismatch}. It was not bound; remove it from the network and enroll the right lock`);
    await this.assertNotBoundElsewhere(this.ctx.db, lock, device.externalId);
    const event: ResetEvent = { type: 'reenrolled', from: lock.externalId, to: device.externalId, method: caps?.enrollment?.kind ?? 'enrollment', manufacturer: device.manufacturer, model: device.model, serial: device.serial };
    const after = applyEvent(c, event, who);
    const rebound: LockRow = { ...lock, externalId: device.externalId };
    const checks = await this.driverChecks({ ...row, data: after }, rebound, who);
    return {
      events: [event, ...checks],
      effects: async (tx: Db) => {
        await this.assertNotBoundElsewhere(tx, lock, device.externalId);
        const serial = c.replacement && device.serial ? device.serial : lock.serial;
        await tx.update(locks).set({ externalId: device.externalId, serial, updatedAt: who.at, version: sql`${locks.version} + 1` }).where(eq(locks.id, lock.id));
        await this.ctx.audit.append(tx, {
          actor,
          action: 'lock.rebind',
          target: { type: 'lock', id: lock.id, label: lock.name },
          locationId: lock.locationId,
          details: { caseId: row.id, driver: lock.driver, from: lock.externalId, to: device.externalId, manufacturer: device.manufacturer, model: device.model, serial: device.serial },
        });
      },
    };
  }

  private async assertNotBoundElsewhere(db: Db, lock: LockRow, externalId: string): Promise<void> {
    const [other] = await db
      .select({ id: locks.id, name: locks.name })
      .from(locks)
      .where(sql`${locks.driver} = ${lock.driver} and ${locks.externalId} = ${externalId} and ${locks.id} <> ${lock.id}`);
    if (other) throw new AppError('reset.device_bound_elsewhere', `the device that enrolled is already bound to another lock (${other.name}); it was not bound to ${lock.name}`);
  }

  /** Seals what must survive (the lock's PINs with codes and schedules, and what was on the lock) before anything destructive. */
  private async takeSnapshot(row: ResetCaseRow, lock: LockRow, who: { actorId: string; at: Date }) {
    const c = row.data;
    applyEvent(c, { type: 'snapshot_taken', items: [], schedules: 0 }, who);
    // What is on the lock now: the prior PINs and controllers verification will check are gone.
    const observed = await this.device(lock, (d, x) => d.readCredentials(x));
    const rows = await this.ctx.db
      .select()
      .from(credentials)
      .where(eq(credentials.lockId, lock.id));
    const pins = rows
      .filter((r) => r.kind === 'pin' && r.slot !== null && (r.status === 'confirmed' || r.status === 'pending' || r.status === 'failed'))
      .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0))
      .map((r) => ({ credentialId: r.id, slot: r.slot!, holder: r.holder, code: r.codeCipher === null ? null : this.ctx.secrets.decrypt(r.codeCipher, `credential:${r.id}`), schedule: r.schedule }));
    const payload: SnapshotPayload = {
      pins,
      prior: {
        slots: observed.pins.map((p) => p.slot),
        codes: [...new Set([...observed.pins.flatMap((p) => (p.code ? [p.code] : [])), ...pins.flatMap((p) => (p.code ? [p.code] : []))])],
        controllers: observed.controllers.filter((x) => !x.self),
      },
    };
    const items = pins.map((p) => ({ key: p.credentialId, label: `${p.holder} (slot ${p.slot})` }));
    const schedules = pins.filter((p) => p.schedule.kind !== 'always').length;
    return {
      events: [{ type: 'snapshot_taken' as const, items, schedules }],
      effects: async (tx: Db) => {
        const { dk, key } = await this.dataKey(tx);
        const cipher = seal(key, dk.version, Buffer.from(JSON.stringify(payload), 'utf8'), snapshotAad(row.id, dk.id, dk.version));
        await new ResetCaseRepository(tx).insertSnapshot({ caseId: row.id, dataKeyId: dk.id, cipher, items: items.length, createdAt: who.at });
        // From here the case owns the lock: the reconciler leaves it alone until close-out.
        await setServiceState(tx, lock.id, 'reset_in_progress', who.at);
      },
    };
  }

  /**
   * A remote factory reset, sent at most once: an intent row is committed before the command; a
   * retry that finds the intent asks the lock first and sends nothing if it is already in setup mode.
   */
  private async remoteReset(actor: Actor, row: ResetCaseRow, lock: LockRow, key: string, command: ResetCommand, who: { actorId: string; at: Date }) {
    applyEvent(row.data, { type: 'reset_performed', method: 'remote' }, who);
    const repo = new ResetCaseRepository(this.ctx.db);
    const intent = await repo.stepByKey(row.id, key, 'intent');
    let send = true;
    if (intent) {
      const before = await this.device(lock, (d, x) => d.status(x));
      send = !before.setupMode;
    } else {
      await inTransaction(this.ctx.db, async (tx) => {
        await new ResetCaseRepository(tx).appendStep({ caseId: row.id, idempotencyKey: key, phase: 'intent', command: command.type, request: redact(command), events: [], stateBefore: row.state, stateAfter: row.state, actorId: actorId(actor), actorLabel: actorLabel(actor), at: who.at });
        await this.ctx.audit.append(tx, { actor, action: 'reset.remote_reset.sent', target: { type: 'reset_case', id: row.id, label: lock.name }, locationId: lock.locationId, details: { lockId: lock.id } });
      });
    }
    crashPoint('reset.intent_committed');
    if (send) {
      await this.device(lock, (d, x) => d.factoryReset(x));
      crashPoint('reset.device_done');
    }
    const status = await this.device(lock, (d, x) => d.status(x));
    return { events: [{ type: 'reset_performed' as const, method: 'remote' as const }, setupModeResult(status)] };
  }

  /**
   * The checks a driver can make. Until the lock has been seen in setup mode, only that; after it
   * (once a new admin has enrolled and lockwarden is paired again), the rest from one status and
   * one credential read.
   */
  private async driverChecks(row: ResetCaseRow, lock: LockRow, who: { actorId: string; at: Date }): Promise<ResetEvent[]> {
    const c = row.data;
    if (!EVENTS_BY_STATE[c.state].includes('check_result')) applyEvent(c, { type: 'check_result', check: 'setup_mode', passed: false, note: '', evidence: [] }, who);
    const status = await this.device(lock, (d, x) => d.status(x));
    if (!c.verification.setup_mode?.passed) return [setupModeResult(status)];
    const snap = await this.openSnapshot(row.id);
    const need = requiredChecks(c);
    const events: ResetEvent[] = [];
    const result = (check: VerificationCheck, passed: boolean, text: string, evidence: string[] = []) => {
      if (need.includes(check)) events.push({ type: 'check_result', check, passed, note: text, evidence });
    };
    let observed: ObservedCredentials | null = null;
    let refusal = '';
    try {
      observed = await this.driver(lock).readCredentials(lock.externalId!);
    } catch (e) {
      if (!isDriverError(e)) throw e;
      refusal = e.message;
    }
    // A lock reached through a cloud service (Seam) is bound to an account again by its reconnect: that
    // is the new owner's binding, so the check that the old one went, once passed, stands.
    const reconnected = c.reenrollment?.method === 'reconnect' && c.verification.cloud_unbound?.passed;
    if (need.includes('cloud_unbound') && !reconnected) {
      const cloudListed = observed?.controllers.some((x) => x.kind === 'cloud') ?? false;
      const passed = status.cloudBound === false && !cloudListed;
      result('cloud_unbound', passed, passed ? 'the lock reports no cloud binding' : 'the lock is still bound to the vendor cloud account: remove it on the account, then run the checks again');
    }
    if (!observed) {
      result('admin_enrollment_accepted', false, c.reenrollment ? `the lock does not answer lockwarden (${refusal}): run the checks again, or repeat the reset` : `the lock does not accept lockwarden yet (${refusal}): enroll the lock again, then the checks run by themselves`);
      return events;
    }
    const admins = observed.controllers.filter((x) => x.admin && !x.self && !(snap.prior.controllers.some((p) => p.id === x.id)));
    const ours = c.reenrollment && observed.controllers.some((x) => x.self);
    const words = [...(ours ? [`lockwarden enrolled the lock again (${c.reenrollment!.method.replace(/_/g, ' ')})`] : []), ...(admins.length ? [`new admin enrolled: ${admins.map((a) => a.label).join(', ')}`] : [])];
    result('admin_enrollment_accepted', words.length > 0, words.length > 0 ? words.join('; ') : 'no new admin is enrolled on the lock: enroll the lock again');
    const codes = new Set(snap.prior.codes);
    const leftover = observed.pins.filter((p) => (p.code !== null ? codes.has(p.code) : snap.prior.slots.includes(p.slot)));
    result('prior_pins_gone', leftover.length === 0, leftover.length === 0 ? `none of the ${snap.prior.codes.length} prior codes is on the lock` : `prior codes still on the lock in slots ${leftover.map((p) => p.slot).join(', ')}`);
    const stayed = observed.controllers.filter((x) => !x.self && snap.prior.controllers.some((p) => p.id === x.id));
    // The ones still paired ride along as `controller:<id>|<label>`, so the case can offer to remove each.
    result(
      'prior_controllers_refused',
      stayed.length === 0,
      stayed.length === 0 ? `none of the ${snap.prior.controllers.length} prior controllers is paired` : `still paired: ${stayed.map((x) => x.label).join(', ')}`,
      // A cloud binding is not unpaired at the lock: the cloud check has its own fix.
      stayed.filter((x) => x.kind !== 'cloud').slice(0, 20).map((x) => `controller:${x.id}|${x.label}`.slice(0, 300)),
    );
    return events;
  }

  /**
   * Puts the snapshot's PINs back (and new codes for those reissued). Writing a code into its slot
   * twice leaves the lock as once, so a retry simply writes again; reissued codes are chosen once,
   * sealed into the step's intent row, and reused by a retry.
   */
  private async rebuild(actor: Actor, row: ResetCaseRow, lock: LockRow, key: string, reissue: string[], who: { actorId: string; at: Date }) {
    const c = row.data;
    if (!EVENTS_BY_STATE[c.state].includes('credential_rebuilt')) applyEvent(c, { type: 'credential_rebuilt', key: 'x', how: 'restored' }, who);
    const snap = await this.openSnapshot(row.id);
    for (const id of reissue) if (!snap.pins.some((p) => p.credentialId === id)) throw new AppError('reset.invalid', `credential ${id} is not in this case's snapshot`, [{ path: 'command.reissue', message: 'not in the snapshot' }]);
    const todo = snap.pins.filter((p) => !c.rebuilt[p.credentialId]);
    const repo = new ResetCaseRepository(this.ctx.db);
    let intent = await repo.stepByKey(row.id, key, 'intent');
    if (!intent) {
      const model = await new LockModelRepository(this.ctx.db).byId(lock.modelId);
      const caps = capabilitiesFromModel(model!.capabilities);
      const taken = new Set(snap.pins.flatMap((p) => (p.code ? [p.code] : [])));
      const fresh: Record<string, string> = {};
      for (const p of todo) {
        // A code lockwarden never knew cannot be restored: it is reissued, so its holder is not left out.
        if (p.code !== null && !reissue.includes(p.credentialId)) continue;
        const length = p.code?.length ?? Math.min(Math.max(6, caps.pin.minLength), caps.pin.maxLength);
        const code = generatePin(length, this.ctx.randomInt, (x) => taken.has(x), caps);
        checkPinForLock(code, caps);
        taken.add(code);
        fresh[p.credentialId] = this.ctx.secrets.encrypt(code, `reset-reissue:${row.id}:${p.credentialId}`);
      }
      await inTransaction(this.ctx.db, async (tx) => {
        await new ResetCaseRepository(tx).appendStep({ caseId: row.id, idempotencyKey: key, phase: 'intent', command: 'rebuild', request: { reissue, sealedCodes: fresh }, events: [], stateBefore: row.state, stateAfter: row.state, actorId: actorId(actor), actorLabel: actorLabel(actor), at: who.at });
      });
      intent = (await repo.stepByKey(row.id, key, 'intent'))!;
      crashPoint('reset.intent_committed');
    }
    if (canonicalJson(intent.request.reissue ?? []) !== canonicalJson(reissue)) {
      throw new AppError('reset.idempotency_conflict', `idempotency key ${key} was already used for a rebuild reissuing other PINs`, [{ path: 'idempotencyKey', message: 'already used' }]);
    }
    const sealed = (intent.request.sealedCodes ?? {}) as Record<string, string>;
    const written: { p: SnapshotPayload['pins'][number]; code: string; how: 'restored' | 'reissued' }[] = [];
    for (const p of todo) {
      const cipher = sealed[p.credentialId];
      const code = cipher ? this.ctx.secrets.decrypt(cipher, `reset-reissue:${row.id}:${p.credentialId}`) : p.code!;
      await this.device(lock, (d, x) => d.setPin(x, { slot: p.slot, code, name: p.holder, schedule: p.schedule }));
      crashPoint('reset.device_done');
      written.push({ p, code, how: cipher ? 'reissued' : 'restored' });
    }
    return {
      events: written.map((w) => ({ type: 'credential_rebuilt' as const, key: w.p.credentialId, how: w.how })),
      effects: async (tx: Db) => {
        for (const w of written) {
          const patch: Partial<typeof credentials.$inferInsert> = { status: 'confirmed', attempts: 0, lastError: null, confirmedAt: who.at, updatedAt: who.at };
          if (w.how === 'reissued') {
            patch.codeCipher = this.ctx.secrets.encrypt(w.code, `credential:${w.p.credentialId}`);
            patch.codeMac = this.ctx.secrets.fingerprint(w.code, lock.id);
          }
          await tx.update(credentials).set(patch).where(eq(credentials.id, w.p.credentialId));
        }
      },
    };
  }

  // ---- helpers -------------------------------------------------------------------------------

  private async sign(tx: Db, closed: ResetCase): Promise<void> {
    const steps = await new ResetCaseRepository(tx).steps(closed.id);
    const record = canonicalJson({
      kind: 'lockwarden.reset_case_record',
      version: 1,
      case: closed,
      steps: steps.map((s) => ({ seq: s.seq, phase: s.phase, command: s.command, actor: s.actorLabel, actorId: s.actorId, at: s.at.toISOString(), from: s.stateBefore, to: s.stateAfter, events: s.events })),
      photos: (await new ResetPhotoRepository(tx).list(closed.id)).map((p) => ({ id: p.id, filename: p.filename, caption: p.caption, sha256: p.sha256, by: p.createdBy, at: p.createdAt.toISOString() })),
      signedAt: this.ctx.clock.now().toISOString(),
    });
    const signer = this.ctx.audit.signer;
    await tx.update(resetCases).set({ record, recordSignature: signer.signBytes(Buffer.from(record, 'utf8')), recordKeyId: signer.keyId }).where(eq(resetCases.id, closed.id));
  }

  private async profile(lock: LockRow): Promise<ResetProfile> {
    const model = await new LockModelRepository(this.ctx.db).byId(lock.modelId);
    if (!model) throw new AppError('model.not_found', `model ${lock.modelId} not found`);
    const driver = this.ctx.drivers.get(lock.driver);
    let declared: { cloudBinding: boolean; remoteFactoryReset: boolean } | null = null;
    if (driver && lock.externalId) {
      try {
        declared = await driver.capabilities(lock.externalId);
      } catch {
        declared = null;
      }
    }
    const hb = new HandbookRepository(this.ctx.db);
    const entry = (await hb.forLock(lock.id)) ?? (await hb.forModel(lock.modelId));
    const rev = entry ? (await hb.currentRevisions([entry.id]))[0] : undefined;
    return {
      resetBehaviour: model.resetBehaviour,
      cloudBound: declared?.cloudBinding ?? (lock.credentialStorage !== 'local' || model.resetBehaviour === 'local_only_keeps_cloud'),
      mechanicalOverride: lock.mechanicalOverride,
      remoteReset: declared?.remoteFactoryReset ?? model.capabilities.remoteReset,
      procedureSteps: rev?.content.steps.length ?? 0,
      handbookEntryId: entry?.id ?? null,
      handbookRevision: rev?.revision ?? null,
      batteryMinPercent: model.gating.batteryMinPercent,
    };
  }

  private driver(lock: LockRow): LockDriver {
    const d = this.ctx.drivers.get(lock.driver);
    if (!d || !lock.externalId) throw new AppError('device.not_supported', `lockwarden cannot reach ${lock.name}: it has no ${!d ? `driver "${lock.driver}"` : 'device id'}`);
    return d;
  }

  /** One driver call; driver failures become the matching application error (nothing recorded). */
  private async device<T>(lock: LockRow, fn: (d: LockDriver, externalId: string) => Promise<T>): Promise<T> {
    const d = this.driver(lock);
    try {
      return await fn(d, lock.externalId!);
    } catch (e) {
      if (!isDriverError(e)) throw e;
      const code = e.code === 'driver.not_supported' ? 'device.not_supported' : e.code === 'driver.refused' ? 'device.refused' : 'device.unreachable';
      throw new AppError(code, `${lock.name}: ${e.message}`);
    }
  }

  private async openSnapshot(caseId: string): Promise<SnapshotPayload> {
    const snap = await new ResetCaseRepository(this.ctx.db).snapshot(caseId);
    if (!snap) throw new AppError('reset.incomplete', 'this case has no snapshot yet');
    const dk = await new SecretRepository(this.ctx.db).dataKeyById(snap.dataKeyId);
    if (!dk) throw new AppError('crypto.integrity', 'the snapshot\'s data key is missing');
    const key = this.unwrap(dk);
    const v = sealedVersion(snap.cipher);
    return JSON.parse(open(snap.cipher, v === dk.version ? key : undefined, snapshotAad(caseId, dk.id, v)).toString('utf8')) as SnapshotPayload;
  }

  /** The deployment's data key (the one model-level handbook secrets use), created on first use. */
  private async dataKey(db: Db) {
    const repo = new SecretRepository(db);
    const existing = await repo.dataKeyByScope('deployment');
    if (existing) return { dk: existing, key: this.unwrap(existing) };
    const { version, key: master } = this.ctx.masterKeys.current();
    const id = this.ctx.ids.uuid();
    const key = newDataKey();
    const dk = await repo.insertDataKey({ id, scope: 'deployment', version: 1, wrappedKey: seal(master, version, key, dataKeyAad(id, 'deployment', version)), masterVersion: version, createdAt: this.ctx.clock.now() });
    return { dk, key: dk.id === id ? key : this.unwrap(dk) };
  }

  private unwrap(dk: { id: string; scope: string; wrappedKey: string; masterVersion: number }): Buffer {
    let master = this.ctx.masterKeys.byVersion(dk.masterVersion);
    if (!master) {
      this.ctx.masterKeys.reload();
      master = this.ctx.masterKeys.byVersion(dk.masterVersion);
    }
    if (sealedVersion(dk.wrappedKey) !== dk.masterVersion) throw new AppError('crypto.integrity', 'a data key failed its integrity check');
    return open(dk.wrappedKey, master, dataKeyAad(dk.id, dk.scope, dk.masterVersion));
  }

  /** The handbook procedure the case follows (the revision pinned when it was opened). */
  private async procedureOf(db: Db, c: ResetCase): Promise<Step[] | null> {
    if (!c.profile.handbookEntryId || !c.profile.handbookRevision) return null;
    return (await new HandbookRepository(db).revision(c.profile.handbookEntryId, c.profile.handbookRevision))?.content.steps ?? null;
  }

  /**
   * The case's lock as the policy's resource. To a reader whose grants do not reach the lock the case
   * does not exist: its not-found is the case's own (reset.not_found, as for a random id), never
   * lock.not_found, which would confirm that the id is a real case.
   */
  private async caseLock(id: string, lockId: string): Promise<Awaited<ReturnType<typeof lockResource>>> {
    return hideAs(await lockResource(this.ctx.db, lockId), () => notFound(id));
  }

  private async caseRow(db: Db, id: string): Promise<ResetCaseRow> {
    if (!z.string().uuid().safeParse(id).success) throw notFound(id);
    const row = await new ResetCaseRepository(db).byId(id);
    if (!row) throw notFound(id);
    return row;
  }

  private async lockRow(db: Db, id: string): Promise<LockRow> {
    const [row] = await db.select().from(locks).where(eq(locks.id, id));
    if (!row) throw new AppError('lock.not_found', `lock ${id} not found`, [{ path: 'lockId', message: 'no such lock' }]);
    return row;
  }

  private async view(db: Db, id: string): Promise<ResetCaseView> {
    const repo = new ResetCaseRepository(db);
    const row = await this.caseRow(db, id);
    const lock = await this.lockRow(db, row.lockId);
    const c = row.data;
    const procedure = await this.procedureOf(db, c);
    const steps = await repo.steps(id);
    return {
      case: c,
      version: row.version,
      lock: { id: lock.id, name: lock.name, driver: lock.driver, externalId: lock.externalId, serviceState: lock.serviceState },
      next: EVENTS_BY_STATE[c.state].filter((e) => !DEVICE_EVENT_TYPES.includes(e)),
      missing: missing(c),
      requiredChecks: requiredChecks(c),
      lockedOut: lockedOut(c),
      procedure,
      steps: steps.map(stepView),
      openIntents: (await repo.openIntents(id)).map((s) => ({ command: s.command, idempotencyKey: s.idempotencyKey, at: s.at })),
      record: row.recordSignature && row.recordKeyId ? { signature: row.recordSignature, keyId: row.recordKeyId } : null,
      now: this.ctx.clock.now(),
    };
  }
}

function stepView(s: ResetStepRow): ResetCaseView['steps'][number] {
  return { seq: s.seq, phase: s.phase, command: s.command, stateBefore: s.stateBefore, stateAfter: s.stateAfter, actor: s.actorLabel, at: s.at, events: s.events };
}

/** The result of reading the lock right after a reset: in setup mode or not. */
function setupModeResult(status: DeviceStatus): ResetEvent {
  // A lock that left its network because of the reset (Z-Wave "reset locally", a Zigbee leave, a
  // Matter fabric gone) does not answer, but its driver saw it go back to factory state.
  const passed = status.setupMode;
  const text = passed
    ? status.online
      ? 'the lock reports setup mode'
      : 'the lock reported its factory reset and left the network: enroll it again'
    : !status.online
      ? 'the lock did not answer after the reset: check it has power, then run the checks again (or repeat the reset)'
      : 'the lock did not return to setup mode: repeat the reset (check the hold time and the battery) or record it as blocked';
  return { type: 'check_result', check: 'setup_mode', passed, note: text, evidence: [] };
}

/** The request as stored in the step log (commands carry no codes; kept as one place to strip them). */
function redact(command: ResetCommand): Record<string, unknown> {
  return { ...command };
}

function auditEvent(e: ResetEvent): Record<string, unknown> {
  if (e.type === 'snapshot_taken') return { type: e.type, items: e.items.length, schedules: e.schedules };
  return { ...e };
}

/** A driver's refusal of an enrollment, in the words the person at the lock needs. */
/** Moves a lock to the service state a case gives it (a new version, so stale edits are refused). */
async function setServiceState(tx: Db, lockId: string, state: 'reset_in_progress' | 'needs_attention' | 'in_service', at: Date): Promise<void> {
  await tx.update(locks).set({ serviceState: state, updatedAt: at, version: sql`${locks.version} + 1` }).where(eq(locks.id, lockId));
}

function enrollmentError(lockName: string, e: DriverError, timeoutSeconds: number): AppError {
  switch (e.code) {
    case 'driver.invalid_code':
      return new AppError('device.invalid_code', `${lockName}: ${e.message}. Check the code on the lock's label and type it again`, [{ path: 'command.code', message: 'not accepted by the device' }]);
    case 'driver.timeout':
      if (e.uncertain) return new AppError('device.timeout', `${lockName} did not confirm the enrollment (${e.message}); it may have enrolled all the same: try again, and an enrollment that went through is taken as it is`);
      return new AppError('device.timeout', `no device enrolled within ${timeoutSeconds} s: put ${lockName} in pairing mode as its instructions say, then try again (${e.message})`);
    case 'driver.not_supported':
      return new AppError('device.not_supported', `${lockName}: ${e.message}`);
    case 'driver.refused':
      return new AppError('device.refused', `${lockName} refused the enrollment: ${e.message}`);
    default:
      return new AppError('device.unreachable', `${lockName}: ${e.message}`);
  }
}

const squash = (s: string | null | undefined): string => (s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * Why an enrolled device is not the lock on record, or null when it may be: each of manufacturer,
 * model and serial is compared only where both sides have it (one name containing the other counts:
 * "Yale" and "Yale Real Living").
 */
export function deviceMismatch(device: Pick<EnrolledDevice, 'manufacturer' | 'model' | 'serial'>, lock: { manufacturer: string; modelNumber: string; serial: string }): string | null {
  const differs = (a: string | null, b: string) => {
    const x = squash(a);
    const y = squash(b);
    return x !== '' && y !== '' && !x.includes(y) && !y.includes(x);
  };
  if (differs(device.manufacturer, lock.manufacturer)) return `it reports the manufacturer "${device.manufacturer}", the lock is a ${lock.manufacturer}`;
  if (differs(device.model, lock.modelNumber)) return `it reports the model "${device.model}", the lock is a ${lock.modelNumber}`;
  if (device.serial && lock.serial && squash(device.serial) !== squash(lock.serial)) return `it reports the serial number ${device.serial}, the lock's is ${lock.serial}`;
  return null;
}

const snapshotAad = (caseId: string, dataKeyId: string, version: number) => `lockwarden reset-snapshot|${caseId}|${dataKeyId}|v${version}`;

function notFound(id: string): AppError {
  return new AppError('reset.not_found', `reset case ${id} not found`);
}

/** The command an open intent was written for, as its client sent it (null: not a command this version knows). */
function intentCommand(intent: ResetStepRow): ResetCommand | null {
  const request = intent.command === 'rebuild' ? { type: 'rebuild', reissue: intent.request.reissue ?? [] } : intent.request;
  const parsed = ResetCommandSchema.safeParse(request);
  return parsed.success && parsed.data.type === intent.command ? parsed.data : null;
}

/** Cases with a step running in this process, each the tail of its queue. */
const running = new Map<string, Promise<unknown>>();
/** Advisory-lock class of "a device step of this case" (the second key is hashtext(case id)). */
const CASE_LOCK_CLASS = 72_150_061;

/**
 * Runs `fn` alone on case `caseId`: after (or, with 'try', instead of) any other such run in this
 * process, and on PostgreSQL under a transaction-scoped advisory lock, so another process running
 * the same step waits (or passes over it). One process owns a PGlite folder, so there the process's
 * own queue is enough.
 */
async function exclusive<T>(ctx: ServiceContext, caseId: string, mode: 'wait' | 'try', fn: () => Promise<T>): Promise<{ busy: true; value?: undefined } | { busy: false; value: T }> {
  const prior = running.get(caseId);
  if (prior && mode === 'try') return { busy: true };
  const run = (async () => {
    if (prior) await prior.catch(() => undefined);
    if (ctx.engine !== 'postgres') return { busy: false as const, value: await fn() };
    return ctx.db.transaction(async (tx) => {
      const db = tx as unknown as Db;
      if (mode === 'wait') await queryRows(db, sql`select pg_advisory_xact_lock(${CASE_LOCK_CLASS}::int, hashtext(${caseId}))::text`);
      else if (!(await queryRows<{ ok: boolean }>(db, sql`select pg_try_advisory_xact_lock(${CASE_LOCK_CLASS}::int, hashtext(${caseId})) as ok`))[0]?.ok) return { busy: true as const };
      return { busy: false as const, value: await fn() };
    });
  })();
  running.set(caseId, run);
  try {
    return await run;
  } finally {
    if (running.get(caseId) === run) running.delete(caseId);
  }
}
