/**
 * The `zigbee2mqtt` driver: Zigbee locks reached through a Zigbee2MQTT bridge over MQTT.
 *
 * Devices come from the retained `<base>/bridge/devices`; a device is a lock when its definition
 * exposes a `lock`. Its `externalId` is the IEEE address (friendly names can be renamed). PIN slot N
 * is Zigbee user N; the payloads are Zigbee2MQTT's documented ones:
 *   set    `<base>/<name>/set` `{"pin_code":{"user":N,"user_type":"unrestricted","user_enabled":true,"pin_code":"1234"}}`
 *   clear  `<base>/<name>/set` `{"pin_code":{"user":N,"pin_code":null}}`
 *   read   `<base>/<name>/get` `{"pin_code":{"user":N}}`
 * and the answer lands in the device's state as `users.N.status`. The status is what counts
 * (`enabled`/`disabled` hold a code, `available` is empty), never whether `pin_code` is present:
 * Zigbee2MQTT shows codes only with its `expose_pin` option.
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
  /** PIN slots lockwarden manages per lock (Zigbee users 1..slots). Reads cost one Zigbee round trip per slot. */
  slots?: number;
  minLength?: number;
  maxLength?: number;
  /** How long a command waits for the lock's answer. */
  commandTimeoutMs?: number;
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
  /** Failures Zigbee2MQTT logged for this device, counted like publishes. */
  failures: { at: number; seq: number; type: 'set' | 'get'; key: string; error: string }[];
  failureSeq: number;
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
  private readonly slots: number;
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
    this.slots = config.slots ?? 30;
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
    // A lock that left the network (reset) still has capabilities: the reset case asks how to enroll it.
    if (!(await this.hasLeft(externalId))) await this.device(externalId);
    return {
      pin: { slots: this.slots, minLength: this.minLength, maxLength: this.maxLength, alphabet: 'digits' },
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
    const s = this.state(d.ieee);
    const start = s.publishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    for (let user = 1; user <= this.slots; user++) this.publish(d, 'get', { pin_code: { user } });
    // One state publish answers each read; a logged failure for any of them ends the wait.
    await this.wait(d, () => s.publishes - start >= this.slots, failStart, 'get', false);
    const pins: ObservedPin[] = [];
    for (let slot = 1; slot <= this.slots; slot++) {
      const u = s.users.get(slot);
      if (u && (u.status === 'enabled' || u.status === 'disabled')) pins.push({ slot, code: u.pinCode, name: '', schedule: { kind: 'always' }, enabled: u.status === 'enabled' });
    }
    return { pins, controllers: this.selfController(), digitalKeys: [], biometrics: [] };
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    const d = await this.device(externalId);
    this.validate(pin);
    const s = this.state(d.ieee);
    for (const [slot, u] of s.users) {
      if (slot !== pin.slot && u.pinCode === pin.code && (u.status === 'enabled' || u.status === 'disabled')) {
        throw new DriverError('driver.duplicate_pin', 'another slot on this lock already holds that PIN', { slot: pin.slot });
      }
    }
    this.ownWrites.set(`${d.ieee}:${pin.slot}`, this.now());
    const start = s.publishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, 'set', { pin_code: { user: pin.slot, user_type: 'unrestricted', user_enabled: true, pin_code: pin.code } });
    this.publish(d, 'get', { pin_code: { user: pin.slot } });
    const stored = () => {
      const u = s.users.get(pin.slot);
      return u?.status === 'enabled' && (u.pinCode === null || u.pinCode === pin.code);
    };
    try {
      await this.wait(d, () => s.publishes > start && stored(), failStart, 'set', true);
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
    if (!Number.isInteger(slot) || slot < 1 || slot > this.slots) throw new DriverError('driver.invalid_pin', `slot must be 1..${this.slots}`, { slot });
    const s = this.state(d.ieee);
    this.ownWrites.set(`${d.ieee}:${slot}`, this.now());
    const start = s.publishes;
    const failStart = s.failureSeq;
    this.requireConnected();
    this.publish(d, 'set', { pin_code: { user: slot, pin_code: null } });
    this.publish(d, 'get', { pin_code: { user: slot } });
    const empty = () => {
      const status = s.users.get(slot)?.status;
      return status === undefined || status === 'available';
    };
    await this.wait(d, () => s.publishes > start && empty(), failStart, 'set', true);
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

  private validate(pin: PinWrite): void {
    if (!Number.isInteger(pin.slot) || pin.slot < 1 || pin.slot > this.slots) throw new DriverError('driver.invalid_pin', `slot must be 1..${this.slots}`, { slot: pin.slot });
    if (!/^\d+$/.test(pin.code)) throw new DriverError('driver.invalid_pin', 'the code must be decimal digits', { slot: pin.slot });
    if (pin.code.length < this.minLength || pin.code.length > this.maxLength) throw new DriverError('driver.invalid_pin', `the code must be ${this.minLength}..${this.maxLength} digits`, { slot: pin.slot });
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

  private wait(d: Z2mDevice, done: () => boolean, failAfter: number, type: 'set' | 'get', write: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { ieee: d.ieee, done, failAfter, type, write, resolve: () => {}, reject: () => {} };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new DriverError('driver.timeout', `the lock did not answer within ${this.timeoutMs} ms`, { uncertain: write }));
      }, this.timeoutMs);
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
      s = { users: new Map(), battery: null, bolt: 'unknown', online: null, publishes: 0, failures: [], failureSeq: 0 };
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
      const device: Z2mDevice = {
        ieee: raw.ieee_address,
        name: raw.friendly_name,
        manufacturer: typeof def?.vendor === 'string' ? def.vendor : typeof raw.manufacturer === 'string' ? raw.manufacturer : null,
        model: typeof def?.model === 'string' ? def.model : typeof raw.model_id === 'string' ? raw.model_id : null,
        description: typeof def?.description === 'string' ? def.description : null,
        isLock: raw.type !== 'Coordinator' && exposes.some((e) => isRecord(e) && e.type === 'lock'),
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
    // Zigbee2MQTT reports a failed command only as text: "Publish 'set' 'pin_code' to 'front door' failed: '…'".
    const m = /^Publish '(set|get)' '([^']+)' to '(.+)' failed: '?(.*?)'?$/s.exec(entry.message);
    if (!m) return;
    const ieee = this.byName.get(m[3]!);
    if (!ieee) return;
    const s = this.state(ieee);
    s.failureSeq++;
    s.failures.push({ at: this.now(), seq: s.failureSeq, type: m[1] as 'set' | 'get', key: m[2]!, error: m[4]! });
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
    const bolt = boltOf(state);
    if (bolt && bolt !== s.bolt) {
      // Learning the bolt's state for the first time is no movement.
      const moved = s.bolt !== 'unknown';
      s.bolt = bolt;
      if (moved) this.emit({ type: 'bolt', externalId: ieee, bolt, at });
    }
    s.publishes++;
    const action = typeof state.action === 'string' ? state.action : undefined;
    const user = typeof state.action_user === 'number' ? state.action_user : undefined;
    if (action === 'pin_code_added' || action === 'pin_code_deleted' || action === 'pin_code_changed') {
      const own = user !== undefined && state.action_source_name === 'rf' && (this.ownWrites.get(`${ieee}:${user}`) ?? -Infinity) > this.now() - 60_000;
      this.emit({ type: 'credentials_changed', externalId: ieee, at, ...(own ? { bySelf: true } : {}) });
    } else if (action === 'unlock' && user !== undefined && state.action_source_name === 'keypad') {
      this.emit({ type: 'pin_used', externalId: ieee, slot: user, at });
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
  if (/delivery failed|no ?ack|mac_no_ack|route|offline|unreachable/i.test(error)) return new DriverError('driver.unreachable', 'Zigbee2MQTT could not deliver the command to the lock');
  if (/timeout/i.test(error)) return new DriverError('driver.timeout', 'the lock did not answer Zigbee2MQTT in time', { uncertain: write });
  return new DriverError('driver.refused', 'Zigbee2MQTT reported the command failed');
}
