/**
 * Schemas for everything that crosses an edge of the simulator: HTTP bodies into the server, device
 * answers back into the HTTP transport, and the saved state file. Each is parsed, never trusted.
 */
import { z } from 'zod';
import { RESET_BEHAVIOURS } from '../../domain/lock-models.js';
import { DRIVER_ERROR_CODES, WEEKDAYS } from '../contract.js';
import { CHANGE_SOURCES, FAULT_KINDS, SIM_LOG_OPS } from './faults.js';
import { PHYSICAL_RESET_REFUSALS, RESET_BLOCKS } from './lock-spec.js';

/** A credential schedule as the driver contract defines it (its rules are the lock's to check). */
export const ScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('always') }),
  z.object({ kind: z.literal('window'), from: z.string(), until: z.string() }),
  z.object({ kind: z.literal('recurring'), days: z.array(z.enum(WEEKDAYS)), start: z.string(), end: z.string() }),
]);

/** What an enrolled device reports. */
export const EnrolledDeviceSchema = z.object({ externalId: z.string(), manufacturer: z.string().nullable(), model: z.string().nullable(), serial: z.string().nullable() });

/** An enrollment request's body: the setup code from the label. */
export const EnrollBodySchema = z.object({ code: z.string().min(1).max(64) }).strict();

/** Declared driver capabilities. */
export const CapabilitiesSchema = z.object({
  pin: z.object({
    slots: z.int().min(0),
    minLength: z.int().min(0),
    maxLength: z.int().min(0),
    alphabet: z.literal('digits'),
  }),
  schedules: z.object({ window: z.boolean(), recurring: z.boolean() }),
  digitalKeys: z.boolean(),
  controllers: z.boolean(),
  biometrics: z.boolean(),
  remoteLockUnlock: z.boolean(),
  remoteFactoryReset: z.boolean(),
  cloudBinding: z.boolean(),
  events: z.boolean(),
});

const GatingSchema = z.object({
  buttonSequence: z.string().optional(),
  holdSeconds: z.number().min(0),
  batteryMinPercent: z.number().min(0).max(100),
  needsLockOffDoor: z.boolean(),
});

/** A virtual lock's spec (provisioning body). */
export const SpecSchema = z.object({
  externalId: z.string().min(1).max(200),
  hub: z.string().min(1).max(200),
  manufacturer: z.string(),
  model: z.string(),
  capabilities: CapabilitiesSchema,
  resetBehaviour: z.enum(RESET_BEHAVIOURS),
  gating: GatingSchema,
  firmware: z.string().nullable(),
  batteryPercent: z.int().min(0).max(100),
  mechanicalOverride: z.boolean(),
  cloudBound: z.boolean(),
});

const ControllerKindSchema = z.enum(['hub', 'phone', 'fabric', 'cloud']);
/** A paired controller. */
export const ControllerSchema = z.object({ id: z.string(), label: z.string(), kind: ControllerKindSchema, admin: z.boolean(), self: z.boolean().optional() });
/** A biometric enrollment reference. */
export const BiometricSchema = z.object({ id: z.string(), holder: z.string(), kind: z.enum(['fingerprint', 'face']) });
const PinSchema = z.object({ slot: z.int(), code: z.string(), name: z.string(), schedule: ScheduleSchema, enabled: z.boolean() });

/** A virtual lock's whole state (state file, inspection answers). */
export const StateSchema = SpecSchema.omit({ mechanicalOverride: true, batteryPercent: true }).extend({
  pins: z.array(PinSchema),
  controllers: z.array(ControllerSchema),
  digitalKeys: z.array(z.object({ id: z.string(), holder: z.string(), storedOn: z.enum(['lock', 'cloud']) })),
  biometrics: z.array(BiometricSchema),
  setupMode: z.boolean(),
  batteryPercent: z.int().min(0).max(100),
  bolt: z.enum(['locked', 'unlocked', 'jammed']),
  onDoor: z.boolean(),
  doorAligned: z.boolean(),
  mechanicalOverride: z.object({ present: z.boolean(), timesUsed: z.int().min(0) }),
  online: z.boolean(),
  resetBlocked: z.enum(RESET_BLOCKS).nullable(),
  resetCount: z.int().min(0),
  setupModeFault: z.boolean().default(false),
  nextId: z.int().min(1),
});

/** One entry of the applied-change log. */
export const LogEntrySchema = z.object({
  seq: z.int().min(1),
  at: z.string(),
  externalId: z.string(),
  op: z.enum(SIM_LOG_OPS),
  source: z.enum(CHANGE_SOURCES),
  slot: z.int().optional(),
  controllerId: z.string().optional(),
  detail: z.string().optional(),
});

const LatencySchema = z.union([z.number().min(0), z.object({ min: z.number().min(0), max: z.number().min(0) }).refine((l) => l.min <= l.max, { message: 'min must not exceed max', path: ['min'] })]);
const FaultRatesSchema = z.partialRecord(z.enum(FAULT_KINDS), z.number().min(0).max(1));

/** A partial fleet configuration, as `configure()` takes it. */
export const FleetConfigInputSchema = z.object({
  seed: z.int().optional(),
  latencyMs: LatencySchema.optional(),
  faults: FaultRatesSchema.optional(),
  offlineCommands: z.int().min(1).optional(),
});

/** The saved form of a whole fleet. */
export const FleetSnapshotSchema = z.object({
  version: z.literal(1),
  config: z.object({ seed: z.int(), latencyMs: LatencySchema, faults: FaultRatesSchema, offlineCommands: z.int().min(1) }),
  locks: z.array(StateSchema),
  log: z.array(LogEntrySchema),
});

// ---- device answers, as the HTTP transport receives them ----------------------------------------

/** A status answer. */
export const DeviceStatusSchema = z.object({
  online: z.boolean(),
  batteryPercent: z.number().nullable(),
  bolt: z.enum(['locked', 'unlocked', 'jammed', 'unknown']),
  firmware: z.string().nullable(),
  setupMode: z.boolean(),
  cloudBound: z.boolean().nullable(),
});

/** A credential read answer. */
export const ObservedCredentialsSchema = z.object({
  pins: z.array(PinSchema.extend({ code: z.string().nullable() })),
  controllers: z.array(ControllerSchema),
  digitalKeys: z.array(z.object({ id: z.string(), holder: z.string() })),
  biometrics: z.array(BiometricSchema),
});

/** A discovered device with its hub. */
export const DeviceInfoSchema = z.object({
  externalId: z.string(),
  manufacturer: z.string().nullable(),
  model: z.string().nullable(),
  label: z.string(),
  hub: z.string(),
});

const at = z.iso.datetime().transform((s) => new Date(s));
/** A device event as JSON (instants as ISO strings, revived to `Date`). */
export const WireEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('credentials_changed'), externalId: z.string(), at, bySelf: z.boolean().optional() }),
  z.object({ type: z.literal('pin_used'), externalId: z.string(), slot: z.int(), at }),
  z.object({ type: z.literal('bolt'), externalId: z.string(), bolt: z.enum(['locked', 'unlocked', 'jammed', 'unknown']), at }),
  z.object({ type: z.literal('reset_detected'), externalId: z.string(), at }),
  z.object({ type: z.literal('tamper'), externalId: z.string(), at }),
  z.object({ type: z.literal('online'), externalId: z.string(), online: z.boolean(), at }),
]);

/** An error body as the server sends it: `{ error: { code, message, details } }`. */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.object({ uncertain: z.boolean().optional(), slot: z.number().optional() }).loose().optional(),
  }),
});

/** Whether `code` is one of the driver contract's stable codes. */
export function isDriverErrorCode(code: string): code is (typeof DRIVER_ERROR_CODES)[number] {
  return (DRIVER_ERROR_CODES as readonly string[]).includes(code);
}

// ---- HTTP bodies --------------------------------------------------------------------------------

/** A PIN write's body (the slot is in the path). Code rules are the lock's to enforce, not the schema's. */
export const PinBodySchema = z.object({ code: z.string(), name: z.string().default(''), schedule: ScheduleSchema.default({ kind: 'always' }) });

/** Bodies of the out-of-band actions, by action name in the path. */
export const OUT_OF_BAND_BODIES = {
  'set-pin': z.object({ slot: z.int(), code: z.string(), name: z.string().default(''), schedule: ScheduleSchema.default({ kind: 'always' }) }),
  'clear-pin': z.object({ slot: z.int() }),
  'pair-controller': z.object({ label: z.string().min(1), kind: z.enum(['hub', 'phone', 'fabric']).default('phone') }),
  'remove-controller': z.object({ controllerId: z.string().min(1) }),
  'issue-digital-key': z.object({ holder: z.string().min(1) }),
  'enroll-biometric': z.object({ holder: z.string().min(1), kind: z.enum(['fingerprint', 'face']).default('fingerprint') }),
  'use-pin': z.object({ code: z.string() }),
  'turn-bolt': z.object({ target: z.enum(['locked', 'unlocked']) }),
  'set-battery': z.object({ percent: z.int().min(0).max(100) }),
  'remove-cloud-binding': z.object({}),
  'enroll-admin': z.object({ label: z.string().min(1) }),
  'pair-lockwarden': z.object({}),
} as const;
export type OutOfBandAction = keyof typeof OUT_OF_BAND_BODIES;
export type OutOfBandBody<A extends OutOfBandAction> = z.input<(typeof OUT_OF_BAND_BODIES)[A]>;

/** Bodies of the physical actions, by action name in the path. */
export const PHYSICAL_BODIES = {
  reset: z.object({ sequence: z.string().optional(), holdSeconds: z.number().min(0) }),
  'set-on-door': z.object({ onDoor: z.boolean() }),
  'set-door-aligned': z.object({ aligned: z.boolean() }),
  'block-reset': z.object({ reason: z.enum(RESET_BLOCKS).nullable() }),
  'mechanical-override': z.object({}),
} as const;
export type PhysicalAction = keyof typeof PHYSICAL_BODIES;
export type PhysicalBody<A extends PhysicalAction> = z.input<(typeof PHYSICAL_BODIES)[A]>;

/** Body that takes a lock off or onto its network. */
export const OnlineBodySchema = z.object({ online: z.boolean() });
/** Body that scripts a fault for a lock. */
export const FaultBodySchema = z.object({ kind: z.enum(FAULT_KINDS), count: z.int().min(0).default(1) });
/** The answer to a physical reset attempt. */
export const PhysicalResetResultSchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), reason: z.enum(PHYSICAL_RESET_REFUSALS) }),
]);
