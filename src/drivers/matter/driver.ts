/**
 * The `matter` driver: Matter door locks commissioned into lockwarden's own fabric, through a
 * matter.js controller node whose fabric and peers live under a data folder. Slot N is DoorLock
 * user N and the PIN credential it holds, whatever that credential's index (a keypad numbers its
 * credentials apart from its users; DoorLock cluster, User + PinCredential features, Matter 1.3
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

/** What a matter.js failure says the lock answered, in words ("invalid command"). */
function answerWords(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const name = (e as { name?: unknown } | null)?.name;
  return typeof code === 'number' ? statusWords(code) : typeof name === 'string' ? name : 'an error';
}

/** Maps a matter.js failure (a status response) to a `DriverError`. */
function matterError(e: unknown, what: string): DriverError {
  if (e instanceof DriverError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const name = (e as { name?: unknown } | null)?.name;
  const msg = `${what}: the lock answered "${answerWords(e)}"`;
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

/** The Door Lock attributes lockwarden reads, from the subscription's cache of the lock's cluster. */
interface LockFacts {
  numberOfTotalUsersSupported?: number;
  numberOfPinUsersSupported?: number;
  minPinCodeLength?: number;
  maxPinCodeLength?: number;
  numberOfWeekDaySchedulesSupportedPerUser?: number;
  numberOfYearDaySchedulesSupportedPerUser?: number;
  featureMap?: { pinCredential?: boolean; user?: boolean; weekDayAccessSchedules?: boolean; yearDayAccessSchedules?: boolean };
}

/** What the lock reported of its Door Lock cluster (empty when it never did). */
function lockFacts(lock: Endpoint): LockFacts {
  return stateOf<LockFacts>(lock, 'doorLock') ?? {};
}

/** A user record that holds someone (GetUser answers nulls for a free index). */
function isOccupied(u: DoorLock.GetUserResponse): boolean {
  return u.userStatus !== null && u.userStatus !== undefined && u.userStatus !== DoorLock.UserStatus.Available;
}

/** The PIN credential indexes a user holds, whatever their numbers. */
function pinIndexesOf(u: DoorLock.GetUserResponse): number[] {
  return (u.credentials ?? []).filter((c) => c.credentialType === PIN).map((c) => c.credentialIndex);
}

/** Slots are whole numbers from 1. */
function checkSlotNumber(slot: number): void {
  if (!Number.isInteger(slot) || slot < 1) throw new DriverError('driver.invalid_pin', `slot ${slot} is not a slot number (slots are numbered from 1)`, { slot });
}

/** A slot past the lock's users: not one of its slots (naming the free ones, when known). */
function outsideSlots(slot: number, caps: DriverCapabilities, free: number[] | null): DriverError {
  const n = caps.pin.slots;
  const shown = free && free.length > 6 ? `${free.slice(0, 5).join(', ')} and ${free.length - 5} more` : free?.join(', ');
  const hint = !free || free.length === 0 ? '' : free.length === 1 ? `; slot ${shown} is free` : `; slots ${shown} are free`;
  return new DriverError('driver.invalid_pin', `slot ${slot} is outside this lock's PIN slots 1-${n}${hint}`, { slot });
}

/** The code's digits and length, as the lock reports its PIN lengths. */
function checkCode(slot: number, code: string, caps: DriverCapabilities): void {
  if (!/^[0-9]+$/.test(code)) throw new DriverError('driver.invalid_pin', 'the PIN may contain only the digits 0-9', { slot });
  if (code.length < caps.pin.minLength || code.length > caps.pin.maxLength) throw new DriverError('driver.invalid_pin', `the PIN must be ${caps.pin.minLength}-${caps.pin.maxLength} digits long (got ${code.length})`, { slot });
}

const TIME_OF_DAY = /^([01]\d|2[0-3]):[0-5]\d$/;
/** Matter's local times are uint32 seconds from 2000-01-01. */
const MATTER_LAST_S = 0xffff_ffff;

/**
 * A schedule the lock can keep, checked before anything is sent: a kind the lock declares, weekdays,
 * times of day, and an end after the start (the contract's rule: a recurring window ends after it
 * starts on the same day; Matter's SetWeekDaySchedule takes the same).
 */
function checkSchedule(slot: number, s: CredentialSchedule, caps: DriverCapabilities): void {
  if (s.kind === 'always') return;
  if (!caps.schedules[s.kind]) throw new DriverError('driver.not_supported', `this Matter lock takes no ${s.kind} schedules`, { slot });
  const invalid = (why: string) => new DriverError('driver.invalid_pin', `the ${s.kind === 'recurring' ? 'recurring' : 'time-window'} schedule of slot ${slot} ${why}; nothing was sent to the lock`, { slot });
  if (s.kind === 'recurring') {
    if (s.days.length === 0) throw invalid('names no weekday');
    const unknown = s.days.filter((d) => !WEEKDAYS.includes(d));
    if (unknown.length) throw invalid(`names days that are not weekdays (${unknown.join(', ')})`);
    for (const [label, t] of [['start', s.start], ['end', s.end]] as const) if (!TIME_OF_DAY.test(t)) throw invalid(`has a ${label} that is not a time of day (HH:MM): "${t}"`);
    if (s.end <= s.start) throw invalid(`ends (${s.end}) ${s.end === s.start ? 'when' : 'before'} it starts (${s.start}): a schedule must end after it starts on the same day, so an overnight window is not one schedule`);
    return;
  }
  const from = Date.parse(s.from);
  const until = Date.parse(s.until);
  if (Number.isNaN(from) || Number.isNaN(until)) throw invalid('has a start or end that is not a date and time');
  if (until <= from) throw invalid(`ends (${s.until}) ${until === from ? 'when' : 'before'} it starts (${s.from})`);
  if (from / 1000 < MATTER_EPOCH_S || until / 1000 - MATTER_EPOCH_S > MATTER_LAST_S) throw invalid('lies outside the years a Matter lock can keep (2000-2136)');
}

/** An ISO instant as Matter epoch seconds. */
function matterSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000) - MATTER_EPOCH_S;
}

/** A schedule in words, for errors that say what a slot holds. */
function describeSchedule(s: CredentialSchedule): string {
  if (s.kind === 'always') return 'at all times';
  if (s.kind === 'window') return `from ${s.from} until ${s.until}`;
  return `${s.start}-${s.end} on ${s.days.join(', ')}`;
}

/** What a user's type lets its PIN do, in words (the Door Lock cluster's UserTypeEnum). */
function typeWords(userType: DoorLock.UserType | null): string {
  const T = DoorLock.UserType;
  const words: Record<number, string> = {
    [T.UnrestrictedUser]: 'valid at all times',
    [T.YearDayScheduleUser]: 'valid only within its date schedule',
    [T.WeekDayScheduleUser]: 'valid only by its week-day schedule',
    [T.ProgrammingUser]: 'a programming user',
    [T.NonAccessUser]: 'a user the lock gives no access',
    [T.ForcedUser]: 'a duress user',
    [T.DisposableUser]: 'a single-use user',
    [T.ExpiringUser]: 'a user that expires after first use',
    [T.ScheduleRestrictedUser]: 'valid only by its schedules',
    [T.RemoteOnlyUser]: 'a user that may open only remotely',
  };
  return words[userType ?? T.UnrestrictedUser] ?? 'a kind of user lockwarden does not know';
}

/** Matter status codes a lock answers with, in words. */
const STATUS_WORDS: Record<number, string> = {
  0x01: 'failure',
  0x02: 'duplicate',
  0x03: 'occupied',
  0x7e: 'unsupported access',
  0x81: 'unsupported command',
  0x85: 'invalid command',
  0x87: 'constraint error',
  0x89: 'resource exhausted',
  0x8b: 'not found',
};

/** A status code in words (the number for one without a name here). */
function statusWords(status: number): string {
  return STATUS_WORDS[status] ?? `status ${status}`;
}

/**
 * The refusal of a SetCredential. Matter says Duplicate (2); matter.js, like other locks, answers
 * Failure (1) for a code another credential holds. The index sent is free or the slot's own, so
 * either means a duplicate here.
 */
function credentialRefusal(status: number, slot: number, state: string | null, lock: Endpoint): DriverError {
  const tail = state ? `; ${state}` : '';
  if (status === 1 || status === 2) return new DriverError('driver.duplicate_pin', `the lock refused the PIN for slot ${slot}: another slot holds the same code${tail}`, { slot });
  if (status === 0x89) return new DriverError('driver.slot_full', `the lock has no room for another PIN in slot ${slot} (its ${lockFacts(lock).numberOfPinUsersSupported ?? 0} PIN credentials, or the credentials this user may hold, are all in use)${tail}`, { slot });
  return new DriverError('driver.refused', `the lock refused the PIN for slot ${slot}: it answered "${statusWords(status)}"${tail}`, { slot });
}

/** A refusal with what the slot holds now; a timeout stays as it is (the write may have been applied). */
function withState(e: DriverError, state: string | null): DriverError {
  if (!state || e.code === 'driver.timeout') return e;
  return new DriverError(e.code, `${e.message}; ${state}`, e.details);
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
    const s = lockFacts(lock);
    // A slot is a user: any user may hold a PIN, and how many PINs fit at once is the lock's PIN
    // credential count (a PIN past it is `driver.slot_full` when written).
    const pins = s.featureMap?.pinCredential && s.featureMap.user && (s.numberOfPinUsersSupported ?? 0) > 0 ? (s.numberOfTotalUsersSupported ?? 0) : 0;
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
    for (const u of await this.occupiedUsers(externalId, cmds, caps.pin.slots)) {
      // A user's PIN may sit under any credential index (programmed at the keypad, or by another controller).
      if (pinIndexesOf(u).length === 0) continue;
      const { schedule, usable } = await this.scheduleOf(externalId, cmds, lock, u.userIndex, u.userType ?? null, caps);
      pins.push({ slot: u.userIndex, code: null, name: u.userName ?? '', schedule, enabled: u.userStatus === DoorLock.UserStatus.OccupiedEnabled && usable });
    }
    const controllers = await this.fabricsOf(externalId, peer);
    return { pins, controllers, digitalKeys: [], biometrics: [] };
  }

  /**
   * Writes a PIN into slot N (user N). What the contract and the lock's attributes rule out (slot,
   * digits, length, schedule kind, a schedule that does not end after it starts) is refused before
   * anything is sent. A user lockwarden's fabric did not make (programmed at the keypad, or by another
   * controller) is removed and made anew: the lock lets only its creator change it. A write the lock
   * refuses leaves the slot as it was, or the error says what the slot holds now.
   */
  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    const { peer, lock } = await this.lockOf(externalId);
    const caps = await this.capabilities(externalId);
    checkSlotNumber(pin.slot);
    checkCode(pin.slot, pin.code, caps);
    checkSchedule(pin.slot, pin.schedule, caps);
    const cmds = lock.commandsOf(DoorLockClient);
    if (pin.slot > caps.pin.slots) throw await this.outOfRange(externalId, cmds, pin.slot, caps);
    const name = pin.name.slice(0, 10);
    let user: DoorLock.GetUserResponse = await this.call(externalId, cmds.getUser({ userIndex: pin.slot }), `read user ${pin.slot}`);
    let replaced: string | null = null;
    const own = stateOf<{ currentFabricIndex?: number }>(peer, 'operationalCredentials')?.currentFabricIndex;
    if (isOccupied(user) && own !== undefined && user.creatorFabricIndex !== own) {
      // Only the fabric that created a user may change its name or credentials (Door Lock SetUser and
      // SetCredential; matter.js answers "invalid command"): replacing what the keypad or another
      // controller made means removing it (ClearUser takes any user) and adding it anew.
      replaced = user.creatorFabricIndex ? 'by another controller' : 'at the keypad';
      await this.call(externalId, cmds.clearUser({ userIndex: pin.slot }), `remove user ${pin.slot}`);
      user = { ...user, userStatus: null, credentials: null };
    }
    if (!isOccupied(user)) await this.addSlot(externalId, lock, pin, name, replaced);
    else await this.changeSlot(externalId, lock, pin, name, user, caps);
  }

  /** Empties slot N: user N with its PINs and schedules; a user that also holds other credentials keeps them. */
  async clearPin(externalId: string, slot: number): Promise<void> {
    const { lock } = await this.lockOf(externalId);
    const caps = await this.capabilities(externalId);
    checkSlotNumber(slot);
    if (slot > caps.pin.slots) throw outsideSlots(slot, caps, null);
    const cmds = lock.commandsOf(DoorLockClient);
    const user: DoorLock.GetUserResponse = await this.call(externalId, cmds.getUser({ userIndex: slot }), `read user ${slot}`);
    if (!isOccupied(user)) return;
    // ClearUser clears the user's credentials and schedules with it (ClearUser), whatever their indexes.
    if ((user.credentials ?? []).every((c) => c.credentialType === PIN)) {
      await this.call(externalId, cmds.clearUser({ userIndex: slot }), `remove user ${slot}`);
      return;
    }
    for (const index of pinIndexesOf(user)) await this.call(externalId, cmds.clearCredential({ credential: { credentialType: PIN, credentialIndex: index } }), `clear the PIN of slot ${slot}`);
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

  /**
   * One call to a lock under the deadline; a missed deadline triggers the reset check. `refused`
   * turns a status the lock answered (in words) into the caller's own error.
   */
  private async call<T>(externalId: string, p: Promise<T>, what: string, refused?: (words: string) => DriverError): Promise<T> {
    try {
      return await deadline(p, this.timeoutMs, what);
    } catch (e) {
      if (e instanceof DriverError && e.code === 'driver.timeout') {
        if (await this.probeReset(externalId).catch(() => false)) throw new DriverError('driver.refused', `${what}: the lock no longer holds lockwarden's fabric (it was factory reset)`);
        throw e;
      }
      if (refused && !(e instanceof DriverError)) throw refused(answerWords(e));
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

  /** The occupied users in index order: GetUser answers with the next occupied index, so the walk costs one round trip per user plus one. */
  private async occupiedUsers(externalId: string, cmds: DoorLockCommands, users: number): Promise<DoorLock.GetUserResponse[]> {
    const out: DoorLock.GetUserResponse[] = [];
    let index: number | null = 1;
    while (index !== null && index <= users) {
      const u: DoorLock.GetUserResponse = await this.call(externalId, cmds.getUser({ userIndex: index }), `read user ${index}`);
      if (isOccupied(u)) out.push(u);
      index = u.nextUserIndex !== null && u.nextUserIndex !== undefined && u.nextUserIndex > index ? u.nextUserIndex : null;
    }
    return out;
  }

  /** The error for a slot past the lock's users: "full" when every user is taken, else the slot is not one of the lock's (naming the free ones). */
  private async outOfRange(externalId: string, cmds: DoorLockCommands, slot: number, caps: DriverCapabilities): Promise<DriverError> {
    const n = caps.pin.slots;
    if (n === 0) return new DriverError('driver.not_supported', 'this Matter lock takes no PINs (it reports no PIN users)', { slot });
    const taken = new Set((await this.occupiedUsers(externalId, cmds, n)).map((u) => u.userIndex));
    const free = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !taken.has(i));
    if (free.length === 0) return new DriverError('driver.slot_full', `the lock is full: it keeps ${n} users and all ${n} are taken (slots 1-${n}); clear a slot before adding another PIN`, { slot });
    return outsideSlots(slot, caps, free);
  }

  /**
   * A PIN credential index no credential holds: the slot's own number when free (keypads usually
   * number them alike), else the first gap. GetCredentialStatus answers with the next occupied index
   * (NextCredentialIndex), so the walk skips runs of taken ones. Null when every index is taken.
   */
  private async freePinIndex(externalId: string, lock: Endpoint, slot: number): Promise<number | null> {
    const cmds = lock.commandsOf(DoorLockClient);
    const max = lockFacts(lock).numberOfPinUsersSupported ?? 0;
    const status = (i: number): Promise<DoorLock.GetCredentialStatusResponse> => this.call(externalId, cmds.getCredentialStatus({ credential: { credentialType: PIN, credentialIndex: i } }), `read PIN credential ${i}`);
    if (slot <= max && !(await status(slot)).credentialExists) return slot;
    let i = 1;
    while (i <= max) {
      const st = await status(i);
      if (!st.credentialExists) return i;
      const next = st.nextCredentialIndex ?? null;
      if (next === i + 1) i = next;
      else if (next === null || next > i + 1) return i + 1 <= max ? i + 1 : null;
      // An answer that does not point forward: go on one index at a time.
      else i += 1;
    }
    return null;
  }

  /**
   * Slot N is empty: adds user N, its PIN under a free credential index, then its schedule. A
   * refusal removes the user again (with all it holds), so the slot ends empty; the error says so.
   */
  private async addSlot(externalId: string, lock: Endpoint, pin: PinWrite, name: string, replaced: string | null): Promise<void> {
    const cmds = lock.commandsOf(DoorLockClient);
    const slot = pin.slot;
    const empty = replaced ? `slot ${slot} is empty now (its previous PIN, programmed ${replaced}, was removed first)` : `slot ${slot} is empty, as it was`;
    const index = await this.freePinIndex(externalId, lock, slot);
    if (index === null) throw new DriverError('driver.slot_full', `the lock has no room for another PIN: all ${lockFacts(lock).numberOfPinUsersSupported ?? 0} of its PIN credentials are in use; ${empty}`, { slot });
    await this.step(
      externalId,
      cmds.setUser({ operationType: DoorLock.DataOperationType.Add, userIndex: slot, userName: name, userUniqueId: null, userStatus: DoorLock.UserStatus.OccupiedEnabled, userType: userTypeFor(pin.schedule), credentialRule: DoorLock.CredentialRule.Single }),
      `add user ${slot}`,
      empty,
    );
    const undo = async (why: DriverError): Promise<never> => {
      try {
        await this.call(externalId, cmds.clearUser({ userIndex: slot }), `remove user ${slot}`);
      } catch {
        throw new DriverError(why.code, `${why.message}; slot ${slot} may still hold the user lockwarden added for it (removing it again failed): read the lock again`, why.details);
      }
      throw withState(why, empty);
    };
    let r: DoorLock.SetCredentialResponse;
    try {
      r = await this.call(externalId, cmds.setCredential({ operationType: DoorLock.DataOperationType.Add, credential: { credentialType: PIN, credentialIndex: index }, credentialData: encoder.encode(pin.code), userIndex: slot, userStatus: null, userType: null }), `set the PIN of slot ${slot}`);
    } catch (e) {
      return undo(matterError(e, `set the PIN of slot ${slot}`));
    }
    if ((r.status as number) !== 0) return undo(credentialRefusal(r.status, slot, null, lock));
    if (pin.schedule.kind !== 'always') await this.setScheduleEntry(externalId, cmds, slot, pin.schedule, null).catch((e: unknown) => undo(matterError(e, `set the schedule of slot ${slot}`)));
  }

  /**
   * Slot N is lockwarden's own user: its new schedule first (the user's type still decides whether
   * it applies), then its PIN, then its name, type and status, then the schedules of the other kind.
   * A refused schedule or PIN puts back what changed ("slot N is as it was"); a refusal after the PIN
   * was written says what the slot holds then.
   */
  private async changeSlot(externalId: string, lock: Endpoint, pin: PinWrite, name: string, user: DoorLock.GetUserResponse, caps: DriverCapabilities): Promise<void> {
    const cmds = lock.commandsOf(DoorLockClient);
    const slot = pin.slot;
    const s = pin.schedule;
    const asItWas = `slot ${slot} is as it was`;
    let putBack: (() => Promise<unknown>) | null = null;
    if (s.kind !== 'always') {
      putBack = await this.entryToPutBack(externalId, cmds, slot, s.kind);
      await this.setScheduleEntry(externalId, cmds, slot, s, asItWas);
    }
    const undoSchedule = async (): Promise<string> => {
      if (!putBack) return asItWas;
      try {
        await putBack();
        return asItWas;
      } catch {
        return `slot ${slot} keeps its old PIN, but its ${s.kind === 'recurring' ? 'week-day' : 'date'} schedule is now ${describeSchedule(s)} (putting the old one back failed)`;
      }
    };
    const held = pinIndexesOf(user);
    const add = held.length === 0;
    const index = add ? await this.freePinIndex(externalId, lock, slot) : held[0]!;
    if (index === null) throw new DriverError('driver.slot_full', `the lock has no room for another PIN: all ${lockFacts(lock).numberOfPinUsersSupported ?? 0} of its PIN credentials are in use; ${await undoSchedule()}`, { slot });
    let r: DoorLock.SetCredentialResponse;
    try {
      r = await this.call(externalId, cmds.setCredential({ operationType: add ? DoorLock.DataOperationType.Add : DoorLock.DataOperationType.Modify, credential: { credentialType: PIN, credentialIndex: index }, credentialData: encoder.encode(pin.code), userIndex: slot, userStatus: null, userType: null }), `set the PIN of slot ${slot}`);
    } catch (e) {
      const err = matterError(e, `set the PIN of slot ${slot}`);
      // After a timeout the PIN may have been written: only a re-read can tell.
      throw err.code === 'driver.timeout' ? err : withState(err, await undoSchedule());
    }
    if ((r.status as number) !== 0) throw credentialRefusal(r.status, slot, await undoSchedule(), lock);
    const newPin = `slot ${slot} holds the new PIN`;
    // A slot is one PIN: any other PIN its user held goes (it would still open the door).
    for (const extra of held.slice(1)) {
      await this.step(externalId, cmds.clearCredential({ credential: { credentialType: PIN, credentialIndex: extra } }), `clear another PIN of slot ${slot}`, `${newPin}, and still another PIN the lock would not remove`);
    }
    const type = userTypeFor(s);
    const enabled = DoorLock.UserStatus.OccupiedEnabled;
    if (user.userName !== name || user.userType !== type || user.userStatus !== enabled) {
      const kept = `${newPin}${s.kind === 'always' ? '' : ' and schedule'}, but the lock kept its user as it was (${typeWords(user.userType ?? null)}${user.userStatus === enabled ? '' : ', disabled'}, named "${user.userName ?? ''}")`;
      await this.step(
        externalId,
        cmds.setUser({ operationType: DoorLock.DataOperationType.Modify, userIndex: slot, userName: user.userName !== name ? name : null, userUniqueId: null, userStatus: user.userStatus !== enabled ? enabled : null, userType: user.userType !== type ? type : null, credentialRule: null }),
        `update user ${slot}`,
        kept,
      );
    }
    // Schedules of the other kind no longer apply to the user's type; they go so a read shows one.
    for (const kind of ['recurring', 'window'] as const) {
      if (kind === s.kind || !caps.schedules[kind]) continue;
      const p = kind === 'recurring' ? cmds.clearWeekDaySchedule({ weekDayIndex: 0xfe, userIndex: slot }) : cmds.clearYearDaySchedule({ yearDayIndex: 0xfe, userIndex: slot });
      await this.step(externalId, p, `clear the ${kind === 'recurring' ? 'week-day' : 'date'} schedules of slot ${slot}`, `${newPin}, valid ${describeSchedule(s)}; an old ${kind === 'recurring' ? 'week-day' : 'date'} schedule stays on the lock but does not apply to it`);
    }
  }

  /** How to put back schedule entry 1 of a kind for a user: set it as it is now, or clear it when there is none. */
  private async entryToPutBack(externalId: string, cmds: DoorLockCommands, slot: number, kind: 'recurring' | 'window'): Promise<() => Promise<unknown>> {
    if (kind === 'recurring') {
      const w: DoorLock.GetWeekDayScheduleResponse = await this.call(externalId, cmds.getWeekDaySchedule({ weekDayIndex: 1, userIndex: slot }), `read the week-day schedule of slot ${slot}`);
      if ((w.status as number) === 0 && w.daysMask) {
        const old = { weekDayIndex: 1, userIndex: slot, daysMask: w.daysMask, startHour: w.startHour ?? 0, startMinute: w.startMinute ?? 0, endHour: w.endHour ?? 0, endMinute: w.endMinute ?? 0 };
        return () => this.call(externalId, cmds.setWeekDaySchedule(old), `put back the week-day schedule of slot ${slot}`);
      }
      return () => this.call(externalId, cmds.clearWeekDaySchedule({ weekDayIndex: 1, userIndex: slot }), `clear the new week-day schedule of slot ${slot}`);
    }
    const y: DoorLock.GetYearDayScheduleResponse = await this.call(externalId, cmds.getYearDaySchedule({ yearDayIndex: 1, userIndex: slot }), `read the date schedule of slot ${slot}`);
    if ((y.status as number) === 0 && typeof y.localStartTime === 'number' && typeof y.localEndTime === 'number') {
      const old = { yearDayIndex: 1, userIndex: slot, localStartTime: y.localStartTime, localEndTime: y.localEndTime };
      return () => this.call(externalId, cmds.setYearDaySchedule(old), `put back the date schedule of slot ${slot}`);
    }
    return () => this.call(externalId, cmds.clearYearDaySchedule({ yearDayIndex: 1, userIndex: slot }), `clear the new date schedule of slot ${slot}`);
  }

  /** Writes a schedule as entry 1 of its kind for user `slot`; a refusal says which schedule and, when given, what the slot holds. */
  private async setScheduleEntry(externalId: string, cmds: DoorLockCommands, slot: number, s: Exclude<CredentialSchedule, { kind: 'always' }>, state: string | null): Promise<void> {
    const what = `set the ${s.kind === 'recurring' ? 'week-day' : 'date'} schedule of slot ${slot}`;
    const refused = (words: string) => new DriverError('driver.refused', `the lock refused the ${s.kind === 'recurring' ? 'week-day' : 'date'} schedule for slot ${slot} (${describeSchedule(s)}): it answered "${words}"${state ? `; ${state}` : ''}`, { slot });
    if (s.kind === 'recurring') {
      const [sh, sm] = s.start.split(':').map(Number) as [number, number];
      const [eh, em] = s.end.split(':').map(Number) as [number, number];
      const daysMask = Object.fromEntries(s.days.map((d) => [MATTER_DAYS[d], true]));
      await this.call(externalId, cmds.setWeekDaySchedule({ weekDayIndex: 1, userIndex: slot, daysMask, startHour: sh, startMinute: sm, endHour: eh, endMinute: em }), what, refused);
    } else {
      await this.call(externalId, cmds.setYearDaySchedule({ yearDayIndex: 1, userIndex: slot, localStartTime: matterSeconds(s.from), localEndTime: matterSeconds(s.until) }), what, refused);
    }
  }

  /** `call`, with what the slot holds now added to a refusal (not to a timeout: then nobody knows). */
  private async step<T>(externalId: string, p: Promise<T>, what: string, state: string): Promise<T> {
    try {
      return await this.call(externalId, p, what);
    } catch (e) {
      throw withState(matterError(e, what), state);
    }
  }

  /**
   * The schedule of user `index`, read where its user type says it has one. A user its type limits
   * to schedules it holds none of opens at no time (§5.2.9.40): `usable` is false then, never
   * "always" and enabled.
   */
  private async scheduleOf(externalId: string, cmds: DoorLockCommands, lock: Endpoint, index: number, userType: number | null, caps: DriverCapabilities): Promise<{ schedule: CredentialSchedule; usable: boolean }> {
    const T = DoorLock.UserType;
    const weekly = userType === T.WeekDayScheduleUser || userType === T.ScheduleRestrictedUser;
    const yearly = userType === T.YearDayScheduleUser || userType === T.ScheduleRestrictedUser;
    if (!weekly && !yearly) return { schedule: { kind: 'always' }, usable: true };
    const facts = lockFacts(lock);
    // lockwarden writes entry 1; another controller may have used others (bounded: each is a round trip).
    const entries = (n: number | undefined) => Math.min(Math.max(n ?? 1, 1), 8);
    if (weekly && caps.schedules.recurring) {
      for (let i = 1; i <= entries(facts.numberOfWeekDaySchedulesSupportedPerUser); i++) {
        const w: DoorLock.GetWeekDayScheduleResponse = await this.call(externalId, cmds.getWeekDaySchedule({ weekDayIndex: i, userIndex: index }), `read the week-day schedule of user ${index}`);
        if ((w.status as number) === 0 && w.daysMask) {
          const days = WEEKDAYS.filter((d) => (w.daysMask as Record<string, boolean | undefined>)[MATTER_DAYS[d]]);
          return { schedule: { kind: 'recurring', days, start: hhmm(w.startHour ?? 0, w.startMinute ?? 0), end: hhmm(w.endHour ?? 0, w.endMinute ?? 0) }, usable: true };
        }
      }
    }
    if (yearly && caps.schedules.window) {
      for (let i = 1; i <= entries(facts.numberOfYearDaySchedulesSupportedPerUser); i++) {
        const y: DoorLock.GetYearDayScheduleResponse = await this.call(externalId, cmds.getYearDaySchedule({ yearDayIndex: i, userIndex: index }), `read the date schedule of user ${index}`);
        if ((y.status as number) === 0 && typeof y.localStartTime === 'number' && typeof y.localEndTime === 'number') {
          return { schedule: { kind: 'window', from: new Date((y.localStartTime + MATTER_EPOCH_S) * 1000).toISOString(), until: new Date((y.localEndTime + MATTER_EPOCH_S) * 1000).toISOString() }, usable: true };
        }
      }
    }
    return { schedule: { kind: 'always' }, usable: false };
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
