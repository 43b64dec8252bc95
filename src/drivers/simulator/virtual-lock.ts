/**
 * One virtual lock: its state and the rules the lock itself enforces (PIN format and slots,
 * duplicates, schedules it can run, refusing us in setup mode), its physical reset gating and the
 * three reset variants of seed 000. No I/O, no clock, no randomness: the fleet around it supplies
 * time, latency and faults, and every method either changes the state completely or not at all.
 */
import { DriverError, WEEKDAYS, type CredentialSchedule, type DeviceStatus, type ObservedBiometric, type ObservedController, type ObservedCredentials, type PinWrite } from '../contract.js';
import {
  CLOUD_CONTROLLER_ID,
  LOCKWARDEN_CONTROLLER_ID,
  cloudController,
  initialState,
  lockwardenController,
  normaliseSetupCode,
  simSetupCode,
  type PhysicalResetResult,
  type ResetBlock,
  type ResetGesture,
  type SimDigitalKey,
  type VirtualLockSpec,
  type VirtualLockState,
} from './lock-spec.js';

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** A simulated lock; the fleet owns one per device and is the only caller that mutates it. */
export class VirtualLock {
  private readonly s: VirtualLockState;

  constructor(state: VirtualLockState) {
    this.s = structuredClone(state);
  }

  /** A lock as installed: paired with lockwarden, no credentials yet. */
  static fromSpec(spec: VirtualLockSpec): VirtualLock {
    return new VirtualLock(initialState(spec));
  }

  get externalId(): string {
    return this.s.externalId;
  }

  get hub(): string {
    return this.s.hub;
  }

  get online(): boolean {
    return this.s.online;
  }

  /** A deep copy, so callers can inspect without reaching into the lock. */
  snapshot(): VirtualLockState {
    return structuredClone(this.s);
  }

  // ---- what lockwarden sees -------------------------------------------------------------------

  /** Whether the lock takes commands from us: we are paired and it is not waiting for enrollment. */
  acceptsLockwarden(): boolean {
    return !this.s.setupMode && this.s.controllers.some((c) => c.id === LOCKWARDEN_CONTROLLER_ID);
  }

  /** Throws `driver.refused` when the lock no longer takes our commands (after a reset, or unpaired). */
  requireLockwarden(): void {
    if (this.s.setupMode) throw new DriverError('driver.refused', `${this.s.externalId} is in setup mode after its reset: enroll it with lockwarden again`);
    if (!this.acceptsLockwarden()) throw new DriverError('driver.refused', `${this.s.externalId} is no longer paired with lockwarden`);
  }

  /** Everything credential-like, as a read would report it. */
  credentials(): ObservedCredentials {
    return {
      pins: this.s.pins.map((p) => ({ ...p, schedule: structuredClone(p.schedule) })),
      controllers: this.s.controllers.map((c) => (c.id === LOCKWARDEN_CONTROLLER_ID ? { ...c, self: true } : { ...c })),
      digitalKeys: this.s.digitalKeys.map(({ id, holder }) => ({ id, holder })),
      biometrics: this.s.biometrics.map((b) => ({ ...b })),
    };
  }

  /** Health and physical state, as a status read would report it. */
  status(): DeviceStatus {
    return {
      online: this.s.online,
      batteryPercent: this.s.batteryPercent,
      bolt: this.s.bolt,
      firmware: this.s.firmware,
      setupMode: this.s.setupMode,
      cloudBound: this.s.cloudBound,
    };
  }

  // ---- PINs ----------------------------------------------------------------------------------

  /** Throws the error the lock would answer a write with; nothing is changed either way. */
  checkPin(write: PinWrite): void {
    const pin = this.s.capabilities.pin;
    if (pin.slots === 0) throw new DriverError('driver.slot_full', `${this.s.externalId} takes no PINs`, { slot: write.slot });
    this.checkSlot(write.slot);
    if (!/^\d+$/.test(write.code)) throw new DriverError('driver.invalid_pin', 'a PIN is digits only', { slot: write.slot });
    if (write.code.length < pin.minLength || write.code.length > pin.maxLength) {
      throw new DriverError('driver.invalid_pin', `a PIN has ${pin.minLength} to ${pin.maxLength} digits`, { slot: write.slot });
    }
    this.checkSchedule(write.schedule, write.slot);
    const other = this.s.pins.find((p) => p.slot !== write.slot && p.code === write.code);
    if (other) throw new DriverError('driver.duplicate_pin', `slot ${other.slot} already holds this code`, { slot: write.slot });
  }

  /**
   * Writes a PIN into its slot, replacing what the slot held. `partial` stores the code but neither
   * the schedule nor the enabled flag, as a lock does when a multi-frame write is cut short.
   */
  setPin(write: PinWrite, opts: { partial?: boolean } = {}): void {
    this.checkPin(write);
    const previous = this.s.pins.find((p) => p.slot === write.slot);
    const pin = opts.partial
      ? { slot: write.slot, code: write.code, name: write.name, schedule: previous?.schedule ?? { kind: 'always' as const }, enabled: false }
      : { slot: write.slot, code: write.code, name: write.name, schedule: structuredClone(write.schedule), enabled: true };
    this.s.pins = [...this.s.pins.filter((p) => p.slot !== write.slot), pin].sort((a, b) => a.slot - b.slot);
  }

  /** Empties a slot; an empty slot stays empty and that is not an error. */
  clearPin(slot: number): void {
    if (this.s.capabilities.pin.slots === 0) throw new DriverError('driver.not_supported', `${this.s.externalId} takes no PINs`, { slot });
    this.checkSlot(slot);
    this.s.pins = this.s.pins.filter((p) => p.slot !== slot);
  }

  /** A code keyed in at the door: the slot that opened the lock, or null for a wrong or out-of-schedule code. */
  usePin(code: string, at: Date): number | null {
    const pin = this.s.pins.find((p) => p.code === code && p.enabled && scheduleAllows(p.schedule, at));
    if (!pin) return null;
    this.s.bolt = 'unlocked';
    return pin.slot;
  }

  private checkSlot(slot: number): void {
    const slots = this.s.capabilities.pin.slots;
    if (!Number.isInteger(slot) || slot < 1 || slot > slots) throw new DriverError('driver.invalid_pin', `slot ${slot} is outside 1..${slots}`, { slot });
  }

  private checkSchedule(schedule: CredentialSchedule, slot: number): void {
    const can = this.s.capabilities.schedules;
    if (schedule.kind === 'window') {
      if (!can.window) throw new DriverError('driver.not_supported', `${this.s.externalId} cannot limit a PIN to a time window`, { slot });
      const from = Date.parse(schedule.from);
      const until = Date.parse(schedule.until);
      if (Number.isNaN(from) || Number.isNaN(until) || from >= until) throw new DriverError('driver.invalid_pin', 'the time window must end after it starts', { slot });
    } else if (schedule.kind === 'recurring') {
      if (!can.recurring) throw new DriverError('driver.not_supported', `${this.s.externalId} cannot run recurring PIN schedules`, { slot });
      const daysOk = schedule.days.length > 0 && schedule.days.every((d) => WEEKDAYS.includes(d));
      if (!daysOk || !HH_MM.test(schedule.start) || !HH_MM.test(schedule.end) || schedule.end <= schedule.start) {
        throw new DriverError('driver.invalid_pin', 'a recurring schedule needs weekdays and an end time after its start (HH:MM)', { slot });
      }
    }
  }

  // ---- controllers, keys, biometrics, admin, cloud ------------------------------------------

  /** Pairs another controller (a phone app, another hub), as someone would from outside lockwarden. */
  pairController(label: string, kind: ObservedController['kind']): ObservedController {
    if (!this.s.capabilities.controllers) throw new DriverError('driver.not_supported', `${this.s.externalId} does not list controllers`);
    if (kind === 'cloud') throw new DriverError('driver.refused', 'a cloud binding is made on the vendor account, not paired at the lock');
    const controller: ObservedController = { id: this.newId('ctl'), label, kind, admin: false };
    this.s.controllers.push(controller);
    return controller;
  }

  /** Unpairs a controller (lockwarden's own too: someone at the lock may). The cloud can only be unbound on the account. */
  removeController(controllerId: string): void {
    if (!this.s.capabilities.controllers) throw new DriverError('driver.not_supported', `${this.s.externalId} does not list controllers`);
    if (!this.s.controllers.some((c) => c.id === controllerId)) throw new DriverError('driver.unknown_device', `${this.s.externalId} has no controller ${controllerId}`);
    if (controllerId === CLOUD_CONTROLLER_ID && this.s.cloudBound) {
      throw new DriverError('driver.refused', 'the cloud binding is removed on the vendor account, not at the lock');
    }
    this.s.controllers = this.s.controllers.filter((c) => c.id !== controllerId);
  }

  /** Issues a digital key; with a cloud binding the key lives in the cloud. */
  issueDigitalKey(holder: string): SimDigitalKey {
    if (!this.s.capabilities.digitalKeys) throw new DriverError('driver.not_supported', `${this.s.externalId} takes no digital keys`);
    const key: SimDigitalKey = { id: this.newId('key'), holder, storedOn: this.s.cloudBound ? 'cloud' : 'lock' };
    this.s.digitalKeys.push(key);
    return { ...key };
  }

  /** Enrolls a fingerprint or face; only a reference is kept. */
  enrollBiometric(holder: string, kind: ObservedBiometric['kind']): ObservedBiometric {
    if (!this.s.capabilities.biometrics) throw new DriverError('driver.not_supported', `${this.s.externalId} takes no biometrics`);
    const bio: ObservedBiometric = { id: this.newId('bio'), holder, kind };
    this.s.biometrics.push(bio);
    return { ...bio };
  }

  /** The account-side step of a reset: the cloud lets go of the lock and of the keys it held. */
  removeCloudBinding(): void {
    this.s.cloudBound = false;
    this.s.controllers = this.s.controllers.filter((c) => c.id !== CLOUD_CONTROLLER_ID);
    this.s.digitalKeys = this.s.digitalKeys.filter((k) => k.storedOn !== 'cloud');
  }

  /** A new admin enrolls on a lock in setup mode, which ends setup mode. */
  enrollAdmin(label: string): ObservedController {
    if (!this.s.setupMode) throw new DriverError('driver.refused', `${this.s.externalId} already has an admin; enroll from the admin's app`);
    const admin: ObservedController = { id: this.newId('admin'), label, kind: 'phone', admin: true };
    this.s.controllers.push(admin);
    this.s.setupMode = false;
    return { ...admin };
  }

  /**
   * Lockwarden enrolls the lock again with the setup code from its label, as a controller includes a
   * factory-fresh device: only while lockwarden is not paired, and only from setup mode or once the
   * vendor app's admin opened pairing. Lockwarden becomes an admin; setup mode ends. Enrolling again
   * once lockwarden is enrolled changes nothing and answers as enrolled: an enrollment whose
   * acknowledgement was lost, tried again, is not refused.
   */
  enrollLockwarden(code: string): void {
    if (normaliseSetupCode(code) !== normaliseSetupCode(simSetupCode(this.s.externalId))) throw new DriverError('driver.invalid_code', 'the setup code does not match this lock\'s label');
    if (this.s.controllers.some((c) => c.id === LOCKWARDEN_CONTROLLER_ID)) return;
    if (!this.s.setupMode && !this.s.controllers.some((c) => c.admin)) {
      throw new DriverError('driver.refused', `${this.s.externalId} is not in setup mode, so it does not accept a new enrollment: repeat the reset`);
    }
    this.pairLockwarden();
  }

  /** Pairs lockwarden again (after a reset, or after being removed), which also ends setup mode. */
  pairLockwarden(): void {
    if (!this.s.controllers.some((c) => c.id === LOCKWARDEN_CONTROLLER_ID)) this.s.controllers.unshift(lockwardenController());
    this.s.setupMode = false;
  }

  private newId(prefix: string): string {
    return `${prefix}-${this.s.nextId++}`;
  }

  // ---- bolt ----------------------------------------------------------------------------------

  /** Locks on lockwarden's command, where the lock takes remote commands. */
  remoteLock(): void {
    this.requireRemoteBolt();
    this.turnBolt('locked');
  }

  /** Unlocks on lockwarden's command, where the lock takes remote commands. */
  remoteUnlock(): void {
    this.requireRemoteBolt();
    this.turnBolt('unlocked');
  }

  /** Throws the bolt by hand, from the app or by the motor; a misaligned latch jams it. */
  turnBolt(target: 'locked' | 'unlocked'): void {
    this.s.bolt = target === 'locked' && !this.s.doorAligned ? 'jammed' : target;
  }

  /** Opens the lock with the mechanical key; a lock without an override cannot be opened this way. */
  useMechanicalOverride(): void {
    if (!this.s.mechanicalOverride.present) throw new DriverError('driver.not_supported', `${this.s.externalId} has no mechanical override`);
    this.s.mechanicalOverride.timesUsed++;
    this.s.bolt = 'unlocked';
  }

  private requireRemoteBolt(): void {
    if (!this.s.capabilities.remoteLockUnlock) throw new DriverError('driver.not_supported', `${this.s.externalId} cannot be locked or unlocked remotely`);
  }

  // ---- physical condition --------------------------------------------------------------------

  /** Sets the battery level (a drained battery blocks resets below the model's minimum). */
  setBattery(percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError('battery percent is an integer 0..100');
    this.s.batteryPercent = percent;
  }

  /** Takes the lock off the door (needed by some models to reach the reset button) or mounts it again. */
  setOnDoor(onDoor: boolean): void {
    this.s.onDoor = onDoor;
  }

  /** Marks the door/latch aligned or not; misalignment jams the bolt when it is thrown. */
  setDoorAligned(aligned: boolean): void {
    this.s.doorAligned = aligned;
  }

  /** Makes physical resets impossible for a reason no gesture overcomes. */
  blockReset(reason: ResetBlock | null): void {
    this.s.resetBlocked = reason;
  }

  /** A firmware fault that keeps the lock out of setup mode after a reset (it still erases). */
  setSetupModeFault(fails: boolean): void {
    this.s.setupModeFault = fails;
  }

  /** Sets whether the lock answers on its network. */
  setOnline(online: boolean): void {
    this.s.online = online;
  }

  // ---- factory reset -------------------------------------------------------------------------

  /** A factory reset from lockwarden, where the lock supports one; same result as a physical reset. */
  remoteFactoryReset(): void {
    if (!this.s.capabilities.remoteFactoryReset) throw new DriverError('driver.not_supported', `${this.s.externalId} cannot be factory reset remotely`);
    this.erase();
  }

  /** A technician's reset at the lock, checked against the model's gating; a refused attempt changes nothing. */
  physicalReset(gesture: ResetGesture): PhysicalResetResult {
    const refusal = this.gatingRefusal(gesture);
    if (refusal) return { ok: false, reason: refusal };
    this.erase();
    return { ok: true };
  }

  private gatingRefusal(gesture: ResetGesture): Exclude<PhysicalResetResult, { ok: true }>['reason'] | null {
    const g = this.s.gating;
    if (this.s.resetBlocked) return this.s.resetBlocked;
    if (g.needsLockOffDoor && this.s.onDoor) return 'still_on_door';
    if (this.s.batteryPercent < g.batteryMinPercent) return 'battery_low';
    if (g.buttonSequence && normaliseSequence(gesture.sequence ?? '') !== normaliseSequence(g.buttonSequence)) return 'wrong_sequence';
    if (!(gesture.holdSeconds >= g.holdSeconds)) return 'hold_too_short';
    return null;
  }

  /** What a factory reset erases depends on where the model keeps each kind of trust (seed 000). */
  private erase(): void {
    const s = this.s;
    s.pins = [];
    s.setupMode = !s.setupModeFault;
    s.resetCount++;
    switch (s.resetBehaviour) {
      case 'local_only_keeps_cloud':
        // Local trust goes; the account keeps the lock and its cloud-held keys until unbound there.
        s.controllers = s.cloudBound ? [cloudController(s.manufacturer)] : [];
        s.digitalKeys = s.digitalKeys.filter((k) => k.storedOn === 'cloud' && s.cloudBound);
        s.biometrics = [];
        break;
      case 'full_trust_anchor_erase':
        s.controllers = [];
        s.digitalKeys = [];
        s.biometrics = [];
        s.cloudBound = false;
        break;
      case 'split':
        // The controller/cloud side keeps its part; only the lock's own store is wiped.
        s.controllers = s.controllers.filter((c) => c.kind === 'cloud');
        break;
    }
  }
}

function normaliseSequence(sequence: string): string {
  return sequence.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** Whether a schedule lets a PIN open the lock at `at` (the simulator's lock-local time is UTC). */
export function scheduleAllows(schedule: CredentialSchedule, at: Date): boolean {
  if (schedule.kind === 'always') return true;
  if (schedule.kind === 'window') return at.getTime() >= Date.parse(schedule.from) && at.getTime() < Date.parse(schedule.until);
  const day = WEEKDAYS[(at.getUTCDay() + 6) % 7];
  const hhmm = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
  return day !== undefined && schedule.days.includes(day) && hhmm >= schedule.start && hhmm < schedule.end;
}
