/**
 * Re-enrolling a Matter lock after a factory reset, against the real stack: lockwarden's matter.js
 * controller and a virtual matter.js door lock on matter.js's NetworkSimulator (one process, no
 * sockets). The lock is commissioned, holds a PIN, is factory reset at the lock (erase, start: a new
 * commissioning window), reports setup mode, and is commissioned again from its pairing code under a
 * new node id that takes commands; malformed and wrong codes are `driver.invalid_code`, and no lock in
 * pairing mode is `driver.timeout` within the bound. One lock for the file (matter.js costs ~240 MB a pair).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger, LogLevel, Time } from '@matter/main';
import { ManualPairingCodeCodec } from '@matter/main/types';
import { LOCK_DISCRIMINATOR, LOCK_PASSCODE, startMatterPeer, type MatterPeer } from './matter-peer.js';
import { isDriverError, type DriverEvent } from '../../src/drivers/contract.js';
import { createMatterDriver, parsePairingCode, type MatterDriver } from '../../src/drivers/matter/index.js';

// matter.js logs every frame (and the lock logs each refused PASE attempt); the tests assert behaviour.
Logger.level = LogLevel.FATAL;

let peer: MatterPeer;
let driver: MatterDriver;
let oldId = '';

before(async () => {
  peer = await startMatterPeer();
  driver = createMatterDriver({ environment: peer.controllerEnvironment, hubKey: 'mt', timeoutMs: 2_000, commissionTimeoutMs: 15_000 });
  oldId = await driver.commission(peer.pairingCode);
});

after(async () => {
  await driver?.close();
  await peer?.close();
  // After a device erase() matter.js leaves timers running past every close (see matter.test.ts).
  for (const timer of [...Time.timers]) timer.stop();
});

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp, notIncluding?: string) {
  await assert.rejects(p, (e) => {
    assert.ok(isDriverError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    if (notIncluding) assert.ok(!e.message.includes(notIncluding), `the message echoes the code: ${e.message}`);
    return true;
  });
}

/** A manual code with its last (Verhoeff check) digit changed. */
const withWrongCheckDigit = (code: string) => code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
/** The lock's QR payload, as its label or app shows it. */
const qrPayload = () => (peer.device.state as unknown as { commissioning: { pairingCodes: { qrPairingCode: string } } }).commissioning.pairingCodes.qrPairingCode;
/** The controller's commissioned peers (discovery also keeps uncommissioned nodes for a while). */
const peerIds = async () => (await driver.start()).peers.filter((p) => p.lifecycle.isCommissioned).map((p) => p.id).sort();
/** Every node the controller knows, commissioned or only found. */
const allNodeIds = async () => (await driver.start()).peers.map((p) => p.id);
/** Asserts that no node joined the controller's peers since `before`. */
async function noNodeAdded(before: string[]) {
  const added = (await allNodeIds()).filter((id) => !before.includes(id));
  assert.deepEqual(added, [], 'a node found while enrolling was kept');
}

describe('matter re-enrollment', () => {
  it('says how a Matter lock enrolls again: commissioning with its pairing code, no link', async () => {
    const caps = await driver.capabilities(oldId);
    assert.equal(caps.enrollment?.kind, 'commissioning');
    assert.equal(caps.enrollment?.code, 'pairing_code');
    assert.deepEqual(caps.enrollment?.security, []);
    assert.match(caps.enrollment?.instructions ?? '', /11-digit manual pairing code from the lock's label or its app/);
    assert.match(caps.enrollment?.instructions ?? '', /starts with MT:/);
    const prep = await driver.prepareEnrollment(oldId);
    assert.equal(prep.url, null);
    assert.equal(prep.instructions, caps.enrollment?.instructions);
  });

  it('decodes the manual code and the QR payload (the same lock), ignoring spaces and dashes', () => {
    const manual = parsePairingCode(peer.pairingCode);
    assert.equal(manual.passcode, LOCK_PASSCODE);
    // A manual code carries the upper 4 bits of the discriminator only.
    assert.equal(manual.shortDiscriminator, LOCK_DISCRIMINATOR >> 8);
    const spaced = `${peer.pairingCode.slice(0, 4)}-${peer.pairingCode.slice(4, 7)} ${peer.pairingCode.slice(7)}`;
    assert.deepEqual(parsePairingCode(spaced), manual);
    const qr = parsePairingCode(qrPayload());
    assert.deepEqual([qr.passcode, qr.discriminator], [LOCK_PASSCODE, LOCK_DISCRIMINATOR]);
    assert.deepEqual(parsePairingCode(` ${qrPayload().toLowerCase()} `), qr, 'Base38 has no lower case: the same payload');
  });

  it('refuses a malformed code as invalid_code saying what is wrong, without touching the network or echoing it', async () => {
    const before = await peerIds();
    const enroll = (code: string) => driver.enroll({ previousExternalId: oldId, code, timeoutMs: 5_000 });
    const wrongCheck = withWrongCheckDigit(peer.pairingCode);
    await rejectsWith(enroll(wrongCheck), 'driver.invalid_code', /last digit \(the check digit\) does not match/, wrongCheck);
    await rejectsWith(enroll(peer.pairingCode.slice(0, 10)), 'driver.invalid_code', /11 or 21 digits, this one has 10/);
    await rejectsWith(enroll('hello'), 'driver.invalid_code', /only digits .* a QR payload starts with MT:/);
    await rejectsWith(enroll('   '), 'driver.invalid_code', /no code was given/);
    await rejectsWith(enroll('MT:'), 'driver.invalid_code', /nothing follows MT:/);
    await rejectsWith(enroll(qrPayload().slice(0, 12)), 'driver.invalid_code', /damaged or cut off/);
    // 12345678 is one of the passcodes Matter forbids; the codec encodes it, a lock never shows it.
    const forbidden = (ManualPairingCodeCodec as unknown as { encodeInternal(d: object): string }).encodeInternal({ discriminator: LOCK_DISCRIMINATOR, passcode: 12345678 });
    assert.match(forbidden, /^\d{11}$/);
    await rejectsWith(enroll(forbidden), 'driver.invalid_code', /one Matter does not allow/, '12345678');
    await rejectsWith(enroll(`9${peer.pairingCode.slice(1)}`), 'driver.invalid_code', /cannot start with 8 or 9/);
    assert.deepEqual(await peerIds(), before, 'no peer was added or removed');
    assert.equal(peer.fabricCount(), 1);
  });

  it('no lock in pairing mode: driver.timeout within the bound, and a cancel ends the wait at once', async () => {
    // The lock is paired (its window closed): nothing accepts the code.
    const before = await peerIds();
    const nodesBefore = await allNodeIds();
    let started = Date.now();
    const waiting = driver.enroll({ previousExternalId: oldId, code: peer.pairingCode, timeoutMs: 3_000 });
    // One pairing at a time: a second would race the first for the lock's commissioning window.
    await rejectsWith(driver.enroll({ previousExternalId: oldId, code: peer.pairingCode, timeoutMs: 3_000 }), 'driver.busy', /another lock is being paired/);
    await rejectsWith(waiting, 'driver.timeout', /no lock in pairing mode accepted the pairing code within 3 s/);
    const took = Date.now() - started;
    assert.ok(took >= 2_900 && took < 4_500, `gave up after ${took} ms`);
    const cancel = new AbortController();
    started = Date.now();
    setTimeout(() => cancel.abort(), 300);
    await rejectsWith(driver.enroll({ previousExternalId: oldId, code: peer.pairingCode, timeoutMs: 30_000, signal: cancel.signal }), 'driver.timeout', /cancelled before a lock accepted/);
    assert.ok(Date.now() - started < 1_500, `cancelled after ${Date.now() - started} ms`);
    assert.deepEqual(await peerIds(), before);
    await noNodeAdded(nodesBefore);
    // The lock still answers under its id: nothing was disturbed.
    assert.equal((await driver.status(oldId)).online, true);
    assert.equal(peer.fabricCount(), 1);
  });

  it('after a factory reset: setup mode on the old id, a wrong code is invalid_code leaving nothing, the right code enrolls a new node that takes commands', async () => {
    await driver.setPin(oldId, { slot: 2, code: '482915', name: 'Before', schedule: { kind: 'always' } });
    const resets: DriverEvent[] = [];
    const off = driver.onEvent((e) => e.type === 'reset_detected' && resets.push(e));
    await peer.factoryReset();
    assert.equal(peer.fabricCount(), 0);

    // The old id: the fabric is gone and the lock announces itself commissionable with its discriminator.
    let started = Date.now();
    const status = await driver.status(oldId);
    assert.deepEqual([status.online, status.setupMode], [false, true]);
    assert.ok(Date.now() - started < 6_000, `status took ${Date.now() - started} ms`);
    off();
    assert.deepEqual(resets.map((e) => e.externalId), [oldId]);
    // Asked again, it says the same at once; commands say why they cannot run.
    started = Date.now();
    assert.equal((await driver.status(oldId)).setupMode, true);
    assert.ok(Date.now() - started < 500);
    await rejectsWith(driver.readCredentials(oldId), 'driver.refused', /factory reset\): enroll it again/);
    assert.equal((await driver.capabilities(oldId)).enrollment?.kind, 'commissioning', 'the old id still says how to enroll');
    assert.deepEqual(await driver.discover(), [], 'the reset lock is not listed as reachable');

    // A well-formed code with a wrong passcode: the lock refuses it at PASE, nothing half-commissioned stays.
    const wrong = ManualPairingCodeCodec.encode({ discriminator: LOCK_DISCRIMINATOR, passcode: LOCK_PASSCODE + 1 });
    const beforeWrong = await peerIds();
    const nodesBeforeWrong = await allNodeIds();
    started = Date.now();
    await rejectsWith(driver.enroll({ previousExternalId: oldId, code: wrong, timeoutMs: 20_000 }), 'driver.invalid_code', /did not accept this pairing code/, wrong);
    const wrongMs = Date.now() - started;
    assert.ok(wrongMs < 5_000, `a wrong passcode took ${wrongMs} ms (matter.js alone waits for the time bound)`);
    assert.equal(peer.fabricCount(), 0);
    assert.deepEqual(await peerIds(), beforeWrong);
    await noNodeAdded(nodesBeforeWrong);

    // The right code, as the person types it from the label.
    started = Date.now();
    const enrolled = await driver.enroll({ previousExternalId: oldId, code: peer.pairingCode, timeoutMs: 20_000 });
    const enrollMs = Date.now() - started;
    assert.ok(enrollMs < 10_000, `enrolled in ${enrollMs} ms`);
    assert.match(enrolled.externalId, /^mt:peer\d+$/);
    assert.notEqual(enrolled.externalId, oldId);
    assert.deepEqual([enrolled.manufacturer, enrolled.model, enrolled.serial], ['Matter.js Test Vendor', 'Matter.js Test Product', null]);
    assert.equal(peer.fabricCount(), 1);
    const newId = enrolled.externalId;

    // The new node takes commands: the lock came back empty, a PIN goes in and reads back, it locks.
    const status2 = await driver.status(newId);
    assert.deepEqual([status2.online, status2.setupMode], [true, false]);
    assert.deepEqual(peer.userSlots(), [], 'the reset emptied the lock');
    await driver.setPin(newId, { slot: 2, code: '482915', name: 'Rebuilt', schedule: { kind: 'always' } });
    assert.deepEqual(peer.userSlots(), [2]);
    assert.deepEqual((await driver.readCredentials(newId)).pins.map((p) => [p.slot, p.name]), [[2, 'Rebuilt']]);
    await driver.unlock(newId);
    assert.equal((await driver.status(newId)).bolt, 'unlocked');
    await driver.lock(newId);
    assert.equal((await driver.status(newId)).bolt, 'locked');
    const own = (await driver.listControllers(newId)).filter((c) => c.self);
    assert.deepEqual(own.map((c) => c.label), ['lockwarden']);

    // The old peer is gone; the new one is the only lock listed.
    await rejectsWith(driver.status(oldId), 'driver.unknown_device');
    assert.deepEqual((await driver.discover()).map((d) => d.externalId), [newId]);
    oldId = newId;
  });

  it('a second reset enrolls from the QR payload (MT:...) under yet another node id', async () => {
    await peer.factoryReset();
    assert.equal((await driver.status(oldId)).setupMode, true);
    const enrolled = await driver.enroll({ previousExternalId: oldId, code: qrPayload(), timeoutMs: 20_000 });
    assert.notEqual(enrolled.externalId, oldId);
    await driver.setPin(enrolled.externalId, { slot: 1, code: '7305', name: 'QR', schedule: { kind: 'always' } });
    assert.deepEqual(peer.userSlots(), [1]);
    assert.deepEqual((await driver.discover()).map((d) => d.externalId), [enrolled.externalId]);
  });
});
