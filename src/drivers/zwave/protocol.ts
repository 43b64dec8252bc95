/**
 * The parts of the Z-Wave JS server WebSocket API (github.com/zwave-js/zwave-js-server, the API Home
 * Assistant and Z-Wave JS UI speak) that the driver reads, as schemas: every message from the server
 * is parsed here before the driver looks at it. Unknown fields pass through untouched.
 */
import { z } from 'zod';

/** Lowest API schema the driver understands: notification events carry `endpointIndex` from 32 on. */
export const MIN_SCHEMA_VERSION = 32;
/** Highest API schema the driver was tested against (@zwave-js/server 3.10). */
export const MAX_SCHEMA_VERSION = 50;

/** Command classes the driver uses (Z-Wave spec numbers). */
export const CC = { doorLock: 0x62, userCode: 0x63, notification: 0x71, battery: 0x80, userCredential: 0x83 } as const;
/** `RemoveNodeReason.Reset` in zwave-js: the node sent Device Reset Locally and was removed. */
export const REMOVE_REASON_RESET = 5;
/** `NodeStatus.Dead` in zwave-js. */
export const NODE_STATUS_DEAD = 3;
/** `NodeStatus.Asleep` in zwave-js: a battery node between wake-ups; the server queues its commands until it wakes. */
export const NODE_STATUS_ASLEEP = 1;
/** `InclusionStrategy` in zwave-js for the security the person chose: Security_S2, Security_S0, Insecure. */
export const INCLUSION_STRATEGY = { s2: 4, s0: 3, none: 2 } as const;
/** `SecurityBootstrapFailure.S2IncorrectPIN` in zwave-js: the PIN typed did not match the node's key, so the key exchange failed. */
export const BOOTSTRAP_S2_INCORRECT_PIN = 6;
/** `SecurityBootstrapFailure` names for messages, indexed by value (zwave-js lib/controller/Inclusion). */
export const BOOTSTRAP_FAILURES = ['cancelled', 'no keys configured on the server', 'no way to ask for the PIN', 'timed out', 'no common security parameters', 'cancelled by the device', 'incorrect PIN', 'wrong security level', 'downgraded to S0', 'unknown error'] as const;
/** User Code CC user id status (CC:0063.01.03.11.001). */
export const USER_ID_STATUS = { available: 0, enabled: 1, disabled: 2 } as const;

/** The first message on a connection. */
export const versionMessage = z.object({
  type: z.literal('version'),
  driverVersion: z.string(),
  serverVersion: z.string(),
  homeId: z.number().optional(),
  minSchemaVersion: z.number().int(),
  maxSchemaVersion: z.number().int(),
});
export type VersionMessage = z.infer<typeof versionMessage>;

export const resultMessage = z.union([
  z.object({ type: z.literal('result'), messageId: z.string(), success: z.literal(true), result: z.unknown().optional() }),
  z.object({
    type: z.literal('result'),
    messageId: z.string(),
    success: z.literal(false),
    errorCode: z.string(),
    message: z.string().optional(),
    zwaveErrorCode: z.number().optional(),
    zwaveErrorMessage: z.string().optional(),
  }),
]);
export type ResultMessage = z.infer<typeof resultMessage>;

export const eventMessage = z.object({ type: z.literal('event'), event: z.looseObject({ source: z.string(), event: z.string() }) });

/** One value of a node as dumped by the server. */
const nodeValue = z.looseObject({ commandClass: z.number(), endpoint: z.number().optional(), property: z.union([z.string(), z.number()]), propertyKey: z.union([z.string(), z.number()]).optional(), value: z.unknown().optional() });
export type NodeValue = z.infer<typeof nodeValue>;

/** A node as dumped by `start_listening` and `node added`/`node removed`. */
export const nodeDump = z.looseObject({
  nodeId: z.number().int(),
  status: z.number().int().optional(),
  ready: z.boolean().optional(),
  name: z.string().optional(),
  label: z.string().optional(),
  manufacturer: z.string().optional(),
  firmwareVersion: z.string().optional(),
  isControllerNode: z.boolean().optional(),
  deviceConfig: z.looseObject({ manufacturer: z.string().optional(), label: z.string().optional(), description: z.string().optional() }).optional(),
  endpoints: z.array(z.looseObject({ index: z.number(), commandClasses: z.array(z.looseObject({ id: z.number(), version: z.number() })).optional() })).optional(),
  values: z.array(nodeValue).optional(),
});
export type NodeDump = z.infer<typeof nodeDump>;

/** The security classes a joining node asks for (`grant security classes` event, `controller.grant_security_classes`). */
export const inclusionGrant = z.looseObject({ securityClasses: z.array(z.number().int()), clientSideAuth: z.boolean() });
/** How a node's inclusion went (`node added` event's `result`). */
export const inclusionResult = z.looseObject({ lowSecurity: z.boolean().optional(), lowSecurityReason: z.number().int().optional() });

export const startListeningResult = z.looseObject({ state: z.looseObject({ nodes: z.array(nodeDump) }) });

export const userCodeGetResponse = z.object({ userIdStatus: z.number().int(), userCode: z.union([z.string(), z.looseObject({})]).optional() });
export const userCodeCapabilities = z.looseObject({ supportedASCIIChars: z.string().optional(), supportsUserCodeChecksum: z.boolean().optional() });
export const doorLockGetResponse = z.looseObject({ currentMode: z.number().int() });
export const batteryGetResponse = z.looseObject({ level: z.number() });
