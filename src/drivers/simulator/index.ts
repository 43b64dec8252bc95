/**
 * The simulator driver: virtual locks faithful to the reset seeds, a fleet that behaves like a device
 * network, the `simulator` driver over it (in process or over HTTP), and the HTTP server.
 */
export { SeededRng } from './rng.js';
export {
  CLOUD_CONTROLLER_ID,
  LOCKWARDEN_CONTROLLER_ID,
  PHYSICAL_RESET_REFUSALS,
  RESET_BLOCKS,
  conventionalSimHub,
  initialState,
  specFromModel,
  type BoltState,
  type PhysicalResetRefusal,
  type PhysicalResetResult,
  type ResetBlock,
  type ResetGating,
  type ResetGesture,
  type SimDigitalKey,
  type SimPin,
  type VirtualLockSpec,
  type VirtualLockState,
} from './lock-spec.js';
export { VirtualLock, scheduleAllows } from './virtual-lock.js';
export {
  CHANGE_SOURCES,
  FAULT_KINDS,
  SIM_COMMANDS,
  SIM_LOG_OPS,
  faultApplies,
  type ChangeSource,
  type FaultKind,
  type LatencySetting,
  type SimCommand,
  type SimFleetConfig,
  type SimLogEntry,
  type SimLogOp,
} from './faults.js';
export type { OutOfBandActions, PhysicalActions } from './fleet-actions.js';
export { PANEL_ACTIONS, PANEL_KEYS, PanelActionSchema, SimPanels, refusalWords, sequenceKeys, simMasterCode, type IndicatorState, type PanelAction, type PanelAttempt, type PanelKey, type PanelOutcome, type PanelView } from './panel.js';
export { SimFleet, type SimDeviceInfo, type SimFleetOptions, type SimFleetSnapshot } from './fleet.js';
export { InProcessSimTransport, type SimTransport } from './transport.js';
export { SimulatorDriver, type SimulatorDriverOptions } from './driver.js';
export { SimHttpClient, SimHttpError, type SimHttpOptions } from './http-client.js';
export { HttpSimControl } from './http-control.js';
export { HttpSimTransport, type HttpSimTransportOptions } from './http-transport.js';
export { buildSimApp, startSimServer, type RunningSimServer, type SimServerOptions } from './server.js';
export type { OutOfBandAction, OutOfBandBody, PhysicalAction, PhysicalBody } from './schemas.js';
