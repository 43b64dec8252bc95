/**
 * Actions on simulated locks from outside lockwarden: a person at the keypad, another app, the
 * vendor account (`outOfBand`), and hands on the lock (`physical`). They create the drift that
 * reconciliation must find, and the situations a reset case must handle. None of them goes through
 * the network, so none suffers latency or faults; each applied one is logged like any change.
 */
import type { CredentialSchedule, ObservedBiometric, ObservedController } from '../contract.js';
import type { ChangeSource, SimLogOp } from './faults.js';
import type { PhysicalResetResult, ResetBlock, ResetGesture, SimDigitalKey } from './lock-spec.js';
import type { VirtualLock } from './virtual-lock.js';

/** What a change did: `op: null` when nothing was applied (a refused reset, a wrong code). */
export interface AppliedChange<T> {
  value: T;
  op: SimLogOp | null;
  slot?: number;
  controllerId?: string;
  detail?: string;
}

/** The part of the fleet the actions need: apply a logged change to one lock, and the time. */
export interface ActionHost {
  apply<T>(externalId: string, source: ChangeSource, fn: (lock: VirtualLock) => AppliedChange<T>): T;
  now(): Date;
}

/** Out-of-band actions (see `outOfBandActions`). */
export interface OutOfBandActions {
  setPin(externalId: string, slot: number, code: string, name?: string, schedule?: CredentialSchedule): void;
  clearPin(externalId: string, slot: number): void;
  pairController(externalId: string, label: string, kind?: Exclude<ObservedController['kind'], 'cloud'>): ObservedController;
  removeController(externalId: string, controllerId: string): void;
  issueDigitalKey(externalId: string, holder: string): SimDigitalKey;
  enrollBiometric(externalId: string, holder: string, kind?: ObservedBiometric['kind']): ObservedBiometric;
  /** Keys a code in at the door: the slot that opened the lock, or null. */
  usePin(externalId: string, code: string): number | null;
  turnBolt(externalId: string, target: 'locked' | 'unlocked'): void;
  setBattery(externalId: string, percent: number): void;
  /** The account-side step that a local-only reset leaves to do. */
  removeCloudBinding(externalId: string): void;
  enrollAdmin(externalId: string, label: string): ObservedController;
  /** Pairs lockwarden with the lock again (inclusion on the hub), so our commands work. */
  pairLockwarden(externalId: string): void;
}

/** Physical actions (see `physicalActions`). */
export interface PhysicalActions {
  /** A technician's factory reset, checked against the model's gating; refused attempts change nothing. */
  reset(externalId: string, gesture: ResetGesture): PhysicalResetResult;
  setOnDoor(externalId: string, onDoor: boolean): void;
  setDoorAligned(externalId: string, aligned: boolean): void;
  /** Makes resets impossible (damage, a board fault, a sealed battery compartment); null lifts the block. */
  blockReset(externalId: string, reason: ResetBlock | null): void;
  /** A firmware fault: resets still erase, but the lock does not return to setup mode (false lifts it). */
  failSetupMode(externalId: string, fails: boolean): void;
  useMechanicalOverride(externalId: string): void;
}

/** Builds the out-of-band actions over a fleet. */
export function outOfBandActions(host: ActionHost): OutOfBandActions {
  const act = <T>(externalId: string, fn: (lock: VirtualLock) => AppliedChange<T>): T => host.apply(externalId, 'out_of_band', fn);
  return {
    setPin: (externalId, slot, code, name = '', schedule = { kind: 'always' }) =>
      act(externalId, (lock) => {
        lock.setPin({ slot, code, name, schedule });
        return { op: 'set_pin', slot, value: undefined };
      }),
    clearPin: (externalId, slot) =>
      act(externalId, (lock) => {
        lock.clearPin(slot);
        return { op: 'clear_pin', slot, value: undefined };
      }),
    pairController: (externalId, label, kind = 'phone') =>
      act(externalId, (lock) => {
        const c = lock.pairController(label, kind);
        return { op: 'pair_controller', controllerId: c.id, value: c };
      }),
    removeController: (externalId, controllerId) =>
      act(externalId, (lock) => {
        lock.removeController(controllerId);
        return { op: 'remove_controller', controllerId, value: undefined };
      }),
    issueDigitalKey: (externalId, holder) =>
      act(externalId, (lock) => {
        const key = lock.issueDigitalKey(holder);
        return { op: 'issue_digital_key', detail: key.id, value: key };
      }),
    enrollBiometric: (externalId, holder, kind = 'fingerprint') =>
      act(externalId, (lock) => {
        const bio = lock.enrollBiometric(holder, kind);
        return { op: 'enroll_biometric', detail: bio.id, value: bio };
      }),
    usePin: (externalId, code) =>
      act(externalId, (lock) => {
        const slot = lock.usePin(code, host.now());
        return slot === null ? { op: null, value: null } : { op: 'use_pin', slot, value: slot };
      }),
    turnBolt: (externalId, target) =>
      act(externalId, (lock) => {
        lock.turnBolt(target);
        return { op: target === 'locked' ? 'lock' : 'unlock', detail: lock.status().bolt, value: undefined };
      }),
    setBattery: (externalId, percent) =>
      act(externalId, (lock) => {
        lock.setBattery(percent);
        return { op: 'set_battery', detail: String(percent), value: undefined };
      }),
    removeCloudBinding: (externalId) =>
      act(externalId, (lock) => {
        lock.removeCloudBinding();
        return { op: 'remove_cloud_binding', value: undefined };
      }),
    enrollAdmin: (externalId, label) =>
      act(externalId, (lock) => {
        const admin = lock.enrollAdmin(label);
        return { op: 'enroll_admin', controllerId: admin.id, value: admin };
      }),
    pairLockwarden: (externalId) =>
      act(externalId, (lock) => {
        lock.pairLockwarden();
        return { op: 'pair_lockwarden', controllerId: 'lockwarden', value: undefined };
      }),
  };
}

/** Builds the physical actions over a fleet. */
export function physicalActions(host: ActionHost): PhysicalActions {
  const act = <T>(externalId: string, fn: (lock: VirtualLock) => AppliedChange<T>): T => host.apply(externalId, 'physical', fn);
  return {
    reset: (externalId, gesture) =>
      act(externalId, (lock): AppliedChange<PhysicalResetResult> => {
        const result = lock.physicalReset(gesture);
        return result.ok ? { op: 'factory_reset', detail: lock.snapshot().resetBehaviour, value: result } : { op: null, value: result };
      }),
    setOnDoor: (externalId, onDoor) =>
      act(externalId, (lock) => {
        lock.setOnDoor(onDoor);
        return { op: 'set_on_door', detail: onDoor ? 'on' : 'off', value: undefined };
      }),
    setDoorAligned: (externalId, aligned) =>
      act(externalId, (lock) => {
        lock.setDoorAligned(aligned);
        return { op: 'set_door_aligned', detail: aligned ? 'aligned' : 'misaligned', value: undefined };
      }),
    blockReset: (externalId, reason) =>
      act(externalId, (lock) => {
        lock.blockReset(reason);
        return { op: 'block_reset', detail: reason ?? 'unblocked', value: undefined };
      }),
    failSetupMode: (externalId, fails) =>
      act(externalId, (lock) => {
        lock.setSetupModeFault(fails);
        return { op: 'set_setup_mode_fault', detail: fails ? 'on' : 'off', value: undefined };
      }),
    useMechanicalOverride: (externalId) =>
      act(externalId, (lock) => {
        lock.useMechanicalOverride();
        return { op: 'mechanical_override', value: undefined };
      }),
  };
}
