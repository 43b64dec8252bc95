/**
 * The `zigbee2mqtt` driver: Zigbee locks reached through a Zigbee2MQTT bridge over MQTT.
 *
 * Devices come from the retained `<base>/bridge/devices`; a device is a lock when its definition
 * exposes a `lock`. Its `externalId` is the IEEE address (friendly names can be renamed).
 *
 * PIN capabilities come from the device, configuration being only a cap: a lock takes PINs when its
 * definition exposes `pin_code` (a Kwikset 910 or a Wyze does not: PIN calls answer
 * `driver.not_supported` at once, as does a lock whose bridge logs "No converter available for
 * 'pin_code'"). Zigbee users are numbered from 0 (ZCL Door Lock; the converters take users
 * 0..pinCodeCount-1), so lockwarden slot N is Zigbee user N-1 (`firstDeviceSlot` 0; `firstUser: 1`
 * keeps the older numbering, slot N = user N, for integrations that wrote codes that way). How many users
 * a lock has is the lock's own report where its definition passes it on (`num_pin_users`, a Nimly),
 * else the range the definition's converter accepts: Zigbee2MQTT does not publish a definition's
 * `pinCodeCount`, but its converter refuses a user outside it at once, without a radio frame, so the
 * driver finds the count by asking for users (a doubling then a halving search, about 2 log2(count)
 * requests) once per lock. The payloads are Zigbee2MQTT's documented ones:
 *   set    `<base>/<name>/set` `{"pin_code":{"user":N,"user_type":"unrestricted","user_enabled":true,"pin_code":"1234"}}`
 *   clear  `<base>/<name>/set` `{"pin_code":{"user":N,"pin_code":null}}`
 *   read   `<base>/<name>/get` `{"pin_code":{"user":N}}`
 * and the answer lands in the device's state as `users.N.status`. The status is what counts
 * (`enabled`/`disabled` hold a code, `available` is empty), never whether `pin_code` is present:
 * Zigbee2MQTT shows codes only with its `expose_pin` option. A write is confirmed by that read-back
 * or by the lock's own programming event for the user (`pin_code_added/changed/deleted`). A lock
 * whose code reads Zigbee2MQTT never answers (a Nimly: its definition converts no Get PIN Code
 * answer) has only the event; once a read went unanswered while the lock answered a status read, its
 * reads answer `driver.not_supported` at once.
 *
 * Zigbee2MQTT publishes the whole cached state after every device message, so a reply cannot be
 * told from an earlier copy by content alone: a command waits for the publishes its own request
 * causes, bounded by a timeout, and a failure Zigbee2MQTT logs on `<base>/bridge/logging` for this
 * device ends the wait at once. Nothing waits without a deadline, and a command while the broker is
 * away fails at once with `driver.unreachable` (the client reconnects by itself, backing off).
 *
 * `device_leave` on `<base>/bridge/event` (what a factory-reset lock does) becomes
 * `reset_detected`, and `status()` of that lock then says it is in setup mode (it left the network
 * and waits to join again) instead of failing; `pin_code_added/deleted/changed` actions become
 * `credentials_changed`.
 *
 * Re-enrollment is a Zigbee join: `enroll` opens the network through the bridge API
 * (`<base>/bridge/request/permit_join`, bounded in time), waits on `<base>/bridge/event` for a device
 * to join (`device_joined`) and be interviewed (`device_interview` `successful`) as a lock, checks it
 * answers, and closes the network again (time 0) however the wait ends. The request carries both
 * forms Zigbee2MQTT has documented, `{"value":true,"time":N}` (1.x: `value` required) and 2.x's
 * `{"time":N}` (2.x ignores `value`; 0 closes), and either answer on
 * `<base>/bridge/response/permit_join` is understood (`{"data":{"value":true,"time":N}}` or
 * `{"data":{"time":N}}`). Zigbee2MQTT clamps the time to 254 s, so a longer wait reopens it.
 * Payloads that are not JSON or not the expected shape are logged by topic only (a state payload can
 * carry PINs) and ignored.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DriverError, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedController, type ObservedCredentials, type ObservedPin, type PinWrite, type EnrolledDevice, type EnrollmentPreparation, type EnrollmentRequest } from '../contract.js';

/** Where lockwarden's own logs go (pino-compatible subset). */
export interface Zigbee2MqttLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Plain configuration of one Zigbee2MQTT connection. */
export interface Zigbee2MqttDriverConfig {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883` or `mqtts://…`. */
  url: string;
  username?: string;
  /** Broker password (secret: never logged). */
  password?: string;
  /** Zigbee2MQTT's base topic (`zigbee2mqtt` by default). */
  baseTopic?: string;
  /**
   * The most PIN slots lockwarden manages per lock, below what the lock has (a full read costs one
   * Zigbee round trip per slot). Absent: every user the lock has.
   */
  slots?: number;
  minLength?: number;
  maxLength?: number;
  /** How long a command waits for the lock's answer. */
  commandTimeoutMs?: number;
  /**
   * How long a question about one user waits for the converter to refuse it as out of range before it
   * counts as in range (the refusal comes at once, without a radio frame).
   */
  rangeProbeMs?: number;
  /** The lock's user count when neither the lock nor its definition tells it (the driver cannot ask). */
  fallbackSlots?: number;
  /**
   * The Zigbee user that is lockwarden's slot 1: 0 (default, the lock's own numbering) or 1 for an
   * integration set up before lockwarden numbered from 0, which wrote slot N to user N (its user 0 is
   * then not managed).
   */
  firstUser?: 0 | 1;
  /** Code reads in flight at once during a full read (the bridge sends them one at a time). */
  readWindow?: number;
  /** Reconnect backoff: first wait, doubling up to the maximum. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Commands in flight at once through this bridge (Zigbee is slow and shared). */
  hubConcurrency?: number;
  clientId?: string;
  now?: () => number;
  logger?: Zigbee2MqttLogger;
}

interface Z2mDevice {
  ieee: string;
  name: string;
  manufacturer: string | null;
  model: string | null;
  description: string | null;
  isLock: boolean;
  /** The definition exposes `pin_code`: Zigbee2MQTT can set, clear and read PINs on it. */
  pins: boolean;
  /** The highest user the `pin_code` expose's `user` feature allows, where it says (newer definitions). */
  userMax: number | null;
}

interface Z2mUser {
  status: string;
  pinCode: string | null;
}

interface Z2mState {
  users: Map<number, Z2mUser>;
  battery: number | null;
  bolt: DeviceStatus['bolt'];
  online: boolean | null;
  /** Count of state publishes seen: a command waits for the ones its request causes. */
  publishes: number;
  /** State publishes without an `action` (a lock's event is no answer to a read), counted apart for reads. */
  quietPublishes: number;
  /** Failures Zigbee2MQTT logged for this device, counted like publishes. */
  failures: { at: number; seq: number; type: 'set' | 'get'; key: string; error: string }[];
  failureSeq: number;
  /** What the lock reported of its PIN users and lengths (a Nimly: `num_pin_users`, `min_pin_length`, `max_pin_length`). */
  numPinUsers: number | null;
  minPinLength: number | null;
  maxPinLength: number | null;
  /** Programming events (`pin_code_added/changed/deleted`) by Zigbee user, with the publish count they came with. */
  programmed: { seq: number; action: string; user: number }[];
}

/** One `enroll` in progress: what the bridge reported joining while the network was open. */
interface JoinSession {
  previous: string | null;
  /** Devices that joined during this session, in order. */
  joined: string[];
  /** Interview outcome per joined device. */
  interviews: Map<string, { status: 'started' | 'successful' | 'failed'; vendor: string | null; model: string | null }>;
  /** Called after each relevant event so the waiting `enroll` re-evaluates. */
  changed: () => void;
}

interface PermitRequest {
  transaction: string;
  resolve: (data: Record<string, unknown>) => void;
  reject: (e: DriverError) => void;
}

/** The most Zigbee2MQTT permits joining for in one request (it clamps to 254 s). */
const MAX_PERMIT_SECONDS = 254;

/** What the person at the lock does while lockwarden keeps the Zigbee network open. */
export const ZIGBEE_ENROLLMENT_INSTRUCTIONS =
  'After the factory reset, put the lock in pairing mode as its manual describes (most Zigbee locks try to join by themselves right after a reset) and keep it within reach of the Zigbee coordinator or a mains-powered Zigbee device. lockwarden keeps the Zigbee network open for joining while it waits, recognises the lock when it joins, and closes the network again afterwards.';

interface Waiter {
  ieee: string;
  done: () => boolean;
  failAfter: number;
  type: 'set' | 'get';
  resolve: () => void;
  reject: (e: DriverError) => void;
  write: boolean;
}

/** Builds a Zigbee2MQTT driver from plain configuration; it connects in the background. */
export function createZigbee2MqttDriver(config: Zigbee2MqttDriverConfig): Zigbee2MqttDriver {
  return new Zigbee2MqttDriver(config);
}

/** Implements `LockDriver` over a Zigbee2MQTT bridge. */
export class Zigbee2MqttDriver implements LockDriver {
  readonly name = 'zigbee2mqtt';
  readonly hubConcurrency: number;
  private readonly base: string;
  private readonly client: MqttClient;
  private readonly maxSlots: number | null;
  private readonly firstUser: number;
  private readonly fallbackSlots: number;
  private readonly rangeProbeMs: number;
  private readonly readWindow: number;
  /** Users per lock, once learnt (ieee -> count), and the searches under way. */
  private readonly userCounts = new Map<string, number>();
  private readonly userCountSearches = new Map<string, Promise<number>>();
  /** Locks whose code reads Zigbee2MQTT never answers (its definition does not convert the lock's answer: a Nimly). */
  private readonly silentReads = new Set<string>();
  /** Locks for which the bridge said it has no `pin_code` converter. */
  private readonly noPinConverter = new Set<string>();
  private readonly minLength: number;
  private readonly maxLength: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly logger: Zigbee2MqttLogger | undefined;
  private readonly reconnectInitialMs: number;
  private readonly reconnectMaxMs: number;
  private readonly hub: string;
  private readonly devices = new Map<string, Z2mDevice>();
  private readonly byName = new Map<string, string>();
  private readonly states = new Map<string, Z2mState>();
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(e: DriverEvent) => void>();
  /** Slots lockwarden itself wrote lately (`ieee:slot` -> when): their programming events are echoes. */
  private readonly ownWrites = new Map<string, number>();
  /** Devices that left the network (a factory reset), until they join again: ieee -> when. */
  private readonly left = new Map<string, number>();
  private readonly joinSessions = new Set<JoinSession>();
  private readonly permitRequests = new Map<string, PermitRequest>();
  /** The coordinator's IEEE address, from the device list. */
  private coordinator: string | null = null;
  private devicesSeen = false;
  private readonly devicesWaiters = new Set<() => void>();
  private closed = false;

  constructor(config: Zigbee2MqttDriverConfig) {
    this.base = (config.baseTopic ?? 'zigbee2mqtt').replace(/\/+$/, '');
    if (!this.base || /[#+]/.test(this.base)) throw new DriverError('driver.refused', 'the base topic must be a plain MQTT topic (no wildcards)');
    this.maxSlots = config.slots ?? null;
    this.firstUser = config.firstUser === 1 ? 1 : 0;
    this.fallbackSlots = config.fallbackSlots ?? 30;
    this.rangeProbeMs = config.rangeProbeMs ?? 1_000;
    this.readWindow = Math.max(1, config.readWindow ?? 4);
    this.minLength = config.minLength ?? 4;
    this.maxLength = config.maxLength ?? 8;
    this.timeoutMs = config.commandTimeoutMs ?? 10_000;
    this.hubConcurrency = config.hubConcurrency ?? 1;
    this.now = config.now ?? Date.now;
    this.logger = config.logger;
    this.reconnectInitialMs = config.reconnectInitialMs ?? 1_000;
    this.reconnectMaxMs = config.reconnectMaxMs ?? 60_000;
    let host = 'broker';
    try {
      host = new URL(config.url).host;
    } catch {
      throw new DriverError('driver.refused', 'the broker URL is not a URL (mqtt://host:port)');
    }
    this.hub = `zigbee2mqtt:${host}/${this.base}`;
    const options: IClientOptions = {
      reconnectPeriod: this.reconnectInitialMs,
      connectTimeout: Math.min(this.timeoutMs, 30_000),
      clientId: config.clientId ?? `lockwarden-${Math.random().toString(16).slice(2, 10)}`,
      // Never queue commands while the broker is away: they fail at once and the job runner retries.
      queueQoSZero: false,
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
    };
    this.client = mqtt.connect(config.url, options);
    this.client.on('connect', () => {
      this.client.options.reconnectPeriod = this.reconnectInitialMs;
      // Commands are small request/answer pairs: Nagle's algorithm would add ~40 ms to each.
      const stream = this.client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
      stream?.setNoDelay?.(true);
      this.client.subscribe(`${this.base}/#`, { qos: 0 }, (err) => {
        if (err) this.logger?.warn({ driver: this.name }, 'Zigbee2MQTT subscription failed');
      });
    });
    this.client.on('close', () => {
      // Back off: each failed attempt doubles the wait, up to the maximum.
      const period = this.client.options.reconnectPeriod ?? this.reconnectInitialMs;
      this.client.options.reconnectPeriod = Math.min(this.reconnectMaxMs, Math.max(this.reconnectInitialMs, period * 2));
      for (const w of this.waiters) w.reject(new DriverError('driver.unreachable', 'the MQTT broker connection dropped before the lock answered', { uncertain: w.write }));
      this.waiters.clear();
    });
    this.client.on('error', (err) => {
      // mqtt.js errors name the broker, never the password; the code is enough.
      this.logger?.warn({ driver: this.name, code: (err as { code?: unknown }).code ?? 'error' }, 'MQTT client error');
    });
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** The backoff the next reconnect attempt waits (for tests and diagnostics). */
  get nextReconnectMs(): number {
    return this.client.options.reconnectPeriod ?? 0;
  }

  /** True while the broker connection is up. */
  get connected(): boolean {
    return this.client.connected;
  }

  hubOf(): string {
    return this.hub;
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    // A lock that left the network (reset) still has capabilities: the reset case asks how to enroll it
    // (what was learnt of it stays; it cannot be asked now).
    const left = await this.hasLeft(externalId);
    const d = left ? (this.devices.get(externalId) ?? null) : await this.device(externalId);
    const s = this.state(externalId);
    // A lock that left keeps what was learnt of it; one never seen gets the fallback.
    let users = 0;
    if (d && this.takesPins(d)) {
      users = left
        ? (this.userCounts.get(d.ieee) ?? s.numPinUsers ?? this.fallbackSlots)
        : await this.userCount(d).catch((e: unknown) => {
            // The bridge said it has no PIN converter for this lock: it takes none.
            if (this.noPinConverter.has(d.ieee)) return 0;
            throw e;
          });
    } else if (!d && left) users = this.userCounts.get(externalId) ?? this.fallbackSlots;
    const slots = this.slotsOf(users);
    const { minLength, maxLength } = this.pinLengths(externalId);
    return {
      pin: { slots, minLength, maxLength, alphabet: 'digits', ...(slots > 0 ? { firstDeviceSlot: this.firstUser } : {}) },
      schedules: { window: false, recurring: false },
      digitalKeys: false,
      controllers: false,
      biometrics: false,
      remoteLockUnlock: true,
      remoteFactoryReset: false,
      cloudBinding: false,
      events: true,
      enrollment: { kind: 'join', code: 'none', security: [], instructions: ZIGBEE_ENROLLMENT_INSTRUCTIONS },
      cloudUnbind: false,
    };
  }

  async status(externalId: string): Promise<DeviceStatus> {
    // The bridge said the lock left the network (a factory reset does this): it waits to join again.
    if (await this.hasLeft(externalId)) return { online: false, batteryPercent: null, bolt: 'unknown', firmware: null, setupMode: true, cloudBound: false };
    const d = await this.device(externalId);
    const s = this.state(d.ieee);
    const start = s.publishes;
    let reached = true;
    try {
      await this.command(d, 'get', { state: '' }, () => s.publishes > start, false);
    } catch (e) {
      // The bridge answered but the lock did not: that is an offline lock, not a failed status read.
      if (!(e instanceof DriverError) || !this.client.connected || (e.code !== 'driver.unreachable' && e.code !== 'driver.timeout')) throw e;
      reached = false;
    }
    return { online: reached && s.online !== false, batteryPercent: s.battery, bolt: s.bolt, firmware: null, setupMode: false, cloudBound: false };
  }

  async readCredentials(externalId: string): Promise<ObservedCredentials> {
    const d = await this.device(externalId);
    const none = { pins: [], controllers: this.selfController(), digitalKeys: [], biometrics: [] };
    // A lock without PINs holds none: that is an answer, not a failure.
    if (!this.takesPins(d)) return none;
    if (this.silentReads.has(d.ieee)) throw this.silentReadError(d);
    const slots = await this.slotCount(d);
    const s = this.state(d.ieee);
    const start = s.quietPublishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    // Paced: a few reads in flight (the bridge sends them one at a time); one state publish answers
    // each, a logged failure for any of them ends the read, and the deadline counts from the last answer.
    let sent = 0;
    for (;;) {
      const answered = s.quietPublishes - start;
      if (answered >= slots) break;
      for (; sent < slots && sent < answered + this.readWindow; sent++) this.publish(d, 'get', { pin_code: { user: sent + this.firstUser } });
      try {
        await this.wait(d, () => s.quietPublishes - start > answered, failStart, 'get', false);
      } catch (e) {
        // The bridge took the reads (no failure logged) yet published nothing. If the lock answers a
        // status read now, it is reachable and the bridge's definition does not pass its code answers
        // on (a Nimly): remembered, so the next read says so at once.
        if (e instanceof DriverError && e.code === 'driver.timeout' && s.failureSeq === failStart && answered === 0 && this.client.connected && (await this.answersNow(d))) {
          this.silentReads.add(d.ieee);
          throw this.silentReadError(d);
        }
        throw e;
      }
    }
    const pins: ObservedPin[] = [];
    for (let slot = 1; slot <= slots; slot++) {
      const u = s.users.get(this.userOf(slot));
      if (u && (u.status === 'enabled' || u.status === 'disabled')) pins.push({ slot, code: u.pinCode, name: '', schedule: { kind: 'always' }, enabled: u.status === 'enabled' });
    }
    return { ...none, pins };
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    const d = await this.device(externalId);
    this.requirePins(d, pin.slot);
    const slots = await this.slotCount(d);
    this.validate(pin, slots, d.ieee);
    const user = this.userOf(pin.slot);
    const s = this.state(d.ieee);
    for (const [other, u] of s.users) {
      if (other !== user && u.pinCode === pin.code && (u.status === 'enabled' || u.status === 'disabled')) {
        throw new DriverError('driver.duplicate_pin', 'another slot on this lock already holds that PIN', { slot: pin.slot });
      }
    }
    this.ownWrites.set(`${d.ieee}:${user}`, this.now());
    const start = s.publishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, 'set', { pin_code: { user, user_type: 'unrestricted', user_enabled: true, pin_code: pin.code } });
    // A lock whose reads go unanswered is confirmed by its programming event alone.
    if (!this.silentReads.has(d.ieee)) this.publish(d, 'get', { pin_code: { user } });
    const readBack = () => {
      const u = s.users.get(user);
      return s.publishes > start && u?.status === 'enabled' && (u.pinCode === null || u.pinCode === pin.code);
    };
    // The read-back shows the code, or the lock's own programming event says it took it (a lock whose
    // code reads Zigbee2MQTT does not report has only that).
    const event = () => this.programmedSince(s, start, user, ['pin_code_added', 'pin_code_changed']);
    const stored = () => readBack() || event();
    try {
      await this.wait(d, stored, failStart, 'set', true);
      if (!readBack()) await this.settleReadBack(d, failStart);
    } catch (e) {
      // Answers came but the slot never showed the code: the lock refused it (duplicate, memory full).
      if (e instanceof DriverError && e.code === 'driver.timeout' && s.publishes - start >= 2 && !stored()) {
        throw new DriverError('driver.refused', 'the lock answered but did not store the code (a duplicate PIN or full memory)', { slot: pin.slot });
      }
      throw e;
    }
  }

  async clearPin(externalId: string, slot: number): Promise<void> {
    const d = await this.device(externalId);
    this.requirePins(d, slot);
    const slots = await this.slotCount(d);
    if (!Number.isInteger(slot) || slot < 1 || slot > slots) throw new DriverError('driver.invalid_pin', `slot ${slot} does not exist on this lock (slots 1..${slots})`, { slot });
    const user = this.userOf(slot);
    const s = this.state(d.ieee);
    this.ownWrites.set(`${d.ieee}:${user}`, this.now());
    const start = s.publishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, 'set', { pin_code: { user, pin_code: null } });
    if (!this.silentReads.has(d.ieee)) this.publish(d, 'get', { pin_code: { user } });
    const readBack = () => {
      const status = s.users.get(user)?.status;
      return s.publishes > start && (status === undefined || status === 'available');
    };
    await this.wait(d, () => readBack() || this.programmedSince(s, start, user, ['pin_code_deleted']), failStart, 'set', true);
    if (!readBack()) await this.settleReadBack(d, failStart);
  }

  /**
   * After a change the lock confirmed by its programming event, gives the read-back asked with it a
   * moment to land, so its late state publish is not taken for an answer to the next read. A lock
   * whose reads go unanswered (a Nimly) costs at most `rangeProbeMs` here.
   */
  private async settleReadBack(d: Z2mDevice, failStart: number): Promise<void> {
    const s = this.state(d.ieee);
    if (this.silentReads.has(d.ieee)) return;
    const after = s.publishes;
    await this.wait(d, () => s.publishes > after, failStart, 'get', false, this.rangeProbeMs).catch(() => undefined);
  }

  /** The lock answers a status read within the command timeout. */
  private async answersNow(d: Z2mDevice): Promise<boolean> {
    const s = this.state(d.ieee);
    const start = s.publishes;
    try {
      await this.command(d, 'get', { state: '' }, () => s.publishes > start, false);
      return true;
    } catch {
      return false;
    }
  }

  listControllers(): Promise<never> {
    return Promise.reject(new DriverError('driver.not_supported', 'Zigbee2MQTT does not list the lock’s other controllers'));
  }

  removeController(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'Zigbee2MQTT does not list the lock’s other controllers'));
  }

  async lock(externalId: string): Promise<void> {
    await this.setBolt(externalId, 'LOCK');
  }

  async unlock(externalId: string): Promise<void> {
    await this.setBolt(externalId, 'UNLOCK');
  }

  factoryReset(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'a Zigbee lock is factory reset at the lock, not over the network'));
  }

  /** The same instructions for every lock: a Zigbee join needs nothing prepared beyond pairing mode. */
  prepareEnrollment(_previousExternalId?: string | null): Promise<EnrollmentPreparation> {
    return Promise.resolve({ instructions: ZIGBEE_ENROLLMENT_INSTRUCTIONS, url: null });
  }

  /**
   * Opens the Zigbee network through the bridge, waits for a lock to join and be interviewed, and
   * closes the network again however the wait ends. The previous device (same IEEE address) is
   * preferred when it rejoins; another lock that joins in the window is taken as a replacement (the
   * service matches its model). A failed interview is `driver.refused`; nothing in time or an abort
   * is `driver.timeout`.
   */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) throw new DriverError('driver.refused', 'the enrollment needs a positive time limit');
    const deadline = this.now() + request.timeoutMs;
    if (request.signal?.aborted) throw new DriverError('driver.timeout', 'the enrollment was cancelled before the Zigbee network was opened');
    await this.whenDevicesKnown();
    this.requireConnected();
    let wake: () => void = () => {};
    const session: JoinSession = { previous: request.previousExternalId, joined: [], interviews: new Map(), changed: () => wake() };
    this.joinSessions.add(session);
    let renew: ReturnType<typeof setTimeout> | undefined;
    let finished = false;
    try {
      const open = async (): Promise<void> => {
        const seconds = Math.max(1, Math.min(MAX_PERMIT_SECONDS, Math.ceil((deadline - this.now()) / 1000)));
        await this.permitJoin(seconds, deadline);
        // Zigbee2MQTT closes the network after at most 254 s: reopen shortly before, while we still wait.
        if (!finished && deadline - this.now() > seconds * 1000) {
          renew = setTimeout(() => void open().catch((e: unknown) => this.logger?.warn({ driver: this.name, code: (e as DriverError).code }, 'reopening the Zigbee network for joining failed')), Math.max(1_000, (seconds - 5) * 1000));
        }
      };
      await open();
      const ieee = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => finish(), Math.max(0, deadline - this.now()));
        const onAbort = () => finish(new DriverError('driver.timeout', 'the enrollment was cancelled; the Zigbee network is closed again'));
        request.signal?.addEventListener('abort', onAbort, { once: true });
        let settled = false;
        // Cancelled while the bridge was still answering the open request.
        if (request.signal?.aborted) queueMicrotask(onAbort);
        const finish = (e?: DriverError, value?: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          request.signal?.removeEventListener('abort', onAbort);
          wake = () => {};
          if (value !== undefined) resolve(value);
          else reject(e ?? this.joinTimeout(session, request.timeoutMs));
        };
        wake = () => {
          try {
            const chosen = this.chooseJoined(session);
            if (chosen) finish(undefined, chosen);
          } catch (e) {
            finish(e as DriverError);
          }
        };
        wake();
      });
      clearTimeout(renew);
      const d = await this.waitForListedLock(ieee, deadline);
      // The contract: resolve once the device answers lockwarden's commands.
      const s = this.state(ieee);
      const start = s.publishes;
      await this.command(d, 'get', { state: '' }, () => s.publishes > start, false);
      // The interview's definition names vendor and model; the bridge's list fills what it left out.
      const interview = session.interviews.get(ieee);
      return { externalId: ieee, manufacturer: interview?.vendor ?? d.manufacturer, model: interview?.model ?? d.model, serial: null };
    } finally {
      finished = true;
      clearTimeout(renew);
      this.joinSessions.delete(session);
      // Also after a failed or unanswered open request: the bridge may have opened the network anyway.
      await this.closeJoin();
    }
  }

  unbindCloud(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'a Zigbee lock has no vendor cloud binding'));
  }

  async discover(): Promise<DiscoveredDevice[]> {
    await this.whenDevicesKnown();
    return [...this.devices.values()].filter((d) => d.isLock).map((d) => ({ externalId: d.ieee, manufacturer: d.manufacturer, model: d.model, label: d.name }));
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) w.reject(new DriverError('driver.unreachable', 'the driver was closed'));
    this.waiters.clear();
    for (const r of this.permitRequests.values()) r.reject(new DriverError('driver.unreachable', 'the driver was closed'));
    this.permitRequests.clear();
    this.listeners.clear();
    await this.client.endAsync(true);
  }

  /**
   * A Zigbee lock is joined to one network, whose trust centre is the bridge's coordinator: that is
   * lockwarden's own pairing (`self`), listed so a reset case sees the lock enrolled anew once it
   * rejoined. Zigbee has no other controllers to list or remove (`capabilities().controllers` stays false).
   */
  private selfController(): ObservedController[] {
    return [{ id: `coordinator:${this.coordinator ?? 'unknown'}`, label: 'Zigbee2MQTT coordinator (lockwarden’s Zigbee network)', kind: 'hub', admin: true, self: true }];
  }

  /** True when the bridge reported this device leaving and it has not joined again. */
  private async hasLeft(externalId: string): Promise<boolean> {
    if (!this.left.has(externalId)) return false;
    await this.whenDevicesKnown();
    return !this.devices.has(externalId) && this.left.has(externalId);
  }

  /**
   * The device this session enrolls, once decided: the previous device when it rejoined and passed
   * its interview; another lock that passed, unless the previous device is still being interviewed.
   * A joined device whose interview failed ends the session with a clear error.
   */
  private chooseJoined(session: JoinSession): string | undefined {
    const lockPassed = (ieee: string) => session.interviews.get(ieee)?.status === 'successful' && this.devices.get(ieee)?.isLock === true;
    if (session.previous && lockPassed(session.previous)) return session.previous;
    const pending = (ieee: string) => {
      const status = session.interviews.get(ieee)?.status;
      return status !== 'successful' && status !== 'failed';
    };
    const candidate = session.joined.find(lockPassed);
    if (candidate && !(session.previous && session.joined.includes(session.previous) && pending(session.previous))) return candidate;
    const failed = session.joined.find((ieee) => session.interviews.get(ieee)?.status === 'failed');
    // Another device still being interviewed may be the lock: only fail once nothing is left to wait for.
    if (failed && !candidate && !session.joined.some(pending)) {
      throw new DriverError(
        'driver.refused',
        `a device (${failed}) joined the Zigbee network but Zigbee2MQTT could not interview it, so it is not paired: factory reset the lock again, keep it close to the coordinator or a mains-powered Zigbee device, and retry`,
      );
    }
    return undefined;
  }

  private joinTimeout(session: JoinSession, timeoutMs: number): DriverError {
    const seconds = Math.round(timeoutMs / 1000);
    const pending = session.joined.some((ieee) => session.interviews.get(ieee)?.status !== 'successful' && session.interviews.get(ieee)?.status !== 'failed');
    const nonLock = session.joined.some((ieee) => session.interviews.get(ieee)?.status === 'successful' && this.devices.get(ieee)?.isLock !== true);
    const why = pending
      ? 'a device joined but its interview did not finish in time'
      : nonLock
        ? 'only devices that are not locks joined'
        : 'no device joined';
    return new DriverError('driver.timeout', `${why} within ${seconds} s; the Zigbee network is closed again: check the lock is in pairing mode and retry`);
  }

  /** The interviewed device as the bridge lists it (the list is republished right before the event). */
  private async waitForListedLock(ieee: string, deadline: number): Promise<Z2mDevice> {
    const end = Math.min(deadline, this.now() + this.timeoutMs);
    while (!this.devices.get(ieee)?.isLock) {
      if (this.now() >= end) throw new DriverError('driver.timeout', 'the lock joined but Zigbee2MQTT did not list it in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.devices.get(ieee)!;
  }

  /** Permits joining for `seconds` (0 closes) and resolves with the bridge's answer. */
  private permitJoin(seconds: number, deadline = Infinity): Promise<Record<string, unknown>> {
    this.requireConnected();
    const transaction = `lockwarden-${Math.random().toString(36).slice(2, 10)}`;
    // `value` for 1.x bridges (required there), `time` for both (2.x uses it alone; 0 closes).
    const payload = { value: seconds > 0, time: seconds, transaction };
    return new Promise((resolve, reject) => {
      const wait = Math.max(1, Math.min(this.timeoutMs, deadline - this.now()));
      const timer = setTimeout(() => {
        this.permitRequests.delete(transaction);
        reject(new DriverError('driver.timeout', `Zigbee2MQTT did not answer the request to ${seconds > 0 ? 'open' : 'close'} the network for joining within ${Math.round(wait)} ms`));
      }, wait);
      this.permitRequests.set(transaction, {
        transaction,
        resolve: (data) => {
          clearTimeout(timer);
          this.permitRequests.delete(transaction);
          resolve(data);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.permitRequests.delete(transaction);
          reject(e);
        },
      });
      this.client.publish(`${this.base}/bridge/request/permit_join`, JSON.stringify(payload), { qos: 1 });
    });
  }

  /** Closes joining; a failure is logged (the bridge closes by itself when the permitted time ends). */
  private async closeJoin(): Promise<void> {
    try {
      await this.permitJoin(0);
    } catch (e) {
      this.logger?.warn({ driver: this.name, code: e instanceof DriverError ? e.code : 'error' }, 'closing the Zigbee network for joining failed; the bridge closes it when the permitted time ends');
    }
  }

  private onPermitJoinResponse(response: unknown): void {
    if (!isRecord(response)) throw new BadPayload('bridge/response/permit_join is not an object');
    const transaction = typeof response.transaction === 'string' ? response.transaction : undefined;
    // A bridge that does not echo transactions: the only request outstanding is the one answered.
    const request = transaction !== undefined ? this.permitRequests.get(transaction) : this.permitRequests.size === 1 ? [...this.permitRequests.values()][0] : undefined;
    if (!request) return;
    const data = isRecord(response.data) ? response.data : {};
    if (response.status !== 'ok') {
      const said = typeof response.error === 'string' && response.error ? `: "${response.error.slice(0, 200)}"` : '';
      request.reject(new DriverError('driver.refused', `Zigbee2MQTT refused to change joining${said}`));
      return;
    }
    request.resolve(data);
  }

  private async setBolt(externalId: string, state: 'LOCK' | 'UNLOCK'): Promise<void> {
    const d = await this.device(externalId);
    const s = this.state(d.ieee);
    const want = state === 'LOCK' ? 'locked' : 'unlocked';
    await this.command(d, 'set', { state }, () => s.bolt === want, true);
  }

  /** The PIN lengths the lock reported (a Nimly's `min_pin_length` / `max_pin_length`), else the configured ones. */
  private pinLengths(ieee: string): { minLength: number; maxLength: number } {
    const s = this.state(ieee);
    const minLength = s.minPinLength ?? this.minLength;
    return { minLength, maxLength: Math.max(minLength, s.maxPinLength ?? this.maxLength) };
  }

  /** The lock takes PINs through Zigbee2MQTT: its definition exposes `pin_code` and the bridge has its converter. */
  private takesPins(d: Z2mDevice): boolean {
    return d.pins && !this.noPinConverter.has(d.ieee);
  }

  /** Refuses at once, before anything is sent, a PIN call to a lock that takes none. */
  private requirePins(d: Z2mDevice, slot: number): void {
    if (this.takesPins(d)) return;
    throw new DriverError('driver.not_supported', `${describe(d)} takes no PIN codes through Zigbee2MQTT (its device definition has no pin_code)`, { slot });
  }

  private silentReadError(d: Z2mDevice): DriverError {
    return new DriverError('driver.not_supported', `Zigbee2MQTT does not report the codes held by ${describe(d)} (its device definition does not convert the lock's answer to a code read): codes can be written and cleared, not read back`);
  }

  /** A programming event for this Zigbee user came with a state publish after `start`. */
  private programmedSince(s: Z2mState, start: number, user: number, actions: string[]): boolean {
    return s.programmed.some((p) => p.seq > start && p.user === user && actions.includes(p.action));
  }

  /** lockwarden's slots on this lock: its user count, capped by configuration. */
  private async slotCount(d: Z2mDevice): Promise<number> {
    return this.slotsOf(await this.userCount(d));
  }

  /** lockwarden's slots for a lock with this many Zigbee users (from `firstUser`, capped by configuration). */
  private slotsOf(users: number): number {
    const n = Math.max(0, users - this.firstUser);
    return this.maxSlots === null ? n : Math.min(n, this.maxSlots);
  }

  /** The Zigbee user that holds lockwarden's slot. */
  private userOf(slot: number): number {
    return slot - 1 + this.firstUser;
  }

  /**
   * How many PIN users the lock has: what it reported (`num_pin_users`), else what its `pin_code`
   * expose allows, else the range its converter accepts, found once by asking (see the file's doc).
   */
  private userCount(d: Z2mDevice): Promise<number> {
    const known = this.knownUserCount(d);
    if (known !== undefined) return Promise.resolve(known);
    let search = this.userCountSearches.get(d.ieee);
    if (!search) {
      search = this.searchUserCount(d).finally(() => this.userCountSearches.delete(d.ieee));
      this.userCountSearches.set(d.ieee, search);
    }
    return search;
  }

  private knownUserCount(d: Z2mDevice): number | undefined {
    return this.userCounts.get(d.ieee) ?? this.state(d.ieee).numPinUsers ?? (d.userMax !== null ? d.userMax + 1 : undefined);
  }

  private async searchUserCount(d: Z2mDevice): Promise<number> {
    // Zigbee2MQTT publishes the lock's whole cached state after a status read: what the lock reported
    // of itself (num_pin_users) is in it, when it reported it before lockwarden connected.
    await this.answersNow(d);
    const reported = this.knownUserCount(d);
    if (reported !== undefined) return reported;
    // has(n): the lock has at least n users, i.e. Zigbee user n-1 is in range. Doubling, then halving.
    const has = (n: number) => this.userInRange(d, n - 1);
    if (!(await has(1))) return this.remember(d, 0);
    let lo = 1;
    let hi = 2;
    while (hi <= MAX_ZIGBEE_USERS && (await has(hi))) {
      lo = hi;
      hi *= 2;
    }
    if (hi > MAX_ZIGBEE_USERS) return this.remember(d, MAX_ZIGBEE_USERS);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await has(mid)) lo = mid;
      else hi = mid;
    }
    return this.remember(d, lo);
  }

  private remember(d: Z2mDevice, count: number): number {
    this.userCounts.set(d.ieee, count);
    return count;
  }

  /**
   * Whether the definition's converter takes this Zigbee user: a user Zigbee2MQTT already reported
   * is; otherwise one read is asked, and the converter's refusal ("... must be in range for device",
   * logged at once, nothing sent to the lock) says it is not. An answer, another failure (the lock
   * itself did not answer) or no refusal within `rangeProbeMs` means it is.
   */
  private async userInRange(d: Z2mDevice, user: number): Promise<boolean> {
    const s = this.state(d.ieee);
    if (s.users.has(user)) return true;
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, 'get', { pin_code: { user } });
    try {
      await this.wait(d, () => s.users.has(user), failStart, 'get', false, this.rangeProbeMs);
    } catch (e) {
      if (!(e instanceof DriverError) || !this.client.connected) throw e;
      // The bridge has no converter for PIN codes on this lock at all: no count to find.
      if (this.noPinConverter.has(d.ieee)) throw e;
      return !s.failures.some((f) => f.seq > failStart && f.key === 'pin_code' && isRangeRefusal(f.error));
    }
    return true;
  }

  private validate(pin: PinWrite, slots: number, ieee: string): void {
    if (!Number.isInteger(pin.slot) || pin.slot < 1 || pin.slot > slots) throw new DriverError('driver.invalid_pin', `slot ${pin.slot} does not exist on this lock (slots 1..${slots})`, { slot: pin.slot });
    if (!/^\d+$/.test(pin.code)) throw new DriverError('driver.invalid_pin', 'the code must be decimal digits', { slot: pin.slot });
    const { minLength, maxLength } = this.pinLengths(ieee);
    if (pin.code.length < minLength || pin.code.length > maxLength) throw new DriverError('driver.invalid_pin', `the code must be ${minLength}..${maxLength} digits`, { slot: pin.slot });
    if (pin.schedule.kind !== 'always') throw new DriverError('driver.not_supported', 'schedules are not offered through Zigbee2MQTT', { slot: pin.slot });
  }

  private async command(d: Z2mDevice, type: 'set' | 'get', payload: Record<string, unknown>, done: () => boolean, write: boolean): Promise<void> {
    const s = this.state(d.ieee);
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, type, payload);
    await this.wait(d, done, failStart, type, write);
  }

  private requireConnected(): void {
    if (this.closed || !this.client.connected) throw new DriverError('driver.unreachable', 'the MQTT broker is not connected');
  }

  private publish(d: Z2mDevice, type: 'set' | 'get', payload: Record<string, unknown>): void {
    this.client.publish(`${this.base}/${d.name}/${type}`, JSON.stringify(payload), { qos: 1 });
  }

  private wait(d: Z2mDevice, done: () => boolean, failAfter: number, type: 'set' | 'get', write: boolean, timeoutMs = this.timeoutMs): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { ieee: d.ieee, done, failAfter, type, write, resolve: () => {}, reject: () => {} };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new DriverError('driver.timeout', `the lock did not answer within ${timeoutMs} ms`, { uncertain: write }));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      waiter.reject = (e) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        reject(e);
      };
      this.waiters.add(waiter);
      this.check(d.ieee);
    });
  }

  private check(ieee: string): void {
    const s = this.state(ieee);
    for (const w of [...this.waiters]) {
      if (w.ieee !== ieee) continue;
      const failure = s.failures.find((f) => f.seq > w.failAfter);
      if (failure) {
        w.reject(failureError(failure.error, w.write && failure.type === 'set'));
        continue;
      }
      if (w.done()) w.resolve();
    }
  }

  private async device(externalId: string): Promise<Z2mDevice> {
    await this.whenDevicesKnown();
    const d = this.devices.get(externalId);
    if (!d?.isLock) throw new DriverError('driver.unknown_device', 'Zigbee2MQTT reports no lock with this IEEE address');
    return d;
  }

  /** Waits (bounded) for the first retained device list after connecting. */
  private whenDevicesKnown(): Promise<void> {
    if (this.devicesSeen) return Promise.resolve();
    if (this.closed) return Promise.reject(new DriverError('driver.unreachable', 'the driver was closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.devicesWaiters.delete(done);
        reject(new DriverError(this.client.connected ? 'driver.timeout' : 'driver.unreachable', this.client.connected ? 'Zigbee2MQTT has not published its device list' : 'the MQTT broker is not connected'));
      }, this.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.devicesWaiters.add(done);
    });
  }

  private state(ieee: string): Z2mState {
    let s = this.states.get(ieee);
    if (!s) {
      s = { users: new Map(), battery: null, bolt: 'unknown', online: null, publishes: 0, quietPublishes: 0, failures: [], failureSeq: 0, numPinUsers: null, minPinLength: null, maxPinLength: null, programmed: [] };
      this.states.set(ieee, s);
    }
    return s;
  }

  private emit(e: DriverEvent): void {
    for (const l of this.listeners) l(e);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (!topic.startsWith(`${this.base}/`)) return;
    const rest = topic.slice(this.base.length + 1);
    if (rest.endsWith('/set') || rest.endsWith('/get')) return;
    try {
      if (rest === 'bridge/devices') return this.onDevices(parseJson(payload));
      if (rest === 'bridge/event') return this.onBridgeEvent(parseJson(payload));
      if (rest === 'bridge/logging' || rest === 'bridge/log') return this.onLogging(parseJson(payload));
      if (rest === 'bridge/response/permit_join') return this.onPermitJoinResponse(parseJson(payload));
      if (rest.startsWith('bridge/')) return;
      if (rest.endsWith('/availability')) return this.onAvailability(rest.slice(0, -'/availability'.length), payload);
      const ieee = this.byName.get(rest);
      if (ieee) this.onState(ieee, parseJson(payload));
    } catch (e) {
      // The payload may hold PINs: log the topic and what was wrong, never the content.
      const problem = e instanceof BadPayload ? e.message : 'unexpected error';
      this.logger?.warn({ driver: this.name, topic, problem }, 'ignored a Zigbee2MQTT message');
      // A lock's own topic: the lock is marked with the error (its history shows it).
      const ieee = this.byName.get(rest);
      if (ieee) this.emit({ type: 'device_error', externalId: ieee, message: `ignored a message on ${topic}: ${problem}`, at: new Date(this.now()) });
    }
  }

  private onDevices(list: unknown): void {
    if (!Array.isArray(list)) throw new BadPayload('bridge/devices is not a list');
    this.devices.clear();
    this.byName.clear();
    for (const raw of list) {
      if (!isRecord(raw) || typeof raw.ieee_address !== 'string' || typeof raw.friendly_name !== 'string') continue;
      if (raw.type === 'Coordinator') this.coordinator = raw.ieee_address;
      const def = isRecord(raw.definition) ? raw.definition : null;
      const exposes = Array.isArray(def?.exposes) ? def.exposes : [];
      const pinExpose = findExpose(exposes, 'pin_code');
      const userFeature: unknown = pinExpose && Array.isArray(pinExpose.features) ? (pinExpose.features as unknown[]).find((f) => isRecord(f) && (f.property === 'user' || f.name === 'user')) : undefined;
      const device: Z2mDevice = {
        ieee: raw.ieee_address,
        name: raw.friendly_name,
        manufacturer: typeof def?.vendor === 'string' ? def.vendor : typeof raw.manufacturer === 'string' ? raw.manufacturer : null,
        model: typeof def?.model === 'string' ? def.model : typeof raw.model_id === 'string' ? raw.model_id : null,
        description: typeof def?.description === 'string' ? def.description : null,
        isLock: raw.type !== 'Coordinator' && exposes.some((e) => isRecord(e) && e.type === 'lock'),
        pins: pinExpose !== undefined,
        userMax: isRecord(userFeature) && typeof userFeature.value_max === 'number' && Number.isInteger(userFeature.value_max) && userFeature.value_max >= 0 ? userFeature.value_max : null,
      };
      this.devices.set(device.ieee, device);
      this.byName.set(device.name, device.ieee);
    }
    this.devicesSeen = true;
    for (const w of this.devicesWaiters) w();
    this.devicesWaiters.clear();
    for (const session of this.joinSessions) session.changed();
  }

  private onBridgeEvent(event: unknown): void {
    if (!isRecord(event) || typeof event.type !== 'string' || !isRecord(event.data)) throw new BadPayload('bridge/event has no type and data');
    const ieee = typeof event.data.ieee_address === 'string' ? event.data.ieee_address : undefined;
    if (event.type === 'device_leave' && ieee) {
      // The lock left the network (a factory reset does this): what we knew of its codes is void.
      const s = this.state(ieee);
      s.users.clear();
      s.online = false;
      this.left.set(ieee, this.now());
      this.emit({ type: 'reset_detected', externalId: ieee, at: new Date(this.now()) });
    } else if (event.type === 'device_joined' && ieee) {
      this.left.delete(ieee);
      for (const session of this.joinSessions) {
        if (!session.joined.includes(ieee)) session.joined.push(ieee);
        session.changed();
      }
    } else if (event.type === 'device_interview' && ieee) {
      const status = event.data.status;
      if (status !== 'started' && status !== 'successful' && status !== 'failed') throw new BadPayload('device_interview has no known status');
      const def = isRecord(event.data.definition) ? event.data.definition : null;
      for (const session of this.joinSessions) {
        // Only devices that joined in this window count (a re-interview of another lock is no join),
        // and the previous device, which may be interviewed again without a join event.
        if (!session.joined.includes(ieee)) {
          if (ieee !== session.previous) continue;
          session.joined.push(ieee);
        }
        session.interviews.set(ieee, { status, vendor: typeof def?.vendor === 'string' ? def.vendor : null, model: typeof def?.model === 'string' ? def.model : null });
        session.changed();
      }
    }
  }

  private onLogging(entry: unknown): void {
    if (!isRecord(entry) || entry.level !== 'error' || typeof entry.message !== 'string') return;
    // "No converter available for 'pin_code' on 'garage': (…)" (2.x; 1.x names no device): the bridge
    // cannot do PINs on this lock. Taken for the named lock, or for every lock waiting on an answer.
    const none = /^No converter available for '([^']+)'(?: on '(.+?)')?/.exec(entry.message);
    if (none) {
      const named = none[2] !== undefined ? this.byName.get(none[2]) : undefined;
      const ieees = none[2] !== undefined ? (named ? [named] : []) : [...new Set([...this.waiters].map((w) => w.ieee))];
      for (const ieee of ieees) {
        if (none[1] === 'pin_code') this.noPinConverter.add(ieee);
        this.recordFailure(ieee, 'set', none[1]!, `No converter available for '${none[1]}'`);
      }
      return;
    }
    // Zigbee2MQTT reports a failed command only as text: "Publish 'set' 'pin_code' to 'front door' failed: '…'".
    const m = /^Publish '(set|get)' '([^']+)' to '(.+)' failed: '?(.*?)'?$/s.exec(entry.message);
    if (!m) return;
    const ieee = this.byName.get(m[3]!);
    if (!ieee) return;
    this.recordFailure(ieee, m[1] as 'set' | 'get', m[2]!, m[4]!);
  }

  /** A failure Zigbee2MQTT logged for this lock: waiters that started before it end with it. */
  private recordFailure(ieee: string, type: 'set' | 'get', key: string, error: string): void {
    const s = this.state(ieee);
    s.failureSeq++;
    s.failures.push({ at: this.now(), seq: s.failureSeq, type, key, error });
    if (s.failures.length > 20) s.failures.shift();
    this.check(ieee);
  }

  private onAvailability(name: string, payload: Buffer): void {
    const ieee = this.byName.get(name);
    if (!ieee) return;
    const text = payload.toString('utf8');
    let state: unknown = text;
    if (text.startsWith('{')) state = (parseJson(payload) as { state?: unknown }).state;
    if (state !== 'online' && state !== 'offline') throw new BadPayload('availability is neither online nor offline');
    const s = this.state(ieee);
    const online = state === 'online';
    if (s.online !== online) {
      s.online = online;
      this.emit({ type: 'online', externalId: ieee, online, at: new Date(this.now()) });
    }
  }

  private onState(ieee: string, state: unknown): void {
    if (!isRecord(state)) throw new BadPayload('device state is not an object');
    const s = this.state(ieee);
    const at = new Date(this.now());
    if (isRecord(state.users)) {
      for (const [key, value] of Object.entries(state.users)) {
        const slot = Number(key);
        if (!Number.isInteger(slot) || !isRecord(value) || typeof value.status !== 'string') continue;
        s.users.set(slot, { status: value.status, pinCode: typeof value.pin_code === 'string' && value.pin_code !== '' ? value.pin_code : null });
      }
    }
    if (typeof state.battery === 'number' && state.battery >= 0 && state.battery <= 100) s.battery = Math.round(state.battery);
    // What a lock reports of its own PIN limits (a Nimly's configure reads them).
    if (isCount(state.num_pin_users)) s.numPinUsers = state.num_pin_users;
    if (isCount(state.min_pin_length) && state.min_pin_length > 0) s.minPinLength = state.min_pin_length;
    if (isCount(state.max_pin_length) && state.max_pin_length > 0) s.maxPinLength = state.max_pin_length;
    const bolt = boltOf(state);
    if (bolt && bolt !== s.bolt) {
      // Learning the bolt's state for the first time is no movement.
      const moved = s.bolt !== 'unknown';
      s.bolt = bolt;
      if (moved) this.emit({ type: 'bolt', externalId: ieee, bolt, at });
    }
    s.publishes++;
    const action = typeof state.action === 'string' ? state.action : undefined;
    if (action === undefined) s.quietPublishes++;
    const user = typeof state.action_user === 'number' ? state.action_user : undefined;
    if (action === 'pin_code_added' || action === 'pin_code_deleted' || action === 'pin_code_changed') {
      if (user !== undefined) {
        s.programmed.push({ seq: s.publishes, action, user });
        if (s.programmed.length > 50) s.programmed.shift();
      }
      const own = user !== undefined && state.action_source_name === 'rf' && (this.ownWrites.get(`${ieee}:${user}`) ?? -Infinity) > this.now() - 60_000;
      this.emit({ type: 'credentials_changed', externalId: ieee, at, ...(own ? { bySelf: true } : {}) });
    } else if (action === 'unlock' && user !== undefined && state.action_source_name === 'keypad') {
      const slot = user + 1 - this.firstUser;
      if (slot >= 1) this.emit({ type: 'pin_used', externalId: ieee, slot, at });
    }
    this.check(ieee);
  }
}

class BadPayload extends Error {}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BadPayload('payload is not JSON');
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function boltOf(state: Record<string, unknown>): DeviceStatus['bolt'] | undefined {
  if (state.lock_state === 'locked' || state.state === 'LOCK') return 'locked';
  if (state.lock_state === 'unlocked' || state.state === 'UNLOCK') return 'unlocked';
  if (state.lock_state === 'not_fully_locked') return 'jammed';
  return undefined;
}

/**
 * Zigbee2MQTT's failure text, classified: no route or no MAC acknowledgement means the lock was
 * not reached; anything else (a timeout waiting for the answer) may have been applied.
 */
function failureError(error: string, write: boolean): DriverError {
  if (/^No converter available/.test(error)) return new DriverError('driver.not_supported', 'Zigbee2MQTT has no converter for PIN codes on this lock: it takes no PIN codes through Zigbee2MQTT');
  if (isRangeRefusal(error)) return new DriverError('driver.invalid_pin', "that user number is outside the range Zigbee2MQTT's device definition allows for this lock");
  if (/delivery failed|no ?ack|mac_no_ack|route|offline|unreachable/i.test(error)) return new DriverError('driver.unreachable', 'Zigbee2MQTT could not deliver the command to the lock');
  if (/timeout/i.test(error)) return new DriverError('driver.timeout', 'the lock did not answer Zigbee2MQTT in time', { uncertain: write });
  return new DriverError('driver.refused', 'Zigbee2MQTT reported the command failed');
}

/** The most users a Zigbee Door Lock can number (user ids are 16-bit). */
const MAX_ZIGBEE_USERS = 0x10000;

/** The converters' refusal of a user outside the definition's `pinCodeCount` ("user must be in range for device"). */
function isRangeRefusal(error: string): boolean {
  return /must be in range for device/i.test(error);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** The expose with this property or name, at the top level or inside a composite's or endpoint's features. */
function findExpose(exposes: unknown[], property: string): Record<string, unknown> | undefined {
  for (const e of exposes) {
    if (!isRecord(e)) continue;
    if (e.property === property || e.name === property) return e;
    if (Array.isArray(e.features) && e.type !== 'composite') {
      const inner = findExpose(e.features, property);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** The lock as a person names it: vendor and model, where the definition says. */
function describe(d: Z2mDevice): string {
  const what = [d.manufacturer, d.model].filter(Boolean).join(' ');
  return what ? `this lock (${what})` : 'this lock';
}
