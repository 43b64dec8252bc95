/**
 * One `LockDriver` per protocol in front of any number of integrations of it (two Z-Wave JS
 * servers, three Seam workspaces): a lock's external id is `<integration id>/<device id>`, and each
 * call goes to that integration's own driver with the device id alone. Events come back with the
 * prefix added. Integrations are added and removed while the process runs.
 */
import { INTEGRATION_ID_SEPARATOR } from '../domain/integrations.js';
import { DriverError, type DiscoveredDevice, type DriverEvent, type EnrolledDevice, type EnrollmentRequest, type LockDriver } from './contract.js';

export function splitExternalId(externalId: string): { integrationId: string; deviceId: string } | null {
  const i = externalId.indexOf(INTEGRATION_ID_SEPARATOR);
  if (i <= 0 || i === externalId.length - 1) return null;
  return { integrationId: externalId.slice(0, i), deviceId: externalId.slice(i + 1) };
}

export class MultiplexDriver implements LockDriver {
  private readonly inner = new Map<string, { driver: LockDriver; unsubscribe: () => void }>();
  private readonly listeners = new Set<(event: DriverEvent) => void>();

  constructor(
    readonly name: string,
    readonly hubConcurrency: number,
  ) {}

  /** Adds (or replaces) the driver of one integration. */
  async add(integrationId: string, driver: LockDriver): Promise<void> {
    await this.remove(integrationId);
    const unsubscribe = driver.onEvent((event) => {
      const prefixed = { ...event, externalId: `${integrationId}${INTEGRATION_ID_SEPARATOR}${event.externalId}` };
      for (const l of this.listeners) l(prefixed);
    });
    this.inner.set(integrationId, { driver, unsubscribe });
  }

  /** Stops and forgets one integration's driver. */
  async remove(integrationId: string): Promise<void> {
    const found = this.inner.get(integrationId);
    if (!found) return;
    this.inner.delete(integrationId);
    found.unsubscribe();
    await found.driver.close();
  }

  has(integrationId: string): boolean {
    return this.inner.has(integrationId);
  }

  /** The integration's own driver (for discovery). */
  driverOf(integrationId: string): LockDriver | undefined {
    return this.inner.get(integrationId)?.driver;
  }

  private route(externalId: string): { driver: LockDriver; deviceId: string; integrationId: string } {
    const parts = splitExternalId(externalId);
    if (!parts) throw new DriverError('driver.unknown_device', `"${externalId}" is not <integration>/<device>`);
    const found = this.inner.get(parts.integrationId);
    if (!found) throw new DriverError('driver.unreachable', `integration ${parts.integrationId} is not running in this process`);
    return { driver: found.driver, ...parts };
  }

  hubOf(externalId: string): string {
    const parts = splitExternalId(externalId);
    if (!parts) return externalId;
    const found = this.inner.get(parts.integrationId);
    return `${parts.integrationId}${INTEGRATION_ID_SEPARATOR}${found ? found.driver.hubOf(parts.deviceId) : ''}`;
  }

  capabilities(externalId: string) {
    const r = this.route(externalId);
    return r.driver.capabilities(r.deviceId);
  }
  status(externalId: string) {
    const r = this.route(externalId);
    return r.driver.status(r.deviceId);
  }
  readCredentials(externalId: string) {
    const r = this.route(externalId);
    return r.driver.readCredentials(r.deviceId);
  }
  setPin(externalId: string, pin: Parameters<LockDriver['setPin']>[1]) {
    const r = this.route(externalId);
    return r.driver.setPin(r.deviceId, pin);
  }
  clearPin(externalId: string, slot: number) {
    const r = this.route(externalId);
    return r.driver.clearPin(r.deviceId, slot);
  }
  listControllers(externalId: string) {
    const r = this.route(externalId);
    return r.driver.listControllers(r.deviceId);
  }
  removeController(externalId: string, controllerId: string) {
    const r = this.route(externalId);
    return r.driver.removeController(r.deviceId, controllerId);
  }
  lock(externalId: string) {
    const r = this.route(externalId);
    return r.driver.lock(r.deviceId);
  }
  unlock(externalId: string) {
    const r = this.route(externalId);
    return r.driver.unlock(r.deviceId);
  }
  factoryReset(externalId: string) {
    const r = this.route(externalId);
    return r.driver.factoryReset(r.deviceId);
  }

  /** The integration of the previous device id prepares (a new integration cannot be guessed). */
  prepareEnrollment(previousExternalId: string | null) {
    const r = this.routePrevious(previousExternalId);
    return r.driver.prepareEnrollment(r.deviceId);
  }
  /** Enrolls through the integration the lock was reached through; the new id comes back prefixed. */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    const r = this.routePrevious(request.previousExternalId);
    const device = await r.driver.enroll({ ...request, previousExternalId: r.deviceId });
    return { ...device, externalId: `${r.integrationId}${INTEGRATION_ID_SEPARATOR}${device.externalId}` };
  }
  unbindCloud(externalId: string) {
    const r = this.route(externalId);
    return r.driver.unbindCloud(r.deviceId);
  }

  private routePrevious(previousExternalId: string | null) {
    if (!previousExternalId) throw new DriverError('driver.unknown_device', 'say which integration the device enrolls through: the lock has no device id yet');
    return this.route(previousExternalId);
  }

  /** Every integration's devices, with prefixed ids; an integration that fails to answer is left out. */
  async discover(): Promise<DiscoveredDevice[]> {
    const all = await Promise.all(
      [...this.inner.entries()].map(async ([id, { driver }]) => (await driver.discover().catch(() => [])).map((d) => ({ ...d, externalId: `${id}${INTEGRATION_ID_SEPARATOR}${d.externalId}` }))),
    );
    return all.flat();
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const id of [...this.inner.keys()]) await this.remove(id);
    this.listeners.clear();
  }
}
