/**
 * The ways a device network misbehaves, and the vocabulary of the fleet's change log. Kept apart
 * from the fleet so the HTTP server, the state file and tests share one list.
 */

/**
 * Fault kinds. `timeout`: the command never reached the lock. `lost_ack`: it was applied but the
 * answer was lost. `duplicate_ack`: applied, and the lock reports the change twice. `partial`: a PIN
 * write stored the code but not its schedule or enabled flag. `stale_read`: a read returns the
 * credentials as they were before the latest change. `offline`: the lock stops answering for a
 * while. `busy`: the lock or its hub is occupied and says so.
 */
export const FAULT_KINDS = ['timeout', 'lost_ack', 'duplicate_ack', 'partial', 'stale_read', 'offline', 'busy'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The commands lockwarden sends to a lock (capabilities and discovery are not sent to the lock). */
export const SIM_COMMANDS = ['status', 'read_credentials', 'set_pin', 'clear_pin', 'remove_controller', 'lock', 'unlock', 'factory_reset'] as const;
export type SimCommand = (typeof SIM_COMMANDS)[number];

const WRITES: ReadonlySet<SimCommand> = new Set(['set_pin', 'clear_pin', 'remove_controller', 'lock', 'unlock', 'factory_reset']);

/** Whether a fault of `kind` can hit `command`; a scripted fault waits for the first command it can hit. */
export function faultApplies(kind: FaultKind, command: SimCommand): boolean {
  switch (kind) {
    case 'partial':
      return command === 'set_pin';
    case 'stale_read':
      return command === 'read_credentials';
    case 'duplicate_ack':
      return WRITES.has(command);
    default:
      return true;
  }
}

/** Where a change to a lock came from: lockwarden's driver, someone else (keypad, vendor app, account), or hands on the lock. */
export const CHANGE_SOURCES = ['driver', 'out_of_band', 'physical'] as const;
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

/** Every kind of change the log records. Network conditions (latency, faults, going offline) are not changes to a lock. */
export const SIM_LOG_OPS = [
  'provision',
  'remove',
  'set_pin',
  'clear_pin',
  'pair_controller',
  'remove_controller',
  'issue_digital_key',
  'enroll_biometric',
  'enroll_admin',
  'pair_lockwarden',
  'remove_cloud_binding',
  'lock',
  'unlock',
  'use_pin',
  'mechanical_override',
  'factory_reset',
  'set_battery',
  'set_on_door',
  'set_door_aligned',
  'block_reset',
  'set_setup_mode_fault',
] as const;
export type SimLogOp = (typeof SIM_LOG_OPS)[number];

/** One applied change. `seq` is gap-free and increasing, so "exactly once" can be checked by counting. */
export interface SimLogEntry {
  seq: number;
  /** ISO instant from the fleet's clock. */
  at: string;
  externalId: string;
  op: SimLogOp;
  source: ChangeSource;
  slot?: number;
  controllerId?: string;
  detail?: string;
}

/** Ops that change what a credential read returns (the baseline a stale read falls back to). */
export const CREDENTIAL_OPS: ReadonlySet<SimLogOp> = new Set([
  'set_pin',
  'clear_pin',
  'pair_controller',
  'remove_controller',
  'issue_digital_key',
  'enroll_biometric',
  'enroll_admin',
  'pair_lockwarden',
  'remove_cloud_binding',
  'factory_reset',
]);

/** Latency of every command: a fixed number of milliseconds, or drawn from min..max with the fleet's rng. */
export type LatencySetting = number | { min: number; max: number };

/** How the whole fleet behaves as a network. */
export interface SimFleetConfig {
  seed: number;
  latencyMs: LatencySetting;
  /** Probability per command of each fault kind (0..1). */
  faults: Partial<Record<FaultKind, number>>;
  /** How many commands a randomly drawn `offline` fault lasts. */
  offlineCommands: number;
}

/** A quiet network: no latency, no faults. */
export const DEFAULT_FLEET_CONFIG: SimFleetConfig = { seed: 1, latencyMs: 0, faults: {}, offlineCommands: 3 };
