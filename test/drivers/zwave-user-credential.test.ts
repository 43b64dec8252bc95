/**
 * The Z-Wave driver on a lock with the User Credential CC (0x83) instead of User Code: a real
 * ZwavejsServer and zwave-js Driver on @zwave-js/testing's MockController, the node served by zwave-js's
 * own User Credential mock behaviours; PINs go through the server's `endpoint.access_control.*` API.
 * One peer for the file; the conformance suite, then what is particular to User Credential.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UserCodeCCGet, UserCodeCCSet } from '@zwave-js/cc/UserCodeCC';
import { UserCredentialCCCredentialSet, UserCredentialCCUserSet } from '@zwave-js/cc/UserCredentialCC';
import { MockZWaveFrameType } from '@zwave-js/testing';
import { describeDriverConformance } from './conformance.js';
import { startZwavePeer, type ZwavePeer } from './zwave-peer.js';
import { isDriverError } from '../../src/drivers/contract.js';
import { createZwaveDriver, type ZwaveDriver } from '../../src/drivers/zwave/index.js';

let peerP: Promise<ZwavePeer> | undefined;
const peer = () => (peerP ??= startZwavePeer({ userCredential: true }));
let driverP: Promise<ZwaveDriver> | undefined;
const zwave = () =>
  (driverP ??= peer().then(async (p) => {
    const d = createZwaveDriver({ url: p.url, hubKey: 'zjs-uc', backoff: { initialMs: 50, maxMs: 200 } });
    await d.connect();
    return d;
  }));
const lockId = 'zjs-uc:2';

after(async () => {
  await (await driverP)?.close();
  await (await peerP)?.close();
});

describeDriverConformance('zwave with User Credential CC (Z-Wave JS access-control API, mock lock)', async () => {
  const p = await peer();
  return {
    driver: await zwave(),
    externalId: lockId,
    uniquePins: true,
    peer: { setPinOutOfBand: (slot, code) => p.setPinAtKeypad(slot, code) },
    close: async () => {},
  };
});

describe('zwave driver, User Credential CC', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await peer();
    d = await zwave();
  });

  it('takes its PIN slots and lengths from the User Credential capabilities', async () => {
    const caps = await d.capabilities(lockId);
    // zwave-js's mock: 10 users, 10 PIN slots of 4-10 digits.
    assert.deepEqual(caps.pin, { slots: 10, minLength: 4, maxLength: 10, alphabet: 'digits' });
  });

  it('writes a PIN as user N with PIN credential N over User Credential CC, never User Code CC', async () => {
    p.lock.clearReceivedControllerFrames();
    await d.setPin(lockId, { slot: 5, code: '739164', name: 'Guest Ed', schedule: { kind: 'always' } });
    p.lock.assertReceivedControllerFrame((f) => f.type === MockZWaveFrameType.Request && f.payload instanceof UserCredentialCCUserSet, { errorMessage: 'User Set sent' });
    p.lock.assertReceivedControllerFrame((f) => f.type === MockZWaveFrameType.Request && f.payload instanceof UserCredentialCCCredentialSet, { errorMessage: 'Credential Set sent' });
    p.lock.assertReceivedControllerFrame((f) => f.type === MockZWaveFrameType.Request && (f.payload instanceof UserCodeCCSet || f.payload instanceof UserCodeCCGet), { noMatch: true, errorMessage: 'no User Code CC traffic' });
    const pin = (await d.readCredentials(lockId)).pins.find((x) => x.slot === 5);
    assert.deepEqual(pin, { slot: 5, code: '739164', name: 'Guest Ed', schedule: { kind: 'always' }, enabled: true });
    assert.equal(p.lock.state.get('UserCredential_cred_1_5') !== undefined, true, 'the mock lock holds PIN credential 5');
    await d.clearPin(lockId, 5);
    assert.equal(p.lock.state.get('UserCredential_cred_1_5'), undefined);
    assert.equal(p.lock.state.get('UserCredential_user_5'), undefined, 'the user made for the PIN is gone too');
  });

  it('refuses a PIN outside the lock lengths and a slot outside its range, changing nothing', async () => {
    await assert.rejects(d.setPin(lockId, { slot: 11, code: '482915', name: 'x', schedule: { kind: 'always' } }), (e) => isDriverError(e) && e.code === 'driver.invalid_pin' && /slots 1-10/.test(e.message));
    await assert.rejects(d.setPin(lockId, { slot: 3, code: '12345678901', name: 'x', schedule: { kind: 'always' } }), (e) => isDriverError(e) && e.code === 'driver.invalid_pin' && /4-10 digits/.test(e.message));
    assert.equal(p.lock.state.get('UserCredential_user_3'), undefined);
  });
});
