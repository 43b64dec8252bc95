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
 * `reset_detected`; `pin_code_added/deleted/changed` actions become `credentials_changed`.
 * Payloads that are not JSON or not the expected shape are logged by topic only (a state payload can
 * carry PINs) and ignored.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DriverError, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedCredentials, type ObservedPin, type PinWrite, type EnrolledDevice, type EnrollmentPreparation } from '../contract.js';

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
    await this.device(externalId);
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
      enrollment: null,
      cloudUnbind: false,
    };
  }

  async status(externalId: string): Promise<DeviceStatus> {
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
    return { pins, controllers: [], digitalKeys: [], biometrics: [] };
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

  prepareEnrollment(): Promise<EnrollmentPreparation> {
    return Promise.reject(new DriverError('driver.not_supported', 'permit join through this Zigbee2MQTT bridge is not built yet'));
  }

  enroll(): Promise<EnrolledDevice> {
    return Promise.reject(new DriverError('driver.not_supported', 'permit join through this Zigbee2MQTT bridge is not built yet'));
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
    this.listeners.clear();
    await this.client.endAsync(true);
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
  }

  private onBridgeEvent(event: unknown): void {
    if (!isRecord(event) || typeof event.type !== 'string' || !isRecord(event.data)) throw new BadPayload('bridge/event has no type and data');
    const ieee = typeof event.data.ieee_address === 'string' ? event.data.ieee_address : undefined;
    if (event.type === 'device_leave' && ieee) {
      // The lock left the network (a factory reset does this): what we knew of its codes is void.
      const s = this.state(ieee);
      s.users.clear();
      s.online = false;
      this.emit({ type: 'reset_detected', externalId: ieee, at: new Date(this.now()) });
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
