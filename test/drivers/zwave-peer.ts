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
import { BatteryCCGet, BatteryCCReport, DeviceResetLocallyCCNotification, NotificationCCGet, NotificationCCReport, UserIDStatus } from '@zwave-js/cc';
import { UserCodeCCExtendedUserCodeSet, UserCodeCCGet, UserCodeCCSet } from '@zwave-js/cc/UserCodeCC';
import { CommandClasses } from '@zwave-js/core';
import { Bytes } from '@zwave-js/shared';
import { FunctionType, Message, MessageType } from '@zwave-js/serial';
import { RemoveFailedNodeRequest, RemoveFailedNodeStartFlags, RemoveFailedNodeStatus } from '@zwave-js/serial/serialapi';
import { ZwavejsServer } from '@zwave-js/server';
import { MockController, MockNode, createMockZWaveRequestFrame, getDefaultSupportedFunctionTypes, type MockControllerBehavior, type MockNodeBehavior } from '@zwave-js/testing';
import type { Driver } from 'zwave-js';
import { createAndStartDriverWithMockPort, createDefaultMockControllerBehaviors, createDefaultMockNodeBehaviors } from 'zwave-js/Testing';

/** Yale YRD216 ids, so the driver's device database names the node. */
const YALE = { manufacturerId: 0x0129, productType: 0x8004, productId: 0x0600 };
export const ZWAVE_LOCK_NODE_ID = 2;
/** Access Control (0x06) events a keypad lock reports. */
export const ACCESS_CONTROL = { type: 0x06, keypadLock: 0x05, keypadUnlock: 0x06, allCodesDeleted: 0x0c, codeDeleted: 0x0d, codeAdded: 0x0e } as const;
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
  setBattery(level: number): void;
  /** Someone at the keypad programs a code: the lock stores it and reports "New user code added". */
  setPinAtKeypad(slot: number, code: string): Promise<void>;
  /** Sends a notification report from the lock. */
  notify(type: number, event: number, parameters?: number[]): Promise<void>;
  /** Arms a fault for the next command(s). */
  injectFault(kind: ZwaveFault): void;
  /** Someone holds the reset button: the lock forgets its network, sends Device Reset Locally and stops answering. */
  resetLocally(): Promise<void>;
  close(): Promise<void>;
}

/** Boots the driver on a mock controller with one mock door lock and a ZwavejsServer in front of it. */
export async function startZwavePeer(opts: { slots?: number; battery?: number; userCredential?: boolean } = {}): Promise<ZwavePeer> {
  const slots = opts.slots ?? 10;
  let battery = opts.battery ?? 87;
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'lockwarden-zwave-'));
  const { driver, continueStartup, mockPort, serial } = await createAndStartDriverWithMockPort({
    logConfig: process.env.ZWAVE_LOG ? { enabled: true, level: 'debug', forceConsole: true } : { enabled: false },
    storage: { cacheDir, lockDir: path.join(cacheDir, 'locks') },
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
    // The default mock stick lacks RemoveFailedNode, which zwave-js needs to drop a locally reset node.
    capabilities: { supportedFunctionTypes: [...getDefaultSupportedFunctionTypes(), FunctionType.RemoveFailedNode] },
  });
  controller.defineBehavior(...createDefaultMockControllerBehaviors(), removeFailedNodeBehavior);
  const lock = await MockNode.create({
    id: ZWAVE_LOCK_NODE_ID,
    controller,
    capabilities: {
      ...YALE,
      firmwareVersion: '4.12',
      commandClasses: [
        CommandClasses['Manufacturer Specific'],
        CommandClasses.Version,
        opts.userCredential
          ? { ccId: CommandClasses['User Credential'], version: 1 }
          : { ccId: CommandClasses['User Code'], version: 2, numUsers: slots, supportedASCIIChars: '0123456789', supportsUserCodeChecksum: true },
        { ccId: CommandClasses['Door Lock'], version: 4 },
        { ccId: CommandClasses.Notification, version: 8, supportsV1Alarm: false, notificationTypesAndEvents: { [ACCESS_CONTROL.type]: [ACCESS_CONTROL.keypadLock, ACCESS_CONTROL.keypadUnlock, ACCESS_CONTROL.codeDeleted, ACCESS_CONTROL.codeAdded, ACCESS_CONTROL.allCodesDeleted], [HOME_SECURITY.type]: [HOME_SECURITY.tamper] } },
        { ccId: CommandClasses.Battery, version: 1 },
        CommandClasses['Device Reset Locally'],
      ],
    },
  });
  const faults = { fault: null as ZwaveFault | null, setSeen: false };
  lock.defineBehavior(...createDefaultMockNodeBehaviors());
  // Defined later, so they take precedence over the defaults.
  lock.defineBehavior(faultBehavior(faults), notificationGetBehavior, batteryBehavior(() => battery));
  controller.addNode(lock);
  const ready = new Promise<void>((resolve) => driver.once('all nodes ready', () => resolve()));
  continueStartup();
  await ready;

  const port = await freePort();
  const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
  const server = new ZwavejsServer(driver, { host: '127.0.0.1', port, logger: silent, enableDNSServiceDiscovery: false });
  await server.start(false);

  const sendCC = (cc: NotificationCCReport | DeviceResetLocallyCCNotification) =>
    lock.sendToController(createMockZWaveRequestFrame(cc, { ackRequested: true }));

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
    setBattery: (level) => void (battery = level),
    async setPinAtKeypad(slot: number, code: string) {
      if (opts.userCredential) {
        // The mock's User Credential state (zwave-js mockCCBehaviors/UserCredential.ts): user N with PIN slot N, made locally.
        lock.state.set(`UserCredential_user_${slot}`, { userType: 0, active: true, credentialRule: 1, expiringTimeoutMinutes: 0, nameEncoding: 0, userName: `User-${slot}`, modifierType: 3, modifierNodeId: 0 });
        lock.state.set(`UserCredential_cred_1_${slot}`, { userId: slot, credentialData: Bytes.from(code, 'ascii'), modifierType: 3, modifierNodeId: 0 });
        await notify(ACCESS_CONTROL.type, ACCESS_CONTROL.codeAdded, [slot]);
        return;
      }
      lock.state.set(`UserCode_userIdStatus_${slot}`, UserIDStatus.Enabled);
      lock.state.set(`UserCode_userCode_${slot}`, code);
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
    async resetLocally() {
      await sendCC(new DeviceResetLocallyCCNotification({ nodeId: controller.ownNodeId }));
      lock.autoAckControllerFrames = false;
    },
    async close() {
      await peer.server.destroy();
      await driver.destroy();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
  return peer;
}
