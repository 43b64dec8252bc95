/**
 * The `simulator` driver: lockwarden's driver contract over a simulated fleet, in this process or in
 * a `lockwarden sim` process. It adds nothing to what the transport answers, on purpose: the
 * simulator's behaviour lives in the fleet, so both transports behave the same.
 */
import {
  DriverError,
  type DeviceStatus,
  type DiscoveredDevice,
  type DriverCapabilities,
  type DriverEvent,
  type EnrolledDevice,
  type EnrollmentMethod,
  type EnrollmentPreparation,
  type EnrollmentRequest,
  type LockDriver,
  type ObservedController,
  type ObservedCredentials,
  type PinWrite,
} from '../contract.js';
import { conventionalSimHub } from './lock-spec.js';
import type { SimTransport } from './transport.js';

/** How a simulated lock is enrolled again: the setup code on its label (shown on its virtual panel). */
export const SIM_ENROLLMENT: EnrollmentMethod = {
  kind: 'setup_code',
  code: 'pairing_code',
  security: [],
  instructions: 'Type the setup code printed on the lock\'s label (on a simulated lock, its virtual front panel shows the label).',
};

/** Options of the simulator driver. */
export interface SimulatorDriverOptions {
  /** Commands one hub takes at a time (across processes, enforced by the hub gate). */
  hubConcurrency?: number;
}

/** Reaches simulated locks through a `SimTransport`. */
export class SimulatorDriver implements LockDriver {
  readonly name = 'simulator';
  readonly hubConcurrency: number;

  constructor(
    private readonly transport: SimTransport,
    opts: SimulatorDriverOptions = {},
  ) {
    this.hubConcurrency = opts.hubConcurrency ?? 2;
  }

  /** The hub the transport has seen for the device, else the naming convention (`conventionalSimHub`). */
  hubOf(externalId: string): string {
    return this.transport.knownHub(externalId) ?? conventionalSimHub(externalId);
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    const declared = await this.transport.capabilities(externalId);
    return { ...declared, enrollment: SIM_ENROLLMENT, cloudUnbind: declared.cloudBinding };
  }

  status(externalId: string): Promise<DeviceStatus> {
    return this.transport.status(externalId);
  }

  readCredentials(externalId: string): Promise<ObservedCredentials> {
    return this.transport.readCredentials(externalId);
  }

  setPin(externalId: string, pin: PinWrite): Promise<void> {
    return this.transport.setPin(externalId, pin);
  }

  clearPin(externalId: string, slot: number): Promise<void> {
    return this.transport.clearPin(externalId, slot);
  }

  /** The simulated lock's controllers, as a read reports them (the simulator has no cheaper read). */
  async listControllers(externalId: string): Promise<ObservedController[]> {
    if (!(await this.transport.capabilities(externalId)).controllers) throw new DriverError('driver.not_supported', `${externalId} does not list controllers`);
    return (await this.transport.readCredentials(externalId)).controllers;
  }

  removeController(externalId: string, controllerId: string): Promise<void> {
    return this.transport.removeController(externalId, controllerId);
  }

  lock(externalId: string): Promise<void> {
    return this.transport.lock(externalId);
  }

  unlock(externalId: string): Promise<void> {
    return this.transport.unlock(externalId);
  }

  factoryReset(externalId: string): Promise<void> {
    return this.transport.factoryReset(externalId);
  }

  async prepareEnrollment(): Promise<EnrollmentPreparation> {
    return { instructions: SIM_ENROLLMENT.instructions, url: null };
  }

  /** A simulated lock enrolls with the setup code on its label, as a real one with its pairing code. */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    if (!request.code?.trim()) throw new DriverError('driver.invalid_code', 'type the setup code from the lock\'s label');
    return this.transport.enroll(request.code);
  }

  unbindCloud(externalId: string): Promise<void> {
    return this.transport.unbindCloud(externalId);
  }

  async discover(): Promise<DiscoveredDevice[]> {
    return (await this.transport.discover()).map(({ externalId, manufacturer, model, label }) => ({ externalId, manufacturer, model, label }));
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    return this.transport.onEvent(listener);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
