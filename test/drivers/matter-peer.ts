/**
 * The Matter peer for driver tests: a virtual matter.js door lock (DoorLockDevice with the User and
 * PinCredential features) and an environment for lockwarden's controller, both on matter.js's
 * NetworkSimulator with in-memory storage: one process, no sockets, no mDNS on any real interface.
 */
import { ControllerBehavior, Crypto, Entropy, Environment, MockStorageService, Network, NetworkSimulator, ServerNode } from '@matter/main';
import { DoorLockServer, PowerSourceServer } from '@matter/main/behaviors';
import { DoorLock, PowerSource } from '@matter/main/clusters';
import { DoorLockDevice } from '@matter/main/devices';
import { ManualPairingCodeCodec } from '@matter/main/types';
import { closeNode } from '../../src/drivers/matter/driver.js';

export const LOCK_PASSCODE = 20202021;
export const LOCK_DISCRIMINATOR = 3840;
const LockServer = DoorLockServer.with(DoorLock.Feature.User, DoorLock.Feature.PinCredential, DoorLock.Feature.WeekDayAccessSchedules, DoorLock.Feature.YearDayAccessSchedules);
/** The lock's batteries (PowerSource with the Battery feature, Matter 1.3 §11.7), on the lock's endpoint. */
const BatteryServer = PowerSourceServer.with(PowerSource.Feature.Battery);
/** The virtual lock's battery at start, in percent. */
export const LOCK_BATTERY_PERCENT = 87;

/** An environment on the simulated network with its own memory storage (nothing from the real host but crypto). */
export function simulatedEnvironment(sim: NetworkSimulator, id: string, host: number): Environment {
  const env = new Environment(id);
  env.set(Network, sim.addHost(host));
  env.set(Crypto, Environment.default.get(Crypto));
  env.set(Entropy, Environment.default.get(Entropy));
  new MockStorageService(env);
  return env;
}

/** A running virtual lock and the controller's environment beside it. */
export interface MatterPeer {
  device: ServerNode;
  controllerEnvironment: Environment;
  /** The lock's manual pairing code (11 digits). */
  pairingCode: string;
  /** Someone programs a PIN at the keypad: the lock stores user and credential and reports the change. */
  setPinAtKeypad(slot: number, code: string): Promise<void>;
  /** The batteries run down (or are replaced): the lock reports BatPercentRemaining in half percents. */
  setBattery(percent: number): Promise<void>;
  /** How many fabrics the lock itself holds. */
  fabricCount(): number;
  /** The lock's own view of its users (slot numbers). */
  userSlots(): number[];
  /** The PIN the lock holds in a slot (decrypted from its credential store, as the keypad would check it), or null. */
  pinAt(slot: number): Promise<string | null>;
  /**
   * Someone pairs another Matter app with the lock (its "share with another controller" button):
   * the lock opens a commissioning window and a second matter.js controller, on its own host of the
   * simulated network with its own fabric, commissions it. Resolves with that controller's fabric label.
   */
  pairAnotherController(label: string): Promise<void>;
  /** A factory reset at the lock: everything erased, back in commissioning mode. */
  factoryReset(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the virtual lock (10 PIN users, PINs 4-8 digits, one week-day and one year-day schedule per user). */
export async function startMatterPeer(): Promise<MatterPeer> {
  const sim = new NetworkSimulator();
  const deviceEnvironment = simulatedEnvironment(sim, 'virtual-lock', 2);
  const device = await ServerNode.create({
    id: 'virtual-lock',
    environment: deviceEnvironment,
    network: { port: 5540 },
    commissioning: { passcode: LOCK_PASSCODE, discriminator: LOCK_DISCRIMINATOR },
    productDescription: { name: 'Virtual lock', deviceType: DoorLockDevice.deviceType },
  } as Parameters<typeof ServerNode.create>[0]);
  await device.add(DoorLockDevice.with(LockServer, BatteryServer), {
    id: 'door',
    powerSource: {
      status: PowerSource.PowerSourceStatus.Active,
      order: 0,
      description: '4 x AA',
      batChargeLevel: PowerSource.BatChargeLevel.Ok,
      batReplacementNeeded: false,
      batReplaceability: PowerSource.BatReplaceability.UserReplaceable,
      batPresent: true,
      // Half-percent units: 174 is 87 %.
      batPercentRemaining: LOCK_BATTERY_PERCENT * 2,
    },
    doorLock: {
      lockState: DoorLock.LockState.Locked,
      lockType: DoorLock.LockType.DeadBolt,
      actuatorEnabled: true,
      operatingMode: DoorLock.OperatingMode.Normal,
      // The DoorLock server refuses to start without these two.
      wrongCodeEntryLimit: 5,
      userCodeTemporaryDisableTime: 60,
      numberOfTotalUsersSupported: 10,
      numberOfPinUsersSupported: 10,
      minPinCodeLength: 4,
      maxPinCodeLength: 8,
      credentialRulesSupport: { single: true },
      numberOfCredentialsSupportedPerUser: 1,
      numberOfWeekDaySchedulesSupportedPerUser: 1,
      numberOfYearDaySchedulesSupportedPerUser: 1,
    },
  } as never);
  await device.start();
  const door = () => device.parts.get('door')!;
  const others: { node: ServerNode; env: Environment }[] = [];
  return {
    device,
    controllerEnvironment: simulatedEnvironment(sim, 'lockwarden-controller', 1),
    pairingCode: ManualPairingCodeCodec.encode({ discriminator: LOCK_DISCRIMINATOR, passcode: LOCK_PASSCODE }),
    async setPinAtKeypad(slot, code) {
      await door().act((agent) => {
        const lock = agent.get(LockServer) as unknown as {
          auth: { findUser(i: number): unknown; addUser(u: object): void; addCredential(t: number, i: number, d: Uint8Array, f: number): void; removeCredential(t: number, i: number): void; removeUser(i: number): void; findCredential(t: number, i: number): unknown };
          events: { lockUserChange: { emit(e: object, ctx: unknown): void } };
        };
        if (lock.auth.findCredential(DoorLock.CredentialType.Pin, slot)) lock.auth.removeCredential(DoorLock.CredentialType.Pin, slot);
        if (lock.auth.findUser(slot)) lock.auth.removeUser(slot);
        // Programmed at the keypad: no fabric made it.
        lock.auth.addUser({ userIndex: slot, userName: '', userUniqueId: null, userStatus: DoorLock.UserStatus.OccupiedEnabled, userType: DoorLock.UserType.UnrestrictedUser, credentialRule: DoorLock.CredentialRule.Single, credentials: [{ credentialType: DoorLock.CredentialType.Pin, credentialIndex: slot }], creatorFabricIndex: 0, lastModifiedFabricIndex: 0 });
        lock.auth.addCredential(DoorLock.CredentialType.Pin, slot, new TextEncoder().encode(code), 0);
        lock.events.lockUserChange.emit({ lockDataType: DoorLock.LockDataType.Pin, dataOperationType: DoorLock.DataOperationType.Add, operationSource: DoorLock.OperationSource.Keypad, userIndex: slot, fabricIndex: null, sourceNode: null, dataIndex: slot }, agent.context);
      });
    },
    async pinAt(slot) {
      let pin: string | null = null;
      await door().act((agent) => {
        const auth = (agent.get(LockServer) as unknown as { auth: { findCredential(t: number, i: number): { credentialData: Uint8Array } | undefined; decrypt(d: Uint8Array): Uint8Array } }).auth;
        const found = auth.findCredential(DoorLock.CredentialType.Pin, slot);
        pin = found ? new TextDecoder().decode(auth.decrypt(found.credentialData)) : null;
      });
      return pin;
    },
    async pairAnotherController(label) {
      await device.act((agent) => (agent as unknown as { commissioning: { enterCommissionableMode(): Promise<void> } }).commissioning.enterCommissionableMode());
      const env = simulatedEnvironment(sim, `other-controller-${others.length}`, 3 + others.length);
      const node = await ServerNode.create({
        id: `other-controller-${others.length}`,
        environment: env,
        network: { port: 5542 + others.length },
        commissioning: { enabled: false },
        controller: { adminFabricLabel: label },
      } as Parameters<typeof ServerNode.create>[0]);
      node.behaviors.require(ControllerBehavior);
      await node.start();
      others.push({ node, env });
      await node.peers.commission({ passcode: LOCK_PASSCODE, discriminator: LOCK_DISCRIMINATOR });
    },
    async setBattery(percent) {
      await door().setStateOf(BatteryServer, { batPercentRemaining: Math.round(percent * 2), batChargeLevel: percent < 15 ? PowerSource.BatChargeLevel.Critical : percent < 30 ? PowerSource.BatChargeLevel.Warning : PowerSource.BatChargeLevel.Ok } as never);
    },
    fabricCount() {
      return Object.keys((device.state as unknown as { commissioning: { fabrics: object } }).commissioning.fabrics).length;
    },
    userSlots() {
      const users = (door().state as unknown as { doorLock: { users?: { userIndex: number }[] } }).doorLock.users ?? [];
      return users.map((u) => u.userIndex).sort((a, b) => a - b);
    },
    async factoryReset() {
      await device.erase();
      await device.start();
    },
    async close() {
      for (const o of others) await closeNode(o.node, o.env);
      await closeNode(device, deviceEnvironment);
    },
  };
}
