/**
 * The Matter peer for driver tests: a virtual matter.js door lock (DoorLockDevice with the User and
 * PinCredential features) and an environment for lockwarden's controller, both on matter.js's
 * NetworkSimulator with in-memory storage: one process, no sockets, no mDNS on any real interface.
 */
import { ControllerBehavior, Crypto, Entropy, Environment, MockStorageService, Network, NetworkSimulator, ServerNode } from '@matter/main';
import { DoorLockServer, PowerSourceServer } from '@matter/main/behaviors';
import { DoorLock, PowerSource } from '@matter/main/clusters';
import { DoorLockDevice } from '@matter/main/devices';
import { ManualPairingCodeCodec, Status, StatusResponseError } from '@matter/main/types';
import { closeNode } from '../../src/drivers/matter/driver.js';

export const LOCK_PASSCODE = 20202021;
export const LOCK_DISCRIMINATOR = 3840;
/** The PIN credential type as the lock's stored records hold it (a plain number). */
const PIN_TYPE: number = DoorLock.CredentialType.Pin;
/** The full-featured lock server: the type every shape's server is used as. */
type LockServer = ReturnType<typeof _fullLockServer>;
const _fullLockServer = () => DoorLockServer.with(DoorLock.Feature.User, DoorLock.Feature.PinCredential, DoorLock.Feature.WeekDayAccessSchedules, DoorLock.Feature.YearDayAccessSchedules);

/**
 * The shape of the virtual lock: what its Door Lock cluster reports and keeps. The default is the
 * lock the conformance suite runs on (10 users, PINs of 4-8 digits, one week-day and one year-day
 * schedule per user); other shapes are locks met in the field (5 users, 6-8 digit PINs, week-day
 * schedules only).
 */
export interface MatterLockShape {
  /** NumberOfTotalUsersSupported. */
  users?: number;
  /** NumberOfPINUsersSupported: how many PIN credentials the lock keeps (indexes 1..pinUsers). */
  pinUsers?: number;
  minPinLength?: number;
  maxPinLength?: number;
  /** Week-day schedules per user; 0 leaves out the WeekDayAccessSchedules feature. */
  weekDaySchedules?: number;
  /** Year-day schedules per user; 0 leaves out the YearDayAccessSchedules feature. */
  yearDaySchedules?: number;
}
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
  /**
   * Someone programs a PIN at the keypad: the lock stores user `slot` holding the PIN under
   * credential `credentialIndex` (the slot's own number unless given; locks number the two apart),
   * made by no fabric, and reports the change. Whatever user `slot` held before is replaced.
   */
  setPinAtKeypad(slot: number, code: string, credentialIndex?: number): Promise<void>;
  /** The lock's own record of user `slot` (type, credentials, creator fabric), or undefined. */
  userAt(slot: number): Promise<{ userType: number; userStatus: number; credentials: { credentialType: number; credentialIndex: number }[]; creatorFabricIndex: number } | undefined>;
  /** The week-day schedules the lock keeps for user `slot`. */
  weekDaySchedulesOf(slot: number): Promise<{ weekDayIndex: number; startHour: number; startMinute: number; endHour: number; endMinute: number }[]>;
  /** From now on the lock refuses every week-day schedule sent to it (its own rules), until switched off. */
  refuseWeekDaySchedules(on: boolean): void;
  /** The PIN user `slot` holds (whatever its credential index), decrypted as the keypad would check it, or null. */
  pinOfUser(slot: number): Promise<string | null>;
  /** Every PIN the lock holds, decrypted (to check that an old code is really gone). */
  allPins(): Promise<string[]>;
  /**
   * User `slot` becomes a week-day schedule user with no schedule (what a half-done schedule change
   * leaves): the keypad refuses its PIN at all times.
   */
  leaveScheduleOnlyWithoutSchedule(slot: number): Promise<void>;
  /** Empties the lock's user table (users, credentials, schedules) from its own side, between tests. */
  wipeUsers(): Promise<void>;
  /** The batteries run down (or are replaced): the lock reports BatPercentRemaining in half percents. */
  setBattery(percent: number): Promise<void>;
  /** How many fabrics the lock itself holds. */
  fabricCount(): number;
  /** The lock's own view of its users (slot numbers). */
  userSlots(): number[];
  /** The same, read inside a transaction (always current; see `userAt`). */
  usersNow(): Promise<number[]>;
  /** The PIN the lock holds under PIN credential index `slot` (decrypted from its credential store, as the keypad would check it), or null. */
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

/** Starts the virtual lock (by default 10 PIN users, PINs 4-8 digits, one week-day and one year-day schedule per user). */
export async function startMatterPeer(shape: MatterLockShape = {}): Promise<MatterPeer> {
  const users = shape.users ?? 10;
  const weekDaySchedules = shape.weekDaySchedules ?? 1;
  const yearDaySchedules = shape.yearDaySchedules ?? 1;
  const features = [DoorLock.Feature.User, DoorLock.Feature.PinCredential, ...(weekDaySchedules > 0 ? [DoorLock.Feature.WeekDayAccessSchedules] : []), ...(yearDaySchedules > 0 ? [DoorLock.Feature.YearDayAccessSchedules] : [])];
  let refusing = false;
  // The features differ per shape; the class is typed as the full-featured one the default shape uses.
  const Base = DoorLockServer.with(...features) as unknown as LockServer;
  class ShapeLockServer extends Base {
    override setWeekDaySchedule(request: DoorLock.SetWeekDayScheduleRequest) {
      // A lock with schedule rules of its own answers as matter.js does for one it cannot keep.
      if (refusing) throw new StatusResponseError('this lock does not keep this schedule', Status.InvalidCommand);
      return super.setWeekDaySchedule(request);
    }
  }
  const sim = new NetworkSimulator();
  const deviceEnvironment = simulatedEnvironment(sim, 'virtual-lock', 2);
  const device = await ServerNode.create({
    id: 'virtual-lock',
    environment: deviceEnvironment,
    network: { port: 5540 },
    commissioning: { passcode: LOCK_PASSCODE, discriminator: LOCK_DISCRIMINATOR },
    productDescription: { name: 'Virtual lock', deviceType: DoorLockDevice.deviceType },
  } as Parameters<typeof ServerNode.create>[0]);
  await device.add(DoorLockDevice.with(ShapeLockServer, BatteryServer), {
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
      numberOfTotalUsersSupported: users,
      numberOfPinUsersSupported: shape.pinUsers ?? users,
      minPinCodeLength: shape.minPinLength ?? 4,
      maxPinCodeLength: shape.maxPinLength ?? 8,
      credentialRulesSupport: { single: true },
      numberOfCredentialsSupportedPerUser: 1,
      ...(weekDaySchedules > 0 ? { numberOfWeekDaySchedulesSupportedPerUser: weekDaySchedules } : {}),
      ...(yearDaySchedules > 0 ? { numberOfYearDaySchedulesSupportedPerUser: yearDaySchedules } : {}),
    },
  } as never);
  await device.start();
  const door = () => device.parts.get('door')!;
  const others: { node: ServerNode; env: Environment }[] = [];
  const api: MatterPeer = {
    device,
    controllerEnvironment: simulatedEnvironment(sim, 'lockwarden-controller', 1),
    pairingCode: ManualPairingCodeCodec.encode({ discriminator: LOCK_DISCRIMINATOR, passcode: LOCK_PASSCODE }),
    async setPinAtKeypad(slot, code, credentialIndex = slot) {
      await door().act((agent) => {
        const lock = agent.get(ShapeLockServer) as unknown as {
          auth: { findUser(i: number): { credentials: { credentialType: number; credentialIndex: number }[] } | undefined; addUser(u: object): void; addCredential(t: number, i: number, d: Uint8Array, f: number): void; removeCredential(t: number, i: number): void; removeUser(i: number): void; findCredential(t: number, i: number): unknown };
          events: { lockUserChange: { emit(e: object, ctx: unknown): void } };
        };
        const old = lock.auth.findUser(slot);
        for (const c of old?.credentials ?? []) lock.auth.removeCredential(c.credentialType, c.credentialIndex);
        if (old) lock.auth.removeUser(slot);
        // A keypad cannot program a PIN into a credential another user holds.
        if (lock.auth.findCredential(DoorLock.CredentialType.Pin, credentialIndex)) throw new Error(`the virtual lock's PIN credential ${credentialIndex} belongs to another user`);
        // Programmed at the keypad: no fabric made it.
        lock.auth.addUser({ userIndex: slot, userName: '', userUniqueId: null, userStatus: DoorLock.UserStatus.OccupiedEnabled, userType: DoorLock.UserType.UnrestrictedUser, credentialRule: DoorLock.CredentialRule.Single, credentials: [{ credentialType: DoorLock.CredentialType.Pin, credentialIndex }], creatorFabricIndex: 0, lastModifiedFabricIndex: 0 });
        lock.auth.addCredential(DoorLock.CredentialType.Pin, credentialIndex, new TextEncoder().encode(code), 0);
        lock.events.lockUserChange.emit({ lockDataType: DoorLock.LockDataType.Pin, dataOperationType: DoorLock.DataOperationType.Add, operationSource: DoorLock.OperationSource.Keypad, userIndex: slot, fabricIndex: null, sourceNode: null, dataIndex: credentialIndex }, agent.context);
      });
    },
    // Read inside a transaction: the endpoint's state seen from outside reuses the records of a list
    // by position, and shows an old user's fields after the table changed.
    async userAt(slot) {
      type User = NonNullable<Awaited<ReturnType<MatterPeer['userAt']>>> & { userIndex: number };
      let found: Awaited<ReturnType<MatterPeer['userAt']>>;
      await door().act((agent) => {
        const u = (agent.get(ShapeLockServer) as unknown as { state: { users: User[] } }).state.users.find((x) => x.userIndex === slot);
        found = u && { userType: u.userType, userStatus: u.userStatus, credentials: u.credentials.map((c) => ({ credentialType: c.credentialType, credentialIndex: c.credentialIndex })), creatorFabricIndex: u.creatorFabricIndex };
      });
      return found;
    },
    async usersNow() {
      let out: number[] = [];
      await door().act((agent) => {
        out = (agent.get(ShapeLockServer) as unknown as { state: { users: { userIndex: number }[] } }).state.users.map((u) => u.userIndex);
      });
      return out.sort((a, b) => a - b);
    },
    async weekDaySchedulesOf(slot) {
      type Week = Awaited<ReturnType<MatterPeer['weekDaySchedulesOf']>>[number] & { userIndex: number };
      let out: Week[] = [];
      await door().act((agent) => {
        out = (agent.get(ShapeLockServer) as unknown as { state: { weekDaySchedules: Week[] } }).state.weekDaySchedules.filter((w) => w.userIndex === slot);
      });
      return out.map((w) => ({ weekDayIndex: w.weekDayIndex, startHour: w.startHour, startMinute: w.startMinute, endHour: w.endHour, endMinute: w.endMinute }));
    },
    refuseWeekDaySchedules(on) {
      refusing = on;
    },
    async pinOfUser(slot) {
      const index = (await api.userAt(slot))?.credentials.find((c) => c.credentialType === PIN_TYPE)?.credentialIndex;
      return index === undefined ? null : api.pinAt(index);
    },
    async allPins() {
      const out: string[] = [];
      await door().act((agent) => {
        const auth = (agent.get(ShapeLockServer) as unknown as { auth: { credentials: readonly { credentialType: number; credentialData: Uint8Array }[]; decrypt(d: Uint8Array): Uint8Array } }).auth;
        for (const c of auth.credentials) if (c.credentialType === PIN_TYPE) out.push(new TextDecoder().decode(auth.decrypt(c.credentialData)));
      });
      return out.sort();
    },
    async wipeUsers() {
      await door().act((agent) => {
        const state = (agent.get(ShapeLockServer) as unknown as { state: { users: unknown[]; credentials: unknown[]; weekDaySchedules: unknown[]; yearDaySchedules: unknown[] } }).state;
        state.users = [];
        state.credentials = [];
        state.weekDaySchedules = [];
        state.yearDaySchedules = [];
      });
    },
    async leaveScheduleOnlyWithoutSchedule(slot) {
      await door().act((agent) => {
        const state = (agent.get(ShapeLockServer) as unknown as { state: { users: { userIndex: number; userType: number }[]; weekDaySchedules: { userIndex: number }[]; yearDaySchedules?: { userIndex: number }[] } }).state;
        state.users = state.users.map((u) => (u.userIndex === slot ? { ...u, userType: DoorLock.UserType.WeekDayScheduleUser } : u));
        state.weekDaySchedules = state.weekDaySchedules.filter((w) => w.userIndex !== slot);
        if (state.yearDaySchedules) state.yearDaySchedules = state.yearDaySchedules.filter((y) => y.userIndex !== slot);
      });
    },
    async pinAt(slot) {
      let pin: string | null = null;
      await door().act((agent) => {
        const auth = (agent.get(ShapeLockServer) as unknown as { auth: { findCredential(t: number, i: number): { credentialData: Uint8Array } | undefined; decrypt(d: Uint8Array): Uint8Array } }).auth;
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
  return api;
}
