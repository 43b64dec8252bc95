/**
 * The one contract every lock driver implements (simulator, Z-Wave, Matter, Zigbee2MQTT, Seam).
 *
 * Capabilities are data: code outside a driver asks `capabilities()` and never branches on a
 * manufacturer or a protocol. Failures are `DriverError`s with a stable `code`, never identified by
 * message. Every method addresses a device by the driver's own `externalId` (the lock's
 * `externalId` column).
 */

/** Days of the week for recurring schedules, ISO order (Monday first). */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * When a credential works. `always`; a one-off `window` from/until (ISO instants); or `recurring`
 * on some weekdays between two local times ("HH:MM", end after start, lock-local time).
 */
export type CredentialSchedule =
  | { kind: 'always' }
  | { kind: 'window'; from: string; until: string }
  | { kind: 'recurring'; days: Weekday[]; start: string; end: string };

/** What a driver can do with one device, as data. */
export interface DriverCapabilities {
  pin: {
    /** Slots are numbered 1..slots; 0 means the lock takes no PINs. */
    slots: number;
    minLength: number;
    maxLength: number;
    /** Only decimal digits today; kept as data so a driver can declare otherwise. */
    alphabet: 'digits';
    /**
     * The lengths the lock takes when not every length from minLength to maxLength is allowed
     * (a Schlage through Seam: 4 or 6). Absent: every length in between.
     */
    lengths?: number[];
    /** Digits the lock refuses anywhere in a code ("0" on a Nuki keypad). Absent: none. */
    forbiddenDigits?: string[];
    /** Beginnings the lock refuses ("12" on a Nuki). Absent: none. */
    forbiddenPrefixes?: string[];
    /** Further rules the lock applies to a code, by name (see `PIN_RULES`). Absent: none. */
    rules?: PinRule[];
    /**
     * The longest name (lockwarden's holder name, as the driver would send it) the lock keeps for a
     * code, in characters. Absent: no limit known beyond lockwarden's own.
     */
    nameMaxLength?: number;
    /**
     * How the device itself numbers slots, where the driver knows: lockwarden's slot 1 is the
     * device's slot `firstDeviceSlot` (0 on locks whose users start at 0). lockwarden's own slots are
     * always 1..slots. Absent: the device has no native numbering lockwarden could show.
     */
    firstDeviceSlot?: number;
  };
  schedules: { window: boolean; recurring: boolean };
  digitalKeys: boolean;
  /** Paired controllers (hubs, phones, Matter fabrics) can be listed and removed. */
  controllers: boolean;
  biometrics: boolean;
  /** The lock can be both locked and unlocked remotely (see `remoteLock` / `remoteUnlock` for one without the other). */
  remoteLockUnlock: boolean;
  /** The lock can be locked remotely. Absent: as `remoteLockUnlock` (use `canOperateRemotely`). */
  remoteLock?: boolean;
  /** The lock can be unlocked remotely. Absent: as `remoteLockUnlock` (use `canOperateRemotely`). */
  remoteUnlock?: boolean;
  /**
   * Offline (algorithmic, time-bound) codes: the lock or its platform computes codes the lock
   * accepts without a connection (Seam offline access codes on an igloohome). `only`: the lock takes
   * no other codes, so every PIN needs a time window. Absent: none.
   */
  offlineCodes?: 'supported' | 'only';
  remoteFactoryReset: boolean;
  /** The lock is bound to a vendor cloud account that a local reset may not remove. */
  cloudBinding: boolean;
  /** The driver pushes events (code used, tamper, reset detected) rather than only being polled. */
  events: boolean;
  /**
   * How a factory-fresh device is enrolled with lockwarden again after a reset (Z-Wave inclusion,
   * Matter commissioning, a Zigbee join, a Seam reconnect, a simulated lock's setup code); null when
   * the driver cannot re-enroll a device at all (then the case says what to do by hand).
   */
  enrollment: EnrollmentMethod | null;
  /** The vendor cloud binding can be removed through the driver (`unbindCloud`). */
  cloudUnbind: boolean;
}

/**
 * Named rules a lock may apply to a code beyond length, digits and prefixes:
 * `no_three_consecutive_digits`: no run of three ascending or descending digits anywhere ("123", "987");
 * `no_ascending_or_descending_sequence`: the whole code is not one run ("1234", "8765");
 * `at_least_three_unique_digits`: three different digits or more.
 */
export const PIN_RULES = ['no_three_consecutive_digits', 'no_ascending_or_descending_sequence', 'at_least_three_unique_digits'] as const;
export type PinRule = (typeof PIN_RULES)[number];

/** Whether the lock can be locked (or unlocked) remotely, reading the separate flags where a driver sets them. */
export function canOperateRemotely(caps: DriverCapabilities, action: 'lock' | 'unlock'): boolean {
  return (action === 'lock' ? caps.remoteLock : caps.remoteUnlock) ?? caps.remoteLockUnlock;
}

/** How one driver re-enrolls a device, as data the UI turns into a form and instructions. */
export interface EnrollmentMethod {
  /** What happens: the controller includes it, commissions it with a code, lets it join, or finds it again after the owner reconnects the account. */
  kind: 'inclusion' | 'commissioning' | 'join' | 'reconnect' | 'setup_code';
  /**
   * What the person types from the lock's label or app: none, the 5-digit Z-Wave DSK PIN, or a
   * pairing / setup code (a Matter manual code or QR payload, a simulated lock's setup code).
   */
  code: 'none' | 'dsk_pin' | 'pairing_code';
  /** Security the person may choose where the protocol offers a choice (Z-Wave: S2 first). */
  security: ('s2' | 's0' | 'none')[];
  /** Plain words for the person at the lock: what to do on the device while lockwarden waits. */
  instructions: string;
}

/** A re-enrollment request: the device the lock was before, and what the person typed. */
export interface EnrollmentRequest {
  /** The lock's device id before the reset (the driver may use it to find the same device again, or its network). */
  previousExternalId: string | null;
  /** The DSK PIN or pairing code the person typed, when the method asks for one. */
  code?: string;
  /** The chosen security, where the method offers a choice. */
  security?: 's2' | 's0' | 'none';
  /** How long to wait for the device before `driver.timeout`; the driver stops inclusion / join then. */
  timeoutMs: number;
  /** Aborts the wait (the person cancelled): the driver stops inclusion and rejects with `driver.timeout`. */
  signal?: AbortSignal;
}

/** What a newly enrolled device reports about itself; the service matches it to the lock record. */
export interface EnrolledDevice {
  /** Its new device id (a new Z-Wave node id, a new Matter node, ...). */
  externalId: string;
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
}

/** What the person needs before a re-enrollment starts (Seam: a Connect Webview to reconnect the account). */
export interface EnrollmentPreparation {
  instructions: string;
  /** A link the person opens (a Connect Webview), when the service offers one. */
  url: string | null;
}

/** A PIN as the lock holds it in one slot. `code` is present when the lock lets it be read back. */
export interface ObservedPin {
  slot: number;
  code: string | null;
  name: string;
  schedule: CredentialSchedule;
  enabled: boolean;
  /** An offline (algorithmic, time-bound) code, computed for the lock rather than programmed into it. Absent: an ordinary code. */
  offline?: boolean;
}

/** A controller paired with the lock: a hub, a phone app, a Matter fabric. */
export interface ObservedController {
  id: string;
  label: string;
  kind: 'hub' | 'phone' | 'fabric' | 'cloud';
  /** The controller that administers the lock (the seeds' "admin"). */
  admin: boolean;
  /**
   * The pairing lockwarden itself talks through (its hub inclusion, fabric or API key), where the
   * driver can tell. A reset case checks that every *other* prior controller is gone.
   */
  self?: boolean;
  /** Who made the controller, where the protocol says (a Matter fabric's vendor id, "0xFFF1"). */
  vendor?: string;
  /** A fingerprint of the controller's trust anchor (a Matter fabric's root public key), where it has one. */
  fingerprint?: string;
}

/** A digital key (phone key, card) issued by the lock or its cloud. */
export interface ObservedDigitalKey {
  id: string;
  holder: string;
}

/** A biometric enrollment reference; the template itself never leaves the lock. */
export interface ObservedBiometric {
  id: string;
  holder: string;
  kind: 'fingerprint' | 'face';
}

/** Everything credential-like the lock reported in one read. */
export interface ObservedCredentials {
  pins: ObservedPin[];
  controllers: ObservedController[];
  digitalKeys: ObservedDigitalKey[];
  biometrics: ObservedBiometric[];
}

/** Health and physical state of the device, as far as the driver can read it. */
export interface DeviceStatus {
  online: boolean;
  batteryPercent: number | null;
  bolt: 'locked' | 'unlocked' | 'jammed' | 'unknown';
  firmware: string | null;
  /** Factory-fresh, waiting for an admin enrollment. */
  setupMode: boolean;
  /** The device is bound to a vendor cloud account (null when the driver cannot tell). */
  cloudBound: boolean | null;
}

/** How a caller follows and ends a long credential read. */
export interface CredentialReadOptions {
  /** The caller gave up: no further exchange is started and the read rejects with `driver.timeout`. */
  signal?: AbortSignal;
  /** Slots read so far out of `total`, called as the read goes. */
  onProgress?: (done: number, total: number) => void;
}

/** A PIN to write into one slot. */
export interface PinWrite {
  slot: number;
  code: string;
  name: string;
  schedule: CredentialSchedule;
  /**
   * Ask for an offline code where `capabilities().offlineCodes` (it needs a time window). A lock
   * whose offline codes are its `only` kind gets one either way.
   */
  offline?: boolean;
}

/** A device the driver can see (discovery for inventory). */
export interface DiscoveredDevice {
  externalId: string;
  manufacturer: string | null;
  model: string | null;
  label: string;
}

/** Something the device told us without being asked. */
export type DriverEvent =
  /**
   * `bySelf`: the device says lockwarden itself made the change (our controller, fabric or API key).
   * Such an echo needs no re-read: the command's own outcome is already recorded. Left out when the
   * protocol cannot tell, which makes lockwarden read the lock again.
   */
  | { type: 'credentials_changed'; externalId: string; at: Date; bySelf?: boolean; /** What the device or service said happened ("access_code.set"), when it says. */ note?: string }
  | { type: 'pin_used'; externalId: string; slot: number; at: Date }
  | { type: 'bolt'; externalId: string; bolt: DeviceStatus['bolt']; at: Date }
  | { type: 'reset_detected'; externalId: string; at: Date }
  | { type: 'tamper'; externalId: string; at: Date }
  | { type: 'online'; externalId: string; online: boolean; at: Date }
  /** The device sent something the driver could not use (a malformed message): what was wrong, never its content. */
  | { type: 'device_error'; externalId: string; message: string; at: Date };

/** The driver contract. Every method may throw a `DriverError`. */
export interface LockDriver {
  readonly name: string;
  /**
   * The hub (controller, network, cloud workspace) a device is reached through. Commands through one
   * hub are limited to `hubConcurrency` at a time, across all processes.
   */
  hubOf(externalId: string): string;
  readonly hubConcurrency: number;
  capabilities(externalId: string): Promise<DriverCapabilities>;
  status(externalId: string): Promise<DeviceStatus>;
  /**
   * Everything credential-like on the lock. A driver whose read takes one exchange per slot paces it
   * to the device, reports `onProgress`, and stops asking once `signal` aborts (rejecting with
   * `driver.timeout`); drivers that read in one exchange may ignore both.
   */
  readCredentials(externalId: string, options?: CredentialReadOptions): Promise<ObservedCredentials>;
  /** Writes a PIN into a slot, replacing whatever the slot held. Resolves once the lock acknowledged. */
  setPin(externalId: string, pin: PinWrite): Promise<void>;
  /** Empties a slot. Clearing an empty slot succeeds. */
  clearPin(externalId: string, slot: number): Promise<void>;
  /**
   * The controllers paired with the lock, read from it now (the same list `readCredentials` reports,
   * without the PIN reads). `driver.not_supported` unless `capabilities().controllers`.
   */
  listControllers(externalId: string): Promise<ObservedController[]>;
  /**
   * Unpairs one controller. Its own pairing (`self`) is refused (`driver.refused`), an id the lock
   * does not list is `driver.unknown_device`; both change nothing.
   */
  removeController(externalId: string, controllerId: string): Promise<void>;
  lock(externalId: string): Promise<void>;
  unlock(externalId: string): Promise<void>;
  /** Remote factory reset where `capabilities().remoteFactoryReset`; otherwise `driver.not_supported`. */
  factoryReset(externalId: string): Promise<void>;
  /**
   * What the person must do before `enroll` (open a Connect Webview, put the lock in pairing mode).
   * `driver.not_supported` where `capabilities().enrollment` is null.
   */
  prepareEnrollment(previousExternalId: string | null): Promise<EnrollmentPreparation>;
  /**
   * Enrolls a factory-fresh device (after a reset, or a replacement) and resolves with what it
   * reports once it answers lockwarden's commands. Rejects with `driver.invalid_code` for a wrong DSK
   * PIN or pairing code, `driver.timeout` when no device came within `timeoutMs` (inclusion / join
   * is stopped again), `driver.not_supported` where `capabilities().enrollment` is null.
   */
  enroll(request: EnrollmentRequest): Promise<EnrolledDevice>;
  /** Removes the device from the vendor cloud account where `capabilities().cloudUnbind`; otherwise `driver.not_supported`. */
  unbindCloud(externalId: string): Promise<void>;
  discover(): Promise<DiscoveredDevice[]>;
  /** Subscribes to device events; returns the unsubscribe function. */
  onEvent(listener: (event: DriverEvent) => void): () => void;
  close(): Promise<void>;
}

/** Stable driver error codes. */
export const DRIVER_ERROR_CODES = [
  'driver.timeout',
  'driver.unreachable',
  'driver.slot_full',
  'driver.duplicate_pin',
  'driver.invalid_pin',
  'driver.not_supported',
  'driver.busy',
  'driver.unknown_device',
  'driver.refused',
  /** A DSK PIN or pairing code the device did not accept. */
  'driver.invalid_code',
  /**
   * The device sleeps (a battery Z-Wave lock between wake-ups): the command is queued and is sent
   * once when it wakes; a retry sends nothing more. Not retryable; the outcome arrives as an event.
   */
  'driver.queued',
] as const;
export type DriverErrorCode = (typeof DRIVER_ERROR_CODES)[number];

/** Codes worth retrying: the command may not have reached the lock or the lock was occupied. */
const RETRYABLE: ReadonlySet<DriverErrorCode> = new Set(['driver.timeout', 'driver.unreachable', 'driver.busy']);

/**
 * A driver failure. `uncertain` is true when the command may have been applied even though no
 * acknowledgement arrived (a timeout after sending): the caller must re-read before retrying.
 */
export class DriverError extends Error {
  constructor(
    readonly code: DriverErrorCode,
    message: string,
    readonly details: { uncertain?: boolean; slot?: number } = {},
  ) {
    super(message);
    this.name = 'DriverError';
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  get uncertain(): boolean {
    return this.details.uncertain === true;
  }
}

/** True for a `DriverError` (also across module copies, by shape). */
export function isDriverError(err: unknown): err is DriverError {
  return err instanceof DriverError;
}

/** Looks up the driver for a lock's `driver` column. */
export interface DriverRegistry {
  get(name: string): LockDriver | undefined;
}
