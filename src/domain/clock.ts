import { randomBytes, randomUUID } from 'node:crypto';

/** Time, randomness and identifiers are injected so tests and simulations are exact. */
export interface Clock {
  now(): Date;
}
export interface Ids {
  uuid(): string;
  /** URL-safe random secret of `bytes` bytes. */
  secret(bytes?: number): string;
}

export const systemClock: Clock = { now: () => new Date() };
export const systemIds: Ids = {
  uuid: () => randomUUID(),
  secret: (bytes = 32) => randomBytes(bytes).toString('base64url'),
};

/** A clock tests move by hand. */
export function fixedClock(start: Date): Clock & { advance(ms: number): void } {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms) => void (t += ms) };
}
