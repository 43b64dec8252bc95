/**
 * The Z-Wave driver: a client of the Z-Wave JS server WebSocket API (Z-Wave JS UI, the Home
 * Assistant add-on). `createZwaveDriver({ url })` is all the runtime needs to wire one server.
 */
export { ZwaveDriver, createZwaveDriver, type ZwaveDriverConfig } from './driver.js';
export { ZwaveJsClient, type ZwaveClientOptions, type ZwaveClientSignal, type ZwaveServerEvent } from './client.js';
export { MAX_SCHEMA_VERSION, MIN_SCHEMA_VERSION } from './protocol.js';
export { checkPin, userCodeChecksum, USER_CODE_MAX, USER_CODE_MIN } from './user-codes.js';
