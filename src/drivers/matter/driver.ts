/**
 * The `matter` driver: Matter door locks commissioned into lockwarden's own fabric, through a
 * matter.js controller node whose fabric and peers live under a data folder. Slot N is DoorLock
 * user N holding PIN credential N (DoorLock cluster, User + PinCredential features, Matter 1.3
 * §5.2); the fabrics a lock lists are its paired controllers (Operational Credentials, §11.18).
 *
 * matter.js retries a peer that lost our fabric forever (`NoSharedTrustRoots`), so every call runs
 * under the driver's own deadline; a deadline missed by a lock that answers as commissionable again
 * with the discriminator it had is a factory reset, reported as `reset_detected`.
 */
import { createHash } from 'node:crypto';
import { ControllerBehavior, Environment, Millis, ServerNode, type ClientNode, type Endpoint } from '@matter/main';
import { DoorLockClient, OperationalCredentialsClient } from '@matter/main/behaviors';
import { DoorLock } from '@matter/main/clusters';
import { MdnsService } from '@matter/main/protocol';
import { ManualPairingCodeCodec, QrPairingCodeCodec } from '@matter/main/types';
import { DriverError, WEEKDAYS, type CredentialSchedule, type Weekday, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedController, type ObservedCredentials, type ObservedPin, type PinWrite, type EnrolledDevice, type EnrollmentPreparation } from '../contract.js';

/** Plain configuration of lockwarden's Matter controller. */
export interface MatterDriverConfig {
  /** Folder holding the controller's fabric and peers (one process owns it). */
  storagePath?: string;
  /** Names the controller in `externalId`s and as the hub. */
  hubKey?: string;
  /** Deadline of one call to a lock. */
  timeoutMs?: number;
  /** Deadline of commissioning (discovery plus PASE and CASE). */
  commissionTimeoutMs?: number;
  /** UDP port of the controller (5540 is Matter's default, usually taken by a device on the same host). */
  port?: number;
  /** The matter.js environment (tests pass one on a simulated network); defaults to the process's. */
  environment?: Environment;
  /** The fabric label locks show for lockwarden. */
  fabricLabel?: string;
  now?: () => Date;
}

/** What the driver remembers of a commissioned lock (also stored by matter.js under `storagePath`). */
interface PeerInfo {
  discriminator: number | undefined;
}

const PIN = DoorLock.CredentialType.Pin;

/** A cluster's state on a client endpoint (typed by the caller: client views are not typed per device). */
function stateOf<T>(endpoint: { state: unknown }, cluster: string): T | undefined {
  return (endpoint.state as Record<string, T | undefined>)[cluster];
}
const encoder = new TextEncoder();

/** Seconds from the Unix epoch to Matter's (2000-01-01T00:00:00Z); year-day times are Matter epoch seconds. */
const MATTER_EPOCH_S = 946_684_800;
/** The contract's weekdays as DoorLock DaysMask bits. */
const MATTER_DAYS: Record<Weekday, string> = { mon: 'monday', tue: 'tuesday', wed: 'wednesday', thu: 'thursday', fri: 'friday', sat: 'saturday', sun: 'sunday' };
/** The DoorLock commands of a lock endpoint, as `commandsOf(DoorLockClient)` types them. */
type DoorLockCommands = ReturnType<typeof _doorLockCommands>;
function _doorLockCommands(e: Endpoint) {
  return e.commandsOf(DoorLockClient);
}
const hhmm = (h: number, m: number) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;

/** The DoorLock user type for a PIN's schedule: schedule users are restricted by their schedules (§5.2.9.40). */
function userTypeFor(s: CredentialSchedule): DoorLock.UserType {
  return s.kind === 'recurring' ? DoorLock.UserType.WeekDayScheduleUser : s.kind === 'window' ? DoorLock.UserType.YearDayScheduleUser : DoorLock.UserType.UnrestrictedUser;
}

/** Runs `p` under a deadline; matter.js calls to a lost peer never settle on their own. */
async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DriverError('driver.timeout', `${what}: no answer from the lock within ${ms} ms`, { uncertain: true })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    // The abandoned call may still fail later; that failure is already reported as the timeout.
    p.catch(() => {});
  }
}

/** Maps a matter.js failure (a status response) to a `DriverError`. */
function matterError(e: unknown, what: string): DriverError {
  if (e instanceof DriverError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const name = (e as { name?: unknown } | null)?.name;
  const msg = `${what}: ${typeof name === 'string' ? name : 'error'}${typeof code === 'number' ? ` (status ${code})` : ''}`;
  if (code === 0x8a || name === 'InvalidCommandError') return new DriverError('driver.invalid_pin', msg);
  if (code === 0x81 || code === 0x7e) return new DriverError('driver.not_supported', msg);
  if (code === 0x89) return new DriverError('driver.slot_full', msg);
  return new DriverError('driver.refused', msg);
}

/** SHA-256 of a fabric's root public key, first 16 bytes as colon-separated hex: enough to tell two fabrics' roots apart. */
export function rootKeyFingerprint(key: Uint8Array): string {
  return (createHash('sha256').update(key).digest('hex').slice(0, 32).match(/../g) ?? []).join(':');
}

/** Decodes a manual (11/21 digits) or QR (`MT:...`) pairing code; never echoes it. */
export function parsePairingCode(code: string): { passcode: number; discriminator?: number; shortDiscriminator?: number } {
  const trimmed = code.trim().replace(/[\s-]/g, '');
  try {
    if (trimmed.startsWith('MT:')) {
      const [qr] = QrPairingCodeCodec.decode(trimmed);
      if (!qr) throw new Error('empty');
      return { passcode: qr.passcode, discriminator: qr.discriminator };
    }
    if (!/^\d{11}(\d{10})?$/.test(trimmed)) throw new Error('shape');
    const m = ManualPairingCodeCodec.decode(trimmed);
    return { passcode: m.passcode, ...(m.shortDiscriminator !== undefined ? { shortDiscriminator: m.shortDiscriminator } : {}) };
  } catch {
    throw new DriverError('driver.refused', 'the pairing code is not a valid Matter pairing code (11 or 21 digits with a correct check digit, or an MT: QR payload)');
  }
}

/** lockwarden's Matter controller and the locks in its fabric. */
export class MatterDriver implements LockDriver {
  readonly name = 'matter';
  readonly hubConcurrency = 4;
  readonly hubKey: string;
  private controller: ServerNode | null = null;
  private starting: Promise<ServerNode> | null = null;
  private readonly peers = new Map<string, PeerInfo>();
  private readonly listeners = new Set<(e: DriverEvent) => void>();
  private readonly subscribed = new Set<string>();
  private readonly resetReported = new Set<string>();
  private readonly timeoutMs: number;
  private readonly now: () => Date;

  constructor(private readonly config: MatterDriverConfig) {
    this.hubKey = config.hubKey ?? 'matter';
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.now = config.now ?? (() => new Date());
  }

  /** Starts the controller node (its fabric is created on first start and kept under `storagePath`). */
  start(): Promise<ServerNode> {
    if (this.controller) return Promise.resolve(this.controller);
    this.starting ??= (async () => {
      const environment = this.config.environment ?? Environment.default;
      // matter.js's Node.js filesystem reads its root from the `storage.path` variable when first used.
      if (this.config.storagePath) environment.vars.set('storage.path', this.config.storagePath);
      const node = await ServerNode.create({
        id: `${this.hubKey}-controller`,
        environment,
        network: { port: this.config.port ?? 5541 },
        commissioning: { enabled: false },
        controller: { adminFabricLabel: this.config.fabricLabel ?? 'lockwarden' },
      } as Parameters<typeof ServerNode.create>[0]);
      node.behaviors.require(ControllerBehavior);
      await node.start();
      for (const peer of node.peers) this.track(peer, undefined);
      this.controller = node;
      return node;
    })().finally(() => (this.starting = null));
    return this.starting;
  }

  /** Commissions a lock into lockwarden's fabric by its pairing code; resolves with its `externalId`. */
  async commission(pairingCode: string): Promise<string> {
    const identifiers = parsePairingCode(pairingCode);
    const controller = await this.start();
    const ms = this.config.commissionTimeoutMs ?? 30_000;
    let peer: ClientNode;
    try {
      peer = await deadline(Promise.resolve(controller.peers.commission({ ...identifiers, timeout: Millis(ms) }) as Promise<ClientNode>), ms + 1_000, 'commissioning');
    } catch (e) {
      if (e instanceof DriverError && e.code === 'driver.timeout') throw new DriverError('driver.timeout', `commissioning: no lock answered the pairing code within ${ms} ms`);
      const why = e instanceof Error ? e.name : 'error';
      throw new DriverError('driver.refused', `commissioning failed (${why}): no lock in pairing mode accepted this pairing code`);
    }
    const discriminator = (peer.state as { commissioning?: { discriminator?: number } }).commissioning?.discriminator;
    this.track(peer, discriminator);
    return this.externalIdOf(peer.id);
  }

  externalIdOf(peerId: string): string {
    return `${this.hubKey}:${peerId}`;
  }

  hubOf(): string {
    return this.hubKey;
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    const { lock } = await this.lockOf(externalId);
    const s = stateOf<{ numberOfTotalUsersSupported?: number; numberOfPinUsersSupported?: number; minPinCodeLength?: number; maxPinCodeLength?: number; numberOfWeekDaySchedulesSupportedPerUser?: number; numberOfYearDaySchedulesSupportedPerUser?: number; featureMap?: { pinCredential?: boolean; user?: boolean; weekDayAccessSchedules?: boolean; yearDayAccessSchedules?: boolean } }>(lock, 'doorLock') ?? {};
    const pins = s.featureMap?.pinCredential && s.featureMap.user ? Math.min(s.numberOfTotalUsersSupported ?? 0, s.numberOfPinUsersSupported ?? 0) : 0;
    return {
      pin: { slots: pins, minLength: s.minPinCodeLength ?? 4, maxLength: s.maxPinCodeLength ?? 8, alphabet: 'digits' },
      // Week Day and Year Day schedules (§5.2.10.14-19), one of each per user is all lockwarden writes.
      schedules: { window: Boolean(s.featureMap?.yearDayAccessSchedules && (s.numberOfYearDaySchedulesSupportedPerUser ?? 0) > 0), recurring: Boolean(s.featureMap?.weekDayAccessSchedules && (s.numberOfWeekDaySchedulesSupportedPerUser ?? 0) > 0) },
      digitalKeys: false,
      controllers: true,
      biometrics: false,
      remoteLockUnlock: true,
      remoteFactoryReset: false,
      cloudBinding: false,
      events: true,
      enrollment: null,
      cloudUnbind: false,
    };
  }

  async status(externalId: string): Promise<DeviceStatus> {
    const { peer, lock } = await this.lockOf(externalId);
    // A read through the session proves the fabric is still there; a missed deadline is checked for a reset.
    await this.call(externalId, this.reach(lock), 'reach the lock');
    const lockState = stateOf<{ lockState?: number | null }>(lock, 'doorLock')?.lockState;
    const bolt: DeviceStatus['bolt'] = lockState === DoorLock.LockState.Locked ? 'locked' : lockState === DoorLock.LockState.Unlocked ? 'unlocked' : lockState === DoorLock.LockState.NotFullyLocked ? 'jammed' : 'unknown';
    const info = stateOf<{ softwareVersionString?: string }>(peer, 'basicInformation');
    return { online: true, batteryPercent: this.batteryOf(peer, lock), bolt, firmware: info?.softwareVersionString ?? null, setupMode: false, cloudBound: null };
  }

  async readCredentials(externalId: string): Promise<ObservedCredentials> {
    const { peer, lock } = await this.lockOf(externalId);
    const cmds = lock.commandsOf(DoorLockClient);
    const pins: ObservedPin[] = [];
    const caps = await this.capabilities(externalId);
    // GetUser answers with the next occupied index, so a read costs one round trip per user plus one.
    let index: number | null = 1;
    while (index !== null && index <= caps.pin.slots) {
      const u: DoorLock.GetUserResponse = await this.call(externalId, cmds.getUser({ userIndex: index }), `read user ${index}`);
      if (u.userStatus !== null && u.userStatus !== DoorLock.UserStatus.Available) {
        const hasPin = (u.credentials ?? []).some((c) => c.credentialType === PIN && c.credentialIndex === index);
        if (hasPin) pins.push({ slot: index, code: null, name: u.userName ?? '', schedule: await this.scheduleOf(externalId, cmds, index, u.userType ?? null, caps), enabled: u.userStatus === DoorLock.UserStatus.OccupiedEnabled });
      }
      index = u.nextUserIndex !== null && u.nextUserIndex !== undefined && u.nextUserIndex > index ? u.nextUserIndex : null;
    }
    const controllers = await this.fabricsOf(externalId, peer);
    return { pins, controllers, digitalKeys: [], biometrics: [] };
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    const { lock } = await this.lockOf(externalId);
    const caps = await this.capabilities(externalId);
    this.checkPin(pin.slot, pin.code, caps);
    if ((pin.schedule.kind === 'window' && !caps.schedules.window) || (pin.schedule.kind === 'recurring' && !caps.schedules.recurring)) throw new DriverError('driver.not_supported', `this Matter lock takes no ${pin.schedule.kind} schedules`, { slot: pin.slot });
    const userType = userTypeFor(pin.schedule);
    const cmds = lock.commandsOf(DoorLockClient);
    const name = pin.name.slice(0, 10);
    const user = await this.call(externalId, cmds.getUser({ userIndex: pin.slot }), `read user ${pin.slot}`);
    const existed = user.userStatus !== null && user.userStatus !== DoorLock.UserStatus.Available;
    const hadPin = existed && (user.credentials ?? []).some((c) => c.credentialType === PIN && c.credentialIndex === pin.slot);
    if (!existed) {
      await this.call(
        externalId,
        cmds.setUser({ operationType: DoorLock.DataOperationType.Add, userIndex: pin.slot, userName: name, userUniqueId: null, userStatus: DoorLock.UserStatus.OccupiedEnabled, userType, credentialRule: DoorLock.CredentialRule.Single }),
        `add user ${pin.slot}`,
      );
    }
    const r = await this.call(
      externalId,
      cmds.setCredential({ operationType: hadPin ? DoorLock.DataOperationType.Modify : DoorLock.DataOperationType.Add, credential: { credentialType: PIN, credentialIndex: pin.slot }, credentialData: encoder.encode(pin.code), userIndex: pin.slot, userStatus: null, userType: null }),
      `set the PIN of slot ${pin.slot}`,
    );
    const status = r.status as number;
    if (status !== 0) {
      // Leave the lock as it was: a user added only for this PIN goes again.
      if (!existed) await this.call(externalId, cmds.clearUser({ userIndex: pin.slot }), `remove user ${pin.slot}`);
      // Matter says Duplicate (2); locks (matter.js among them) also answer Failure (1) for a PIN another slot holds.
      if (status === 2 || status === 1) throw new DriverError('driver.duplicate_pin', `the lock refused the PIN for slot ${pin.slot}: another slot holds it`, { slot: pin.slot });
      if (status === 0x89) throw new DriverError('driver.slot_full', `the lock has no room for a PIN in slot ${pin.slot}`, { slot: pin.slot });
      throw new DriverError('driver.refused', `the lock refused the PIN for slot ${pin.slot} (status ${status})`, { slot: pin.slot });
    }
    if (existed && (user.userName !== name || user.userType !== userType)) {
      await this.call(externalId, cmds.setUser({ operationType: DoorLock.DataOperationType.Modify, userIndex: pin.slot, userName: name, userUniqueId: null, userStatus: null, userType, credentialRule: null }), `update user ${pin.slot}`).catch(() => {});
    }
    await this.writeSchedule(externalId, cmds, pin, caps, existed);
  }

  async clearPin(externalId: string, slot: number): Promise<void> {
    const { lock } = await this.lockOf(externalId);
    const caps = await this.capabilities(externalId);
    this.checkPin(slot, null, caps);
    const cmds = lock.commandsOf(DoorLockClient);
    const status = await this.call(externalId, cmds.getCredentialStatus({ credential: { credentialType: PIN, credentialIndex: slot } }), `read the PIN of slot ${slot}`);
    if (status.credentialExists) await this.call(externalId, cmds.clearCredential({ credential: { credentialType: PIN, credentialIndex: slot } }), `clear the PIN of slot ${slot}`);
    const user = await this.call(externalId, cmds.getUser({ userIndex: slot }), `read user ${slot}`);
    if (user.userStatus !== null && user.userStatus !== DoorLock.UserStatus.Available) await this.call(externalId, cmds.clearUser({ userIndex: slot }), `remove user ${slot}`);
  }

  async listControllers(externalId: string): Promise<ObservedController[]> {
    const { peer } = await this.lockOf(externalId);
    return this.fabricsOf(externalId, peer);
  }

  async removeController(externalId: string, controllerId: string): Promise<void> {
    const { peer } = await this.lockOf(externalId);
    const fabrics = await this.fabricsOf(externalId, peer);
    const target = fabrics.find((f) => f.id === controllerId);
    if (!target) throw new DriverError('driver.unknown_device', `the lock has no fabric ${controllerId} (it lists ${fabrics.map((f) => f.id).join(', ') || 'none'})`);
    if (target.self) throw new DriverError('driver.refused', "removing lockwarden's own fabric would lose the lock; decommission it instead");
    const fabricIndex = Number(controllerId.replace(/^fabric-/, ''));
    const r: { statusCode?: number } = await this.call(externalId, peer.commandsOf(OperationalCredentialsClient).removeFabric({ fabricIndex: fabricIndex as never }), `remove fabric ${controllerId}`);
    // NOCResponse: Ok (0), else InvalidFabricIndex (11) and the like; the fabric is still there then.
    if (typeof r?.statusCode === 'number' && r.statusCode !== 0) throw new DriverError('driver.refused', `the lock refused to remove fabric ${controllerId} (status ${r.statusCode})`);
  }

  lock(externalId: string): Promise<void> {
    return this.setBolt(externalId, true);
  }

  unlock(externalId: string): Promise<void> {
    return this.setBolt(externalId, false);
  }

  async factoryReset(): Promise<void> {
    throw new DriverError('driver.not_supported', 'Matter has no remote factory reset; a reset at the lock is detected when its fabric is gone');
  }

  prepareEnrollment(): Promise<EnrollmentPreparation> {
    return Promise.reject(new DriverError('driver.not_supported', 'recommissioning on this Matter fabric is not built yet'));
  }

  enroll(): Promise<EnrolledDevice> {
    return Promise.reject(new DriverError('driver.not_supported', 'recommissioning on this Matter fabric is not built yet'));
  }

  unbindCloud(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'a Matter lock has no vendor cloud binding lockwarden can remove'));
  }

  async discover(): Promise<DiscoveredDevice[]> {
    const controller = await this.start();
    const out: DiscoveredDevice[] = [];
    for (const peer of controller.peers) {
      const info = stateOf<{ vendorName?: string; productName?: string; nodeLabel?: string }>(peer, 'basicInformation');
      if (!this.doorLockOf(peer)) continue;
      out.push({ externalId: this.externalIdOf(peer.id), manufacturer: info?.vendorName ?? null, model: info?.productName ?? null, label: info?.nodeLabel || [info?.vendorName, info?.productName].filter(Boolean).join(' ') || peer.id });
    }
    return out;
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Checks that the lock still holds lockwarden's fabric; when it does not answer and advertises itself
   * as commissionable with its old discriminator, reports `reset_detected` and resolves true.
   */
  async checkReset(externalId: string): Promise<boolean> {
    const { lock } = await this.lockOf(externalId);
    try {
      await deadline(this.reach(lock), this.timeoutMs, 'reach the lock');
      return false;
    } catch (e) {
      if (!(e instanceof DriverError) || e.code !== 'driver.timeout') throw e;
      return this.probeReset(externalId);
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const node = this.controller ?? (this.starting ? await this.starting.catch(() => null) : null);
    this.controller = null;
    if (node) await closeNode(node, this.config.environment ?? Environment.default);
  }

  private emit(e: DriverEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // One listener's failure is its own.
      }
    }
  }

  private checkPin(slot: number, code: string | null, caps: DriverCapabilities): void {
    if (!Number.isInteger(slot) || slot < 1 || slot > caps.pin.slots) throw new DriverError('driver.invalid_pin', `slot ${slot} is outside this lock's PIN slots 1-${caps.pin.slots}`, { slot });
    if (code === null) return;
    if (!/^[0-9]+$/.test(code)) throw new DriverError('driver.invalid_pin', 'the PIN may contain only the digits 0-9', { slot });
    if (code.length < caps.pin.minLength || code.length > caps.pin.maxLength) throw new DriverError('driver.invalid_pin', `the PIN must be ${caps.pin.minLength}-${caps.pin.maxLength} digits long (got ${code.length})`, { slot });
  }

  /** One call to a lock under the deadline; a missed deadline triggers the reset check. */
  private async call<T>(externalId: string, p: Promise<T>, what: string): Promise<T> {
    try {
      return await deadline(p, this.timeoutMs, what);
    } catch (e) {
      if (e instanceof DriverError && e.code === 'driver.timeout') {
        if (await this.probeReset(externalId).catch(() => false)) throw new DriverError('driver.refused', `${what}: the lock no longer holds lockwarden's fabric (it was factory reset)`);
        throw e;
      }
      throw matterError(e, what);
    }
  }

  private async probeReset(externalId: string): Promise<boolean> {
    const peerId = externalId.slice(this.hubKey.length + 1);
    const discriminator = this.peers.get(peerId)?.discriminator;
    const controller = this.controller;
    if (discriminator === undefined || !controller) return false;
    const found = await deadline(Promise.resolve(controller.peers.discover({ longDiscriminator: discriminator, timeout: Millis(1_500) }) as Promise<unknown[]>), 3_000, 'discovery').catch(() => []);
    if (found.length === 0) return false;
    if (!this.resetReported.has(externalId)) {
      this.resetReported.add(externalId);
      // Our fabric is gone: stop matter.js from retrying the old session forever.
      await deadline(Promise.resolve(controller.peers.get(peerId)?.delete()), 3_000, 'forget the peer').catch(() => {});
      this.emit({ type: 'reset_detected', externalId, at: this.now() });
    }
    return true;
  }

  /**
   * The lock's fabrics, all of them: the `fabrics` attribute is fabric-scoped, so a subscription (and
   * any filtered read) shows only lockwarden's own; an unfiltered read (isFabricFiltered = false,
   * Matter 1.3 §8.4.3.1) lists every fabric's index, vendor, label and root key, without the
   * fabric-sensitive fields. Every commissioner holds Administer on its fabric, so all are admins.
   */
  private async fabricsOf(externalId: string, peer: ClientNode): Promise<ObservedController[]> {
    type Fabric = { fabricIndex: number; label: string; vendorId: number; rootPublicKey?: Uint8Array };
    const read = (await this.call(
      externalId,
      (peer as unknown as { get(s: object, o: object): Promise<unknown> }).get({ operationalCredentials: ['fabrics', 'currentFabricIndex'] }, { fabricFilter: false }),
      'read the fabrics',
    )) as { operationalCredentials?: { fabrics?: readonly Fabric[]; currentFabricIndex?: number } };
    const ocs = read.operationalCredentials;
    return (ocs?.fabrics ?? []).map((f) => {
      const vendor = `0x${f.vendorId.toString(16).toUpperCase().padStart(4, '0')}`;
      const own = f.fabricIndex === ocs?.currentFabricIndex;
      return {
        id: `fabric-${f.fabricIndex}`,
        label: f.label || `fabric ${f.fabricIndex} (vendor ${vendor})`,
        kind: 'fabric' as const,
        admin: true,
        ...(own ? { self: true } : {}),
        vendor,
        ...(f.rootPublicKey ? { fingerprint: rootKeyFingerprint(f.rootPublicKey) } : {}),
      };
    });
  }

  /**
   * The battery's charge from a PowerSource cluster with the Battery feature (Matter 1.3 §11.7.6.10:
   * BatPercentRemaining in half-percent units, 0-200), on the lock's endpoint or any other of the
   * device; null when the lock has no such cluster or leaves the attribute out.
   */
  private batteryOf(peer: ClientNode, lock: Endpoint): number | null {
    for (const part of [lock, ...peer.parts, peer]) {
      const half = stateOf<{ batPercentRemaining?: number | null }>(part, 'powerSource')?.batPercentRemaining;
      if (typeof half === 'number' && half >= 0 && half <= 200) return Math.round(half / 2);
    }
    return null;
  }

  /** The schedule of user `index`, read only where its user type says it has one. */
  private async scheduleOf(externalId: string, cmds: DoorLockCommands, index: number, userType: number | null, caps: DriverCapabilities): Promise<CredentialSchedule> {
    const T = DoorLock.UserType;
    if (caps.schedules.recurring && (userType === T.WeekDayScheduleUser || userType === T.ScheduleRestrictedUser)) {
      const w: DoorLock.GetWeekDayScheduleResponse = await this.call(externalId, cmds.getWeekDaySchedule({ weekDayIndex: 1, userIndex: index }), `read the week schedule of user ${index}`);
      if ((w.status as number) === 0 && w.daysMask) {
        const days = WEEKDAYS.filter((d) => (w.daysMask as Record<string, boolean | undefined>)[MATTER_DAYS[d]]);
        return { kind: 'recurring', days, start: hhmm(w.startHour ?? 0, w.startMinute ?? 0), end: hhmm(w.endHour ?? 0, w.endMinute ?? 0) };
      }
    }
    if (caps.schedules.window && (userType === T.YearDayScheduleUser || userType === T.ScheduleRestrictedUser)) {
      const y: DoorLock.GetYearDayScheduleResponse = await this.call(externalId, cmds.getYearDaySchedule({ yearDayIndex: 1, userIndex: index }), `read the year schedule of user ${index}`);
      if ((y.status as number) === 0 && typeof y.localStartTime === 'number' && typeof y.localEndTime === 'number') {
        return { kind: 'window', from: new Date((y.localStartTime + MATTER_EPOCH_S) * 1000).toISOString(), until: new Date((y.localEndTime + MATTER_EPOCH_S) * 1000).toISOString() };
      }
    }
    return { kind: 'always' };
  }

  /** Writes slot N's schedule as schedule 1 of user N, clearing the other kind (0xFE: all of a user's). */
  private async writeSchedule(externalId: string, cmds: DoorLockCommands, pin: PinWrite, caps: DriverCapabilities, existed: boolean): Promise<void> {
    const userIndex = pin.slot;
    const clear = async (kind: 'week' | 'year') => {
      if (!existed || !(kind === 'week' ? caps.schedules.recurring : caps.schedules.window)) return;
      const p = kind === 'week' ? cmds.clearWeekDaySchedule({ weekDayIndex: 0xfe, userIndex }) : cmds.clearYearDaySchedule({ yearDayIndex: 0xfe, userIndex });
      await this.call(externalId, p, `clear the ${kind} schedules of user ${userIndex}`);
    };
    const s = pin.schedule;
    if (s.kind === 'recurring') {
      await clear('year');
      const [sh, sm] = s.start.split(':').map(Number) as [number, number];
      const [eh, em] = s.end.split(':').map(Number) as [number, number];
      const daysMask = Object.fromEntries(s.days.map((d) => [MATTER_DAYS[d], true]));
      await this.call(externalId, cmds.setWeekDaySchedule({ weekDayIndex: 1, userIndex, daysMask, startHour: sh, startMinute: sm, endHour: eh, endMinute: em }), `set the week schedule of slot ${userIndex}`);
    } else if (s.kind === 'window') {
      await clear('week');
      const at = (iso: string) => Math.floor(Date.parse(iso) / 1000) - MATTER_EPOCH_S;
      await this.call(externalId, cmds.setYearDaySchedule({ yearDayIndex: 1, userIndex, localStartTime: at(s.from), localEndTime: at(s.until) }), `set the year schedule of slot ${userIndex}`);
    } else {
      await clear('week');
      await clear('year');
    }
  }

  /** One round trip through the CASE session: answers only while the lock holds lockwarden's fabric. */
  private reach(lock: Endpoint): Promise<unknown> {
    return lock.commandsOf(DoorLockClient).getUser({ userIndex: 1 });
  }

  private doorLockOf(peer: ClientNode) {
    for (const part of peer.parts) if ('doorLock' in (part.state as object)) return part;
    return undefined;
  }

  private async lockOf(externalId: string) {
    const controller = await this.start();
    const prefix = `${this.hubKey}:`;
    const peer = externalId.startsWith(prefix) ? controller.peers.get(externalId.slice(prefix.length)) : undefined;
    const lock = peer ? this.doorLockOf(peer) : undefined;
    if (!peer || !lock) throw new DriverError('driver.unknown_device', `lockwarden's Matter fabric has no lock ${externalId}`);
    return { peer, lock };
  }

  private track(peer: ClientNode, discriminator: number | undefined): void {
    const known = (peer.state as { commissioning?: { discriminator?: number } }).commissioning?.discriminator;
    this.peers.set(peer.id, { discriminator: discriminator ?? known });
    if (this.subscribed.has(peer.id)) return;
    const lock = this.doorLockOf(peer);
    if (!lock) return;
    this.subscribed.add(peer.id);
    const externalId = this.externalIdOf(peer.id);
    const events = lock.eventsOf(DoorLockClient);
    const ownFabric = () => stateOf<{ currentFabricIndex?: number }>(peer, 'operationalCredentials')?.currentFabricIndex;
    events.lockUserChange?.on((e: { fabricIndex?: number | null }) => {
      const bySelf = e.fabricIndex !== null && e.fabricIndex !== undefined && e.fabricIndex === ownFabric();
      this.emit({ type: 'credentials_changed', externalId, at: this.now(), ...(bySelf ? { bySelf: true } : {}) });
    });
    events.lockOperation?.on((e: { lockOperationType?: number; userIndex?: number | null; operationSource?: number }) => {
      const bolt = e.lockOperationType === DoorLock.LockOperationType.Lock ? 'locked' : 'unlocked';
      if (e.operationSource === DoorLock.OperationSource.Keypad && typeof e.userIndex === 'number') this.emit({ type: 'pin_used', externalId, slot: e.userIndex, at: this.now() });
      this.emit({ type: 'bolt', externalId, bolt, at: this.now() });
    });
    events.doorLockAlarm?.on(() => this.emit({ type: 'tamper', externalId, at: this.now() }));
  }

  private async setBolt(externalId: string, locked: boolean): Promise<void> {
    const { lock } = await this.lockOf(externalId);
    const cmds = lock.commandsOf(DoorLockClient);
    const want = locked ? DoorLock.LockState.Locked : DoorLock.LockState.Unlocked;
    const reported = new Promise<void>((resolve) => {
      const observer = (v: unknown) => {
        if (v !== want) return;
        lock.eventsOf(DoorLockClient).lockState$Changed.off(observer);
        resolve();
      };
      lock.eventsOf(DoorLockClient).lockState$Changed.on(observer);
      if (stateOf<{ lockState?: unknown }>(lock, 'doorLock')?.lockState === want) resolve();
    });
    await this.call(externalId, locked ? cmds.lockDoor({}) : cmds.unlockDoor({}), locked ? 'lock' : 'unlock');
    // The command is acknowledged before the subscription reports the new state; wait for it briefly.
    await deadline(reported, 2_000, locked ? 'lock state report' : 'unlock state report').catch(() => {});
  }
}

/**
 * Closes a node and the mDNS service its environment shared with it: matter.js leaves the service
 * (and its record-expiry timers, ~2 minutes) running after the node closes otherwise.
 */
export async function closeNode(node: ServerNode, environment: Environment): Promise<void> {
  const services = [node.env, environment].map((env) => ({ env, mdns: env.maybeGet(MdnsService) }));
  await node.close();
  for (const { env, mdns } of services) if (mdns) await Promise.resolve(env.close(MdnsService)).catch(() => mdns.close());
}

/** Creates lockwarden's Matter controller driver from plain configuration (`storagePath`). */
export function createMatterDriver(config: MatterDriverConfig): MatterDriver {
  return new MatterDriver(config);
}
