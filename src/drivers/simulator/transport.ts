/**
 * How the simulator driver reaches a fleet: in this process, or over HTTP in another one. Both speak
 * the same commands and throw the same `DriverError`s, so the driver above cannot tell them apart.
 */
import type { DeviceStatus, DriverEvent, EnrolledDevice, ObservedCredentials, PinWrite } from '../contract.js';
import type { SimCapabilities } from './lock-spec.js';
import type { SimDeviceInfo, SimFleet } from './fleet.js';

/** The device commands and events of one fleet, wherever it runs. */
export interface SimTransport {
  /** The hub of a device when this transport already knows it (must not do I/O: `hubOf` is synchronous). */
  knownHub(externalId: string): string | undefined;
  capabilities(externalId: string): Promise<SimCapabilities>;
  status(externalId: string): Promise<DeviceStatus>;
  readCredentials(externalId: string): Promise<ObservedCredentials>;
  setPin(externalId: string, pin: PinWrite): Promise<void>;
  clearPin(externalId: string, slot: number): Promise<void>;
  removeController(externalId: string, controllerId: string): Promise<void>;
  lock(externalId: string): Promise<void>;
  unlock(externalId: string): Promise<void>;
  factoryReset(externalId: string): Promise<void>;
  /** Enrolls the lock carrying this setup code with lockwarden. */
  enroll(code: string): Promise<EnrolledDevice>;
  unbindCloud(externalId: string): Promise<void>;
  discover(): Promise<SimDeviceInfo[]>;
  onEvent(listener: (event: DriverEvent) => void): () => void;
  close(): Promise<void>;
}

/** Reaches a fleet living in this process. */
export class InProcessSimTransport implements SimTransport {
  private readonly unsubscribers = new Set<() => void>();

  constructor(readonly fleet: SimFleet) {}

  knownHub(externalId: string): string | undefined {
    return this.fleet.has(externalId) ? this.fleet.hubOf(externalId) : undefined;
  }

  capabilities(externalId: string): Promise<SimCapabilities> {
    return this.fleet.capabilities(externalId);
  }

  status(externalId: string): Promise<DeviceStatus> {
    return this.fleet.status(externalId);
  }

  readCredentials(externalId: string): Promise<ObservedCredentials> {
    return this.fleet.readCredentials(externalId);
  }

  setPin(externalId: string, pin: PinWrite): Promise<void> {
    // A copy, so a caller mutating its object afterwards cannot reach into the lock's memory.
    return this.fleet.setPin(externalId, structuredClone(pin));
  }

  clearPin(externalId: string, slot: number): Promise<void> {
    return this.fleet.clearPin(externalId, slot);
  }

  removeController(externalId: string, controllerId: string): Promise<void> {
    return this.fleet.removeController(externalId, controllerId);
  }

  lock(externalId: string): Promise<void> {
    return this.fleet.lock(externalId);
  }

  unlock(externalId: string): Promise<void> {
    return this.fleet.unlock(externalId);
  }

  factoryReset(externalId: string): Promise<void> {
    return this.fleet.factoryReset(externalId);
  }

  enroll(code: string): Promise<EnrolledDevice> {
    return this.fleet.enroll(code);
  }

  unbindCloud(externalId: string): Promise<void> {
    return this.fleet.unbindCloud(externalId);
  }

  async discover(): Promise<SimDeviceInfo[]> {
    return this.fleet.discover();
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    const off = this.fleet.onEvent(listener);
    this.unsubscribers.add(off);
    return () => {
      off();
      this.unsubscribers.delete(off);
    };
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribers) off();
    this.unsubscribers.clear();
  }
}
