/**
 * Integrations: the controllers, brokers and cloud workspaces lockwarden reaches real locks through
 * (a Z-Wave JS server, a Matter fabric of our own, an MQTT broker with Zigbee2MQTT, a Seam workspace).
 * Each has plain settings and at most one secret (an API key, a broker password), which is stored
 * sealed and never shown again. Its devices appear as locks with the external id
 * `<integration id>/<device id>`, once adopted into the inventory.
 */
import { z } from 'zod';

export const INTEGRATION_DRIVERS = ['zwave', 'matter', 'zigbee2mqtt', 'seam'] as const;
export type IntegrationDriver = (typeof INTEGRATION_DRIVERS)[number];

export const INTEGRATION_LABELS: Record<IntegrationDriver, string> = {
  zwave: 'Z-Wave JS server',
  matter: 'Matter (lockwarden as a controller)',
  zigbee2mqtt: 'Zigbee2MQTT over MQTT',
  seam: 'Seam workspace',
};

const urlWith = (schemes: string[], what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .max(500)
    .refine((s) => {
      try {
        return schemes.includes(new URL(s).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    }, `${what} must be a ${schemes.map((s) => `${s}://`).join(' or ')} address`);

/** Settings per driver (the secret is separate). */
export const INTEGRATION_CONFIG = {
  zwave: z.object({ url: urlWith(['ws', 'wss'], 'url') }).strict(),
  matter: z.object({}).strict(),
  zigbee2mqtt: z
    .object({
      url: urlWith(['mqtt', 'mqtts', 'ws', 'wss'], 'url'),
      username: z.string().trim().max(200).optional(),
      baseTopic: z
        .string()
        .trim()
        .min(1)
        .max(200)
        .regex(/^[^#+]+$/, 'baseTopic cannot hold MQTT wildcards (# or +)')
        .default('zigbee2mqtt'),
      // The Zigbee user that lockwarden's slot 1 is. Zigbee numbers users from 0, and new integrations
      // do too; integrations made before lockwarden read the numbering keep 1 (migration 0022), so
      // the codes already on their locks stay in the slots they were given.
      firstUser: z.union([z.literal(0), z.literal(1)], { error: 'firstUser must be 0 or 1' }).default(0),
    })
    .strict(),
  seam: z.object({ endpoint: urlWith(['https', 'http'], 'endpoint').default('https://connect.getseam.com') }).strict(),
} as const;
export type IntegrationConfig<D extends IntegrationDriver = IntegrationDriver> = z.output<(typeof INTEGRATION_CONFIG)[D]>;

/** Which drivers need a secret, and what it is called. */
export const INTEGRATION_SECRET: Record<IntegrationDriver, { label: string; required: boolean } | null> = {
  zwave: null,
  matter: null,
  zigbee2mqtt: { label: 'broker password', required: false },
  seam: { label: 'API key', required: true },
};

const name = z.string({ error: 'name is required' }).trim().min(1, 'name is required').max(120, 'name is at most 120 characters');
const secret = z.string().min(1, 'secret cannot be empty').max(2000, 'secret is at most 2000 characters');

export const IntegrationCreateSchema = z.discriminatedUnion(
  'driver',
  [
    z.object({ driver: z.literal('zwave'), name, config: INTEGRATION_CONFIG.zwave, secret: secret.optional() }).strict(),
    z.object({ driver: z.literal('matter'), name, config: INTEGRATION_CONFIG.matter.default({}), secret: secret.optional() }).strict(),
    z.object({ driver: z.literal('zigbee2mqtt'), name, config: INTEGRATION_CONFIG.zigbee2mqtt, secret: secret.optional() }).strict(),
    z
      .object({
        driver: z.literal('seam'),
        name,
        config: INTEGRATION_CONFIG.seam.default({ endpoint: 'https://connect.getseam.com' }),
        secret: secret.optional(),
        /** The signing secret of the workspace's webhook ("whsec_..."), to accept Seam's deliveries. */
        webhookSecret: z.string().trim().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'webhookSecret is the "whsec_..." signing secret Seam shows for the webhook').optional(),
      })
      .strict(),
  ],
  { error: `driver must be one of ${INTEGRATION_DRIVERS.join(', ')}` },
);
export type IntegrationCreate = { driver: IntegrationDriver; name: string; config: IntegrationConfig; secret?: string | undefined; webhookSecret?: string | undefined };

/** An integration as people and the API see it: never its secret, only whether one is set. */
export interface Integration {
  id: string;
  driver: IntegrationDriver;
  name: string;
  config: IntegrationConfig;
  hasSecret: boolean;
  /** Seam: a webhook signing secret is stored, so `POST /api/integrations/{id}/webhook` accepts deliveries. */
  hasWebhookSecret: boolean;
  createdAt: Date;
  createdBy: string;
  /** Whether this process runs a driver for it right now, and the last error starting it. */
  running: boolean;
  error: string | null;
}

/** A device an integration sees, and the lock it was adopted as (if it was). */
export interface IntegrationDevice {
  externalId: string;
  manufacturer: string | null;
  model: string | null;
  label: string;
  lockId: string | null;
  /** The catalogue model it maps to by manufacturer and model number, if any. */
  modelId: string | null;
}

export const AdoptSchema = z
  .object({
    externalId: z.string({ error: 'externalId is required' }).trim().min(1, 'externalId is required').max(300),
    locationId: z.string({ error: 'locationId is required' }).uuid('choose a location'),
    name: z.string().trim().min(1, 'name is required').max(200).optional(),
    /** A catalogue model to use instead of the one matched (or made) from what the device reports. */
    modelId: z.string().uuid('choose a model').optional(),
  })
  .strict();

/** The separator between an integration's id and its own device id in a lock's external id. */
export const INTEGRATION_ID_SEPARATOR = '/';

/** Commissioning a Matter lock into lockwarden's fabric: the pairing code from its label or QR code. */
export const CommissionSchema = z
  .object({
    pairingCode: z
      .string({ error: 'pairingCode is required' })
      .trim()
      .regex(/^(MT:[-0-9A-Z.]+|[0-9][0-9 -]{9,20}[0-9])$/, 'pairingCode is the 11- or 21-digit manual code or the MT:... QR text'),
  })
  .strict();
