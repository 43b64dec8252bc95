/**
 * The Z-Wave driver on lock shapes common in the field, each against the real stack (a ZwavejsServer
 * on zwave-js's MockController with a mock door lock): a 250-slot lock that refuses duplicate codes,
 * a slow radio (150 ms before every answer), and a keypad without a 0 key. One peer per shape.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startZwavePeer, type ZwavePeer } from './zwave-peer.js';
import type { DriverEvent } from '../../src/drivers/contract.js';
import { rejectsWith } from '../helpers/driver-errors.js';
import { createZwaveDriver, type ZwaveDriver } from '../../src/drivers/zwave/index.js';
import { checkPinForLock, generatePin } from '../../src/domain/credentials.js';
import { AppError } from '../../src/domain/errors.js';

const lockId = 'shape:2';
const always = { kind: 'always' } as const;


const count = (frames: string[], name: string) => frames.filter((f) => f === name).length;
/** The lock's frames as kinds: zwave-js writes a V2 lock with Extended User Code Set, a V1 lock with User Code Set. */
const kinds = (frames: string[]) => frames.map((f) => (f === 'UserCodeCCExtendedUserCodeSet' || f === 'UserCodeCCSet' ? 'set' : f === 'UserCodeCCGet' ? 'get' : f));

async function driverFor(p: ZwavePeer, extra: { requestTimeoutMs?: number } = {}): Promise<ZwaveDriver> {
  const d = createZwaveDriver({ url: p.url, hubKey: 'shape', backoff: { initialMs: 50, maxMs: 200 }, ...extra });
  await d.connect();
  return d;
}

describe('zwave shape: a 250-slot lock that refuses duplicate codes', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await startZwavePeer({ slots: 250, refuseDuplicates: true });
    d = await driverFor(p);
  });
  after(async () => {
    await d?.close();
    await p?.close();
  });

  it('writes a PIN with one Set and one Get of that slot, not a read of the whole table', async () => {
    await d.capabilities(lockId);
    p.received.length = 0;
    const started = performance.now();
    await d.setPin(lockId, { slot: 7, code: '482915', name: 'guest', schedule: always });
    const ms = performance.now() - started;
    assert.deepEqual(kinds(p.received), ['set', 'get'], `frames sent for one PIN (took ${Math.round(ms)} ms)`);
    assert.equal(p.lock.state.get('UserCode_userCode_7'), '482915');
    p.received.length = 0;
    await d.clearPin(lockId, 7);
    assert.deepEqual(kinds(p.received), ['set', 'get'], 'frames sent to clear one slot');
  });

  it('a code another slot holds is refused by the lock and reported as a duplicate, with nothing written', async () => {
    await d.setPin(lockId, { slot: 3, code: '735194', name: 'a', schedule: always });
    p.received.length = 0;
    await rejectsWith(d.setPin(lockId, { slot: 200, code: '735194', name: 'b', schedule: always }), 'driver.duplicate_pin', /another slot already holds it/);
    assert.equal(count(p.received, 'UserCodeCCGet'), 1, 'only the written slot was read back');
    assert.equal(p.lock.state.get('UserCode_userCode_200'), undefined, 'slot 200 stays empty at the lock');
    await d.clearPin(lockId, 3);
  });

  it('once the table was read, a duplicate is caught from it with one checksum exchange and nothing sent to the slot', async () => {
    await d.setPin(lockId, { slot: 4, code: '915273', name: 'a', schedule: always });
    const progress: number[] = [];
    const pins = (await d.readCredentials(lockId, { onProgress: (done) => progress.push(done) })).pins;
    assert.deepEqual(pins.map((x) => [x.slot, x.code]), [[4, '915273']]);
    assert.equal(progress.at(-1), 250, 'progress reached the whole table');
    p.received.length = 0;
    await rejectsWith(d.setPin(lockId, { slot: 9, code: '915273', name: 'b', schedule: always }), 'driver.duplicate_pin', /slot 4 already holds/);
    assert.deepEqual(p.received, ['UserCodeCCUserCodeChecksumGet']);
    await d.clearPin(lockId, 4);
  });
});

describe('zwave shape: a slow radio (150 ms before every answer)', () => {
  const SLOTS = 40;
  const FRAME_MS = 150;
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await startZwavePeer({ slots: SLOTS, responseDelayMs: FRAME_MS });
    // Each exchange may take 3 s: ten times a frame, far less than the 40 x 150 ms the whole table takes.
    d = await driverFor(p, { requestTimeoutMs: 3_000 });
    await d.capabilities(lockId);
  });
  after(async () => {
    await d?.close();
    await p?.close();
  });

  it('reads the whole table paced to the radio, with progress and no timeout', async () => {
    await p.setPinAtKeypad(SLOTS, '628413');
    const progress: number[] = [];
    const started = performance.now();
    const pins = (await d.readCredentials(lockId, { onProgress: (done, total) => (assert.equal(total, SLOTS), progress.push(done)) })).pins;
    const ms = performance.now() - started;
    assert.deepEqual(pins.map((x) => [x.slot, x.code]), [[SLOTS, '628413']]);
    assert.deepEqual(progress, Array.from({ length: SLOTS }, (_, i) => i + 1), 'progress slot by slot');
    assert.ok(ms >= SLOTS * FRAME_MS * 0.9, `took ${Math.round(ms)} ms: paced by the radio`);
    await d.clearPin(lockId, SLOTS);
  });

  it('a read the caller abandons stops asking, and the next clearPin does not wait behind orphaned reads', async () => {
    await p.setPinAtKeypad(2, '517395');
    const ac = new AbortController();
    const read = d.readCredentials(lockId, { signal: ac.signal });
    read.catch(() => {});
    await new Promise((r) => setTimeout(r, 1_000));
    const aborted = performance.now();
    ac.abort();
    await rejectsWith(read, 'driver.timeout', /cancelled after \d+ of 40 user code slots/);
    assert.ok(performance.now() - aborted < 500, 'the read ends when the caller gives up');
    const started = performance.now();
    await d.clearPin(lockId, 2);
    const ms = performance.now() - started;
    // Clear + read-back is two frames and at most two reads were still in flight (the read window): ~0.6 s
    // plus a loaded machine; with every slot asked at once it waited behind the 30 or so unanswered reads (~5 s).
    assert.ok(ms < 2_000, `clearPin took ${Math.round(ms)} ms`);
    assert.equal(p.lock.state.get('UserCode_userIdStatus_2'), 0, 'slot 2 was cleared at the lock');
    await new Promise((r) => setTimeout(r, 3 * FRAME_MS));
    const afterAbort = p.received.length;
    await new Promise((r) => setTimeout(r, 3 * FRAME_MS));
    assert.equal(p.received.length, afterAbort, 'no abandoned read is still being sent');
  });

  it('a PIN write on the slow radio takes a few frames, not a table read', async () => {
    const started = performance.now();
    await d.setPin(lockId, { slot: 7, code: '394817', name: 'x', schedule: always });
    const ms = performance.now() - started;
    assert.ok(ms < 8 * FRAME_MS, `setPin took ${Math.round(ms)} ms`);
    await d.clearPin(lockId, 7);
  });
});

describe('zwave shape: a keypad without a 0 key (User Code V2 supported characters 1-9)', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await startZwavePeer({ slots: 10, chars: '123456789' });
    d = await driverFor(p);
  });
  after(async () => {
    await d?.close();
    await p?.close();
  });

  it('declares the digits the keypad takes, from what the lock reports', async () => {
    const caps = await d.capabilities(lockId);
    assert.deepEqual(caps.pin.forbiddenDigits, ['0']);
    assert.equal(caps.pin.alphabet, 'digits');
  });

  it('generated codes use only those digits and the lock takes every one', async () => {
    const caps = await d.capabilities(lockId);
    for (let i = 0; i < 12; i++) {
      const code = generatePin(6, randomInt, () => false, caps);
      checkPinForLock(code, caps);
      await d.setPin(lockId, { slot: 1, code, name: 'generated', schedule: always });
      assert.equal(p.lock.state.get('UserCode_userCode_1'), code, `the lock stored generated code #${i + 1}`);
    }
    await d.clearPin(lockId, 1);
  });

  it('a code with a 0 is refused before anything is sent, with a sentence naming the missing key', async () => {
    const caps = await d.capabilities(lockId);
    assert.throws(() => checkPinForLock('305678', caps), (e) => e instanceof AppError && /this lock refuses the digit 0 in a code/.test(e.message));
    p.received.length = 0;
    await rejectsWith(d.setPin(lockId, { slot: 2, code: '305678', name: 'x', schedule: always }), 'driver.invalid_pin', /does not take the digit\(s\) 0/);
    assert.deepEqual(p.received, [], 'nothing was sent to the lock');
  });
});

describe('zwave shape: a sleeping battery lock (Wake Up CC)', () => {
  let p: ZwavePeer;
  let d: ZwaveDriver;
  before(async () => {
    p = await startZwavePeer({ slots: 10, sleeping: true });
    // Short exchanges: a command that waited for the wake-up under this deadline would time out.
    d = await driverFor(p, { requestTimeoutMs: 2_000 });
  });
  after(async () => {
    await d?.close();
    await p?.close();
  });

  it('a change to a sleeping lock is answered at once as queued until it wakes, sent once on wake-up, and reported', async () => {
    assert.ok(p.isAsleep(), 'the lock sleeps');
    const caps = await d.capabilities(lockId);
    assert.equal(caps.pin.slots, 10, 'capabilities come from what the interview learnt, without waking the lock');
    assert.equal((await d.status(lockId)).online, true, 'asleep is not offline');
    p.received.length = 0;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await rejectsWith(d.setPin(lockId, { slot: 3, code: '482915', name: 'guest', schedule: always }), 'driver.queued', /queued until the lock wakes up and is sent once then/);
      assert.ok(performance.now() - started < 1_000, 'answered at once, not after a timeout');
    }
    await rejectsWith(d.setPin(lockId, { slot: 3, code: '999111', name: 'other', schedule: always }), 'driver.busy', /already queued until the lock wakes up/);
    await rejectsWith(d.readCredentials(lockId), 'driver.queued', /reading the lock's codes is queued until the lock wakes up/);
    await rejectsWith(d.readCredentials(lockId), 'driver.queued');
    await new Promise((r) => setTimeout(r, 2_500));
    assert.deepEqual(p.received, [], 'nothing reached the sleeping lock, and nothing timed out and was resent');

    const changes: DriverEvent[] = [];
    const off = d.onEvent((e) => e.type === 'credentials_changed' && changes.push(e));
    await p.wakeUp();
    for (const until = Date.now() + 20_000; changes.length < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    off();
    assert.equal(changes.length, 2, 'the write and the read each reported once done');
    const sets = p.received.filter((f) => f === 'UserCodeCCExtendedUserCodeSet' || f === 'UserCodeCCSet');
    assert.equal(sets.length, 1, `one write reached the lock: ${p.received.join(', ')}`);
    assert.equal(p.lock.state.get('UserCode_userCode_3'), '482915', 'the code was written');
    assert.ok(p.received.filter((f) => f === 'UserCodeCCGet').length <= 10 + 1 + 2, 'one table read (plus the read-back), not one per call');
    for (const until = Date.now() + 5_000; !p.isAsleep() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    assert.ok(p.isAsleep(), 'the lock went back to sleep');
    // Asleep again: the read answers with the table read at the wake-up, which shows the new code.
    assert.deepEqual((await d.readCredentials(lockId)).pins.map((x) => [x.slot, x.code]), [[3, '482915']]);
  });
});
