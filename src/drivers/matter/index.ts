/**
 * The Matter driver: lockwarden as a controller (its own fabric) of Matter door locks, on matter.js.
 * `createMatterDriver({ storagePath })` is all the runtime needs; `commission(pairingCode)` adds a lock.
 */
export { MatterDriver, createMatterDriver, parsePairingCode, type MatterDriverConfig } from './driver.js';
