/**
 * The `matter` driver: Matter door locks commissioned into lockwarden's own fabric, through a
 * matter.js controller node whose fabric and peers live under a data folder. Slot N is DoorLock
 * user N holding PIN credential N (DoorLock cluster, User + PinCredential features, Matter 1.3
 * §5.2); the fabrics a lock lists are its paired controllers (Operational Credentials, §11.18).
 *
 * matter.js retries a peer that lost our fabric forever (`NoSharedTrustRoots`), so every call runs
 * under the driver's own deadline; a deadline missed by a lock that answers as commissionable again
 * with the discriminator it had is a factory reset, reported as `reset_detected`; the driver then
 * disables that peer (matter.js persists it) and `status` reports it in setup mode until the lock is
 * commissioned again (`enroll`) under a new node id.
 */
import { createHash } from 'node:crypto';
import { CommissioningClient, ControllerBehavior, Environment, Millis, ServerNode, UnexpectedDataError, causedBy, type ClientNode, type Endpoint } from '@matter/main';
import { DoorLockClient, OperationalCredentialsClient } from '@matter/main/behaviors';
import { DoorLock } from '@matter/main/clusters';
import { MdnsService } from '@matter/main/protocol';
import { ManualPairingCodeCodec, QrPairingCodeCodec, isValidPasscode } from '@matter/main/types';
import { DriverError, WEEKDAYS, type CredentialSchedule, type Weekday, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedController, type ObservedCredentials, type ObservedPin, type PinWrite, type EnrolledDevice, type EnrollmentMethod, type EnrollmentPreparation, type EnrollmentRequest } from '../contract.js';

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

/** What a pairing code carries: the setup passcode and the discriminator (long from a QR payload, short from a manual code). */
export interface PairingIdentifiers {
  passcode: number;
  discriminator?: number;
  shortDiscriminator?: number;
}

const invalidCode = (why: string) => new DriverError('driver.invalid_code', `the pairing code is not a valid Matter pairing code: ${why}`);
const FORBIDDEN_PASSCODE = 'the setup passcode in it is one Matter does not allow (all one digit, or a plain run like one to eight); check the code on the lock';

/**
 * Decodes a manual pairing code (11 or 21 digits; spaces and dashes are ignored) or a QR payload
 * (`MT:...`) with matter.js's codecs. A bad code is `driver.invalid_code` saying what is wrong
 * (length, check digit, version, passcode), never echoing the code.
 */
export function parsePairingCode(code: string): PairingIdentifiers {
  const trimmed = code.trim();
  if (trimmed === '') throw invalidCode('no code was given; type the 11-digit code from the lock\'s label or app');
  if (/^mt:/i.test(trimmed)) {
    // Base38 has no lower-case letters, so an upper-cased payload is the same payload; '-' and '.' belong to it.
    const payload = trimmed.toUpperCase().replace(/\s+/g, '');
    if (payload.length <= 3) throw invalidCode('nothing follows MT:; copy the whole text of the QR code');
    let qr: { passcode: number; discriminator: number } | undefined;
    try {
      [qr] = QrPairingCodeCodec.decode(payload);
    } catch (e) {
      if (e instanceof Error && /passcode/i.test(e.message)) throw invalidCode(FORBIDDEN_PASSCODE);
      throw invalidCode('the QR payload after MT: is damaged or cut off; copy it again from the label or the app');
    }
    if (!qr) throw invalidCode('the QR payload after MT: holds no device');
    if (!isValidPasscode(qr.passcode)) throw invalidCode(FORBIDDEN_PASSCODE);
    return { passcode: qr.passcode, discriminator: qr.discriminator };
  }
  const digits = trimmed.replace(/[\s-]/g, '');
  if (!/^\d+$/.test(digits)) throw invalidCode('a manual pairing code has only digits (spaces and dashes are fine), and a QR payload starts with MT:');
  if (digits.length !== 11 && digits.length !== 21) throw invalidCode(`a manual pairing code has 11 or 21 digits, this one has ${digits.length}`);
  if (Number(digits[0]) >= 8) throw invalidCode('a manual pairing code cannot start with 8 or 9');
  try {
    const m = ManualPairingCodeCodec.decode(digits);
    return { passcode: m.passcode, shortDiscriminator: m.shortDiscriminator };
  } catch (e) {
    if (e instanceof Error && /checksum/i.test(e.message)) throw invalidCode('its last digit (the check digit) does not match the others; a digit is mistyped or two are swapped');
    if (e instanceof Error && /passcode/i.test(e.message)) throw invalidCode(FORBIDDEN_PASSCODE);
    throw invalidCode('its digits do not decode');
  }
}

/** How a Matter lock joins lockwarden's fabric again after a factory reset, in plain words. */
export const MATTER_ENROLLMENT: EnrollmentMethod = {
  kind: 'commissioning',
  code: 'pairing_code',
  security: [],
  instructions:
    "After the factory reset the lock waits to be paired (if it does not, put it in pairing mode as its manual says). Type the 11-digit manual pairing code from the lock's label or its app, or the text of its QR code, which starts with MT:. lockwarden then pairs the lock with its own Matter fabric; keep the lock close to the network until it is done.",
};

/** Bounds of one enrollment's commissioning, shared by its steps. */
interface CommissionBudget {
  /** The moment the commissioning gives up (ms since the epoch). */
  until: number;
  /** Fires when the person cancels or the time is up: discovery and PASE stop. */
  signal: AbortSignal;
  /** The failure when the time is up. */
  timedOut: DriverError;
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
  /** One commissioning at a time: two would race for the same device's commissioning window. */
  private enrolling = false;
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
    const peer = await this.commissionBounded(identifiers, this.config.commissionTimeoutMs ?? 30_000);
    this.track(peer, undefined);
    return this.externalIdOf(peer.id);
  }

  externalIdOf(peerId: string): string {
    return `${this.hubKey}:${peerId}`;
  }

  hubOf(): string {
    return this.hubKey;
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    // What the lock could do is known from its last report even after a reset (the case asks how to enroll it).
    const { lock } = await this.lockOf(externalId, { evenIfReset: true });
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
      enrollment: MATTER_ENROLLMENT,
      cloudUnbind: false,
    };
  }

  /**
   * The lock's state, read through lockwarden's CASE session. After a factory reset a Matter lock
   * cannot tell its old controllers anything (its fabrics are gone, our session just stops answering),
   * so the driver infers the reset: when a read misses its deadline and the device is announcing itself
   * commissionable again with the long discriminator it had (`probeReset`), it reports
   * `{ online: false, setupMode: true }` and disables the peer, which matter.js keeps in its store, so
   * the answer stays the same after a restart until the lock is enrolled anew. A lock that does not
   * answer and is not seen commissionable is `{ online: false, setupMode: false }`: it may just be out
   * of reach, and nothing says it was reset.
   */
  async status(externalId: string): Promise<DeviceStatus> {
    const { peer, lock } = await this.lockOf(externalId, { evenIfReset: true });
    const offline = (setupMode: boolean): DeviceStatus => ({ online: false, batteryPercent: null, bolt: 'unknown', firmware: null, setupMode, cloudBound: null });
    if (isDisabled(peer)) return offline(true);
    try {
      // A read through the session proves the fabric is still there.
      await deadline(this.reach(lock), this.timeoutMs, 'reach the lock');
    } catch (e) {
      if (!(e instanceof DriverError) || e.code !== 'driver.timeout') throw matterError(e, 'reach the lock');
      return offline(await this.probeReset(externalId).catch(() => false));
    }
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

  /** What the person does at the lock before typing its pairing code (no link: commissioning is local). */
  prepareEnrollment(_previousExternalId: string | null): Promise<EnrollmentPreparation> {
    return Promise.resolve({ instructions: MATTER_ENROLLMENT.instructions, url: null });
  }

  /**
   * Commissions a factory-fresh lock into lockwarden's fabric with the pairing code the person typed,
   * within `timeoutMs` (or until `signal` aborts): a new node id, reported once the lock answers a
   * DoorLock read. A malformed code or one whose passcode the lock refuses is `driver.invalid_code`;
   * no lock in pairing mode in time is `driver.timeout`. Nothing half-commissioned stays: a device
   * found but not commissioned is forgotten, and one commissioned too late (or that is no door lock)
   * is decommissioned again. The previous peer, when the driver saw it reset, is deleted then.
   */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    if (!request.code?.trim()) throw invalidCode("no code was given; type the 11-digit code from the lock's label or app");
    const identifiers = parsePairingCode(request.code);
    const peer = await this.commissionBounded(identifiers, request.timeoutMs, request.signal, async (node, until) => {
      const lock = this.doorLockOf(node);
      if (!lock) throw new DriverError('driver.refused', 'the device that accepted the pairing code is not a door lock (it has no Door Lock cluster); it was unpaired again');
      await deadline(this.reach(lock), Math.max(1, Math.min(this.timeoutMs, until - Date.now())), 'read the newly paired lock');
    });
    this.track(peer, undefined);
    await this.forgetResetPeer(request.previousExternalId);
    const info = stateOf<{ vendorName?: string; productName?: string; serialNumber?: string }>(peer, 'basicInformation');
    return { externalId: this.externalIdOf(peer.id), manufacturer: info?.vendorName || null, model: info?.productName || null, serial: info?.serialNumber || null };
  }

  unbindCloud(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'a Matter lock has no vendor cloud binding lockwarden can remove'));
  }

  async discover(): Promise<DiscoveredDevice[]> {
    const controller = await this.start();
    const out: DiscoveredDevice[] = [];
    for (const peer of controller.peers) {
      const info = stateOf<{ vendorName?: string; productName?: string; nodeLabel?: string }>(peer, 'basicInformation');
      // A lock seen reset is no longer reachable under this id; it shows again once enrolled anew.
      if (!this.doorLockOf(peer) || isDisabled(peer)) continue;
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
      // Our fabric is gone: stop matter.js from retrying the old session forever. Disabled rather than
      // deleted, the peer keeps saying "reset" (status) across restarts until the lock is enrolled anew.
      await deadline(Promise.resolve(controller.peers.get(peerId)?.disable()), 3_000, 'disable the peer').catch(() => {});
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

  private async lockOf(externalId: string, opts: { evenIfReset?: boolean } = {}) {
    const controller = await this.start();
    const prefix = `${this.hubKey}:`;
    const peer = externalId.startsWith(prefix) ? controller.peers.get(externalId.slice(prefix.length)) : undefined;
    const lock = peer ? this.doorLockOf(peer) : undefined;
    if (!peer || !lock) throw new DriverError('driver.unknown_device', `lockwarden's Matter fabric has no lock ${externalId}`);
    if (!opts.evenIfReset && isDisabled(peer)) throw new DriverError('driver.refused', "the lock no longer holds lockwarden's fabric (it was factory reset): enroll it again with its pairing code");
    return { peer, lock };
  }

  /** Deletes the peer a lock was before its reset, once the driver saw that reset (the peer is disabled then). */
  private async forgetResetPeer(previousExternalId: string | null): Promise<void> {
    const prefix = `${this.hubKey}:`;
    if (!previousExternalId?.startsWith(prefix) || !this.controller) return;
    const old = this.controller.peers.get(previousExternalId.slice(prefix.length));
    if (!old || !isDisabled(old)) return;
    this.peers.delete(old.id);
    await deadline(Promise.resolve(old.delete()), 3_000, 'forget the reset peer').catch(() => {});
  }

  /**
   * Commissions the device a pairing code names within `ms` (or until `signal` aborts), then runs
   * `accept` on it (within the same bound). Whatever fails or comes too late leaves nothing behind:
   * a commissioned node is decommissioned and deleted again.
   */
  private async commissionBounded(ids: PairingIdentifiers, ms: number, signal?: AbortSignal, accept?: (node: ClientNode, until: number) => Promise<void>): Promise<ClientNode> {
    // Discovery adds a node per announcement it sees (matter.js culls them only minutes later).
    const controller = await this.start();
    const known = new Set(controller.peers.map((p) => p.id));
    if (this.enrolling) throw new DriverError('driver.busy', 'another lock is being paired with this Matter fabric right now; try again when it is done');
    this.enrolling = true;
    const abort = new AbortController();
    let reason: DriverError | undefined;
    const stopWith = (e: DriverError) => {
      reason ??= e;
      abort.abort(reason);
    };
    const timedOut = new DriverError('driver.timeout', `no lock in pairing mode accepted the pairing code within ${Math.round(ms / 1000)} s: check that the lock was factory reset (or is in pairing mode) and is close to the network, then try again`);
    const timer = setTimeout(() => stopWith(timedOut), ms);
    const cancelled = () => stopWith(new DriverError('driver.timeout', 'the pairing was cancelled before a lock accepted the code'));
    if (signal?.aborted) cancelled();
    signal?.addEventListener('abort', cancelled, { once: true });
    const stopped = new Promise<never>((_, reject) => {
      const fail = () => reject(reason ?? new DriverError('driver.timeout', 'the pairing was stopped'));
      if (abort.signal.aborted) fail();
      else abort.signal.addEventListener('abort', fail, { once: true });
    });
    stopped.catch(() => {});
    const budget: CommissionBudget = { until: Date.now() + ms, signal: abort.signal, timedOut };
    let kept: ClientNode | undefined;
    const work = (async () => {
      const node = await this.commissionWithin(ids, budget);
      try {
        await accept?.(node, budget.until);
      } catch (e) {
        await this.unpair(node);
        throw e;
      }
      return node;
    })();
    try {
      kept = await Promise.race([work, stopped]);
      return kept;
    } catch (e) {
      // A commissioning that completes after the deadline is undone: the person was told it failed.
      if (abort.signal.aborted) work.then((node) => this.unpair(node), () => {});
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancelled);
      this.enrolling = false;
      for (const node of controller.peers) if (!known.has(node.id) && node !== kept && !node.lifecycle.isCommissioned) await forget(node);
    }
  }

  /**
   * Finds the commissionable device a code names and commissions it, one address at a time. matter.js
   * alone tries a device's addresses 15 s apart and reports a wrong passcode only once every address
   * failed or the time is up; one failed PASE key confirmation (UnexpectedDataError, the same test
   * matter.js uses) already says the passcode is wrong, and each wrong try counts against the lock's
   * limit (Matter closes the window after 20). A device found but not commissioned is forgotten again;
   * an announcement that fails otherwise (stale, the device left pairing mode) is looked up again.
   */
  private async commissionWithin(ids: PairingIdentifiers, budget: CommissionBudget): Promise<ClientNode> {
    const controller = await this.start();
    const left = () => budget.until - Date.now();
    const identifier = ids.discriminator !== undefined ? { longDiscriminator: ids.discriminator } : { shortDiscriminator: ids.shortDiscriminator };
    while (left() > 0 && !budget.signal.aborted) {
      const discovery = controller.peers.locate({ ...identifier, timeout: Millis(left()) });
      const cancel = () => discovery.cancel(budget.signal.reason);
      budget.signal.addEventListener('abort', cancel, { once: true });
      let node: ClientNode;
      try {
        node = await discovery;
      } catch {
        break;
      } finally {
        budget.signal.removeEventListener('abort', cancel);
      }
      const addresses = [...((node.state as { commissioning?: { addresses?: readonly object[] } }).commissioning?.addresses ?? [])];
      for (const address of addresses) {
        if (left() <= 0 || budget.signal.aborted) break;
        try {
          await node.setStateOf(CommissioningClient, { addresses: [address] } as never);
          await node.commission({ passcode: ids.passcode, abort: budget.signal, timeout: Millis(left()) });
          return node;
        } catch (e) {
          if (causedBy(e, UnexpectedDataError)) {
            await forget(node);
            throw new DriverError('driver.invalid_code', "the lock did not accept this pairing code (its setup passcode is wrong): check the code on the lock's label or in its app and type it again; after many wrong tries the lock leaves pairing mode and must be put in pairing mode again");
          }
        }
      }
      await forget(node);
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1_000, left()))));
    }
    throw budget.signal.reason instanceof DriverError ? budget.signal.reason : budget.timedOut;
  }

  /** Undoes a commissioning: our fabric off the device (it may be gone already), the node out of the peers. */
  private async unpair(node: ClientNode): Promise<void> {
    await deadline(Promise.resolve(node.decommission()), 5_000, 'unpair the device').catch(() => {});
    await forget(node);
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

/** A peer the driver disabled after seeing its reset (matter.js persists the flag with the peer). */
function isDisabled(peer: ClientNode): boolean {
  return (peer.state as { network?: { isDisabled?: boolean } }).network?.isDisabled === true;
}

/** Deletes a node from the peers, bounded: a node that went wrong must not hold the caller up. */
async function forget(node: ClientNode): Promise<void> {
  await deadline(Promise.resolve(node.delete()), 3_000, 'forget the node').catch(() => {});
}

/** Creates lockwarden's Matter controller driver from plain configuration (`storagePath`). */
export function createMatterDriver(config: MatterDriverConfig): MatterDriver {
  return new MatterDriver(config);
}
