/**
 * Seam's published per-device limits (10 code creates, 10 updates, 20 deletes and 15 lock/unlock
 * per minute), kept on our side so a burst never reaches Seam's 429. When Seam answers 429 anyway
 * (another client on the same workspace, a stricter provider), the device is held back until the
 * time Seam asked for. Both are `driver.busy`, which the job runner retries later: nothing here
 * sleeps or loops.
 */
import { DriverError } from '../contract.js';

/** The kinds of Seam request that have their own per-device budget. */
export type SeamRateKind = 'create' | 'update' | 'delete' | 'lock';

/** Per device, per minute (Seam's documentation). */
export const SEAM_RATE_LIMITS: Readonly<Record<SeamRateKind, number>> = { create: 10, update: 10, delete: 20, lock: 15 };

const WINDOW_MS = 60_000;

/** A sliding one-minute window per device and kind, plus a hold after a 429. */
export class SeamRateLimiter {
  private readonly sent = new Map<string, number[]>();
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limits: Readonly<Record<SeamRateKind, number>> = SEAM_RATE_LIMITS,
  ) {}

  /** Takes one request from the device's budget, or throws `driver.busy` saying when to come back. */
  take(deviceId: string, kind: SeamRateKind): void {
    this.recent(deviceId, kind).push(this.now());
  }

  /** Throws `driver.busy` when a request of `kind` would not be sent now; takes nothing. */
  ensureFree(deviceId: string, kind: SeamRateKind): void {
    this.recent(deviceId, kind);
  }

  private recent(deviceId: string, kind: SeamRateKind): number[] {
    const now = this.now();
    const held = this.heldUntil.get(deviceId);
    if (held !== undefined) {
      if (held > now) throw busy(`Seam asked to slow down for this device; retry in ${Math.ceil((held - now) / 1000)} s`);
      this.heldUntil.delete(deviceId);
    }
    const key = `${deviceId}\u0000${kind}`;
    const recent = (this.sent.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
    if (recent.length >= this.limits[kind]) {
      const retryMs = recent[0]! + WINDOW_MS - now;
      this.sent.set(key, recent);
      throw busy(`Seam allows ${this.limits[kind]} ${kind} requests per device per minute; retry in ${Math.ceil(retryMs / 1000)} s`);
    }
    this.sent.set(key, recent);
    return recent;
  }

  /** Records Seam's 429 for a device: nothing more is sent to it for `retryAfterMs`. */
  hold(deviceId: string, retryAfterMs: number): void {
    this.heldUntil.set(deviceId, Math.max(this.heldUntil.get(deviceId) ?? 0, this.now() + retryAfterMs));
  }
}

function busy(message: string): DriverError {
  return new DriverError('driver.busy', message);
}
