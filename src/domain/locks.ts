import { z } from 'zod';
import { CREDENTIAL_STORAGE, LOCK_FAMILIES, type CredentialStorage, type LockFamily } from './lock-models.js';

/** Service states of a lock (brief, capability 1). */
export const SERVICE_STATES = ['in_service', 'setup_mode', 'needs_attention', 'reset_in_progress', 'retired'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

export const SERVICE_STATE_LABELS: Record<ServiceState, string> = {
  in_service: 'In service',
  setup_mode: 'Setup mode',
  needs_attention: 'Needs attention',
  reset_in_progress: 'Reset in progress',
  retired: 'Retired',
};

/** States a person may set by hand; `retired` goes through retire(), `reset_in_progress` through a reset case. */
export const EDITABLE_SERVICE_STATES = ['in_service', 'setup_mode', 'needs_attention'] as const;

/** Driver names known to this build. A lock's driver decides how lockwarden reaches it. */
export const DRIVER_NAMES = ['simulator', 'zwave', 'matter', 'zigbee2mqtt', 'seam', 'none'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** A calendar date as YYYY-MM-DD that exists (no 30 February); one error, whatever is wrong. */
const isoDate = z.string().refine((s) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}, 'use a real date as YYYY-MM-DD');

/** A boolean from a query string or flag: only true/false (and 1/0), never "any non-empty string". */
const queryBoolean = z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean());

const LockFields = {
  name: z.string().trim().min(1, 'name is required').max(200),
  modelId: z.string().uuid('choose a model from the catalogue'),
  locationId: z.string().uuid('choose a location'),
  serial: z.string().trim().max(120).default(''),
  firmware: z.string().trim().max(60).default(''),
  installedOn: isoDate.nullable().default(null),
  driver: z.enum(DRIVER_NAMES).default('simulator'),
  externalId: z.string().trim().max(200).nullable().default(null),
  credentialStorage: z.enum(CREDENTIAL_STORAGE).optional(),
  mechanicalOverride: z.boolean().optional(),
  batteryPercent: z.number().int().min(0).max(100).nullable().default(null),
  serviceState: z.enum(EDITABLE_SERVICE_STATES).default('in_service'),
  notes: z.string().max(2000).default(''),
};

export const LockCreateSchema = z.object(LockFields).strict();
export type LockCreate = z.infer<typeof LockCreateSchema>;

export const LockUpdateSchema = z
  .object({
    name: LockFields.name.optional(),
    modelId: LockFields.modelId.optional(),
    locationId: LockFields.locationId.optional(),
    serial: z.string().trim().max(120).optional(),
    firmware: z.string().trim().max(60).optional(),
    installedOn: isoDate.nullable().optional(),
    driver: z.enum(DRIVER_NAMES).optional(),
    externalId: z.string().trim().max(200).nullable().optional(),
    credentialStorage: z.enum(CREDENTIAL_STORAGE).optional(),
    mechanicalOverride: z.boolean().optional(),
    batteryPercent: z.number().int().min(0).max(100).nullable().optional(),
    serviceState: z.enum(EDITABLE_SERVICE_STATES).optional(),
    notes: z.string().max(2000).optional(),
    /** The version the editor saw; a stale edit is refused rather than silently overwriting. */
    expectedVersion: z.number().int().min(1).optional(),
  })
  .strict();
export type LockUpdate = z.infer<typeof LockUpdateSchema>;

export const LockRetireSchema = z
  .object({ reason: z.string().trim().min(3, 'say why the lock is retired').max(500) })
  .strict();

const csv = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
    z.array(z.enum(values)).optional(),
  );

/** Filters for the lock list, as they arrive in a query string or CLI flags. */
export const LockFilterSchema = z
  .object({
    siteId: z.string().uuid().optional(),
    locationId: z.string().uuid().optional(),
    modelId: z.string().uuid().optional(),
    family: csv(LOCK_FAMILIES),
    state: csv(SERVICE_STATES),
    q: z.string().trim().max(200).optional(),
    includeRetired: queryBoolean.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
    sort: z.enum(['name', 'location', 'model', 'state', 'battery', 'updated']).default('name'),
  })
  .strict();
export type LockFilter = z.infer<typeof LockFilterSchema>;

/** A lock as the services return it, with its model and location resolved for display. */
export interface Lock {
  id: string;
  name: string;
  modelId: string;
  manufacturer: string;
  modelNumber: string;
  family: LockFamily;
  locationId: string;
  locationPath: { id: string; name: string; kind: string }[];
  siteId: string | null;
  serial: string;
  firmware: string;
  installedOn: string | null;
  driver: DriverName;
  externalId: string | null;
  credentialStorage: CredentialStorage;
  mechanicalOverride: boolean;
  batteryPercent: number | null;
  serviceState: ServiceState;
  retiredAt: Date | null;
  retiredReason: string | null;
  notes: string;
  isDemo: boolean;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Battery is "low" below the model's reset minimum, or below 20% when no minimum applies. */
export function batteryLow(percent: number | null, minimum = 20): boolean {
  return percent !== null && percent < minimum;
}
