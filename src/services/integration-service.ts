/**
 * Integrations (`src/domain/integrations.ts`): add a Z-Wave JS server, Matter controller, MQTT broker
 * or Seam workspace with its secret sealed; the process starts its driver at once and at every start
 * (`IntegrationHost`); list what it sees, and adopt a device into the inventory with its model mapped
 * to the catalogue (or a new model made from what the device reports). Managing integrations is an
 * organisation-level action; adopting a device needs lock.write where the lock goes.
 */
import { and, eq, like, sql } from 'drizzle-orm';
import type { DriverCapabilities } from '../drivers/contract.js';
import { SeamWebhookError, verifySeamWebhook, type SeamEvent } from '../drivers/seam/webhook.js';
import { AppError, validationError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import {
  AdoptSchema,
  CommissionSchema,
  INTEGRATION_ID_SEPARATOR,
  INTEGRATION_LABELS,
  INTEGRATION_SECRET,
  IntegrationCreateSchema,
  type Integration,
  type IntegrationCreate,
  type IntegrationDevice,
} from '../domain/integrations.js';
import { familyDefaults, type Capabilities } from '../domain/lock-models.js';
import type { Lock } from '../domain/locks.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction } from '../store/database.js';
import { integrations, lockModels, locks } from '../store/schema.js';
import { actorLabel, authorize, outboundOf, refuseTarget, type ServiceContext } from './context.js';
import { checkUrlLiteral } from '../net/outbound.js';
import { integrationTargetUrl } from '../drivers/integration-host.js';
import { LockModelService } from './lock-model-service.js';
import { LockService } from './lock-service.js';
import { locationResource } from './scope.js';

type Row = typeof integrations.$inferSelect;
const secretContext = (id: string) => `integration:${id}`;
const webhookContext = (id: string) => `integration-webhook:${id}`;

export class IntegrationService {
  constructor(private readonly ctx: ServiceContext) {}

  async list(actor: Actor): Promise<Integration[]> {
    authorize(actor, 'integration.manage');
    return (await this.ctx.db.select().from(integrations).orderBy(integrations.name)).map((r) => this.present(r));
  }

  async get(actor: Actor, id: string): Promise<Integration> {
    authorize(actor, 'integration.manage');
    return this.present(await this.require(id));
  }

  /** Adds an integration and starts its driver; a driver that cannot start is reported on it, not thrown. */
  async create(actor: Actor, input: unknown): Promise<Integration> {
    authorize(actor, 'integration.manage');
    const data = parseInput(IntegrationCreateSchema, input) as IntegrationCreate;
    const needs = INTEGRATION_SECRET[data.driver];
    if (!needs && data.secret !== undefined) throw validationError([{ path: 'secret', message: `a ${INTEGRATION_LABELS[data.driver]} takes no secret` }]);
    if (needs?.required && !data.secret) throw validationError([{ path: 'secret', message: `the ${needs.label} is required` }]);
    const target = integrationTargetUrl(data.config);
    if (target) refuseTarget(() => checkUrlLiteral(outboundOf(this.ctx), 'integration', target.url), `config.${target.field}`);
    const id = this.ctx.ids.uuid();
    const row: Row = {
      id,
      driver: data.driver,
      name: data.name,
      config: data.config,
      secretSealed: data.secret ? this.ctx.secrets.encrypt(data.secret, secretContext(id)) : null,
      webhookSecretSealed: data.webhookSecret ? this.ctx.secrets.encrypt(data.webhookSecret, webhookContext(id)) : null,
      createdAt: this.ctx.clock.now(),
      createdBy: actorLabel(actor),
    };
    await inTransaction(this.ctx.db, async (tx) => {
      await tx.insert(integrations).values(row);
      await this.ctx.audit.append(tx, {
        actor,
        action: 'integration.create',
        target: { type: 'integration', id, label: data.name },
        details: { driver: data.driver, config: data.config, hasSecret: row.secretSealed !== null, hasWebhookSecret: row.webhookSecretSealed !== null },
        secrets: { ...(data.secret ? { secret: data.secret } : {}), ...(data.webhookSecret ? { webhookSecret: data.webhookSecret } : {}) },
      });
    });
    await this.startRow(row);
    return this.present(row);
  }

  /** Stops and removes an integration; refused while locks still use it (retire or re-point them first). */
  async remove(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'integration.manage');
    const row = await this.require(id);
    const [{ n } = { n: 0 }] = await this.ctx.db
      .select({ n: sql<number>`count(*)::int` })
      .from(locks)
      .where(and(eq(locks.driver, row.driver), like(locks.externalId, `${id}${INTEGRATION_ID_SEPARATOR}%`), sql`${locks.serviceState} <> 'retired'`));
    if (n > 0) throw new AppError('integration.in_use', `${n} lock(s) in the inventory are reached through "${row.name}"; retire them or move them to another driver first`);
    await inTransaction(this.ctx.db, async (tx) => {
      await tx.delete(integrations).where(eq(integrations.id, id));
      await this.ctx.audit.append(tx, { actor, action: 'integration.remove', target: { type: 'integration', id, label: row.name }, details: { driver: row.driver } });
    });
    await this.ctx.integrations?.stop(id, row.driver);
  }

  /** Starts the integration's driver again (after the controller or broker came back, say). */
  async restart(actor: Actor, id: string): Promise<Integration> {
    authorize(actor, 'integration.manage');
    const row = await this.require(id);
    await this.startRow(row);
    return this.present(row);
  }

  /**
   * A webhook delivery from Seam for integration `id`: the signature and age are checked against the
   * stored signing secret on the bytes as received, then the event goes to the running driver, which
   * turns it into lock events exactly as polling would (deliveries already seen are ignored).
   */
  async webhook(id: string, headers: Record<string, string | string[] | undefined>, rawBody: Buffer): Promise<void> {
    const [row] = await this.ctx.db.select().from(integrations).where(eq(integrations.id, id));
    if (!row || row.driver !== 'seam' || !row.webhookSecretSealed) throw new AppError('integration.not_found', 'no Seam integration with a webhook at this address');
    let event: SeamEvent;
    try {
      event = verifySeamWebhook(this.ctx.secrets.decrypt(row.webhookSecretSealed, webhookContext(id)), headers, rawBody, this.ctx.clock.now());
    } catch (e) {
      if (e instanceof SeamWebhookError) throw new AppError('integration.webhook_refused', `webhook refused: ${e.message}`);
      throw e;
    }
    const driver = this.ctx.integrations?.driverOf(id, 'seam');
    if (!driver) throw this.notRunning(row);
    // The driver modules load with their first integration (see BUILT_IN_FACTORIES); by now this one has.
    const { SeamDriver } = await import('../drivers/seam/driver.js');
    if (!(driver instanceof SeamDriver)) throw this.notRunning(row);
    driver.ingest(event);
  }

  /**
   * Commissions a Matter lock into this integration's fabric with its pairing code (audited; the code
   * itself only as a keyed hash). Returns the device as the integration lists it, ready to adopt.
   */
  async commission(actor: Actor, id: string, input: unknown): Promise<IntegrationDevice> {
    authorize(actor, 'integration.manage');
    const { pairingCode } = parseInput(CommissionSchema, input);
    const row = await this.require(id);
    if (row.driver !== 'matter') throw validationError([{ path: 'pairingCode', message: `only a Matter integration commissions locks; "${row.name}" is ${INTEGRATION_LABELS[row.driver]}` }]);
    const driver = this.ctx.integrations?.driverOf(id, 'matter');
    if (!driver) throw this.notRunning(row);
    const { MatterDriver } = await import('../drivers/matter/driver.js');
    if (!(driver instanceof MatterDriver)) throw this.notRunning(row);
    const deviceId = await driver.commission(pairingCode);
    await this.ctx.audit.record(this.ctx.db, { actor, action: 'integration.commission', target: { type: 'integration', id, label: row.name }, details: { deviceId }, secrets: { pairingCode } });
    const device = (await this.devices(actor, id)).find((d) => d.externalId === deviceId);
    if (!device) throw new AppError('integration.unknown_device', `the lock was commissioned as ${deviceId} but the controller does not list it`);
    return device;
  }

  /** Starts every integration's driver (at process start; system only). */
  async startAll(): Promise<void> {
    for (const row of await this.ctx.db.select().from(integrations)) await this.startRow(row);
  }

  /**
   * Starts again each integration whose driver failed to start and whose wait is over (30 s, doubling
   * to 10 minutes), so a peer that was down when the process started is picked up without a person
   * pressing Restart. Returns how many were tried.
   */
  async retryFailed(now = Date.now()): Promise<number> {
    const due = new Set(this.ctx.integrations?.dueForRetry(now) ?? []);
    if (due.size === 0) return 0;
    const rows = (await this.ctx.db.select().from(integrations)).filter((r) => due.has(r.id));
    for (const row of rows) await this.startRow(row, now);
    return rows.length;
  }

  /** What the integration sees, each device with the lock it was adopted as and the catalogue model it maps to. */
  async devices(actor: Actor, id: string): Promise<IntegrationDevice[]> {
    authorize(actor, 'integration.manage');
    const row = await this.require(id);
    const driver = this.ctx.integrations?.driverOf(id, row.driver);
    if (!driver) throw this.notRunning(row);
    const found = await driver.discover();
    const adopted = new Map(
      (await this.ctx.db
        .select({ id: locks.id, externalId: locks.externalId })
        .from(locks)
        .where(and(eq(locks.driver, row.driver), like(locks.externalId, `${id}${INTEGRATION_ID_SEPARATOR}%`)))).map((l) => [l.externalId, l.id]),
    );
    const models = await this.ctx.db.select({ id: lockModels.id, manufacturer: lockModels.manufacturer, modelNumber: lockModels.modelNumber }).from(lockModels);
    const modelKey = (m: string | null, n: string | null) => `${(m ?? '').trim().toLowerCase()}\u0000${(n ?? '').trim().toLowerCase()}`;
    const byKey = new Map(models.map((m) => [modelKey(m.manufacturer, m.modelNumber), m.id]));
    return found.map((d) => ({
      externalId: d.externalId,
      manufacturer: d.manufacturer,
      model: d.model,
      label: d.label,
      lockId: adopted.get(`${id}${INTEGRATION_ID_SEPARATOR}${d.externalId}`) ?? null,
      modelId: d.manufacturer && d.model ? (byKey.get(modelKey(d.manufacturer, d.model)) ?? null) : null,
    }));
  }

  /**
   * Adopts a device into the inventory as a lock at `locationId`: its model is the one given, else the
   * catalogue model with the manufacturer and model number the device reports, else a new model made
   * from that report and the device's capabilities (which needs model.write).
   */
  async adopt(actor: Actor, id: string, input: unknown): Promise<Lock> {
    const data = parseInput(AdoptSchema, input);
    authorize(actor, 'lock.write', await locationResource(this.ctx.db, data.locationId));
    const row = await this.require(id);
    const device = (await this.devices({ kind: 'system', name: 'device-events' }, id)).find((d) => d.externalId === data.externalId);
    if (!device) throw new AppError('integration.unknown_device', `"${row.name}" does not see a device "${data.externalId}"`);
    let modelId = data.modelId ?? device.modelId;
    if (!modelId) {
      const driver = this.ctx.integrations!.driverOf(id, row.driver)!;
      const caps = await driver.capabilities(device.externalId);
      const family = caps.pin.slots > 0 ? 'keypad_entry' : 'app_controlled';
      const model = await new LockModelService(this.ctx).create(actor, {
        ...familyDefaults(family),
        manufacturer: device.manufacturer ?? INTEGRATION_LABELS[row.driver],
        modelNumber: device.model ?? device.label,
        name: `${device.manufacturer ?? ''} ${device.model ?? device.label} (as the device reports it)`.trim(),
        capabilities: modelCapabilities(caps),
        credentialStorage: caps.cloudBinding ? 'cloud' : 'local',
      });
      modelId = model.id;
    }
    return new LockService(this.ctx).create(actor, {
      name: data.name ?? device.label,
      modelId,
      locationId: data.locationId,
      driver: row.driver,
      externalId: `${id}${INTEGRATION_ID_SEPARATOR}${device.externalId}`,
    });
  }

  private async startRow(row: Row, now?: number): Promise<void> {
    const secret = row.secretSealed ? this.ctx.secrets.decrypt(row.secretSealed, secretContext(row.id)) : null;
    await this.ctx.integrations?.start(row.id, row.driver, row.config, secret, now);
  }

  private notRunning(row: Row): AppError {
    const status = this.ctx.integrations?.status(row.id, row.driver);
    return new AppError('integration.not_running', `"${row.name}" is not running${status?.error ? `: ${status.error}` : ''}`);
  }

  private async require(id: string): Promise<Row> {
    const [row] = await this.ctx.db.select().from(integrations).where(eq(integrations.id, id));
    if (!row) throw new AppError('integration.not_found', `no integration with id ${id}`);
    return row;
  }

  private present(r: Row): Integration {
    const status = this.ctx.integrations?.status(r.id, r.driver) ?? { running: false, error: 'no driver host in this process' };
    return { id: r.id, driver: r.driver, name: r.name, config: r.config, hasSecret: r.secretSealed !== null, hasWebhookSecret: r.webhookSecretSealed !== null, createdAt: r.createdAt, createdBy: r.createdBy, ...status };
  }
}

/** A catalogue model's capabilities from what the driver says the device can do. */
export function modelCapabilities(caps: DriverCapabilities): Capabilities {
  const slots = caps.pin.slots;
  return {
    pinSlots: slots,
    pinLengthMin: slots > 0 ? Math.max(4, caps.pin.minLength) : 0,
    pinLengthMax: slots > 0 ? Math.max(4, caps.pin.maxLength) : 0,
    schedules: caps.schedules.window,
    digitalKeys: caps.digitalKeys,
    fingerprints: caps.biometrics,
    remoteLockUnlock: caps.remoteLockUnlock,
    remoteReset: caps.remoteFactoryReset,
  };
}
