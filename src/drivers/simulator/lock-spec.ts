/**
 * What a virtual lock is made of: the spec it is built from (one model of the catalogue, one device)
 * and the whole state it holds, as plain data that can be copied, saved and compared.
 */
import type { LockModel, ResetBehaviour } from '../../domain/lock-models.js';
import { createHash } from 'node:crypto';
import type { CredentialSchedule, DriverCapabilities, ObservedBiometric, ObservedController } from '../contract.js';

/** What a simulated lock declares itself; how it enrolls and unbinds is the simulator driver's own (`SIM_ENROLLMENT`). */
export type SimCapabilities = Omit<DriverCapabilities, 'enrollment' | 'cloudUnbind'>;

/** The controller id lockwarden pairs as; while it is paired (and the lock is out of setup mode) our commands work. */
export const LOCKWARDEN_CONTROLLER_ID = 'lockwarden';
/** The controller id under which a vendor cloud binding shows among the paired controllers. */
export const CLOUD_CONTROLLER_ID = 'cloud';

/** The anti-tamper gating of a physical factory reset (seed 000). */
export interface ResetGating {
  /** The button sequence the model requires, when it has one. */
  buttonSequence?: string;
  holdSeconds: number;
  batteryMinPercent: number;
  needsLockOffDoor: boolean;
}

/** Why a physical reset cannot happen at all, whatever the technician does. */
export const RESET_BLOCKS = ['battery_compartment_inaccessible', 'board_fault', 'damaged'] as const;
export type ResetBlock = (typeof RESET_BLOCKS)[number];

/** Every reason a physical reset attempt is refused. */
export const PHYSICAL_RESET_REFUSALS = ['wrong_sequence', 'hold_too_short', 'battery_low', 'still_on_door', ...RESET_BLOCKS] as const;
export type PhysicalResetRefusal = (typeof PHYSICAL_RESET_REFUSALS)[number];
export type PhysicalResetResult = { ok: true } | { ok: false; reason: PhysicalResetRefusal };

/** What the technician did at the lock: the sequence keyed in (if any) and how long the button was held. */
export interface ResetGesture {
  sequence?: string;
  holdSeconds: number;
}

/** How to build one virtual lock. */
export interface VirtualLockSpec {
  externalId: string;
  hub: string;
  manufacturer: string;
  model: string;
  capabilities: SimCapabilities;
  resetBehaviour: ResetBehaviour;
  gating: ResetGating;
  firmware: string | null;
  batteryPercent: number;
  mechanicalOverride: boolean;
  cloudBound: boolean;
}

/** A PIN in one slot, as the lock stores it. */
export interface SimPin {
  slot: number;
  code: string;
  name: string;
  schedule: CredentialSchedule;
  enabled: boolean;
}

/** A digital key; `storedOn: 'cloud'` keys outlive a local-only reset until the cloud binding goes. */
export interface SimDigitalKey {
  id: string;
  holder: string;
  storedOn: 'lock' | 'cloud';
}

/** Where the bolt is; `jammed` when it was thrown against a misaligned latch. */
export type BoltState = 'locked' | 'unlocked' | 'jammed';

/** The whole state of one virtual lock. */
export interface VirtualLockState {
  externalId: string;
  hub: string;
  manufacturer: string;
  model: string;
  capabilities: SimCapabilities;
  resetBehaviour: ResetBehaviour;
  gating: ResetGating;
  /** Sorted by slot. */
  pins: SimPin[];
  /** Paired controllers; the admin is the one(s) with `admin: true`; the cloud shows here while bound. */
  controllers: ObservedController[];
  digitalKeys: SimDigitalKey[];
  biometrics: ObservedBiometric[];
  cloudBound: boolean;
  /** Factory-fresh after a reset: waiting for an admin enrollment. */
  setupMode: boolean;
  firmware: string | null;
  batteryPercent: number;
  bolt: BoltState;
  onDoor: boolean;
  /** A misaligned door/latch leaves the bolt jammed when it is thrown. */
  doorAligned: boolean;
  mechanicalOverride: { present: boolean; timesUsed: number };
  online: boolean;
  resetBlocked: ResetBlock | null;
  /** A firmware fault: a reset erases but the lock does not return to setup mode. */
  setupModeFault: boolean;
  resetCount: number;
  /** Next number for ids the lock hands out (controllers, keys, biometrics), so ids are reproducible. */
  nextId: number;
}

/** The controller entry for lockwarden itself. */
export function lockwardenController(): ObservedController {
  return { id: LOCKWARDEN_CONTROLLER_ID, label: 'lockwarden', kind: 'hub', admin: true };
}

/** The controller entry a cloud binding shows as. */
export function cloudController(manufacturer: string): ObservedController {
  return { id: CLOUD_CONTROLLER_ID, label: `${manufacturer} cloud account`, kind: 'cloud', admin: false };
}

/** A factory-fresh lock as installed and paired with lockwarden (not in setup mode). */
export function initialState(spec: VirtualLockSpec): VirtualLockState {
  return {
    externalId: spec.externalId,
    hub: spec.hub,
    manufacturer: spec.manufacturer,
    model: spec.model,
    capabilities: structuredClone(spec.capabilities),
    resetBehaviour: spec.resetBehaviour,
    gating: { ...spec.gating },
    pins: [],
    controllers: [lockwardenController(), ...(spec.cloudBound ? [cloudController(spec.manufacturer)] : [])],
    digitalKeys: [],
    biometrics: [],
    cloudBound: spec.cloudBound,
    setupMode: false,
    firmware: spec.firmware,
    batteryPercent: spec.batteryPercent,
    bolt: 'locked',
    onDoor: true,
    doorAligned: true,
    mechanicalOverride: { present: spec.mechanicalOverride, timesUsed: 0 },
    online: true,
    resetBlocked: null,
    setupModeFault: false,
    resetCount: 0,
    nextId: 1,
  };
}

/** Builds a simulated device of a catalogue model, so the simulator behaves as the handbook says the model does. */
export function specFromModel(args: {
  externalId: string;
  hub: string;
  model: LockModel;
  firmware: string | null;
  batteryPercent: number | null;
}): VirtualLockSpec {
  const { model } = args;
  const caps = model.capabilities;
  const cloudBound = model.credentialStorage === 'cloud' || model.credentialStorage === 'split' || model.resetBehaviour === 'local_only_keeps_cloud';
  return {
    externalId: args.externalId,
    hub: args.hub,
    manufacturer: model.manufacturer,
    model: model.modelNumber,
    capabilities: {
      pin: { slots: caps.pinSlots, minLength: caps.pinLengthMin, maxLength: caps.pinLengthMax, alphabet: 'digits' },
      schedules: { window: caps.schedules, recurring: caps.schedules },
      digitalKeys: caps.digitalKeys,
      controllers: true,
      biometrics: caps.fingerprints,
      remoteLockUnlock: caps.remoteLockUnlock,
      remoteFactoryReset: caps.remoteReset,
      cloudBinding: cloudBound,
      events: true,
    },
    resetBehaviour: model.resetBehaviour,
    gating: {
      ...(model.gating.buttonSequence ? { buttonSequence: model.gating.buttonSequence } : {}),
      holdSeconds: model.gating.holdSeconds,
      batteryMinPercent: model.gating.batteryMinPercent,
      needsLockOffDoor: model.gating.needsLockOffDoor,
    },
    firmware: args.firmware,
    // A lock whose battery was never read is assumed healthy rather than blocking every reset.
    batteryPercent: args.batteryPercent ?? 100,
    mechanicalOverride: model.mechanicalOverride,
    cloudBound,
  };
}

/**
 * The hub a simulated device is reached through when nobody said otherwise: ten devices per hub by
 * the trailing number of the external id (`sim-0042` -> `sim-hub-4`), the same rule lockwarden's
 * runtime uses when it provisions simulated locks.
 */
export function conventionalSimHub(externalId: string): string {
  const n = Number(/(\d+)$/.exec(externalId)?.[1] ?? 0);
  return `sim-hub-${Math.floor(n / 10)}`;
}

/**
 * The setup code printed on a simulated lock's label (11 digits, like a Matter manual pairing code):
 * fixed per device, so the person reads it off the virtual panel as they would off the lock.
 */
export function simSetupCode(externalId: string): string {
  const h = createHash('sha256').update(`lockwarden-sim-setup|${externalId}`).digest();
  let out = '';
  for (let i = 0; out.length < 11; i++) out += String(h[i]! % 10);
  return `${out.slice(0, 4)}-${out.slice(4, 7)}-${out.slice(7)}`;
}

/** A typed setup code, spaces and dashes ignored. */
export function normaliseSetupCode(code: string): string {
  return code.replace(/[\s-]/g, '');
}
