/**
 * Brings one lock to its desired state: read it when the last observation cannot be trusted, send
 * the commands the difference calls for (through the driver, one at a time), re-read after any write
 * whose acknowledgement was lost before deciding it failed, then record outcomes and the new
 * observation in one transaction. Retries are bounded per credential (`MAX_ATTEMPTS`) with backoff;
 * after the bound the credential is marked failed with the reason and waits for a person.
 */
import {
  MAX_ATTEMPTS,
  planCommands,
  retryDelayMs,
  compareSlots,
  type DesiredPin,
  type ObservedPinPrint,
  type PlannedCommand,
} from '../domain/credentials.js';
import { isDriverError, type DeviceStatus, type LockDriver, type ObservedCredentials } from '../drivers/contract.js';
import type { CredentialRow } from '../store/credential-repository.js';
import { ReconcileStore, type LockRow } from '../store/reconcile-store.js';
import type { StoredObservedPin } from '../store/schema.js';
import type { ServiceContext } from './context.js';

/** What one reconciliation did, for job logs, tests and the benchmark. */
export interface ReconcileOutcome {
  lockId: string;
  skipped?: string;
  read: number;
  commands: number;
  confirmed: number;
  removed: number;
  failed: number;
  retrying: number;
  unmanaged: number;
}

interface Working {
  pins: Map<number, StoredObservedPin>;
  controllers: ObservedCredentials['controllers'];
  digitalKeys: ObservedCredentials['digitalKeys'];
  biometrics: ObservedCredentials['biometrics'];
  status: DeviceStatus | null;
  readAt: Date | null;
  /** The status was read in this reconciliation (its battery level is news). */
  statusRead: boolean;
}

type Result = { kind: 'ok' } | { kind: 'uncertain'; error: string } | { kind: 'retry'; error: string } | { kind: 'fail'; error: string } | { kind: 'queued'; error: string };

/** Turns driver reads into stored observations: codes encrypted, fingerprinted per lock. */
export function storeObservedPins(ctx: ServiceContext, lockId: string, pins: ObservedCredentials['pins']): StoredObservedPin[] {
  return pins.map((p) => ({
    slot: p.slot,
    codeCipher: p.code === null ? null : ctx.secrets.encrypt(p.code, `observation:${lockId}:${p.slot}`),
    fingerprint: p.code === null ? null : ctx.secrets.fingerprint(p.code, lockId),
    name: p.name,
    schedule: p.schedule,
    enabled: p.enabled,
    ...(p.offline ? { offline: true } : {}),
  }));
}

/** Desired PINs as the comparison needs them. */
export function desiredPins(rows: CredentialRow[]): DesiredPin[] {
  return rows
    .filter((r) => r.kind === 'pin' && r.slot !== null)
    .map((r) => ({ id: r.id, slot: r.slot!, fingerprint: r.codeMac ?? '', schedule: r.schedule, status: r.status, name: r.holder }));
}

/** Observed PINs as the comparison needs them. */
export function observedPrints(pins: Iterable<StoredObservedPin>): ObservedPinPrint[] {
  return [...pins].map((p) => ({ slot: p.slot, fingerprint: p.fingerprint, schedule: p.schedule, enabled: p.enabled, name: p.name }));
}

/** Reconciles locks through their drivers; one instance per process. */
export class Reconciler {
  private readonly store: ReconcileStore;

  constructor(private readonly ctx: ServiceContext) {
    this.store = new ReconcileStore(ctx.db);
  }

  /** Reconciles one lock. Never throws for device trouble: that becomes credential outcomes. */
  async reconcile(lockId: string, opts: { read: boolean; lease?: () => boolean }): Promise<ReconcileOutcome> {
    const out: ReconcileOutcome = { lockId, read: 0, commands: 0, confirmed: 0, removed: 0, failed: 0, retrying: 0, unmanaged: 0 };
    const snapshot = await this.store.load(lockId);
    if (!snapshot) return { ...out, skipped: 'lock not found' };
    const { lock, rows, observation: obs } = snapshot;
    const driver = this.ctx.drivers.get(lock.driver);
    if (lock.serviceState === 'retired' || !driver || lock.externalId === null) {
      return { ...out, skipped: !driver ? `no driver "${lock.driver}"` : lock.externalId === null ? 'no device id' : 'retired' };
    }
    // A reset case owns the lock from its snapshot to its close-out: writing desired PINs into a lock
    // being reset would undo the verification ("prior PINs gone"). Close-out queues a read.
    if (lock.serviceState === 'reset_in_progress') return { ...out, skipped: 'reset in progress' };
    const externalId = lock.externalId;
    const w: Working = {
      pins: new Map((obs?.pins ?? []).map((p) => [p.slot, p])),
      controllers: obs?.controllers ?? [],
      digitalKeys: obs?.digitalKeys ?? [],
      biometrics: obs?.biometrics ?? [],
      status: obs?.status ?? null,
      readAt: obs?.readAt ?? null,
      statusRead: false,
    };
    let readError: string | null = null;
    if (opts.read || !obs || obs.inDoubt || !obs.readAt) {
      readError = await this.read(driver, externalId, lockId, w);
      out.read++;
      if (readError !== null) {
        // Without a trustworthy picture, sending writes could apply a change twice: wait and retry.
        const outcomes = this.decide(rows, w, new Map(), readError);
        await this.finish(lockId, w, rows, outcomes, readError, true);
        for (const o of outcomes.values()) if (o.status === 'failed') out.failed++;
        return this.followUp(lock, driver, externalId, rows, outcomes, { ...out, retrying: [...outcomes.values()].filter((o) => o.status !== 'failed').length });
      }
    }
    const controllerRows = rows.filter((r) => r.kind === 'controller').map((r) => ({ id: r.id, controllerId: r.controllerId ?? '', status: r.status }));
    const plan = planCommands(desiredPins(rows), observedPrints(w.pins.values()), controllerRows, w.controllers);
    const results = new Map<string, Result>();
    if (plan.length > 0) {
      await this.store.markInDoubt(lockId, this.ctx.clock.now());
      let uncertain = false;
      for (const cmd of plan) {
        // A worker whose job lease may have passed to another worker sends nothing more: the lock is
        // marked in doubt, so whoever runs the job next reads it before deciding anything.
        if (opts.lease && !opts.lease()) throw new Error(`the job lease on lock ${lockId} lapsed (heartbeat late); left for the next attempt`);
        const result = await this.send(driver, externalId, lockId, cmd, rows, w);
        out.commands++;
        results.set(cmd.credentialId, result);
        if (result.kind === 'uncertain') uncertain = true;
        // An unreachable lock will not answer the next command either; stop and retry later.
        if (result.kind === 'retry' && /unreachable/.test(result.error)) break;
      }
      if (uncertain) {
        // A write that cannot be confirmed is re-read before anything is retried.
        const err = await this.read(driver, externalId, lockId, w);
        out.read++;
        if (err !== null) readError = err;
      }
    }
    const inDoubt = readError !== null;
    const outcomes = this.decide(rows, w, results, readError);
    await this.finish(lockId, w, rows, outcomes, readError, inDoubt);
    for (const o of outcomes.values()) {
      if (o.status === 'confirmed') out.confirmed++;
      else if (o.status === 'removed') out.removed++;
      else if (o.status === 'failed') out.failed++;
      else out.retrying++;
    }
    out.unmanaged = compareSlots(desiredPins(rows), observedPrints(w.pins.values())).filter((c) => c.state === 'unmanaged').length;
    return this.followUp(lock, driver, externalId, rows, outcomes, out);
  }

  private async read(driver: LockDriver, externalId: string, lockId: string, w: Working): Promise<string | null> {
    try {
      const creds = await driver.readCredentials(externalId);
      w.pins = new Map(storeObservedPins(this.ctx, lockId, creds.pins).map((p) => [p.slot, p]));
      w.controllers = creds.controllers;
      w.digitalKeys = creds.digitalKeys;
      w.biometrics = creds.biometrics;
      w.readAt = this.ctx.clock.now();
      try {
        w.status = await driver.status(externalId);
        w.statusRead = true;
      } catch {
        // Status is informative; a failed status read does not make the credential read untrustworthy.
      }
      return null;
    } catch (e) {
      return describe(e);
    }
  }

  private async send(driver: LockDriver, externalId: string, lockId: string, cmd: PlannedCommand, rows: CredentialRow[], w: Working): Promise<Result> {
    const row = rows.find((r) => r.id === cmd.credentialId)!;
    try {
      if (cmd.op === 'set_pin') {
        const code = this.ctx.secrets.decrypt(row.codeCipher ?? '', `credential:${row.id}`);
        await driver.setPin(externalId, { slot: cmd.slot, code, name: row.holder, schedule: row.schedule });
        w.pins.set(cmd.slot, { slot: cmd.slot, codeCipher: this.ctx.secrets.encrypt(code, `observation:${lockId}:${cmd.slot}`), fingerprint: row.codeMac, name: row.holder, schedule: row.schedule, enabled: true });
      } else if (cmd.op === 'clear_pin') {
        await driver.clearPin(externalId, cmd.slot);
        w.pins.delete(cmd.slot);
      } else {
        await driver.removeController(externalId, cmd.controllerId);
        w.controllers = w.controllers.filter((c) => c.id !== cmd.controllerId);
      }
      return { kind: 'ok' };
    } catch (e) {
      if (!isDriverError(e)) return { kind: 'retry', error: describe(e) };
      if (e.code === 'driver.queued') return { kind: 'queued', error: describe(e) };
      if (e.uncertain) return { kind: 'uncertain', error: describe(e) };
      if (e.retryable) return { kind: 'retry', error: describe(e) };
      return { kind: 'fail', error: describe(e) };
    }
  }

  /** Each touched or open credential's new status, judged against the (re-read) lock. */
  private decide(rows: CredentialRow[], w: Working, results: Map<string, Result>, readError: string | null) {
    const comparison = new Map(compareSlots(desiredPins(rows), observedPrints(w.pins.values())).map((c) => [c.credentialId, c.state]));
    const controllers = new Set(w.controllers.map((c) => c.id));
    const outcomes = new Map<string, { status: CredentialRow['status']; attempts: number; lastError: string | null }>();
    for (const row of rows) {
      if (row.status === 'failed' || row.status === 'removed') continue;
      const result = results.get(row.id);
      if (readError !== null && !result && !isOpen(row)) continue;
      const inSync = row.kind === 'pin' ? comparison.get(row.id) === 'in_sync' : !controllers.has(row.controllerId ?? '');
      if (inSync && readError === null) {
        const status = row.status === 'removing' ? 'removed' : 'confirmed';
        if (status !== row.status || row.attempts > 0 || row.lastError) outcomes.set(row.id, { status, attempts: 0, lastError: null });
        continue;
      }
      if (inSync && result?.kind === 'ok') {
        outcomes.set(row.id, { status: row.status === 'removing' ? 'removed' : 'confirmed', attempts: 0, lastError: null });
        continue;
      }
      if (!result && readError === null) {
        // Not attempted this round (the lock stopped answering first): keep it open without counting.
        if (row.status === 'confirmed') outcomes.set(row.id, { status: 'pending', attempts: row.attempts, lastError: 'the lock no longer holds what was set: setting it again' });
        continue;
      }
      const error = result && result.kind !== 'ok' ? result.error : (readError ?? 'not confirmed by the lock');
      if (result?.kind === 'queued') {
        // Waiting for a sleeping lock to wake is not a failed attempt: it stays open, saying why.
        outcomes.set(row.id, { status: row.status === 'removing' ? 'removing' : 'pending', attempts: row.attempts, lastError: result.error });
        continue;
      }
      if (result?.kind === 'fail') {
        outcomes.set(row.id, { status: 'failed', attempts: row.attempts + 1, lastError: error });
        continue;
      }
      const attempts = row.attempts + 1;
      if (attempts >= MAX_ATTEMPTS) {
        outcomes.set(row.id, { status: 'failed', attempts, lastError: `gave up after ${attempts} attempts: ${error}` });
      } else {
        outcomes.set(row.id, { status: row.status === 'removing' ? 'removing' : 'pending', attempts, lastError: error });
      }
    }
    return outcomes;
  }

  private async finish(lockId: string, w: Working, rows: CredentialRow[], outcomes: Map<string, { status: CredentialRow['status']; attempts: number; lastError: string | null }>, readError: string | null, inDoubt: boolean) {
    const now = this.ctx.clock.now();
    await this.store.record({
      observation: {
        lockId,
        readAt: w.readAt,
        pins: [...w.pins.values()].sort((a, b) => a.slot - b.slot),
        controllers: w.controllers,
        digitalKeys: w.digitalKeys,
        biometrics: w.biometrics,
        status: w.status,
        inDoubt,
        lastError: readError,
        updatedAt: now,
      },
      outcomes: rows.flatMap((row) => {
        const o = outcomes.get(row.id);
        return o ? [{ id: row.id, version: row.version, status: o.status, attempts: o.attempts, lastError: o.lastError }] : [];
      }),
      batteryPercent: w.statusRead ? (w.status?.batteryPercent ?? null) : null,
    });
  }

  /** Queues the next attempt, with backoff, while anything is still open and under its bound. */
  private async followUp(lock: LockRow, driver: LockDriver, externalId: string, rows: CredentialRow[], outcomes: Map<string, { status: CredentialRow['status']; attempts: number }>, out: ReconcileOutcome): Promise<ReconcileOutcome> {
    const open = rows
      .map((r) => outcomes.get(r.id) ?? { status: r.status, attempts: r.attempts })
      .filter((o) => o.status === 'pending' || o.status === 'removing');
    if (open.length === 0) return out;
    const attempts = Math.max(1, ...open.map((o) => o.attempts));
    await this.ctx.jobs.enqueue([{ lockId: lock.id, driver: lock.driver, hub: driver.hubOf(externalId), read: true, reason: 'retry', delayMs: retryDelayMs(attempts) }]);
    return out;
  }
}

function isOpen(r: CredentialRow): boolean {
  return r.status === 'pending' || r.status === 'removing';
}

/** Why a send failed, as the sentence a person reads on the lock's page (a driver's message, never its code). */
function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
