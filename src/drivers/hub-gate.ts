/**
 * Per-hub concurrency at the command level: a driver wrapped by `gateByHub` sends at most
 * `hubConcurrency` commands at a time through any one hub, and queues the rest in arrival order.
 * Gating commands rather than whole jobs keeps every hub busy while a lock's own commands run in
 * sequence.
 */
import type { LockDriver } from './contract.js';

/** A counting semaphore per key. */
export class KeyedSemaphore {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  /** Runs `fn` once fewer than `limit` others hold `key`. */
  async run<T>(key: string, limit: number, fn: () => Promise<T>): Promise<T> {
    if ((this.active.get(key) ?? 0) >= limit) {
      await new Promise<void>((resolve) => {
        const q = this.waiting.get(key) ?? [];
        q.push(resolve);
        this.waiting.set(key, q);
      });
    } else {
      this.active.set(key, (this.active.get(key) ?? 0) + 1);
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.get(key)?.shift();
      // Hand the slot straight to the next waiter, so no one can overtake it.
      if (next) next();
      else {
        const n = (this.active.get(key) ?? 1) - 1;
        if (n <= 0) this.active.delete(key);
        else this.active.set(key, n);
        if (this.waiting.get(key)?.length === 0) this.waiting.delete(key);
      }
    }
  }
}

/** Wraps `driver` so its device commands respect its per-hub limit. */
export function gateByHub(driver: LockDriver, semaphore = new KeyedSemaphore()): LockDriver {
  const gate = <T>(externalId: string, fn: () => Promise<T>): Promise<T> =>
    semaphore.run(`${driver.name}:${driver.hubOf(externalId)}`, driver.hubConcurrency, fn);
  return {
    name: driver.name,
    hubConcurrency: driver.hubConcurrency,
    hubOf: (id) => driver.hubOf(id),
    capabilities: (id) => driver.capabilities(id),
    discover: () => driver.discover(),
    onEvent: (listener) => driver.onEvent(listener),
    close: () => driver.close(),
    status: (id) => gate(id, () => driver.status(id)),
    readCredentials: (id) => gate(id, () => driver.readCredentials(id)),
    setPin: (id, pin) => gate(id, () => driver.setPin(id, pin)),
    clearPin: (id, slot) => gate(id, () => driver.clearPin(id, slot)),
    listControllers: (id) => gate(id, () => driver.listControllers(id)),
    removeController: (id, controllerId) => gate(id, () => driver.removeController(id, controllerId)),
    lock: (id) => gate(id, () => driver.lock(id)),
    unlock: (id) => gate(id, () => driver.unlock(id)),
    factoryReset: (id) => gate(id, () => driver.factoryReset(id)),
    // Enrollment waits for a person at the lock: it must not hold a hub slot meanwhile.
    prepareEnrollment: (previous) => driver.prepareEnrollment(previous),
    enroll: (request) => driver.enroll(request),
    unbindCloud: (id) => gate(id, () => driver.unbindCloud(id)),
  };
}
