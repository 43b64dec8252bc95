/**
 * Runs the drivers of the configured integrations in this process: one `MultiplexDriver` per
 * protocol (registered under the lock `driver` name), each integration's own driver made by the
 * factory for its protocol and started from its settings and unsealed secret. A driver that fails to
 * start is remembered with its error (shown on the integration) and does not stop the others.
 */
import { INTEGRATION_DRIVERS, type IntegrationConfig, type IntegrationDriver } from '../domain/integrations.js';
import type { LockDriver } from './contract.js';
import path from 'node:path';
import { MultiplexDriver } from './multiplex.js';
import { vetUrl, type OutboundPolicy } from '../net/outbound.js';

export interface DriverStart {
  integrationId: string;
  config: IntegrationConfig;
  /** The integration's secret (API key, broker password), or null. Never log it. */
  secret: string | null;
  /** The data folder (a Matter controller keeps its fabric under it). */
  dataDir: string;
  /** Resolves and checks the server's address under the outbound policy before connecting; throws a message fit to show. */
  checkTarget: (url: string) => Promise<void>;
}

/** Makes and connects one integration's driver; rejects with a message fit to show. */
export type DriverFactory = (start: DriverStart) => Promise<LockDriver>;
export type DriverFactories = Partial<Record<IntegrationDriver, DriverFactory>>;

/** `driver` once its peer answered one device listing; closed and the failure thrown otherwise. */
async function answering(driver: LockDriver): Promise<LockDriver> {
  try {
    await driver.discover();
  } catch (e) {
    await driver.close();
    throw e;
  }
  return driver;
}

/**
 * The factories this build ships. Each protocol's stack is loaded when its first integration starts
 * (matter.js alone takes seconds to load), so a process with no such integration, and every CLI
 * command, never pays for it.
 */
export const BUILT_IN_FACTORIES: DriverFactories = {
  // A workspace is only "running" once Seam accepted its key: one device listing proves it.
  seam: async ({ config, secret, checkTarget }) => {
    const { endpoint } = config as IntegrationConfig<'seam'>;
    await checkTarget(endpoint);
    const { createSeamDriver } = await import('./seam/index.js');
    return answering(createSeamDriver({ apiKey: secret ?? '', endpoint }));
  },
  // A Z-Wave JS server is "running" once it answered and listed its nodes (schema checked); later
  // drops reconnect with backoff inside the driver.
  zwave: async ({ config, checkTarget }) => {
    const { url } = config as IntegrationConfig<'zwave'>;
    await checkTarget(url);
    const { createZwaveDriver } = await import('./zwave/index.js');
    return answering(createZwaveDriver({ url, hubKey: 'zw' }));
  },
  // lockwarden's own Matter controller: its fabric is kept under the data folder, one per integration;
  // locks join it by commissioning with their pairing code (`IntegrationService.commission`).
  matter: async ({ integrationId, dataDir }) => {
    const { createMatterDriver } = await import('./matter/index.js');
    return createMatterDriver({ storagePath: path.join(dataDir, 'matter', integrationId), hubKey: 'mt', fabricLabel: 'lockwarden' });
  },
  // The MQTT client connects (and reconnects) in the background; commands fail fast while it is down.
  zigbee2mqtt: async ({ config, secret, checkTarget }) => {
    const { url, username, baseTopic, firstUser } = config as IntegrationConfig<'zigbee2mqtt'>;
    await checkTarget(url);
    const { createZigbee2MqttDriver } = await import('./zigbee2mqtt/index.js');
    return createZigbee2MqttDriver({ url, baseTopic, ...(username ? { username } : {}), ...(secret ? { password: secret } : {}), ...(firstUser === 1 ? { firstUser: 1 } : {}) });
  },
};

/** The URL an integration's driver connects to (its server, broker or cloud endpoint), if it has one. */
export function integrationTargetUrl(config: IntegrationConfig): { field: string; url: string } | null {
  const c = config as { url?: unknown; endpoint?: unknown };
  if (typeof c.url === 'string') return { field: 'url', url: c.url };
  if (typeof c.endpoint === 'string') return { field: 'endpoint', url: c.endpoint };
  return null;
}

/** Resolves and checks an integration's server address under the outbound policy (refusal: an error naming why). */
export async function checkIntegrationTarget(policy: OutboundPolicy, url: string): Promise<void> {
  await vetUrl(policy, 'integration', url);
}

export interface IntegrationStatus {
  running: boolean;
  error: string | null;
}

/** A driver that failed to start is tried again after this long, doubling up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 30_000;
export const RETRY_MAX_MS = 10 * 60_000;

export class IntegrationHost {
  readonly multiplexers = new Map<IntegrationDriver, MultiplexDriver>();
  private readonly errors = new Map<string, string>();
  /** Integrations whose driver failed to start: when to try again, and the wait that led there. */
  private readonly retries = new Map<string, { at: number; delayMs: number }>();

  constructor(
    private readonly factories: DriverFactories,
    private readonly dataDir: string,
    /** Checks where an integration would connect (the outbound policy), for the factories to call before connecting. */
    private readonly checkTarget: (url: string) => Promise<void> = async () => undefined,
  ) {
    for (const d of INTEGRATION_DRIVERS) this.multiplexers.set(d, new MultiplexDriver(d, 2));
  }

  hasFactory(driver: IntegrationDriver): boolean {
    return this.factories[driver] !== undefined;
  }

  /** Starts (or restarts) one integration; failures are kept as its status, not thrown. */
  async start(integrationId: string, driver: IntegrationDriver, config: IntegrationConfig, secret: string | null, now = Date.now()): Promise<IntegrationStatus> {
    const mux = this.multiplexers.get(driver)!;
    await mux.remove(integrationId);
    this.errors.delete(integrationId);
    const factory = this.factories[driver];
    if (!factory) {
      this.errors.set(integrationId, `this build of lockwarden has no ${driver} driver`);
      return this.status(integrationId, driver);
    }
    try {
      await mux.add(integrationId, await factory({ integrationId, config, secret, dataDir: this.dataDir, checkTarget: this.checkTarget }));
    } catch (e) {
      // The message only: a driver's error must not carry its secret, and a stack helps no one here.
      this.errors.set(integrationId, e instanceof Error ? e.message : String(e));
      const prev = this.retries.get(integrationId);
      const delayMs = prev ? Math.min(prev.delayMs * 2, RETRY_MAX_MS) : RETRY_FIRST_MS;
      this.retries.set(integrationId, { at: now + delayMs, delayMs });
      return this.status(integrationId, driver);
    }
    this.retries.delete(integrationId);
    return this.status(integrationId, driver);
  }

  /** Integrations whose driver failed to start and whose wait before the next try is over. */
  dueForRetry(now = Date.now()): string[] {
    return [...this.retries].filter(([, r]) => r.at <= now).map(([id]) => id);
  }

  async stop(integrationId: string, driver: IntegrationDriver): Promise<void> {
    this.errors.delete(integrationId);
    this.retries.delete(integrationId);
    await this.multiplexers.get(driver)!.remove(integrationId);
  }

  status(integrationId: string, driver: IntegrationDriver): IntegrationStatus {
    return { running: this.multiplexers.get(driver)!.has(integrationId), error: this.errors.get(integrationId) ?? null };
  }

  driverOf(integrationId: string, driver: IntegrationDriver): LockDriver | undefined {
    return this.multiplexers.get(driver)!.driverOf(integrationId);
  }

  async close(): Promise<void> {
    for (const m of this.multiplexers.values()) await m.close();
  }
}
