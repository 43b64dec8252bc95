/**
 * `SimFleet`: virtual locks plus what makes them a device network — latency, seeded and scripted
 * faults, events, out-of-band and physical actions that create drift, and an exact log of every
 * applied change. Independent of any database; saved to and restored from one JSON document.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { systemClock, type Clock } from '../../domain/clock.js';
import { DriverError, type DeviceStatus, type DriverEvent, type EnrolledDevice, type ObservedCredentials, type PinWrite } from '../contract.js';
import { outOfBandActions, physicalActions, type AppliedChange, type OutOfBandActions, type PhysicalActions } from './fleet-actions.js';
import { CREDENTIAL_OPS, faultApplies, type ChangeSource, type FaultKind, type SimCommand, type SimFleetConfig, type SimLogEntry, type SimLogOp } from './faults.js';
import { LOCKWARDEN_CONTROLLER_ID, normaliseSetupCode, simSetupCode, type SimCapabilities, type VirtualLockSpec, type VirtualLockState } from './lock-spec.js';
import { ScriptedFaults, SimNetwork } from './network.js';
import { SimPanels } from './panel.js';
import { FleetSnapshotSchema } from './schemas.js';
import { VirtualLock } from './virtual-lock.js';

/** A device as discovery reports it, with the hub it is reached through. */
export interface SimDeviceInfo {
  externalId: string;
  manufacturer: string;
  model: string;
  label: string;
  hub: string;
}

/** Everything a fleet needs from outside: time, waiting and the first seed. */
export interface SimFleetOptions {
  clock?: Clock;
  /** How commands wait out their latency; tests pass a fake or use latency 0. */
  sleep?: (ms: number) => Promise<void>;
  config?: Partial<SimFleetConfig>;
}

/** The saved form of a fleet. */
export interface SimFleetSnapshot {
  version: 1;
  config: SimFleetConfig;
  locks: VirtualLockState[];
  log: SimLogEntry[];
}

interface Device {
  lock: VirtualLock;
  /** Credentials as they were before the latest credential change: what a stale read returns. */
  before: ObservedCredentials | null;
  scripted: ScriptedFaults;
  /** Commands left before an `offline` fault ends; null: offline until `setOnline(true)`. */
  offlineLeft: number | null;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A simulated fleet of locks behind simulated hubs. */
export class SimFleet {
  private readonly devices = new Map<string, Device>();
  private readonly entries: SimLogEntry[] = [];
  private readonly listeners = new Set<(event: DriverEvent) => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly network: SimNetwork;
  /** Acting on a lock as a person at the door or another app would, creating drift. */
  readonly outOfBand: OutOfBandActions;
  /** Hands on the lock: resets, taking it off the door, blocking resets, the mechanical key. */
  readonly physical: PhysicalActions;
  /** The virtual front panels: a person's hands on each lock, through `physical` and `outOfBand`. */
  readonly panel: SimPanels;

  constructor(opts: SimFleetOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? realSleep;
    this.network = new SimNetwork(opts.config);
    const host = { apply: this.apply.bind(this), now: () => this.clock.now() };
    this.outOfBand = outOfBandActions(host);
    this.physical = physicalActions(host);
    this.panel = new SimPanels({
      clock: this.clock,
      get: (externalId) => this.get(externalId),
      physical: this.physical,
      outOfBand: this.outOfBand,
      // Swapping batteries is hands on the lock, not another app: logged as physical.
      setBattery: (externalId, percent) =>
        this.apply(externalId, 'physical', (lock) => {
          lock.setBattery(percent);
          return { op: 'set_battery', detail: String(percent), value: undefined };
        }),
    });
  }

  // ---- configuration and faults ---------------------------------------------------------------

  /** Changes latency and fault rates (given `faults` replace the previous rates); a new `seed` restarts the random sequence. */
  configure(config: Partial<SimFleetConfig>): void {
    this.network.configure(config);
    this.changed();
  }

  /** The current configuration. */
  currentConfig(): SimFleetConfig {
    return this.network.current();
  }

  /**
   * Makes the next `count` commands to a lock fail as `kind` (each waits for a command it can hit).
   * `offline` takes the lock offline now for the next `count` commands. `count = 0` clears that kind.
   */
  injectFault(externalId: string, kind: FaultKind, count = 1): void {
    const d = this.device(externalId);
    if (kind === 'offline') {
      if (count > 0) this.goOffline(d, count);
      else this.setOnline(externalId, true);
      return;
    }
    d.scripted.inject(kind, count);
  }

  /** Takes a lock off or back onto its network; offline by hand lasts until it is set online again. */
  setOnline(externalId: string, online: boolean): void {
    const d = this.device(externalId);
    if (online) {
      d.offlineLeft = null;
      if (!d.lock.online) this.flipOnline(d, true);
    } else if (d.lock.online) {
      d.offlineLeft = null;
      this.flipOnline(d, false);
    }
  }

  // ---- the fleet's devices ------------------------------------------------------------------

  /** Adds a lock; a lock that already exists is kept exactly as it is. */
  provision(spec: VirtualLockSpec): VirtualLockState {
    if (!this.devices.has(spec.externalId)) {
      this.devices.set(spec.externalId, { lock: VirtualLock.fromSpec(spec), before: null, scripted: new ScriptedFaults(), offlineLeft: null });
      this.record(spec.externalId, 'physical', { op: 'provision', value: undefined });
    }
    return this.get(spec.externalId);
  }

  /** Takes a lock out of the fleet; false when there was none. */
  remove(externalId: string): boolean {
    if (!this.devices.delete(externalId)) return false;
    this.panel.forget(externalId);
    this.record(externalId, 'physical', { op: 'remove', value: undefined });
    return true;
  }

  /** Whether the fleet has this lock. */
  has(externalId: string): boolean {
    return this.devices.has(externalId);
  }

  /** A deep copy of a lock's whole state, for inspection. */
  get(externalId: string): VirtualLockState {
    return this.device(externalId).lock.snapshot();
  }

  /** The hub a lock is reached through. */
  hubOf(externalId: string): string {
    return this.device(externalId).lock.hub;
  }

  /** Every lock, as discovery sees it. */
  discover(): SimDeviceInfo[] {
    return [...this.devices.values()].map(({ lock }) => {
      const s = lock.snapshot();
      return { externalId: s.externalId, manufacturer: s.manufacturer, model: s.model, label: `${s.manufacturer} ${s.model} (${s.externalId})`, hub: s.hub };
    });
  }

  /** The append-only log of applied changes (read-only view of the live array). */
  get log(): readonly SimLogEntry[] {
    return this.entries;
  }

  /** Log entries after `seq`. */
  logSince(seq: number): SimLogEntry[] {
    return this.entries.filter((e) => e.seq > seq);
  }

  /** Subscribes to device events; returns the unsubscribe function. */
  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Subscribes to "something about the fleet changed" (used to save it); returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  // ---- commands from lockwarden (through a driver) -------------------------------------------

  /** Declared capabilities: known to the hub from pairing, so no latency and no faults. */
  async capabilities(externalId: string): Promise<SimCapabilities> {
    return this.device(externalId).lock.snapshot().capabilities;
  }

  /** Reads health and physical state; an offline lock reports `online: false` rather than failing. */
  async status(externalId: string): Promise<DeviceStatus> {
    return this.command(externalId, 'status', (d) => d.lock.status(), (d) => ({ ...d.lock.status(), online: false }));
  }

  /** Reads every credential; a `stale_read` returns the state before the latest change. */
  async readCredentials(externalId: string): Promise<ObservedCredentials> {
    return this.command(externalId, 'read_credentials', (d, fault) => {
      d.lock.requireLockwarden();
      return fault === 'stale_read' && d.before ? structuredClone(d.before) : d.lock.credentials();
    });
  }

  /** Writes a PIN into its slot; `partial` stores the code only and reports a timeout. */
  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    await this.command(externalId, 'set_pin', (d, fault) =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        lock.setPin(pin, { partial: fault === 'partial' });
        // Which code was written, as a tag (so a log reader can tell two writes of one slot apart without the code).
        return { op: 'set_pin', slot: pin.slot, value: undefined, detail: pinTag(externalId, pin.slot, pin.code) };
      }),
    );
  }

  /** Empties a slot. */
  async clearPin(externalId: string, slot: number): Promise<void> {
    await this.command(externalId, 'clear_pin', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        lock.clearPin(slot);
        return { op: 'clear_pin', slot, value: undefined };
      }),
    );
  }

  /** Unpairs a controller; lockwarden does not unpair itself (that would lose the lock). */
  async removeController(externalId: string, controllerId: string): Promise<void> {
    await this.command(externalId, 'remove_controller', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        if (controllerId === LOCKWARDEN_CONTROLLER_ID) throw new DriverError('driver.refused', "removing lockwarden's own pairing would lose the lock; use a factory reset case instead");
        lock.removeController(controllerId);
        return { op: 'remove_controller', controllerId, value: undefined };
      }),
    );
  }

  /** Throws the bolt remotely. */
  async lock(externalId: string): Promise<void> {
    await this.command(externalId, 'lock', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        lock.remoteLock();
        return { op: 'lock', value: undefined, detail: lock.status().bolt };
      }),
    );
  }

  /** Withdraws the bolt remotely. */
  async unlock(externalId: string): Promise<void> {
    await this.command(externalId, 'unlock', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        lock.remoteUnlock();
        return { op: 'unlock', value: undefined };
      }),
    );
  }

  /** Factory reset from lockwarden, where the model allows it. */
  async factoryReset(externalId: string): Promise<void> {
    await this.command(externalId, 'factory_reset', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.requireLockwarden();
        lock.remoteFactoryReset();
        return { op: 'factory_reset', value: undefined, detail: lock.snapshot().resetBehaviour };
      }),
    );
  }

  /**
   * Enrolls the lock whose label carries `code` (a lock in setup mode answers to its setup code, as
   * a factory-fresh device answers a controller's inclusion). A code no lock carries is
   * `driver.invalid_code`; the lock itself refuses when it is not ready for a new enrollment.
   */
  async enroll(code: string): Promise<EnrolledDevice> {
    const wanted = normaliseSetupCode(code);
    const d = [...this.devices.values()].find(({ lock }) => normaliseSetupCode(simSetupCode(lock.externalId)) === wanted);
    if (!d) throw new DriverError('driver.invalid_code', 'no simulated lock carries this setup code: check the code on the lock\'s label');
    const externalId = d.lock.externalId;
    await this.command(externalId, 'status', () =>
      this.apply(externalId, 'driver', (lock) => {
        lock.enrollLockwarden(code);
        return { op: 'pair_lockwarden', controllerId: LOCKWARDEN_CONTROLLER_ID, value: undefined };
      }),
    );
    const s = d.lock.snapshot();
    return { externalId, manufacturer: s.manufacturer, model: s.model, serial: null };
  }

  /** The vendor account lets go of the lock (no pairing with lockwarden needed: it is the account's side). */
  async unbindCloud(externalId: string): Promise<void> {
    await this.command(externalId, 'status', () =>
      this.apply(externalId, 'driver', (lock) => {
        if (!lock.snapshot().capabilities.cloudBinding) throw new DriverError('driver.not_supported', `${externalId} has no vendor cloud account`);
        lock.removeCloudBinding();
        return { op: 'remove_cloud_binding', value: undefined };
      }),
    );
  }

  // ---- persistence ---------------------------------------------------------------------------

  /** The whole fleet as JSON-ready data (locks, configuration, log). */
  toJSON(): SimFleetSnapshot {
    return { version: 1, config: this.currentConfig(), locks: [...this.devices.values()].map((d) => d.lock.snapshot()), log: [...this.entries] };
  }

  /** Restores a fleet saved by `toJSON`; the rng restarts from the saved seed. */
  static fromJSON(json: unknown, opts: Omit<SimFleetOptions, 'config'> = {}): SimFleet {
    const snap = FleetSnapshotSchema.parse(json);
    const fleet = new SimFleet({ ...opts, config: snap.config });
    for (const state of snap.locks) fleet.devices.set(state.externalId, { lock: new VirtualLock(state), before: null, scripted: new ScriptedFaults(), offlineLeft: null });
    fleet.entries.push(...snap.log);
    return fleet;
  }

  /** Opens a saved fleet, or an empty one when the file does not exist yet. */
  static load(file: string, opts: Omit<SimFleetOptions, 'config'> = {}): SimFleet {
    if (!existsSync(file)) return new SimFleet(opts);
    return SimFleet.fromJSON(JSON.parse(readFileSync(file, 'utf8')), opts);
  }

  /** Saves the fleet; written beside and renamed so a crash never leaves half a file. */
  save(file: string): void {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.toJSON()));
    renameSync(tmp, file);
  }

  // ---- internals -----------------------------------------------------------------------------

  private device(externalId: string): Device {
    const d = this.devices.get(externalId);
    if (!d) throw new DriverError('driver.unknown_device', `no simulated lock ${externalId}`);
    return d;
  }

  /**
   * Runs one command as the network would: latency, then the fault the lock suffers (if any), then
   * the lock's own answer. Random draws happen before waiting, a fixed number per command, so the
   * same seed and the same commands give the same outcomes whatever the timing.
   */
  private async command<T>(
    externalId: string,
    command: SimCommand,
    body: (d: Device, fault: FaultKind | null) => T,
    whenOffline?: (d: Device) => T,
  ): Promise<T> {
    this.device(externalId);
    const { latencyMs, faults: drawn } = this.network.draw();
    if (latencyMs > 0) await this.sleep(latencyMs);
    const d = this.device(externalId);
    if (!d.lock.online || drawn.includes('offline')) {
      if (d.lock.online) this.goOffline(d, this.network.offlineCommands);
      const answer = whenOffline?.(d);
      this.countOfflineCommand(d);
      if (answer !== undefined) return answer;
      throw new DriverError('driver.unreachable', `${externalId} does not answer`);
    }
    const fault = d.scripted.take(command) ?? drawn.find((k) => k !== 'offline' && faultApplies(k, command)) ?? null;
    if (fault === 'busy') throw new DriverError('driver.busy', `${externalId} is busy`);
    if (fault === 'timeout') throw new DriverError('driver.timeout', `${externalId} did not answer in time`, { uncertain: true });
    const seqBefore = this.entries.length;
    if (fault === 'lost_ack' || fault === 'partial') {
      try {
        body(d, fault);
      } catch {
        // The answer, refusal or not, is what got lost.
      }
      throw new DriverError('driver.timeout', `${externalId} did not acknowledge in time`, { uncertain: true });
    }
    const value = body(d, fault);
    if (fault === 'duplicate_ack') for (const e of this.entries.slice(seqBefore)) this.emitFor(e);
    return value;
  }

  private goOffline(d: Device, commands: number): void {
    d.offlineLeft = commands;
    if (d.lock.online) this.flipOnline(d, false);
  }

  private countOfflineCommand(d: Device): void {
    if (d.offlineLeft === null) return;
    if (--d.offlineLeft <= 0) {
      d.offlineLeft = null;
      this.flipOnline(d, true);
    }
  }

  private flipOnline(d: Device, online: boolean): void {
    d.lock.setOnline(online);
    this.emit({ type: 'online', externalId: d.lock.externalId, online, at: this.clock.now() });
    this.changed();
  }

  /**
   * Applies one change to a lock: `fn` either changes the lock completely and says what it did, or
   * throws and changes nothing. Applied changes are logged and reported as events.
   */
  private apply<T>(externalId: string, source: ChangeSource, fn: (lock: VirtualLock) => AppliedChange<T>): T {
    const d = this.device(externalId);
    const before = d.lock.credentials();
    const change = fn(d.lock);
    if (change.op === null) return change.value;
    const op = change.op;
    if (CREDENTIAL_OPS.has(op)) d.before = before;
    this.record(externalId, source, { ...change, op });
    return change.value;
  }

  private record(externalId: string, source: ChangeSource, change: AppliedChange<unknown> & { op: SimLogOp }): void {
    const entry: SimLogEntry = { seq: this.entries.length + 1, at: this.clock.now().toISOString(), externalId, op: change.op, source };
    if (change.slot !== undefined) entry.slot = change.slot;
    if (change.controllerId !== undefined) entry.controllerId = change.controllerId;
    if (change.detail !== undefined) entry.detail = change.detail;
    this.entries.push(entry);
    this.emitFor(entry);
    this.changed();
  }

  /** The events a lock sends for an applied change; an offline lock tells nobody (it says `online` when back). */
  private emitFor(entry: SimLogEntry): void {
    const d = this.devices.get(entry.externalId);
    if (d && !d.lock.online) return;
    const at = new Date(entry.at);
    const externalId = entry.externalId;
    if (entry.op === 'factory_reset') this.emit({ type: 'reset_detected', externalId, at });
    else if (CREDENTIAL_OPS.has(entry.op)) this.emit({ type: 'credentials_changed', externalId, at, bySelf: entry.source === 'driver' });
    if (entry.op === 'use_pin' && entry.slot !== undefined) this.emit({ type: 'pin_used', externalId, slot: entry.slot, at });
    if (d && (entry.op === 'lock' || entry.op === 'unlock' || entry.op === 'use_pin' || entry.op === 'mechanical_override')) {
      this.emit({ type: 'bolt', externalId, bolt: d.lock.status().bolt, at });
    }
    if (entry.op === 'set_on_door' && entry.detail === 'off') this.emit({ type: 'tamper', externalId, at });
  }

  private emit(event: DriverEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the lock has already done what it did.
      }
    }
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }
}

/** A short tag of a PIN written into a slot: equal codes give equal tags, and the log never carries the code. */
export function pinTag(externalId: string, slot: number, code: string): string {
  return `code ${createHash('sha256').update(`lockwarden-sim|${externalId}|${slot}|${code}`).digest('hex').slice(0, 12)}`;
}
