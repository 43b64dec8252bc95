/**
 * A Zigbee2MQTT bridge without radio hardware: an `aedes` MQTT broker on 127.0.0.1 (free port, with
 * a username and password) and a simulated bridge that does what Zigbee2MQTT does with a lock,
 * using the real `zigbee-herdsman-converters` definition of a Yale YRD226 (and a Kwikset 99140-002):
 * `<base>/<name>/set|get` payloads go through the definition's toZigbee converters (as
 * zigbee2mqtt's publish extension calls them) into ZCL commands on a simulated Door Lock endpoint;
 * the lock's ZCL answers and notifications go through the definition's fromZigbee converters (as
 * the receive extension calls them) into the deep-merged state published on `<base>/<name>`.
 * Failures are logged on `<base>/bridge/logging` the way Zigbee2MQTT words them.
 *
 * The network side follows Zigbee2MQTT 2.x (or 1.x with `bridgeApi: 1`) and zigbee-herdsman: a lock
 * that leaves (a factory reset) is removed from `<base>/bridge/devices` and reported as
 * `device_leave`; a lock in pairing mode joins only while `<base>/bridge/request/permit_join` has
 * opened the network (2.x `{"time":N}`, 0 closes, clamped to 254 s; 1.x `{"value":true,"time":N}`),
 * answered on `<base>/bridge/response/permit_join`; a join is listed, then `device_joined`,
 * `device_interview` `started` and `successful` (with the definition) or `failed`, each after the
 * device list is republished, as the bridge extension does. `bridge/info` carries `permit_join`.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import * as zhc from 'zigbee-herdsman-converters';
import { presets as exposePresets } from 'zigbee-herdsman-converters/lib/exposes';

/** Faults the simulated lock can cause on its next ZCL command. */
export type ZigbeeFault = 'timeout' | 'lost_ack' | 'offline';

interface ZclUser {
  status: number;
  type: number;
  pin: string;
}

type Definition = Awaited<ReturnType<typeof zhc.findByDevice>>;
type Json = Record<string, unknown>;

// The converters log through a logger Zigbee2MQTT installs; keep the test output quiet.
zhc.setLogger({ debug: () => {}, info: () => {}, warning: () => {}, error: () => {} });

/** A Zigbee Door Lock (ZCL cluster 0x0101) behind one endpoint: what the converters talk to. */
class Endpoint {
  readonly ID = 1;
  users = new Map<number, ZclUser>();
  lockState = 1;
  batteryPercentageRemaining = 150;
  fault: ZigbeeFault | null = null;
  constructor(
    readonly deviceIeeeAddress: string,
    private readonly deliver: (type: string, cluster: string, data: Json) => void,
  ) {}

  getDevice(): { ieeeAddr: string } {
    return { ieeeAddr: this.deviceIeeeAddress };
  }

  /** What zigbee-herdsman's `Endpoint.command` would send; answers arrive as separate messages. */
  command(cluster: string, command: string, payload: Json): Promise<Json | undefined> {
    const fault = this.fault;
    this.fault = null;
    const where = `${cluster}.${command}(${JSON.stringify({ userid: payload.userid })})`;
    if (fault === 'offline') return Promise.reject(new Error(`ZCL command ${this.deviceIeeeAddress}/1 ${where} failed (Delivery failed for '4711')`));
    if (fault === 'timeout') return Promise.reject(new Error(`ZCL command ${this.deviceIeeeAddress}/1 ${where} failed (Timeout - 4711 - 1 - 12 - 257 - 5 after 10000ms)`));
    const result = this.apply(cluster, command, payload);
    if (fault === 'lost_ack') return Promise.reject(new Error(`ZCL command ${this.deviceIeeeAddress}/1 ${where} failed (Timeout - 4711 - 1 - 12 - 257 - 5 after 10000ms)`));
    return Promise.resolve(result);
  }

  read(cluster: string, attributes: string[]): Promise<Json> {
    const fault = this.fault;
    this.fault = null;
    if (fault === 'offline') return Promise.reject(new Error(`Read ${this.deviceIeeeAddress}/1 ${cluster}(${JSON.stringify(attributes)}) failed (Delivery failed for '4711')`));
    if (fault) return Promise.reject(new Error(`Read ${this.deviceIeeeAddress}/1 ${cluster}(${JSON.stringify(attributes)}) failed (Timeout - 4711 - 1 - 12 - 257 - 1 after 10000ms)`));
    const data: Json = {};
    for (const a of attributes) {
      if (cluster === 'closuresDoorLock' && a === 'lockState') data.lockState = this.lockState;
      if (cluster === 'genPowerCfg' && a === 'batteryPercentageRemaining') data.batteryPercentageRemaining = this.batteryPercentageRemaining;
    }
    setImmediate(() => this.deliver('readResponse', cluster, data));
    return Promise.resolve(data);
  }

  write(): Promise<void> {
    return Promise.resolve();
  }

  /** A user at the keypad programs a code (the lock reports it with source 0, keypad). */
  programAtKeypad(userid: number, pin: string): void {
    const existed = this.users.has(userid);
    this.users.set(userid, { status: 1, type: 0, pin });
    this.programmingEvent(existed ? 4 : 2, 0, userid);
  }

  private apply(cluster: string, command: string, payload: Json): Json | undefined {
    if (cluster !== 'closuresDoorLock') return undefined;
    const userid = Number(payload.userid);
    switch (command) {
      case 'setPinCode': {
        const pin = String(payload.pincodevalue);
        if ([...this.users.entries()].some(([id, u]) => id !== userid && u.pin === pin)) return { status: 3 }; // duplicate code
        const existed = this.users.has(userid);
        this.users.set(userid, { status: Number(payload.userstatus), type: Number(payload.usertype), pin });
        this.programmingEvent(existed ? 4 : 2, 1, userid);
        return { status: 0 };
      }
      case 'clearPinCode': {
        if (this.users.delete(userid)) this.programmingEvent(3, 1, userid);
        return { status: 0 };
      }
      case 'getPinCode': {
        const u = this.users.get(userid);
        const rsp = { userid, userstatus: u?.status ?? 0, usertype: u?.type ?? 0, pincodevalue: u?.pin ?? '' };
        setImmediate(() => this.deliver('commandGetPinCodeRsp', cluster, rsp));
        return rsp;
      }
      case 'lockDoor':
      case 'unlockDoor': {
        this.lockState = command === 'lockDoor' ? 1 : 2;
        setImmediate(() => {
          this.deliver('commandOperationEventNotification', cluster, { opereventsrc: 1, opereventcode: this.lockState === 1 ? 1 : 2, userid: 0, pin: '', zigbeelocaltime: 0, data: '' });
          this.deliver('attributeReport', cluster, { lockState: this.lockState });
        });
        return { status: 0 };
      }
      default:
        throw new Error(`unsupported command ${command}`);
    }
  }

  private programmingEvent(code: number, source: number, userid: number): void {
    setImmediate(() => this.deliver('commandProgrammingEventNotification', 'closuresDoorLock', { programeventsrc: source, programeventcode: code, userid, pin: '', usertype: 0, userstatus: 1, zigbeelocaltime: 0, data: '' }));
  }
}

/** Another lock on the simulated network, by its Zigbee model id (any lock zigbee-herdsman-converters defines). */
export interface ExtraLock {
  name: string;
  ieee: string;
  /** The Zigbee model id the device reports (`BE468`, `V3-BTZB`, `YRL256 TS`, `NimlyPRO`, `SMARTCODE_DEADBOLT_5_L`, `Ford`). */
  modelId: string;
  manufacturerName: string;
  /**
   * Door Lock attributes the lock reports when the bridge starts (what the definition's configure
   * reads: a Nimly's `numOfPinUsersSupported`, `minPinLen`, `maxPinLen`), through the definition's converters.
   */
  reports?: Json;
  /** The bridge lists `pin_code` among its exposes although its converters lack it (a stale or custom definition). */
  exposePinWithoutConverter?: boolean;
}

interface SimDevice {
  ieee: string;
  reports?: Json;
  exposePinWithoutConverter?: boolean;
  name: string;
  modelId: string;
  manufacturerName: string;
  definition: NonNullable<Definition>;
  endpoint: Endpoint;
  state: Json;
  /** Where its interview stands (a lock that was on the network at start is interviewed). */
  interview: 'started' | 'successful' | 'failed';
}

/** How a lock in pairing mode comes back: itself (same IEEE address) or a replacement of the same model. */
export interface PairingOptions {
  /** A different device of the same model joins, with this IEEE address (its friendly name is the address, as Zigbee2MQTT names a new device). */
  newIeee?: string;
  /** The interview's outcome (default successful). */
  interview?: 'successful' | 'failed';
}

/** A running broker plus simulated Zigbee2MQTT bridge. */
export interface Zigbee2MqttPeer {
  url: string;
  username: string;
  password: string;
  baseTopic: string;
  /** Simulated locks by name: the Yale (`front door`) and the Kwikset (`garage`). */
  lock(name: string): { ieee: string; endpoint: Endpoint };
  /** The lock leaves the Zigbee network (as after a factory reset at the lock): off the device list, then `device_leave`. */
  leave(name: string): void;
  /**
   * The lock (after `leave`), or a replacement of its model, is put in pairing mode: it keeps trying
   * to join and gets in only while joining is permitted. Resolves with its IEEE address and friendly
   * name once its interview ended; `cancel` stops trying.
   */
  pairingMode(name: string, options?: PairingOptions): { joined: Promise<{ ieee: string; name: string }>; cancel: () => void };
  /** True while the bridge permits joining (what Zigbee2MQTT's `bridge/info` `permit_join` says). */
  readonly joiningOpen: boolean;
  /** `bridge/request/permit_join` payloads received, in order. */
  permitJoinRequests: unknown[];
  /** Publishes raw bytes on a topic under the base (malformed input tests). */
  publishRaw(subtopic: string, payload: string): Promise<void>;
  /** Stops and restarts the broker on the same port (reconnect tests). */
  restartBroker(downMs: number): Promise<void>;
  /** Set payloads the bridge received, in order (to check the documented payloads). */
  received: { topic: string; payload: Json }[];
  close(): Promise<void>;
}

/** Starts the broker and the bridge with two locks. */
export async function startZigbee2MqttPeer(opts: { baseTopic?: string; /** More locks on the network, beside the Yale and the Kwikset. */ extraLocks?: ExtraLock[]; /** Which request API the bridge speaks (default 2, Zigbee2MQTT 2.x). */ bridgeApi?: 1 | 2; /** How long an interview takes. */ interviewMs?: number; /** The bridge answers every permit_join with this error (an adapter that fails). */ permitJoinError?: string } = {}): Promise<Zigbee2MqttPeer> {
  const baseTopic = opts.baseTopic ?? 'zigbee2mqtt';
  const bridgeApi = opts.bridgeApi ?? 2;
  const interviewMs = opts.interviewMs ?? 30;
  const username = 'lockwarden';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  let broker = await Aedes.createBroker({
    authenticate: (_client, user, pass, done) => done(null, user === username && pass?.toString() === password),
  });
  let server = net.createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `mqtt://127.0.0.1:${port}`;

  const devices = new Map<string, SimDevice>();
  /** Locks that left the network, by friendly name (Zigbee2MQTT keeps their name in its settings). */
  const departed = new Map<string, SimDevice>();
  const received: { topic: string; payload: Json }[] = [];
  const permitJoinRequests: unknown[] = [];
  let joinEnd: number | null = null;
  let joinTimer: ReturnType<typeof setTimeout> | undefined;
  const pairing = new Set<{ device: SimDevice; outcome: 'successful' | 'failed'; done: (v: { ieee: string; name: string }) => void }>();
  let bridge!: MqttClient;
  let seq = 0;

  const publish = (topic: string, payload: Json | string, retain = false) => {
    bridge.publish(`${baseTopic}/${topic}`, typeof payload === 'string' ? payload : JSON.stringify(payload), { retain, qos: 1 });
  };

  const publishState = (d: SimDevice, update: Json) => {
    // Zigbee2MQTT deep-merges into its cache and publishes the whole state; `action*` is not cached.
    d.state = deepMerge(d.state, update);
    for (const k of ['action', 'action_user', 'action_source', 'action_source_name']) delete d.state[k];
    publish(d.name, { ...deepMerge(d.state, update) });
  };

  const fromZigbee = async (d: SimDevice, type: string, cluster: string, data: Json) => {
    const converters = d.definition.fromZigbee.filter((c) => c.cluster === cluster && (Array.isArray(c.type) ? c.type.includes(type) : c.type === type));
    let payload: Json = {};
    const msg = { type, cluster, data, endpoint: d.endpoint, device: { ieeeAddr: d.ieee, modelID: d.modelId }, linkquality: 180, groupID: 0, meta: { zclTransactionSequenceNumber: ++seq } };
    for (const c of converters) {
      const out = (await c.convert(d.definition, msg as never, () => {}, { expose_pin: true }, { state: d.state, device: msg.device } as never)) as Json | undefined;
      if (out) payload = { ...payload, ...out };
    }
    if (Object.keys(payload).length) publishState(d, { ...payload, linkquality: 180 });
  };

  const makeLock = async (name: string, ieee: string, modelId: string, manufacturerName: string): Promise<SimDevice> => {
    const definition = await zhc.findByDevice({ modelID: modelId, manufacturerName, ieeeAddr: ieee, type: 'EndDevice', endpoints: [], getEndpoint: () => undefined, customClusters: {}, powerSource: 'Battery' } as never);
    if (!definition) throw new Error(`zigbee-herdsman-converters has no definition for ${modelId}`);
    const d: SimDevice = { ieee, name, modelId, manufacturerName, definition, state: {}, endpoint: undefined as unknown as Endpoint, interview: 'successful' };
    d.endpoint = new Endpoint(ieee, (type, cluster, data) => void fromZigbee(d, type, cluster, data));
    return d;
  };
  const addLock = async (name: string, ieee: string, modelId: string, manufacturerName: string) => {
    devices.set(name, await makeLock(name, ieee, modelId, manufacturerName));
  };
  await addLock('front door', '0x000d6f0011aa2201', 'YRD226 TSDB', 'Yale');
  await addLock('garage', '0x000d6f0011bb3302', 'SMARTCODE_DEADBOLT_10_L', 'Kwikset');
  for (const extra of opts.extraLocks ?? []) {
    await addLock(extra.name, extra.ieee, extra.modelId, extra.manufacturerName);
    Object.assign(devices.get(extra.name)!, { reports: extra.reports, exposePinWithoutConverter: extra.exposePinWithoutConverter });
  }

  const definitionPayload = (d: SimDevice) => {
    const exposes = JSON.parse(JSON.stringify(typeof d.definition.exposes === 'function' ? [] : d.definition.exposes)) as Json[];
    if (d.exposePinWithoutConverter && !exposes.some((e) => e.name === 'pin_code')) exposes.push(JSON.parse(JSON.stringify(exposePresets.pincode())) as Json);
    return { model: d.definition.model, vendor: d.definition.vendor, description: d.definition.description, exposes, options: [], supports_ota: false, source: 'native' };
  };
  const deviceList = () => [
    { ieee_address: '0x00124b0000000001', type: 'Coordinator', friendly_name: 'Coordinator', supported: true, disabled: false, interview_completed: true, definition: null },
    ...[...devices.values()].map((d) => {
      // Until its interview succeeded the bridge knows neither model nor definition.
      const known = d.interview === 'successful';
      return {
        ieee_address: d.ieee,
        type: 'EndDevice',
        network_address: 0x1a2b,
        supported: known,
        friendly_name: d.name,
        disabled: false,
        power_source: known ? 'Battery' : null,
        model_id: known ? d.modelId : null,
        manufacturer: known ? d.manufacturerName : null,
        interview_completed: known,
        interviewing: d.interview === 'started',
        definition: known ? definitionPayload(d) : null,
      };
    }),
  ];
  const publishDevices = () => publish('bridge/devices', deviceList() as unknown as Json, true);
  const publishInfo = () =>
    publish('bridge/info', bridgeApi === 2 ? { version: '2.6.0', permit_join: joinEnd !== null, permit_join_end: joinEnd ?? undefined } : { version: '1.42.0', permit_join: joinEnd !== null, permit_join_timeout: joinEnd !== null ? Math.ceil((joinEnd - Date.now()) / 1000) : undefined }, true);
  const event = (type: string, data: Json) => publish('bridge/event', { type, data });

  /** A device in pairing mode gets in: listed, joined, interviewed, as zigbee-herdsman and the bridge extension report it. */
  const admit = async (d: SimDevice, outcome: 'successful' | 'failed') => {
    d.interview = 'started';
    d.state = {};
    devices.set(d.name, d);
    departed.delete(d.name);
    publishDevices();
    event('device_joined', { friendly_name: d.name, ieee_address: d.ieee });
    event('device_interview', { friendly_name: d.name, status: 'started', ieee_address: d.ieee });
    await new Promise((r) => setTimeout(r, interviewMs));
    d.interview = outcome;
    publishDevices();
    if (outcome === 'failed') {
      event('device_interview', { friendly_name: d.name, status: 'failed', ieee_address: d.ieee });
      return;
    }
    event('device_interview', { friendly_name: d.name, status: 'successful', ieee_address: d.ieee, supported: true, definition: definitionPayload(d) });
    publish(`${d.name}/availability`, { state: 'online' }, true);
    d.endpoint.batteryPercentageRemaining = 200;
    await fromZigbee(d, 'attributeReport', 'genPowerCfg', { batteryPercentageRemaining: 200 });
    await fromZigbee(d, 'attributeReport', 'closuresDoorLock', { lockState: d.endpoint.lockState });
  };
  const admitPairing = () => {
    if (joinEnd === null) return;
    for (const p of [...pairing]) {
      pairing.delete(p);
      void admit(p.device, p.outcome).then(() => p.done({ ieee: p.device.ieee, name: p.device.name }));
    }
  };

  /** zigbee-herdsman's permitJoin: 0 closes, otherwise open for at most 254 s. */
  const setJoin = (seconds: number) => {
    clearTimeout(joinTimer);
    const time = Math.max(0, Math.min(254, seconds));
    joinEnd = time > 0 ? Date.now() + time * 1000 : null;
    if (time > 0) joinTimer = setTimeout(() => setJoin(0), time * 1000);
    publishInfo();
    admitPairing();
    return time;
  };

  const onRequest = (topic: string, raw: Buffer) => {
    if (topic !== `${baseTopic}/bridge/request/permit_join`) return;
    // As the bridge: a payload that is not JSON is taken as a string.
    let message: unknown = raw.toString();
    try {
      message = JSON.parse(raw.toString());
    } catch {
      // a plain string
    }
    permitJoinRequests.push(message);
    const transaction = isObject(message) && message.transaction !== undefined ? { transaction: message.transaction } : {};
    const fail = (error: string) => publish('bridge/response/permit_join', { data: {}, status: 'error', error, ...transaction });
    if (opts.permitJoinError) return fail(opts.permitJoinError);
    if (bridgeApi === 2) {
      // 2.x: `{"time": N}` (or the number alone); `value` is no longer read.
      if (isObject(message) && message.time === undefined) return fail('Invalid payload');
      const time = Number.parseInt(String(isObject(message) ? message.time : message), 10);
      if (Number.isNaN(time)) return fail('Invalid payload');
      publish('bridge/response/permit_join', { data: { time: setJoin(time) }, status: 'ok', ...transaction });
      return;
    }
    // 1.x: `{"value": true, "time": N}` or `true`/`false`; without a time it stays open (we cap it here).
    if (isObject(message) && message.value === undefined) return fail('Invalid payload');
    let value = isObject(message) ? message.value : message;
    if (typeof value === 'string') value = value.toLowerCase() === 'true';
    const time = isObject(message) && typeof message.time === 'number' ? message.time : undefined;
    setJoin(value === true ? (time ?? 254) : 0);
    publish('bridge/response/permit_join', { data: { value, ...(time ? { time } : {}) }, status: 'ok', ...transaction });
  };

  const onCommand = async (topic: string, raw: Buffer) => {
    const m = new RegExp(`^${baseTopic}/(.+)/(set|get)$`).exec(topic);
    if (!m) return;
    const d = devices.get(m[1]!);
    const type = m[2] as 'set' | 'get';
    // A device without a successful interview has no definition: the bridge cannot convert anything.
    if (!d || d.interview !== 'successful') return;
    let message: Json;
    try {
      message = JSON.parse(raw.toString()) as Json;
    } catch {
      publish('bridge/logging', { level: 'error', message: `Invalid message '${raw.toString()}', skipping...` });
      return;
    }
    received.push({ topic: `${m[1]}/${type}`, payload: message });
    // As zigbee2mqtt's publish extension: one converter per key, called with the definition as `mapped`.
    for (const [key, value] of Object.entries(message)) {
      const converter = d.definition.toZigbee.find((c) => !c.key || c.key.includes(key));
      if (!converter) {
        // As the publish extension words it (2.x names the device; 1.x does not).
        const said = JSON.stringify(value);
        publish('bridge/logging', { level: 'error', message: bridgeApi === 2 ? `No converter available for '${key}' on '${d.name}': (${said})` : `No converter available for '${key}' (${said})` });
        continue;
      }
      const meta = { endpoint_name: undefined, options: { expose_pin: true }, message: { ...message }, device: { ieeeAddr: d.ieee }, state: d.state, membersState: undefined, mapped: d.definition, publish: (p: Json) => publishState(d, p) };
      try {
        if (type === 'set' && converter.convertSet) {
          const result = (await converter.convertSet(d.endpoint as never, key, value, meta as never)) as { state?: Json } | undefined;
          if (result?.state) publishState(d, result.state);
        } else if (type === 'get' && converter.convertGet) {
          await converter.convertGet(d.endpoint as never, key, meta as never);
        }
      } catch (e) {
        publish('bridge/logging', { level: 'error', message: `Publish '${type}' '${key}' to '${d.name}' failed: '${(e as Error).message}'` });
      }
    }
  };

  const connectBridge = async () => {
    bridge = await mqtt.connectAsync(url, { username, password, clientId: 'zigbee2mqtt-sim', reconnectPeriod: 20 });
    (bridge.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    bridge.on('message', (topic, payload) => {
      if (topic.startsWith(`${baseTopic}/bridge/request/`)) onRequest(topic, payload);
      else void onCommand(topic, payload);
    });
    await bridge.subscribeAsync([`${baseTopic}/+/set`, `${baseTopic}/+/get`, `${baseTopic}/bridge/request/+`]);
    publish('bridge/state', { state: 'online' }, true);
    publishInfo();
    publishDevices();
    for (const d of devices.values()) {
      if (d.interview !== 'successful') continue;
      publish(`${d.name}/availability`, { state: 'online' }, true);
      d.endpoint.batteryPercentageRemaining = 150;
      await fromZigbee(d, 'attributeReport', 'genPowerCfg', { batteryPercentageRemaining: 150 });
      await fromZigbee(d, 'attributeReport', 'closuresDoorLock', { lockState: d.endpoint.lockState });
      if (d.reports) await fromZigbee(d, 'readResponse', 'closuresDoorLock', d.reports);
    }
  };
  await connectBridge();

  return {
    url,
    username,
    password,
    baseTopic,
    received,
    lock(name) {
      const d = devices.get(name) ?? departed.get(name);
      if (!d) throw new Error(`no simulated lock ${name}`);
      return { ieee: d.ieee, endpoint: d.endpoint };
    },
    leave(name) {
      const d = devices.get(name)!;
      d.endpoint.users.clear();
      d.state = {};
      // zigbee-herdsman removes a leaving device from its database; the bridge republishes, then reports.
      devices.delete(name);
      departed.set(name, d);
      publishDevices();
      publish('bridge/event', { type: 'device_leave', data: { ieee_address: d.ieee, friendly_name: d.name } });
    },
    pairingMode(name, options = {}) {
      const original = departed.get(name) ?? devices.get(name);
      if (!original) throw new Error(`no simulated lock ${name}`);
      if (!options.newIeee && !departed.has(name)) throw new Error(`${name} is still on the network: reset it (leave) first`);
      let cancel = () => {};
      const joined = (async () => {
        const device = options.newIeee ? await makeLock(options.newIeee, options.newIeee, original.modelId, original.manufacturerName) : original;
        return new Promise<{ ieee: string; name: string }>((resolve, reject) => {
          const entry = { device, outcome: options.interview ?? 'successful', done: resolve } as const;
          pairing.add(entry);
          cancel = () => {
            pairing.delete(entry);
            reject(new Error(`${device.name} stopped trying to join`));
          };
          admitPairing();
        });
      })();
      joined.catch(() => {});
      return { joined, cancel: () => cancel() };
    },
    get joiningOpen() {
      return joinEnd !== null;
    },
    permitJoinRequests,
    publishRaw: (subtopic, payload) => bridge.publishAsync(`${baseTopic}/${subtopic}`, payload).then(() => undefined),
    async restartBroker(downMs) {
      await bridge.endAsync(true);
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise((r) => setTimeout(r, downMs));
      broker = await Aedes.createBroker({ authenticate: (_c, user, pass, done) => done(null, user === username && pass?.toString() === password) });
      server = net.createServer({ noDelay: true }, broker.handle);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      await connectBridge();
    },
    async close() {
      clearTimeout(joinTimer);
      await bridge.endAsync(true);
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function deepMerge(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
