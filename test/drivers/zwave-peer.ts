/**
 * The Z-Wave peer for driver tests: a real `ZwavejsServer` (the WebSocket API Home Assistant and
 * Z-Wave JS UI expose) on 127.0.0.1, wrapping a real zwave-js `Driver` whose serial port is
 * @zwave-js/testing's `MockController` with one mock door lock (User Code, Door Lock, Notification,
 * Battery, Device Reset Locally). Nothing here is ours but the glue and two small behaviours the
 * mocks do not ship: a Battery report and the controller's side of RemoveFailedNode.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WakeUpCCIntervalCapabilitiesGet, WakeUpCCIntervalCapabilitiesReport, WakeUpCCIntervalGet, WakeUpCCIntervalReport, WakeUpCCIntervalSet, WakeUpCCNoMoreInformation, WakeUpCCWakeUpNotification } from '@zwave-js/cc/WakeUpCC';
import { BatteryCCGet, BatteryCCReport, DeviceResetLocallyCCNotification, ECDHProfiles, KEXSchemes, NotificationCCGet, NotificationCCReport, Security2CC, Security2CCKEXSet, Security2CCPublicKeyReport, UserIDStatus } from '@zwave-js/cc';
import { UserCodeCCExtendedUserCodeSet, UserCodeCCGet, UserCodeCCSet } from '@zwave-js/cc/UserCodeCC';
import { CommandClasses, NodeStatus, SecurityClass, dskToString, generateECDHKeyPair } from '@zwave-js/core';
import { Bytes } from '@zwave-js/shared';
import { FunctionType, Message, MessageType } from '@zwave-js/serial';
import { AddNodeToNetworkRequest, AddNodeType, RemoveFailedNodeRequest, RemoveFailedNodeStartFlags, RemoveFailedNodeStatus } from '@zwave-js/serial/serialapi';
import { ZwavejsServer } from '@zwave-js/server';
import { MockController, MockNode, createMockZWaveRequestFrame, getDefaultSupportedFunctionTypes, type MockControllerBehavior, type MockNodeBehavior, type MockNodeOptions } from '@zwave-js/testing';
import type { Driver } from 'zwave-js';
import { createAndStartDriverWithMockPort, createDefaultMockControllerBehaviors, createDefaultMockNodeBehaviors } from 'zwave-js/Testing';

/** Yale YRD216 ids, so the driver's device database names the node. */
const YALE = { manufacturerId: 0x0129, productType: 0x8004, productId: 0x0600 };
export const ZWAVE_LOCK_NODE_ID = 2;
/** Access Control (0x06) events a keypad lock reports. */
export const ACCESS_CONTROL = { type: 0x06, keypadLock: 0x05, keypadUnlock: 0x06, allCodesDeleted: 0x0c, codeDeleted: 0x0d, codeAdded: 0x0e, duplicateCode: 0x0f } as const;
/** Home Security (0x07) "Tampering, product cover removed". */
export const HOME_SECURITY = { type: 0x07, tamper: 0x03 } as const;

/** Answers Battery Get with the level the test chose. */
function batteryBehavior(level: () => number): MockNodeBehavior {
  return {
    handleCC(controller, _self, cc) {
      if (cc instanceof BatteryCCGet) return { action: 'sendCC', cc: new BatteryCCReport({ nodeId: controller.ownNodeId, level: level() }) };
      return undefined;
    },
  };
}

/** Answers a Notification Get (the pull-mode interview asks for each type's state) with "idle". */
const notificationGetBehavior: MockNodeBehavior = {
  handleCC(controller, _self, cc) {
    if (!(cc instanceof NotificationCCGet)) return undefined;
    return { action: 'sendCC', cc: new NotificationCCReport({ nodeId: controller.ownNodeId, notificationType: cc.notificationType ?? 0, notificationEvent: 0, notificationStatus: 0xff }) };
  },
};

/**
 * The controller's side of RemoveFailedNode (the mock stick has none): a node that no longer answers
 * is removed, one that answers is not. zwave-js's response classes only parse, so the frames are
 * built from their bytes (INS12350 4.4.9: response = start flags; callback = callback id, status).
 */
const removeFailedNodeBehavior: MockControllerBehavior = {
  async onHostMessage(controller, msg) {
    if (!(msg instanceof RemoveFailedNodeRequest)) return undefined;
    const node = controller.nodes.get(msg.failedNodeId);
    const start = node ? RemoveFailedNodeStartFlags.OK : RemoveFailedNodeStartFlags.NodeNotFound;
    await controller.sendMessageToHost(new Message({ type: MessageType.Response, functionType: FunctionType.RemoveFailedNode, payload: Bytes.from([start]) }));
    if (!node) return true;
    const removed = !node.autoAckControllerFrames;
    if (removed) controller.removeNode(node);
    const status = removed ? RemoveFailedNodeStatus.NodeRemoved : RemoveFailedNodeStatus.NodeOK;
    await controller.sendMessageToHost(new Message({ type: MessageType.Request, functionType: FunctionType.RemoveFailedNode, payload: Bytes.from([msg.callbackId ?? 0, status]) }));
    return true;
  },
};

/**
 * zwave-js stops inclusion twice once a node is in (the second Stop without a callback). The mock
 * stick takes a Stop while idle for the start of a new inclusion and would then refuse the next real
 * one: a real stick ignores it, so this behaviour does too.
 */
const ignoreStopWhileIdleBehavior: MockControllerBehavior = {
  onHostMessage(controller, msg) {
    if (!(msg instanceof AddNodeToNetworkRequest) || msg.addNodeType !== AddNodeType.Stop) return Promise.resolve(undefined);
    // MockControllerStateKeys.InclusionState / MockControllerInclusionState.Idle (zwave-js lib/controller/MockControllerState).
    const state = controller.state.get('inclusionState') ?? 0;
    return Promise.resolve(state === 0 ? true : undefined);
  },
};

/** The network keys, shared by zwave-js and the mock stick so secure nodes can be bootstrapped (fixed: test keys only). */
const SECURITY_KEYS = {
  S0_Legacy: Bytes.from('0102030405060708090a0b0c0d0e0f10', 'hex'),
  S2_Unauthenticated: Bytes.from('11111111111111111111111111111111', 'hex'),
  S2_Authenticated: Bytes.from('22222222222222222222222222222222', 'hex'),
  S2_AccessControl: Bytes.from('33333333333333333333333333333333', 'hex'),
};

/** Security a lock joins with after its reset: S2 Access Control (a lock's class), S0, or none. */
export type ZwaveJoinSecurity = 's2' | 's0' | 'none';

/** The mock door lock's capabilities: a Yale YRD216 with User Code (or User Credential), Door Lock, Notification, Battery. */
function lockCapabilities(opts: { slots: number; userCredential?: boolean; security?: ZwaveJoinSecurity; chars?: string; sleeping?: boolean }): NonNullable<MockNodeOptions['capabilities']> {
  const secure = opts.security === 's2' || opts.security === 's0';
  return {
    ...YALE,
    // A battery lock that sleeps between Wake Up notifications (no FLiRS beam): the controller queues its commands.
    ...(opts.sleeping ? { isListening: false, isFrequentListening: false } : {}),
    firmwareVersion: '4.12',
    ...(opts.security === 's2' ? { securityClasses: new Set([SecurityClass.S2_AccessControl]) } : opts.security === 's0' ? { securityClasses: new Set([SecurityClass.S0_Legacy]) } : {}),
    commandClasses: [
      CommandClasses['Manufacturer Specific'],
      CommandClasses.Version,
      ...(opts.security === 's2' ? [CommandClasses['Security 2']] : opts.security === 's0' ? [CommandClasses.Security] : []),
      opts.userCredential
        ? { ccId: CommandClasses['User Credential'], version: 1, secure }
        : { ccId: CommandClasses['User Code'], version: 2, secure, numUsers: opts.slots, supportedASCIIChars: opts.chars ?? '0123456789', supportsUserCodeChecksum: true },
      { ccId: CommandClasses['Door Lock'], version: 4, secure },
      { ccId: CommandClasses.Notification, version: 8, supportsV1Alarm: false, notificationTypesAndEvents: { [ACCESS_CONTROL.type]: [ACCESS_CONTROL.keypadLock, ACCESS_CONTROL.keypadUnlock, ACCESS_CONTROL.codeDeleted, ACCESS_CONTROL.codeAdded, ACCESS_CONTROL.allCodesDeleted, ACCESS_CONTROL.duplicateCode], [HOME_SECURITY.type]: [HOME_SECURITY.tamper] } },
      { ccId: CommandClasses.Battery, version: 1 },
      CommandClasses['Device Reset Locally'],
      ...(opts.sleeping ? [{ ccId: CommandClasses['Wake Up'], version: 2 }] : []),
    ],
  };
}

/**
 * Wake Up CC on the lock's side (zwave-js ships no mock of it): answers the interval questions of the
 * interview, and falls asleep on "No More Information": then it hears nothing (no ACK, no answer)
 * until it wakes up by itself (`wakeUp()`), as a battery node does.
 */
function wakeUpBehavior(sleep: { asleep: boolean }): MockNodeBehavior {
  return {
    handleCC(controller, self, cc) {
      if (sleep.asleep) return { action: 'stop' };
      if (cc instanceof WakeUpCCIntervalGet) return { action: 'sendCC', cc: new WakeUpCCIntervalReport({ nodeId: controller.ownNodeId, wakeUpInterval: 3600, controllerNodeId: controller.ownNodeId }) };
      if (cc instanceof WakeUpCCIntervalCapabilitiesGet) {
        return { action: 'sendCC', cc: new WakeUpCCIntervalCapabilitiesReport({ nodeId: controller.ownNodeId, minWakeUpInterval: 60, maxWakeUpInterval: 86_400, defaultWakeUpInterval: 3600, wakeUpIntervalSteps: 60, wakeUpOnDemandSupported: false }) };
      }
      if (cc instanceof WakeUpCCIntervalSet) return { action: 'ok' };
      if (cc instanceof WakeUpCCNoMoreInformation) {
        sleep.asleep = true;
        self.autoAckControllerFrames = false;
        return { action: 'ok' };
      }
      return undefined;
    },
  };
}

/**
 * A joining node sends its KEX Set echo once the controller's public key is in, and sends it again
 * while the controller does not go on (S2: the controller can read it only once the PIN is entered).
 * The mock node sends it once, right away. Two gaps follow, both closed here: the echo could arrive
 * before the PIN (zwave-js then ignores it), and after a failed bootstrap (wrong PIN) zwave-js still
 * has a waiter for "a KEX Set" from that attempt, which takes the next node's echo. So this holds the
 * node's answer until zwave-js has derived the temporary key from the PIN entered (at most 10 s), and
 * sends the echo again every second while the node is still in its handshake (at most 5 times).
 */
function kexEchoBehavior(driver: Driver): MockNodeBehavior {
  return {
    async handleCC(controller, self, cc) {
      if (!(cc instanceof Security2CCPublicKeyReport) || !cc.includingNode) return undefined;
      const until = Date.now() + 10_000;
      while (!driver.securityManager2?.tempKeys.has(self.id) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      let resends = 5;
      const resend = () => {
        // The mock's S2 bootstrap state (zwave-js mockCCBehaviors/Security2.ts): stage 1 is the handshake, before KEX Report echo.
        const state = self.state.get('Security2_bootstrapState') as { stage?: number } | undefined;
        if (state?.stage !== 1 || resends-- <= 0 || !self.securityManagers.securityManager2) return;
        const echo = new Security2CCKEXSet({ nodeId: controller.ownNodeId, echo: true, selectedKEXScheme: KEXSchemes.KEXScheme1, selectedECDHProfile: ECDHProfiles.Curve25519, permitCSA: false, grantedKeys: [...self.capabilities.securityClasses] });
        void self
          .sendToController(createMockZWaveRequestFrame(Security2CC.encapsulate(echo, self.id, self.securityManagers), { ackRequested: true }))
          .catch(() => {})
          .then(() => setTimeout(resend, 1_000).unref());
      };
      setTimeout(resend, 1_000).unref();
      // The default S2 behaviour sends the first echo.
      return undefined;
    },
  };
}

/** A fault armed for the next command(s) to the lock. */
export type ZwaveFault = 'timeout' | 'lost_ack' | 'offline';

/**
 * Faults on the lock's side of the radio. `timeout`: the next Set is swallowed and the Get after it
 * unanswered. `lost_ack`: the next Set is applied but the Get after it unanswered. `offline`: the lock
 * acknowledges nothing until zwave-js declares it dead, then comes back.
 */
function faultBehavior(state: { fault: ZwaveFault | null; setSeen: boolean }): MockNodeBehavior {
  return {
    handleCC(_controller, _self, cc) {
      // Offline: the lock hears nothing, so it neither acknowledges (autoAckControllerFrames) nor answers.
      if (state.fault === 'offline') return { action: 'stop' };
      if (state.fault !== 'timeout' && state.fault !== 'lost_ack') return undefined;
      const isSet = cc instanceof UserCodeCCSet || cc instanceof UserCodeCCExtendedUserCodeSet;
      if (!state.setSeen) {
        if (!isSet) return undefined;
        state.setSeen = true;
        return state.fault === 'timeout' ? { action: 'stop' } : undefined;
      }
      if (cc instanceof UserCodeCCGet) {
        state.fault = null;
        state.setSeen = false;
        return { action: 'stop' };
      }
      return undefined;
    },
  };
}

/**
 * What a real keypad lock does with a User Code Set that the zwave-js mock stores blindly: a code
 * with a character its keypad lacks is not stored, and a code another slot holds is not stored
 * either, reported as Access Control "New user code not added due to duplicate code" (0x0F), as
 * Yale and Schlage locks do.
 */
function keypadRulesBehavior(chars: string, refuseDuplicates: boolean): MockNodeBehavior {
  return {
    handleCC(controller, self, cc) {
      // zwave-js writes V2 locks with Extended User Code Set (one code here).
      const write = cc instanceof UserCodeCCSet ? cc : cc instanceof UserCodeCCExtendedUserCodeSet && cc.userCodes.length === 1 ? cc.userCodes[0]! : null;
      if (!write || write.userIdStatus === UserIDStatus.Available) return undefined;
      const code = typeof write.userCode === 'string' ? write.userCode : '';
      if ([...code].some((c) => !chars.includes(c))) return { action: 'stop' };
      if (!refuseDuplicates) return undefined;
      for (const [key, value] of self.state) {
        const m = /^UserCode_userCode_(\d+)$/.exec(key);
        if (!m || Number(m[1]) === write.userId || value !== code) continue;
        const status = self.state.get(`UserCode_userIdStatus_${m[1]}`);
        if (status === undefined || status === UserIDStatus.Available) continue;
        return { action: 'sendCC', cc: new NotificationCCReport({ nodeId: controller.ownNodeId, notificationType: ACCESS_CONTROL.type, notificationEvent: ACCESS_CONTROL.duplicateCode, notificationStatus: 0xff }) };
      }
      return undefined;
    },
  };
}

/** A slow radio: every command's answer leaves the lock `ms` later (the ACK is at once, as on a real link). */
function responseDelayBehavior(ms: number): MockNodeBehavior {
  return {
    async handleCC() {
      await new Promise((r) => setTimeout(r, ms));
      return undefined;
    },
  };
}

/** Records the name of every command the lock receives (the mock keeps its own record private). */
function frameLogBehavior(log: string[]): MockNodeBehavior {
  return {
    handleCC(_controller, _self, cc) {
      log.push(cc.constructor.name);
      return undefined;
    },
  };
}

/** A port on 127.0.0.1 that was free a moment ago (ZwavejsServer ignores port 0). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** A running Z-Wave JS server with one mock lock, and the hands to act on the lock from outside. */
export interface ZwavePeer {
  url: string;
  driver: Driver;
  server: ZwavejsServer;
  controller: MockController;
  lock: MockNode;
  nodeId: number;
  /** Slots the mock lock has. */
  slots: number;
  /** Names of the commands the lock received (UserCodeCCGet, UserCodeCCSet, ...), oldest first; clear with `received.length = 0`. */
  received: string[];
  setBattery(level: number): void;
  /** Someone at the keypad programs a code: the lock stores it and reports "New user code added". */
  setPinAtKeypad(slot: number, code: string): Promise<void>;
  /** Sends a notification report from the lock (as last included). */
  notify(type: number, event: number, parameters?: number[]): Promise<void>;
  /** Arms a fault for the next command(s). */
  injectFault(kind: ZwaveFault): void;
  /** A sleeping lock (`sleeping: true`) wakes up and says so (Wake Up Notification); it sleeps again when the controller is done. */
  wakeUp(): Promise<void>;
  /** The sleeping lock is asleep now. */
  isAsleep(): boolean;
  /** Someone holds the reset button: the lock (as last included) forgets its network, sends Device Reset Locally and stops answering. */
  resetLocally(): Promise<void>;
  /**
   * The reset lock is put in inclusion mode (per its manual): the next inclusion adds it as a new node
   * (`nodeId`, default 3), factory-fresh, joining with `security` (default S2). Resolves with what its
   * label shows: the DSK and its first five digits, the PIN typed for S2.
   */
  awaitInclusion(opts?: { nodeId?: number; security?: ZwaveJoinSecurity }): Promise<{ pin: string; dsk: string }>;
  /** The lock leaves inclusion mode without having joined. */
  leaveInclusionMode(): void;
  /** The mock node the last inclusion added (the lock's new incarnation), once it joined. */
  readonly included: MockNode | null;
  /** The mock stick is in its "adding a node" state (an inclusion is running). */
  isIncluding(): boolean;
  /** The node ids the mock stick has in its network (the controller's own excluded). */
  networkNodeIds(): number[];
  close(): Promise<void>;
}

/** Boots the driver on a mock controller with one mock door lock and a ZwavejsServer in front of it. */
export async function startZwavePeer(
  opts: {
    slots?: number;
    battery?: number;
    userCredential?: boolean;
    /** A slow radio: ms between a command and the lock's answer. */
    responseDelayMs?: number;
    /** The characters the keypad takes (User Code V2 "supported ASCII chars"); default every digit. */
    chars?: string;
    /** The lock refuses a code another slot holds (Access Control 0x0F), as real keypad locks do. */
    refuseDuplicates?: boolean;
    /** A battery lock with Wake Up CC that sleeps (hears nothing) between wake-ups. */
    sleeping?: boolean;
  } = {},
): Promise<ZwavePeer> {
  const slots = opts.slots ?? 10;
  let battery = opts.battery ?? 87;
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'lockwarden-zwave-'));
  const { driver, continueStartup, mockPort, serial } = await createAndStartDriverWithMockPort({
    logConfig: process.env.ZWAVE_LOG ? { enabled: true, level: 'debug', forceConsole: true } : { enabled: false },
    storage: { cacheDir, lockDir: path.join(cacheDir, 'locks') },
    securityKeys: SECURITY_KEYS,
    testingHooks: { skipFirmwareIdentification: true },
    // A mock node answers at once or never: short report waits and one send attempt keep faults quick.
    timeouts: { report: 500 },
    attempts: { sendData: 1 },
  });
  const controller = await MockController.create({
    mockPort,
    serial,
    ownNodeId: 1,
    homeId: 0x7e57_1e55,
    securityKeys: SECURITY_KEYS,
    // The default mock stick lacks RemoveFailedNode, which zwave-js needs to drop a locally reset node.
    capabilities: { supportedFunctionTypes: [...getDefaultSupportedFunctionTypes(), FunctionType.RemoveFailedNode] },
  });
  controller.defineBehavior(...createDefaultMockControllerBehaviors(), removeFailedNodeBehavior);
  // A later call is asked first (defineBehavior puts its batch in front), so this one sees Stop before the default.
  controller.defineBehavior(ignoreStopWhileIdleBehavior);
  const lock = await MockNode.create({ id: ZWAVE_LOCK_NODE_ID, controller, capabilities: lockCapabilities({ slots, userCredential: opts.userCredential, chars: opts.chars, sleeping: opts.sleeping }) });
  const sleep = { asleep: false };
  const received: string[] = [];
  const faults = { fault: null as ZwaveFault | null, setSeen: false };
  lock.defineBehavior(...createDefaultMockNodeBehaviors());
  // Defined later, so they take precedence over the defaults.
  lock.defineBehavior(faultBehavior(faults), notificationGetBehavior, batteryBehavior(() => battery), keypadRulesBehavior(opts.chars ?? '0123456789', opts.refuseDuplicates ?? false));
  // Asked first: every command is logged, then answered late on a slow radio.
  lock.defineBehavior(...(opts.sleeping ? [wakeUpBehavior(sleep)] : []));
  lock.defineBehavior(...(opts.responseDelayMs ? [responseDelayBehavior(opts.responseDelayMs)] : []), frameLogBehavior(received));
  controller.addNode(lock);
  const ready = new Promise<void>((resolve) => driver.once('all nodes ready', () => resolve()));
  continueStartup();
  // zwave-js interviews a sleeping node only while it is awake: the lock wakes (as at its inclusion) until the interview is done.
  const waking = opts.sleeping
    ? setInterval(() => {
        if (!sleep.asleep) void lock.sendToController(createMockZWaveRequestFrame(new WakeUpCCWakeUpNotification({ nodeId: controller.ownNodeId }), { ackRequested: false })).catch(() => {});
      }, 300)
    : null;
  await ready.finally(() => waking && clearInterval(waking));
  if (opts.sleeping) {
    // zwave-js keeps a node awake for its interview (`keepAwake`, public API). A value refresh it started during the
    // interview saves keepAwake (true then) and puts it back when it ends, which can be after "all nodes ready": so
    // keepAwake is released again until the lock sleeps. After a released exchange (a battery reading) zwave-js sends
    // "No More Information" and the lock sleeps, as after a real inclusion.
    const node = driver.controller.nodes.get(ZWAVE_LOCK_NODE_ID);
    for (let next = 0, until = Date.now() + 10_000; !sleep.asleep && Date.now() < until; ) {
      // Never while zwave-js thinks it asleep: the reading would wait in the wake-up queue and go out at the next wake-up.
      if (node && node.status !== NodeStatus.Asleep && Date.now() >= next) {
        node.keepAwake = false;
        next = Date.now() + 1000;
        await node.commandClasses.Battery.get().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!sleep.asleep) throw new Error('the sleeping mock lock was not sent to sleep after its interview');
  }

  const port = await freePort();
  const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
  const server = new ZwavejsServer(driver, { host: '127.0.0.1', port, logger: silent, enableDNSServiceDiscovery: false });
  await server.start(false);

  let included: MockNode | null = null;
  // The lock as it is now: its latest inclusion after a reset, else the node it started as.
  const current = () => included ?? lock;
  // A node included with S2 sends its reports encrypted (zwave-js drops plain ones from it).
  const sendCC = (cc: NotificationCCReport | DeviceResetLocallyCCNotification) => {
    const node = current();
    // Whether its S2 bootstrap succeeded (a wrong PIN leaves it included in the clear), as the lock would know.
    const granted = driver.controller.nodes.get(node.id)?.getHighestSecurityClass();
    const s2 = granted !== undefined && granted >= SecurityClass.S2_Unauthenticated && granted <= SecurityClass.S2_AccessControl;
    return node.sendToController(createMockZWaveRequestFrame(s2 ? Security2CC.encapsulate(cc, node.id, node.securityManagers) : cc, { ackRequested: true }));
  };

  const notify = async (type: number, event: number, parameters?: number[]) => {
    await sendCC(new NotificationCCReport({ nodeId: controller.ownNodeId, notificationType: type, notificationEvent: event, notificationStatus: 0xff, ...(parameters ? { eventParameters: Bytes.from(parameters) } : {}) }));
  };

  const peer: ZwavePeer = {
    url: `ws://127.0.0.1:${port}`,
    driver,
    server,
    controller,
    lock,
    nodeId: ZWAVE_LOCK_NODE_ID,
    slots,
    received,
    setBattery: (level) => void (battery = level),
    async setPinAtKeypad(slot: number, code: string) {
      if (opts.userCredential) {
        // The mock's User Credential state (zwave-js mockCCBehaviors/UserCredential.ts): user N with PIN slot N, made locally.
        current().state.set(`UserCredential_user_${slot}`, { userType: 0, active: true, credentialRule: 1, expiringTimeoutMinutes: 0, nameEncoding: 0, userName: `User-${slot}`, modifierType: 3, modifierNodeId: 0 });
        current().state.set(`UserCredential_cred_1_${slot}`, { userId: slot, credentialData: Bytes.from(code, 'ascii'), modifierType: 3, modifierNodeId: 0 });
        await notify(ACCESS_CONTROL.type, ACCESS_CONTROL.codeAdded, [slot]);
        return;
      }
      current().state.set(`UserCode_userIdStatus_${slot}`, UserIDStatus.Enabled);
      current().state.set(`UserCode_userCode_${slot}`, code);
      await notify(ACCESS_CONTROL.type, ACCESS_CONTROL.codeAdded, [slot]);
    },
    notify,
    injectFault(kind) {
      if (kind === 'offline') {
        lock.autoAckControllerFrames = false;
        faults.fault = 'offline';
        driver.controller.nodes.get(ZWAVE_LOCK_NODE_ID)?.once('dead', () => {
          lock.autoAckControllerFrames = true;
          faults.fault = null;
        });
        return;
      }
      faults.fault = kind;
      faults.setSeen = false;
    },
    async wakeUp() {
      sleep.asleep = false;
      lock.autoAckControllerFrames = true;
      await lock.sendToController(createMockZWaveRequestFrame(new WakeUpCCWakeUpNotification({ nodeId: controller.ownNodeId }), { ackRequested: false }));
    },
    isAsleep: () => sleep.asleep,
    async resetLocally() {
      const node = current();
      await sendCC(new DeviceResetLocallyCCNotification({ nodeId: controller.ownNodeId }));
      node.autoAckControllerFrames = false;
    },
    async awaitInclusion(o = {}) {
      const security = o.security ?? 's2';
      // The key pair is made now, as a real lock's is at the factory, so its label (DSK, PIN) is known before it joins.
      const keyPair = await generateECDHKeyPair();
      controller.nodePendingInclusion = {
        id: o.nodeId ?? ZWAVE_LOCK_NODE_ID + 1,
        capabilities: lockCapabilities({ slots, userCredential: opts.userCredential, security }),
        setup(node) {
          node.ecdhKeyPair = keyPair;
          node.defineBehavior(kexEchoBehavior(driver), notificationGetBehavior, batteryBehavior(() => battery));
          included = node;
        },
      };
      // zwave-js reads the DSK from the first 16 bytes of the public key the node sends.
      const dsk = dskToString(keyPair.publicKey.slice(0, 16));
      return { dsk, pin: dsk.slice(0, 5) };
    },
    leaveInclusionMode() {
      controller.nodePendingInclusion = undefined;
    },
    get included() {
      return included;
    },
    isIncluding: () => controller.state.get('inclusionState') === 1,
    networkNodeIds: () => [...controller.nodes.keys()].filter((id) => id !== controller.ownNodeId).sort((a, b) => a - b),
    async close() {
      await peer.server.destroy();
      await driver.destroy();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
  return peer;
}
