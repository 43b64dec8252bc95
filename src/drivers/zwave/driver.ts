/**
 * The `zwave` driver: locks on a Z-Wave network reached through a Z-Wave JS server (Z-Wave JS UI or
 * the Home Assistant add-on), over its WebSocket API. A lock is a node: `externalId` is
 * `<hubKey>:<nodeId>` and the hub is the server. PINs go through the User Credential CC where a node
 * has it (Z-Wave JS's access-control API, `user-credentials.ts`), else the User Code CC; the bolt
 * through Door Lock CC, battery through Battery CC; what a node supports is read from its command
 * classes, never assumed from its make.
 */
import { DriverError, type CredentialReadOptions, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedController, type ObservedCredentials, type ObservedPin, type PinWrite, type EnrolledDevice, type EnrollmentMethod, type EnrollmentPreparation, type EnrollmentRequest } from '../contract.js';
import { ZwaveJsClient, type ZwaveClientOptions, type ZwaveServerEvent } from './client.js';
import { createHash } from 'node:crypto';
import { BOOTSTRAP_FAILURES, BOOTSTRAP_S2_INCORRECT_PIN, CC, INCLUSION_STRATEGY, NODE_STATUS_ASLEEP, NODE_STATUS_DEAD, REMOVE_REASON_RESET, USER_ID_STATUS, batteryGetResponse, doorLockGetResponse, inclusionGrant, inclusionResult, nodeDump, userCodeCapabilities, userCodeGetResponse, type NodeDump } from './protocol.js';
import { USER_CODE_MAX, USER_CODE_MIN, checkPin, userCodeChecksum, type SlotCode } from './user-codes.js';
import { UserCredentialPins, type UserCredentialInfo } from './user-credentials.js';

/** Plain configuration of one Z-Wave JS server connection. */
export interface ZwaveDriverConfig extends ZwaveClientOptions {
  /** Names this server in `externalId`s and as the hub; defaults to the URL's host:port. */
  hubKey?: string;
  /** Commands the server takes at a time (zwave-js queues per node anyway). */
  hubConcurrency?: number;
  /** Injectable clock for event times. */
  now?: () => Date;
  /**
   * Slot reads a full User Code read keeps in flight. zwave-js sends one frame to a node at a time, so
   * more only wait in its queue; two keep the radio busy between WebSocket round trips.
   */
  readWindow?: number;
  /**
   * What one slot may take within a full read's single deadline (`requestTimeoutMs` + slots x this):
   * a Z-Wave frame with its retries; a slow link at ~150 ms a frame stays well inside it.
   */
  slotReadBudgetMs?: number;
  /** How long a command queued for a sleeping lock may wait for its wake-up (default a day). */
  sleepingCommandTimeoutMs?: number;
}

/** Access Control notification events (Notification CC type 0x06) the driver maps. */
const ACCESS = { manualLock: 0x01, manualUnlock: 0x02, rfLock: 0x03, rfUnlock: 0x04, keypadLock: 0x05, keypadUnlock: 0x06, jammed: 0x0b, allCodesDeleted: 0x0c, codeDeleted: 0x0d, codeAdded: 0x0e, duplicateCode: 0x0f, keypadDisabled: 0x10 } as const;
const NOTIFICATION_ACCESS_CONTROL = 0x06;
const NOTIFICATION_HOME_SECURITY = 0x07;
/** Home Security events that mean someone is tampering (cover removed, invalid code, moved). */
const TAMPER_EVENTS = new Set([0x03, 0x04, 0x09]);
/** Door Lock modes (CC:0062.01.02.11.002): 0xFF secured, 0xFE unknown, anything else some unsecured mode. */
const DOOR_SECURED = 0xff;
const DOOR_UNKNOWN = 0xfe;

/** Manufacturer Specific CC, whose Device Specific Report carries a serial number where the device has one. */
const CC_MANUFACTURER_SPECIFIC = 0x72;

/** How a Z-Wave lock is enrolled again after a factory reset: inclusion by the Z-Wave JS server. */
const ENROLLMENT: EnrollmentMethod = {
  kind: 'inclusion',
  code: 'dsk_pin',
  security: ['s2', 's0', 'none'],
  instructions:
    "Keep the lock within reach of the Z-Wave controller. When lockwarden says it is waiting, put the lock in inclusion (pairing) mode as its manual describes. " +
    "For S2 security, type the 5-digit PIN printed under the QR code on the lock's label (the first five digits of its DSK); S0 and no security need no PIN.",
};

/** What the driver keeps about one node. */
interface NodeInfo {
  dump: NodeDump;
  ccs: Map<number, number>;
  battery: number | null;
  dead: boolean;
  userCodes?: Promise<UserCodeInfo>;
  /** PIN capabilities of a node with the User Credential CC. */
  userCredentials?: Promise<UserCredentialInfo>;
  /** The codes last read or written, with their checksum; trusted while the lock's checksum matches. */
  codes?: { checksum: number | null; slots: Map<number, SlotCode> };
  /** Access Control "code not added: duplicate" reports seen (a write compares before and after). */
  duplicateRefusals: number;
  /** The node sleeps now (Wake Up CC): the server holds its commands until it wakes. */
  asleep: boolean;
  /** Commands queued for its wake-up, by what they change ("pin:7", "door", "read"): one each, never sent twice. */
  queued: Map<string, { signature: string; answer: DriverError }>;
}

interface UserCodeInfo {
  slots: number;
  chars: string;
  checksum: boolean;
}

function ccsOf(dump: NodeDump): Map<number, number> {
  const ccs = new Map<number, number>();
  for (const ep of dump.endpoints ?? []) if (ep.index === 0) for (const cc of ep.commandClasses ?? []) ccs.set(cc.id, cc.version);
  return ccs;
}

function valueOf(dump: NodeDump, cc: number, property: string): unknown {
  return dump.values?.find((v) => v.commandClass === cc && (v.endpoint ?? 0) === 0 && v.property === property && v.propertyKey === undefined)?.value;
}

/** Make, model and serial as the node reports them (model and make named by zwave-js's device database where it knows the device). */
function identityOf(dump: NodeDump): { manufacturer: string | null; model: string | null; serial: string | null } {
  const serial = dump.values?.find((v) => v.commandClass === CC_MANUFACTURER_SPECIFIC && v.property === 'deviceId' && v.propertyKey === 'SerialNumber')?.value;
  return {
    manufacturer: dump.deviceConfig?.manufacturer ?? dump.manufacturer ?? null,
    model: dump.deviceConfig?.label ?? dump.label ?? null,
    serial: typeof serial === 'string' && serial.trim() !== '' ? serial.trim() : null,
  };
}

function isLock(info: NodeInfo): boolean {
  return info.dump.isControllerNode !== true && (info.ccs.has(CC.userCode) || info.ccs.has(CC.userCredential) || info.ccs.has(CC.doorLock));
}

/** Reaches the locks of one Z-Wave JS server. */
export class ZwaveDriver implements LockDriver {
  readonly name = 'zwave';
  readonly hubConcurrency: number;
  readonly hubKey: string;
  readonly client: ZwaveJsClient;
  private readonly nodes = new Map<number, NodeInfo>();
  /** Lock nodes the server dropped because they sent Device Reset Locally: factory-fresh, waiting to be included again. */
  private readonly resetNodes = new Map<number, NodeInfo>();
  /** Nodes that joined through an enrollment that failed (wrong PIN, security missing): never offered as locks. */
  private readonly refusedJoins = new Set<number>();
  /** An inclusion this driver started is running (the server includes one node at a time). */
  private including = false;
  private readonly listeners = new Set<(e: DriverEvent) => void>();
  private readonly now: () => Date;
  private readonly readWindow: number;
  private readonly slotReadBudgetMs: number;
  private readonly requestTimeoutMs: number;
  private readonly sleepingCommandTimeoutMs: number;

  constructor(config: ZwaveDriverConfig) {
    this.sleepingCommandTimeoutMs = config.sleepingCommandTimeoutMs ?? 24 * 3600_000;
    this.client = new ZwaveJsClient(config);
    this.readWindow = Math.max(1, config.readWindow ?? 2);
    this.slotReadBudgetMs = config.slotReadBudgetMs ?? 500;
    this.requestTimeoutMs = config.requestTimeoutMs ?? 30_000;
    this.hubKey = config.hubKey ?? new URL(config.url).host;
    this.hubConcurrency = config.hubConcurrency ?? 1;
    this.now = config.now ?? (() => new Date());
    this.client.on((s) => {
      if (s.kind === 'connected') this.onConnected(s.nodes);
      else if (s.kind === 'disconnected') for (const id of this.lockIds()) this.emit({ type: 'online', externalId: id, online: false, at: this.now() });
      else this.onServerEvent(s.event);
    });
  }

  /** Connects now rather than at the first command. */
  connect(): Promise<void> {
    return this.client.ready();
  }

  /** The `externalId` of node `nodeId` on this server. */
  externalIdOf(nodeId: number): string {
    return `${this.hubKey}:${nodeId}`;
  }

  hubOf(externalId: string): string {
    const i = externalId.lastIndexOf(':');
    return i > 0 ? externalId.slice(0, i) : this.hubKey;
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    const { info, reset } = await this.node(externalId, true);
    // A node reset at the device no longer answers: its PIN limits are what was learnt before it left, if anything.
    const learnt = <T>(p: Promise<T> | undefined): Promise<T | null> => (p ?? Promise.resolve(null)).catch(() => null);
    const ucr = info.ccs.has(CC.userCredential) ? await (reset ? learnt(info.userCredentials) : this.userCredentialInfo(info)) : null;
    const uc = !ucr && info.ccs.has(CC.userCode) ? await (reset ? learnt(info.userCodes) : this.userCodeInfo(info)) : null;
    return {
      pin: ucr ? { slots: ucr.slots, minLength: ucr.minLength, maxLength: ucr.maxLength, alphabet: 'digits' } : { slots: uc?.slots ?? 0, minLength: USER_CODE_MIN, maxLength: USER_CODE_MAX, alphabet: 'digits', ...keypadDigits(uc?.chars) },
      // Schedule Entry Lock CC is not driven yet: codes are always valid.
      schedules: { window: false, recurring: false },
      digitalKeys: false,
      // A Z-Wave node belongs to one network; leaving it is an exclusion, not a credential change.
      controllers: false,
      biometrics: false,
      remoteLockUnlock: info.ccs.has(CC.doorLock),
      remoteFactoryReset: false,
      cloudBinding: false,
      events: true,
      enrollment: ENROLLMENT,
      cloudUnbind: false,
    };
  }

  async status(externalId: string): Promise<DeviceStatus> {
    const { nodeId, info, reset } = await this.node(externalId, true);
    // Reset at the lock: it left the network and waits, factory-fresh, to be included again.
    if (reset) return { online: false, batteryPercent: info.battery, bolt: 'unknown', firmware: info.dump.firmwareVersion ?? null, setupMode: true, cloudBound: null };
    // Asleep is not offline: the lock answers at its next wake-up; asking now would only queue a frame.
    if (info.asleep) return { online: !info.dead, batteryPercent: info.battery, bolt: 'unknown', firmware: info.dump.firmwareVersion ?? null, setupMode: false, cloudBound: null };
    let bolt: DeviceStatus['bolt'] = 'unknown';
    if (info.ccs.has(CC.doorLock)) {
      const r = doorLockGetResponse.safeParse(await this.invoke(nodeId, CC.doorLock, 'get', [], 'read the bolt'));
      if (r.success) bolt = boltOf(r.data.currentMode);
    }
    if (info.battery === null && info.ccs.has(CC.battery)) {
      const b = batteryGetResponse.safeParse(await this.invoke(nodeId, CC.battery, 'get', [], 'read the battery'));
      if (b.success) info.battery = b.data.level;
    }
    return { online: !info.dead, batteryPercent: info.battery, bolt, firmware: info.dump.firmwareVersion ?? null, setupMode: false, cloudBound: null };
  }

  async readCredentials(externalId: string, options: CredentialReadOptions = {}): Promise<ObservedCredentials> {
    const { nodeId, info } = await this.node(externalId);
    const pins: ObservedPin[] = [];
    if (info.ccs.has(CC.userCredential)) {
      pins.push(...(await this.pinsOf(nodeId).read()));
    } else if (info.ccs.has(CC.userCode)) {
      const codes = info.asleep ? this.codesWhileAsleep(externalId, nodeId, info) : await this.readCodes(nodeId, info, options);
      for (const [slot, c] of [...codes].sort(([a], [b]) => a - b)) {
        if (c.status === USER_ID_STATUS.available) continue;
        // Some locks mask codes in reports ("****"): then the code is unreadable, not "****".
        pins.push({ slot, code: /^[0-9]+$/.test(c.code) ? c.code : null, name: '', schedule: { kind: 'always' }, enabled: c.status !== USER_ID_STATUS.disabled });
      }
    }
    // A node belongs to one network: the one lockwarden reaches it through. Being read at all proves it.
    const network: ObservedController = { id: `zwave-network:${this.hubKey}`, label: `lockwarden's Z-Wave network (Z-Wave JS server ${this.hubKey})`, kind: 'hub', admin: true, self: true };
    return { pins, controllers: [network], digitalKeys: [], biometrics: [] };
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    const { nodeId, info } = await this.node(externalId);
    if (info.ccs.has(CC.userCredential)) {
      const ucr = await this.userCredentialInfo(info);
      checkCredentialPin(pin.slot, pin.code, ucr);
      if (pin.schedule.kind !== 'always') throw new DriverError('driver.not_supported', `this Z-Wave lock takes only always-valid codes, not a ${pin.schedule.kind} schedule`, { slot: pin.slot });
      return this.pinsOf(nodeId).set(pin, ucr);
    }
    if (!info.ccs.has(CC.userCode)) throw new DriverError('driver.not_supported', 'this Z-Wave node has no User Code command class');
    const uc = await this.userCodeInfo(info);
    checkPin(pin.slot, pin.code, uc.slots, uc.chars);
    if (pin.schedule.kind !== 'always') throw new DriverError('driver.not_supported', `this Z-Wave lock takes only always-valid codes, not a ${pin.schedule.kind} schedule`, { slot: pin.slot });
    // A write touches its own slot (Set, then a Get of that slot), never the whole table: 250 reads
    // per PIN is 13 s on a real lock. Another slot holding the code is caught by the table this driver
    // already knows when the lock's checksum vouches for it (one exchange), else by the lock itself,
    // which refuses a duplicate and says so; lockwarden's own records refuse one before any driver call.
    if (info.asleep) {
      return this.queueForWakeUp(externalId, info, `pin:${pin.slot}`, `set:${pin.code}`, `the new code for slot ${pin.slot}`, pin.slot, async () => {
        await this.invoke(nodeId, CC.userCode, 'set', [pin.slot, USER_ID_STATUS.enabled, pin.code], 'set a user code', true, this.sleepingCommandTimeoutMs);
        await this.confirmSlot(nodeId, info, pin.slot);
      });
    }
    const known = await this.trustedCodes(nodeId, info, uc);
    const holder = known && [...known].find(([slot, c]) => slot !== pin.slot && c.status !== USER_ID_STATUS.available && c.code === pin.code);
    if (holder) throw new DriverError('driver.duplicate_pin', `slot ${holder[0]} already holds this PIN`, { slot: pin.slot });
    const refusalsBefore = info.duplicateRefusals;
    await this.invoke(nodeId, CC.userCode, 'set', [pin.slot, USER_ID_STATUS.enabled, pin.code], 'set a user code', true);
    const got = await this.confirmSlot(nodeId, info, pin.slot);
    if (got.status === USER_ID_STATUS.available || (/^[0-9]+$/.test(got.code) && got.code !== pin.code)) {
      if (info.duplicateRefusals > refusalsBefore) throw new DriverError('driver.duplicate_pin', `the lock refused the code for slot ${pin.slot}: another slot already holds it`, { slot: pin.slot });
      info.codes = undefined;
      throw new DriverError('driver.refused', `the lock did not store the code in slot ${pin.slot}`, { slot: pin.slot });
    }
  }

  async clearPin(externalId: string, slot: number): Promise<void> {
    const { nodeId, info } = await this.node(externalId);
    if (info.ccs.has(CC.userCredential)) {
      checkCredentialPin(slot, null, await this.userCredentialInfo(info));
      return this.pinsOf(nodeId).clear(slot);
    }
    if (!info.ccs.has(CC.userCode)) throw new DriverError('driver.not_supported', 'this Z-Wave node has no User Code command class');
    const uc = await this.userCodeInfo(info);
    checkPin(slot, null, uc.slots, uc.chars);
    if (info.asleep) {
      return this.queueForWakeUp(externalId, info, `pin:${slot}`, 'clear', `emptying slot ${slot}`, slot, async () => {
        await this.invoke(nodeId, CC.userCode, 'clear', [slot], 'clear a user code', true, this.sleepingCommandTimeoutMs);
        await this.confirmSlot(nodeId, info, slot);
      });
    }
    await this.invoke(nodeId, CC.userCode, 'clear', [slot], 'clear a user code', true);
    const got = await this.confirmSlot(nodeId, info, slot);
    if (got.status !== USER_ID_STATUS.available) {
      info.codes = undefined;
      throw new DriverError('driver.refused', `the lock kept the code in slot ${slot}`, { slot });
    }
  }

  async listControllers(): Promise<never> {
    throw new DriverError('driver.not_supported', 'a Z-Wave lock has one controller (its network); lockwarden does not list it');
  }

  async removeController(): Promise<void> {
    throw new DriverError('driver.not_supported', 'a Z-Wave lock has one controller (its network); remove it by excluding the node');
  }

  lock(externalId: string): Promise<void> {
    return this.setDoor(externalId, DOOR_SECURED);
  }

  unlock(externalId: string): Promise<void> {
    return this.setDoor(externalId, 0x00);
  }

  async factoryReset(): Promise<void> {
    throw new DriverError('driver.not_supported', 'Z-Wave has no remote factory reset; a reset at the lock is reported as Device Reset Locally');
  }

  async prepareEnrollment(previousExternalId: string | null): Promise<EnrollmentPreparation> {
    this.checkHub(previousExternalId);
    return { instructions: ENROLLMENT.instructions, url: null };
  }

  /**
   * Includes a factory-fresh lock through the server (`controller.begin_inclusion`), answering the
   * server's S2 prompts (grant what the lock asks for, enter the typed PIN), and resolves once the new
   * node's interview is done. A wrong PIN, a lock that joins without the chosen security, or no lock
   * within `timeoutMs` (or an abort) rejects; inclusion is stopped before the promise settles.
   */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    this.checkHub(request.previousExternalId);
    const security = request.security ?? 's2';
    if (!ENROLLMENT.security.includes(security)) throw new DriverError('driver.not_supported', `Z-Wave inclusion offers S2, S0 or no security, not "${String(security)}"`);
    const pin = (request.code ?? '').trim();
    // The PIN is never echoed: it is the lock's secret until the key exchange is done.
    if (security === 's2' && !/^[0-9]{5}$/.test(pin)) throw new DriverError('driver.invalid_code', "S2 needs the 5-digit PIN printed under the QR code on the lock's label (digits only)");
    if (request.signal?.aborted) throw new DriverError('driver.timeout', 'the inclusion was cancelled before it started');
    if (this.including) throw new DriverError('driver.busy', `an inclusion is already running on the Z-Wave JS server ${this.hubKey}`);
    this.including = true;
    try {
      await this.client.ready();
      return await this.include(security, pin, request.timeoutMs, request.signal);
    } finally {
      this.including = false;
    }
  }

  unbindCloud(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'a Z-Wave lock has no vendor cloud binding'));
  }

  async discover(): Promise<DiscoveredDevice[]> {
    await this.client.ready();
    const out: DiscoveredDevice[] = [];
    for (const [nodeId, info] of [...this.nodes].sort(([a], [b]) => a - b)) {
      if (!isLock(info) || this.refusedJoins.has(nodeId)) continue;
      const { manufacturer, model } = identityOf(info.dump);
      const label = info.dump.name || [manufacturer, model].filter(Boolean).join(' ') || `Z-Wave node ${nodeId}`;
      out.push({ externalId: this.externalIdOf(nodeId), manufacturer, model, label });
    }
    return out;
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    // Events flow only while connected: subscribing connects.
    this.client.ready().catch(() => {});
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.client.close();
  }

  private emit(e: DriverEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own; the others still hear the event.
      }
    }
  }

  private lockIds(): string[] {
    return [...this.nodes].filter(([, i]) => isLock(i)).map(([id]) => this.externalIdOf(id));
  }

  /** The lock node behind `externalId`; with `orReset`, also a lock node that was reset at the device and left (`reset`). */
  private async node(externalId: string, orReset = false): Promise<{ nodeId: number; info: NodeInfo; reset: boolean }> {
    const m = /^(.+):(\d{1,4})$/.exec(externalId);
    if (!m || m[1] !== this.hubKey) throw new DriverError('driver.unknown_device', `${externalId} is not a node of the Z-Wave JS server ${this.hubKey}`);
    await this.client.ready();
    const nodeId = Number(m[2]);
    const info = this.nodes.get(nodeId);
    if (info && isLock(info)) return { nodeId, info, reset: false };
    const gone = orReset && !info ? this.resetNodes.get(nodeId) : undefined;
    if (gone) return { nodeId, info: gone, reset: true };
    throw new DriverError('driver.unknown_device', `the Z-Wave JS server ${this.hubKey} has no lock node ${nodeId}`);
  }

  /** A previous device id of another server cannot be re-included here. */
  private checkHub(previousExternalId: string | null): void {
    if (previousExternalId !== null && this.hubOf(previousExternalId) !== this.hubKey) {
      throw new DriverError('driver.unknown_device', `${previousExternalId} is not a node of the Z-Wave JS server ${this.hubKey}`);
    }
  }

  /** Runs one inclusion (see `enroll`); `pin` is used only when the server asks for it. */
  private include(security: 's2' | 's0' | 'none', pin: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<EnrolledDevice> {
    return new Promise<EnrolledDevice>((resolve, reject) => {
      let settled = false;
      let joined: number | null = null;
      const seconds = Math.round(timeoutMs / 100) / 10;
      const cleanup = () => {
        settled = true;
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
      };
      // Every failure stops inclusion first, so the promise settles with the controller idle again.
      const fail = (err: DriverError) => {
        if (settled) return;
        cleanup();
        void this.client
          .command('controller.stop_inclusion', {}, { what: 'stop inclusion' })
          .catch(() => {})
          .then(() => reject(err));
      };
      const done = (nodeId: number) => {
        if (settled) return;
        const info = this.nodes.get(nodeId);
        if (!info) return;
        cleanup();
        if (!isLock(info)) {
          this.refusedJoins.add(nodeId);
          const { manufacturer, model } = identityOf(info.dump);
          const what = [manufacturer, model].filter(Boolean).join(' ') || 'a device';
          reject(new DriverError('driver.refused', `the device that joined (node ${nodeId}, ${what}) is not a lock; lockwarden left it on the network but did not enroll it`));
          return;
        }
        resolve({ externalId: this.externalIdOf(nodeId), ...identityOf(info.dump) });
      };
      const timer = setTimeout(() => {
        fail(
          joined === null
            ? new DriverError('driver.timeout', `no lock joined within ${seconds} s; inclusion was stopped. Put the lock in inclusion mode as its manual describes, then try again`)
            : new DriverError('driver.timeout', `the lock joined as node ${joined} but did not finish answering lockwarden's questions within ${seconds} s; it was not enrolled`),
        );
      }, timeoutMs);
      const onAbort = () => fail(new DriverError('driver.timeout', 'the inclusion was cancelled; inclusion was stopped'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const answer = (command: string, args: Record<string, unknown>, what: string) => {
        this.client.command(command, args, { what, write: true }).catch((e: unknown) => fail(e instanceof DriverError ? e : new DriverError('driver.refused', `${what} failed`)));
      };
      const off = this.client.on((s) => {
        if (settled || s.kind === 'connected') return;
        if (s.kind === 'disconnected') return fail(new DriverError('driver.unreachable', `the connection to the Z-Wave JS server ${this.hubKey} dropped during the inclusion`));
        const e = s.event;
        if (e.source === 'controller') {
          switch (e.event) {
            case 'grant security classes': {
              const requested = inclusionGrant.safeParse(e.requested);
              // The lock asks for the classes it needs (a lock: S2 Access Control); the person chose S2, so grant them.
              answer('controller.grant_security_classes', { inclusionGrant: requested.success ? { securityClasses: requested.data.securityClasses, clientSideAuth: false } : { securityClasses: [], clientSideAuth: false } }, 'grant the security classes the lock asks for');
              return;
            }
            case 'validate dsk and enter pin':
              // Without a PIN (S0/none chosen, yet the server asks) an empty answer cancels the S2 key exchange.
              answer('controller.validate_dsk_and_enter_pin', { pin: security === 's2' ? pin : '' }, "enter the PIN from the lock's label");
              return;
            case 'inclusion failed':
              return fail(new DriverError('driver.refused', 'the lock started to join but the controller reported the inclusion as failed; put the lock in inclusion mode again and retry'));
            case 'node added': {
              const node = nodeDump.safeParse(e.node);
              if (!node.success) return;
              joined = node.data.nodeId;
              this.resetNodes.delete(joined);
              const result = inclusionResult.safeParse(e.result);
              if (result.success && result.data.lowSecurity && security !== 'none') {
                this.refusedJoins.add(joined);
                const reason = result.data.lowSecurityReason;
                if (reason === BOOTSTRAP_S2_INCORRECT_PIN) {
                  return fail(
                    new DriverError(
                      'driver.invalid_code',
                      `the PIN did not match the lock's label, so the secure key exchange failed. The lock joined the network without security as node ${joined}; lockwarden did not enroll it. ` +
                        "Factory-reset the lock again (it leaves the network by itself), then enroll it with the 5-digit PIN printed under the QR code",
                    ),
                  );
                }
                const why = reason !== undefined ? (BOOTSTRAP_FAILURES[reason] ?? `reason ${reason}`) : 'unknown reason';
                return fail(new DriverError('driver.refused', `the lock joined as node ${joined} without the ${security.toUpperCase()} security that was chosen (${why}); lockwarden did not enroll it. Factory-reset the lock again and retry`));
              }
              if (node.data.ready === true) done(joined);
              return;
            }
          }
          return;
        }
        if (e.source !== 'node' || e.nodeId !== joined || joined === null) return;
        if (e.event === 'ready') done(joined);
        else if (e.event === 'interview failed' && (e.args as { isFinal?: unknown } | undefined)?.isFinal === true) {
          this.refusedJoins.add(joined);
          fail(new DriverError('driver.unreachable', `the lock joined as node ${joined} but stopped answering during its interview; it was not enrolled`));
        }
      });
      this.client
        .command('controller.begin_inclusion', { options: { strategy: INCLUSION_STRATEGY[security] } }, { what: 'start inclusion', write: true })
        .then((r) => {
          if ((r as { success?: unknown } | undefined)?.success === false) fail(new DriverError('driver.busy', `the Z-Wave JS server ${this.hubKey} is already including or excluding a device (another app may be doing it); try again when it is done`));
        })
        .catch((e: unknown) => fail(e instanceof DriverError ? e : new DriverError('driver.refused', 'start inclusion failed')));
    });
  }

  private invoke(nodeId: number, commandClass: number, methodName: string, args: unknown[], what: string, write = false, timeoutMs?: number): Promise<unknown> {
    return this.client
      .command('endpoint.invoke_cc_api', { nodeId, endpoint: 0, commandClass, methodName, args }, { write, what, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })
      .then((r) => (r as { response?: unknown } | undefined)?.response);
  }

  /** The access-control API of one node (User Credential CC). */
  private pinsOf(nodeId: number): UserCredentialPins {
    return new UserCredentialPins((command, args, what, write = false) => this.client.command(command, { nodeId, endpoint: 0, ...args }, { write, what }));
  }

  private userCredentialInfo(info: NodeInfo): Promise<UserCredentialInfo> {
    info.userCredentials ??= this.pinsOf(info.dump.nodeId).info();
    info.userCredentials.catch(() => (info.userCredentials = undefined));
    return info.userCredentials;
  }

  private userCodeInfo(info: NodeInfo): Promise<UserCodeInfo> {
    info.userCodes ??= (async () => {
      const nodeId = info.dump.nodeId;
      // The interview leaves one userIdStatus value per supported slot.
      let slots = 0;
      for (const v of info.dump.values ?? []) if (v.commandClass === CC.userCode && v.property === 'userIdStatus' && typeof v.propertyKey === 'number') slots = Math.max(slots, v.propertyKey);
      let chars = '0123456789';
      let checksum = false;
      if (info.asleep) {
        // A sleeping lock answers nothing now: what its interview reported, as the server keeps it, without a frame.
        const cached = async (property: string) => ((await this.client.command('node.get_value', { nodeId, valueId: { commandClass: CC.userCode, endpoint: 0, property } }, { what: `read the cached ${property}` })) as { value?: unknown } | undefined)?.value;
        const [users, ascii, sum] = await Promise.all([cached('supportedUsers'), cached('supportedASCIIChars'), cached('supportsUserCodeChecksum')]);
        if (typeof users === 'number' && slots === 0) slots = users;
        if (slots > 0) return { slots: Math.min(slots, 0xffff), chars: typeof ascii === 'string' ? ascii : chars, checksum: sum === true };
      }
      if (slots === 0) {
        const n = await this.invoke(nodeId, CC.userCode, 'getUsersCount', [], 'count user code slots');
        slots = typeof n === 'number' ? n : 0;
      }
      if ((info.ccs.get(CC.userCode) ?? 1) >= 2) {
        const caps = userCodeCapabilities.safeParse(await this.invoke(nodeId, CC.userCode, 'getCapabilities', [], 'read user code capabilities'));
        if (caps.success) {
          chars = caps.data.supportedASCIIChars ?? chars;
          checksum = caps.data.supportsUserCodeChecksum ?? false;
        }
      }
      return { slots: Math.min(slots, 0xffff), chars, checksum };
    })();
    info.userCodes.catch(() => (info.userCodes = undefined));
    return info.userCodes;
  }

  /**
   * A change for a sleeping lock: sent to the server now, which holds it until the lock wakes (a
   * real lock may sleep for an hour), and answered at once with `driver.queued` so the caller can
   * say so instead of timing out. The same change asked again is answered the same and sends
   * nothing; a different change to the same slot waits until the first went out. When the lock
   * woke and took it, the slot is read back and a `credentials_changed` event tells the caller.
   */
  private queueForWakeUp(externalId: string, info: NodeInfo, key: string, change: string, what: string, slot: number | undefined, send: () => Promise<void>): never {
    // A digest, not the code: the queue entry outlives the call.
    const signature = createHash('sha256').update(`${key}\0${change}`).digest('hex');
    const queued = info.queued.get(key);
    if (queued?.signature === signature) throw queued.answer;
    if (queued) throw new DriverError('driver.busy', `another change to ${key.startsWith('pin:') ? `slot ${slot}` : 'the lock'} is already queued until the lock wakes up; try again after it woke`, slot !== undefined ? { slot } : {});
    const answer = new DriverError('driver.queued', `the lock is asleep (a battery lock that wakes up now and then): ${what} is queued until the lock wakes up and is sent once then`, slot !== undefined ? { slot } : {});
    info.queued.set(key, { signature, answer });
    void send()
      .catch(() => {
        // The outcome is read from the lock again; the event below makes the caller do that.
      })
      .finally(() => {
        info.queued.delete(key);
        this.emit({ type: 'credentials_changed', externalId, at: this.now(), note: `${what} was sent when the lock woke up` });
      });
    throw answer;
  }

  /**
   * The code table of a sleeping lock: the one last read (kept current by this driver's own writes
   * and dropped on any keypad change the lock reports), else a full read queued for its next
   * wake-up, answered with `driver.queued`.
   */
  private codesWhileAsleep(externalId: string, nodeId: number, info: NodeInfo): Map<number, SlotCode> {
    if (info.codes) return info.codes.slots;
    return this.queueForWakeUp(externalId, info, 'read', 'read', "reading the lock's codes", undefined, async () => {
      const uc = await this.userCodeInfo(info);
      const slots = await this.readAllSlots(nodeId, uc.slots, {}, this.sleepingCommandTimeoutMs);
      info.codes = { checksum: uc.checksum ? userCodeChecksum(slots) : null, slots };
    });
  }

  /**
   * The whole code table as this driver last knew it, when the lock's checksum (one exchange) says it
   * is still the lock's; null when there is none or the lock cannot vouch for it (no checksum). Never
   * reads the table itself.
   */
  private async trustedCodes(nodeId: number, info: NodeInfo, uc: UserCodeInfo): Promise<Map<number, SlotCode> | null> {
    if (!info.codes || !uc.checksum || info.codes.checksum === null) return null;
    const c = await this.invoke(nodeId, CC.userCode, 'getUserCodeChecksum', [], 'read the user code checksum');
    if (typeof c === 'number' && c === info.codes.checksum) return info.codes.slots;
    info.codes = undefined;
    return null;
  }

  /** The lock's codes: the cached ones while the lock's checksum matches them, else every slot read again. */
  private async readCodes(nodeId: number, info: NodeInfo, options: CredentialReadOptions = {}): Promise<Map<number, SlotCode>> {
    const uc = await this.userCodeInfo(info);
    let checksum: number | null = null;
    if (uc.checksum) {
      const c = await this.invoke(nodeId, CC.userCode, 'getUserCodeChecksum', [], 'read the user code checksum');
      checksum = typeof c === 'number' ? c : null;
      if (checksum !== null && info.codes && info.codes.checksum === checksum) {
        options.onProgress?.(uc.slots, uc.slots);
        return info.codes.slots;
      }
    }
    const slots = await this.readAllSlots(nodeId, uc.slots, options);
    info.codes = { checksum, slots };
    return slots;
  }

  /**
   * Reads slots 1..total paced to the radio: zwave-js sends a node one frame at a time, so only
   * `readWindow` reads are in flight (all at once, each with its own deadline, the last ones timed out
   * waiting in the queue). One deadline covers the whole read, scaled to the table; when it passes or
   * the caller aborts, no further read is started and at most `readWindow` are left to finish.
   */
  private async readAllSlots(nodeId: number, total: number, options: CredentialReadOptions, wakeWaitMs = 0): Promise<Map<number, SlotCode>> {
    const out = new Map<number, SlotCode>();
    // A read queued for a sleeping lock first waits for its wake-up (its first answers), then runs on the usual budget.
    const deadlineMs = wakeWaitMs + this.requestTimeoutMs + total * this.slotReadBudgetMs;
    let next = 1;
    let stopped: DriverError | null = null;
    let stop: (e: DriverError) => void = () => {};
    const halted = new Promise<never>((_, reject) => {
      stop = (e) => {
        stopped ??= e;
        reject(stopped);
      };
    });
    halted.catch(() => {});
    const timer = setTimeout(() => stop(new DriverError('driver.timeout', `the lock reported ${out.size} of its ${total} user code slots within ${Math.round(deadlineMs / 1000)} s; the rest was not asked`)), deadlineMs);
    const onAbort = () => stop(new DriverError('driver.timeout', `the read was cancelled after ${out.size} of ${total} user code slots; the rest was not asked`));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const lane = async () => {
      while (stopped === null && next <= total) {
        const slot = next++;
        out.set(slot, await this.getSlot(nodeId, slot, out.size === 0 && wakeWaitMs > 0 ? wakeWaitMs : undefined));
        options.onProgress?.(out.size, total);
      }
    };
    const lanes = Promise.all(Array.from({ length: Math.min(this.readWindow, total) }, lane));
    lanes.catch((e: unknown) => stop(e instanceof DriverError ? e : new DriverError('driver.timeout', 'a user code read failed')));
    try {
      await Promise.race([lanes, halted]);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (stopped) throw stopped;
    return out;
  }

  private async getSlot(nodeId: number, slot: number, timeoutMs?: number): Promise<SlotCode> {
    const r = userCodeGetResponse.safeParse(await this.invoke(nodeId, CC.userCode, 'get', [slot], `read user code slot ${slot}`, false, timeoutMs));
    if (!r.success) throw new DriverError('driver.timeout', `the lock did not report user code slot ${slot}`);
    return { status: r.data.userIdStatus, code: typeof r.data.userCode === 'string' ? r.data.userCode : '' };
  }

  /** Reads a slot back after a write. The write was acknowledged, so a failure here leaves it uncertain. */
  private async confirmSlot(nodeId: number, info: NodeInfo, slot: number): Promise<SlotCode> {
    let got: SlotCode;
    try {
      got = await this.getSlot(nodeId, slot);
    } catch (e) {
      info.codes = undefined;
      const why = e instanceof DriverError ? e.message : 'no answer';
      throw new DriverError('driver.timeout', `the lock acknowledged the change to slot ${slot} but did not confirm it (${why})`, { uncertain: true, slot });
    }
    if (info.codes) {
      info.codes.slots.set(slot, got);
      info.codes.checksum = info.codes.checksum === null ? null : userCodeChecksum(info.codes.slots);
    }
    return got;
  }

  private async setDoor(externalId: string, mode: number): Promise<void> {
    const { nodeId, info } = await this.node(externalId);
    if (!info.ccs.has(CC.doorLock)) throw new DriverError('driver.not_supported', 'this Z-Wave node has no Door Lock command class');
    const what = mode === DOOR_SECURED ? 'lock' : 'unlock';
    if (info.asleep) return this.queueForWakeUp(externalId, info, 'door', what, `the ${what} command`, undefined, async () => void (await this.invoke(nodeId, CC.doorLock, 'set', [mode], what, true, this.sleepingCommandTimeoutMs)));
    await this.invoke(nodeId, CC.doorLock, 'set', [mode], what, true);
  }

  private onConnected(dumps: NodeDump[]): void {
    const wasKnown = this.nodes.size > 0;
    this.nodes.clear();
    for (const d of dumps) this.addNode(d);
    if (wasKnown) for (const id of this.lockIds()) this.emit({ type: 'online', externalId: id, online: true, at: this.now() });
  }

  private addNode(d: NodeDump): void {
    const battery = valueOf(d, CC.battery, 'level');
    this.nodes.set(d.nodeId, { dump: d, ccs: ccsOf(d), battery: typeof battery === 'number' ? battery : null, dead: d.status === NODE_STATUS_DEAD, duplicateRefusals: 0, asleep: d.status === NODE_STATUS_ASLEEP, queued: this.nodes.get(d.nodeId)?.queued ?? new Map<string, { signature: string; answer: DriverError }>() });
  }

  private onServerEvent(e: ZwaveServerEvent): void {
    const at = this.now();
    if (e.source === 'controller') {
      const node = nodeDump.safeParse(e.node);
      if (!node.success) return;
      if (e.event === 'node added') {
        this.addNode(node.data);
        this.resetNodes.delete(node.data.nodeId);
        this.refusedJoins.delete(node.data.nodeId);
      }
      if (e.event === 'node removed') {
        const info = this.nodes.get(node.data.nodeId);
        this.nodes.delete(node.data.nodeId);
        this.refusedJoins.delete(node.data.nodeId);
        if (!info || !isLock(info)) return;
        const externalId = this.externalIdOf(node.data.nodeId);
        // Reset: the node sent Device Reset Locally (someone reset it at the lock) and was dropped.
        if (e.reason === REMOVE_REASON_RESET) {
          this.resetNodes.set(node.data.nodeId, info);
          this.emit({ type: 'reset_detected', externalId, at });
        } else this.emit({ type: 'online', externalId, online: false, at });
      }
      return;
    }
    if (e.source !== 'node' || typeof e.nodeId !== 'number') return;
    const info = this.nodes.get(e.nodeId);
    if (!info) return;
    const externalId = this.externalIdOf(e.nodeId);
    switch (e.event) {
      case 'sleep':
      case 'wake up':
        info.asleep = e.event === 'sleep';
        return;
      case 'dead':
      case 'alive':
        info.dead = e.event === 'dead';
        if (isLock(info)) this.emit({ type: 'online', externalId, online: !info.dead, at });
        return;
      case 'ready': {
        const node = nodeDump.safeParse(e.nodeState);
        if (node.success) this.addNode(node.data);
        return;
      }
      case 'value updated':
      case 'value added': {
        const args = e.args as { commandClass?: unknown; property?: unknown; newValue?: unknown } | undefined;
        if (args?.commandClass === CC.battery && args.property === 'level' && typeof args.newValue === 'number') info.battery = args.newValue;
        // zwave-js keeps Home Security as a state value ("Cover status" etc.), not a notification event.
        if (args?.commandClass === CC.notification && args.property === 'Home Security' && TAMPER_EVENTS.has(args.newValue as number) && isLock(info)) this.emit({ type: 'tamper', externalId, at });
        return;
      }
      case 'notification':
        if (e.ccId === CC.notification && isLock(info)) this.onNotification(externalId, info, e.args as { type?: unknown; event?: unknown; parameters?: unknown }, at);
        return;
    }
  }

  private onNotification(externalId: string, info: NodeInfo, args: { type?: unknown; event?: unknown; parameters?: unknown }, at: Date): void {
    if (args.type === NOTIFICATION_HOME_SECURITY && TAMPER_EVENTS.has(args.event as number)) return this.emit({ type: 'tamper', externalId, at });
    if (args.type !== NOTIFICATION_ACCESS_CONTROL) return;
    const params = args.parameters as { userId?: unknown } | undefined;
    switch (args.event) {
      case ACCESS.keypadUnlock:
        if (typeof params?.userId === 'number') this.emit({ type: 'pin_used', externalId, slot: params.userId, at });
        return this.emit({ type: 'bolt', externalId, bolt: 'unlocked', at });
      case ACCESS.manualUnlock:
      case ACCESS.rfUnlock:
        return this.emit({ type: 'bolt', externalId, bolt: 'unlocked', at });
      case ACCESS.manualLock:
      case ACCESS.rfLock:
      case ACCESS.keypadLock:
        return this.emit({ type: 'bolt', externalId, bolt: 'locked', at });
      case ACCESS.jammed:
        return this.emit({ type: 'bolt', externalId, bolt: 'jammed', at });
      case ACCESS.allCodesDeleted:
      case ACCESS.codeDeleted:
      case ACCESS.codeAdded:
        // Changed at the keypad (or by another controller): the cache no longer speaks for the lock.
        info.codes = undefined;
        return this.emit({ type: 'credentials_changed', externalId, at });
      case ACCESS.keypadDisabled:
        return this.emit({ type: 'tamper', externalId, at });
      case ACCESS.duplicateCode:
        // The lock kept the slot as it was; the write that caused it says so (setPin).
        info.duplicateRefusals++;
        return;
    }
  }
}

function boltOf(mode: number): DeviceStatus['bolt'] {
  if (mode === DOOR_SECURED) return 'locked';
  if (mode === DOOR_UNKNOWN) return 'unknown';
  return 'unlocked';
}

/** Creates the driver for one Z-Wave JS server from plain configuration (`url`, optional `hubKey`). */
export function createZwaveDriver(config: ZwaveDriverConfig): ZwaveDriver {
  return new ZwaveDriver(config);
}

/**
 * The digits missing from the keypad's reported characters, as `forbiddenDigits` capability data
 * (the one representation the PIN checker and generator read); nothing when every digit is there.
 */
function keypadDigits(chars: string | undefined): { forbiddenDigits?: string[] } {
  if (chars === undefined) return {};
  const missing = [...'0123456789'].filter((d) => !chars.includes(d));
  return missing.length > 0 ? { forbiddenDigits: missing } : {};
}

/** Slot and PIN rules of a User Credential node: its PIN slots and lengths; never echoes the code. */
function checkCredentialPin(slot: number, code: string | null, info: UserCredentialInfo): void {
  if (!Number.isInteger(slot) || slot < 1 || slot > info.slots) throw new DriverError('driver.invalid_pin', `slot ${slot} is outside this lock's PIN slots 1-${info.slots}`, { slot });
  if (code === null) return;
  if (!/^[0-9]+$/.test(code)) throw new DriverError('driver.invalid_pin', 'the PIN may contain only the digits 0-9', { slot });
  if (code.length < info.minLength || code.length > info.maxLength) throw new DriverError('driver.invalid_pin', `the PIN must be ${info.minLength}-${info.maxLength} digits long (got ${code.length})`, { slot });
}
