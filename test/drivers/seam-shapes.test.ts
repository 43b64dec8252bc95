/**
 * The Seam driver on the lock shapes of issue 23, against Seam's own fake with devices of other
 * brands added (`SEAM_SHAPES`): capabilities from the device's properties, codes the lock cannot
 * take refused before anything is sent, honest `clearPin`, lock without unlock, offline codes on
 * an offline-only igloohome. Then the conformance suite on each online shape.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../src/drivers/contract.js';
import { createSeamDriver, type SeamDriver } from '../../src/drivers/seam/index.js';
import { describeDriverConformance } from './conformance.js';
import { SEAM_SHAPES, startFakeSeam, type FakeSeam } from './seam-peer.js';

const DEFAULT_SLOTS = 40;

describe('seam driver on other lock shapes', () => {
  let seam: FakeSeam;
  let driver: SeamDriver;
  let offlineDriver: SeamDriver;
  const requests: string[] = [];
  const count = (req: http.IncomingMessage) => requests.push(`${req.method} ${req.url?.split('?')[0]}`);
  /** What a block of code sent to Seam that would change a code. */
  const writesDuring = async (fn: () => Promise<void>): Promise<string[]> => {
    requests.length = 0;
    seam.server.on('request', count);
    try {
      await fn();
    } finally {
      seam.server.off('request', count);
    }
    return requests.filter((r) => /\/access_codes\/(create|update|delete|unmanaged\/update)$/.test(r));
  };
  const refused = async (p: Promise<unknown>, code: string, message?: RegExp): Promise<DriverError> => {
    const e = await p.then(
      () => assert.fail(`expected ${code}`),
      (err: unknown) => err,
    );
    assert.ok(e instanceof DriverError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  };
  const codesOn = (deviceId: string) => seam.db.getState().access_codes.filter((c) => c.device_id === deviceId);

  before(async () => {
    seam = await startFakeSeam();
    seam.addShapes();
    const opts = { apiKey: seam.apiKey, pollIntervalMs: 40, actionAttemptPollMs: 10, timeoutMs: 5_000, defaultSlots: DEFAULT_SLOTS };
    driver = createSeamDriver({ ...opts, endpoint: seam.url });
    offlineDriver = createSeamDriver({ ...opts, endpoint: await seam.withOfflineCodes() });
  });
  after(async () => {
    await driver.close();
    await offlineDriver.close();
    await seam.close();
  });

  it('reads each device’s code rules, capacity, lock/unlock and offline support from what Seam reports', async () => {
    const nuki = await driver.capabilities(SEAM_SHAPES.nuki);
    assert.deepEqual(nuki.pin, { slots: 100, minLength: 6, maxLength: 6, alphabet: 'digits', forbiddenDigits: ['0'], forbiddenPrefixes: ['12'], nameMaxLength: 20 - '#100 '.length });
    const schlage = await driver.capabilities(SEAM_SHAPES.schlage46);
    assert.deepEqual(schlage.pin, { slots: 20, minLength: 4, maxLength: 6, alphabet: 'digits', lengths: [4, 6] });
    assert.deepEqual((await driver.capabilities(SEAM_SHAPES.ttlock)).pin.forbiddenDigits, ['0', '8', '9']);
    assert.equal((await driver.capabilities(SEAM_SHAPES.kwikset)).pin.nameMaxLength, 14 - '#10 '.length);
    const igloo = await driver.capabilities(SEAM_SHAPES.igloohome);
    assert.equal(igloo.offlineCodes, 'only');
    assert.equal(igloo.pin.slots, DEFAULT_SLOTS, 'it says nothing of its capacity: configuration is the fallback');
    assert.deepEqual([igloo.pin.minLength, igloo.pin.maxLength], [4, 8], 'nor of its lengths');
    assert.deepEqual([igloo.remoteLock, igloo.remoteUnlock, igloo.remoteLockUnlock], [false, false, false]);
    const lockOnly = await driver.capabilities(SEAM_SHAPES.lockOnly);
    assert.deepEqual([lockOnly.remoteLock, lockOnly.remoteUnlock, lockOnly.remoteLockUnlock], [true, false, false]);
    assert.equal(lockOnly.offlineCodes, undefined);
    assert.equal((await driver.capabilities(SEAM_SHAPES.noCodes)).pin.slots, 0);
  });

  it('refuses a code or name the lock cannot take before sending anything, naming the rule', async () => {
    const always = { kind: 'always' } as const;
    const sent = await writesDuring(async () => {
      await refused(driver.setPin(SEAM_SHAPES.nuki, { slot: 1, code: '305678', name: 'a', schedule: always }), 'driver.invalid_pin', /refuses the digit 0/);
      await refused(driver.setPin(SEAM_SHAPES.nuki, { slot: 1, code: '123456', name: 'a', schedule: always }), 'driver.invalid_pin', /start with 12/);
      await refused(driver.setPin(SEAM_SHAPES.nuki, { slot: 1, code: '345678', name: 'Housekeeping, 2nd floor east', schedule: always }), 'driver.invalid_pin', /names of at most 15 characters/);
      await refused(driver.setPin(SEAM_SHAPES.schlage46, { slot: 1, code: '52817', name: 'a', schedule: always }), 'driver.invalid_pin', /4 or 6 digits/);
      await refused(driver.setPin(SEAM_SHAPES.ttlock, { slot: 1, code: '571846', name: 'a', schedule: always }), 'driver.invalid_pin', /0, 8 or 9/);
    });
    assert.deepEqual(sent, [], 'nothing reached Seam');
    assert.deepEqual([...codesOn(SEAM_SHAPES.nuki), ...codesOn(SEAM_SHAPES.schlage46), ...codesOn(SEAM_SHAPES.ttlock)], []);
    // What the rules allow goes through.
    await driver.setPin(SEAM_SHAPES.nuki, { slot: 1, code: '345678', name: 'Front', schedule: always });
    await driver.setPin(SEAM_SHAPES.schlage46, { slot: 1, code: '528173', name: 'Front', schedule: always });
    assert.equal(codesOn(SEAM_SHAPES.nuki)[0]?.name, '#1 Front', 'the short tag where names are limited');
    assert.equal((await driver.readCredentials(SEAM_SHAPES.nuki)).pins[0]?.slot, 1);
    await driver.clearPin(SEAM_SHAPES.nuki, 1);
    await driver.clearPin(SEAM_SHAPES.schlage46, 1);
  });

  it('clearPin says "not supported" on a lock without codes and names a slot outside the range, deleting nothing', async () => {
    await driver.setPin(SEAM_SHAPES.kwikset, { slot: 10, code: '4826', name: 'last', schedule: { kind: 'always' } });
    const sent = await writesDuring(async () => {
      await refused(driver.clearPin(SEAM_SHAPES.noCodes, 1), 'driver.not_supported', /takes no codes/);
      const e = await refused(driver.clearPin(SEAM_SHAPES.kwikset, 11), 'driver.invalid_pin', /slot 11 does not exist on this lock \(slots 1\.\.10\)/);
      assert.equal(e.details.slot, 11);
      await refused(driver.clearPin(SEAM_SHAPES.kwikset, 0), 'driver.invalid_pin');
    });
    assert.deepEqual(sent, []);
    assert.equal(codesOn(SEAM_SHAPES.kwikset).length, 1, 'the code in slot 10 is still there');
    await driver.clearPin(SEAM_SHAPES.kwikset, 10);
    assert.equal(codesOn(SEAM_SHAPES.kwikset).length, 0);
  });

  it('a lock that can be locked but not unlocked: lock() works, unlock() is not supported', async () => {
    await driver.lock(SEAM_SHAPES.lockOnly);
    assert.equal((await driver.status(SEAM_SHAPES.lockOnly)).bolt, 'locked');
    await refused(driver.unlock(SEAM_SHAPES.lockOnly), 'driver.not_supported', /cannot be unlocked/);
    await refused(driver.lock(SEAM_SHAPES.igloohome), 'driver.not_supported', /cannot be locked/);
  });

  it('an offline-only igloohome: its offline codes are listed as such, and lockwarden makes time-bound offline codes through Seam', async () => {
    // An offline code made elsewhere (the igloohome app, another Seam client).
    (seam.db.getState() as unknown as { addAccessCode(p: Record<string, unknown>): unknown }).addAccessCode({
      device_id: SEAM_SHAPES.igloohome,
      workspace_id: seam.workspaceId,
      name: 'cleaner (igloohome app)',
      code: '48213957',
      type: 'time_bound',
      starts_at: '2030-03-01T09:00:00.000Z',
      ends_at: '2030-03-01T17:00:00.000Z',
      is_offline_access_code: true,
      status: 'set',
    });
    const seen = (await offlineDriver.readCredentials(SEAM_SHAPES.igloohome)).pins;
    assert.deepEqual(seen, [{ slot: 1, code: '48213957', name: 'cleaner (igloohome app)', schedule: { kind: 'window', from: '2030-03-01T09:00:00.000Z', until: '2030-03-01T17:00:00.000Z' }, enabled: true, offline: true }]);

    const window = { kind: 'window', from: '2030-04-01T14:00:00.000Z', until: '2030-04-03T10:00:00.000Z' } as const;
    // Not an offline code's shape: refused before anything is sent.
    await refused(offlineDriver.setPin(SEAM_SHAPES.igloohome, { slot: 2, code: '735194', name: 'guest', schedule: { kind: 'always' } }), 'driver.not_supported', /needs a time window/);
    await refused(offlineDriver.setPin(SEAM_SHAPES.igloohome, { slot: 2, code: '735194', name: 'guest', schedule: { ...window, from: '2030-04-01T14:30:00.000Z' } }), 'driver.invalid_pin', /full hour/);
    assert.equal(codesOn(SEAM_SHAPES.igloohome).length, 1);

    await offlineDriver.setPin(SEAM_SHAPES.igloohome, { slot: 2, code: '735194', name: 'guest', schedule: window });
    const made = codesOn(SEAM_SHAPES.igloohome).find((c) => c.code === '735194') as { is_offline_access_code?: boolean; name: string } | undefined;
    assert.equal(made?.is_offline_access_code, true, 'Seam was asked for an offline code');
    assert.equal(made?.name, '[slot 2] guest');
    const pin = (await offlineDriver.readCredentials(SEAM_SHAPES.igloohome)).pins.find((p) => p.slot === 2);
    assert.deepEqual(pin, { slot: 2, code: '735194', name: 'guest', schedule: window, enabled: true, offline: true });
    // A changed window is a new offline code (they cannot be edited), in the same slot.
    const later = { kind: 'window', from: '2030-04-02T14:00:00.000Z', until: '2030-04-04T10:00:00.000Z' } as const;
    await offlineDriver.setPin(SEAM_SHAPES.igloohome, { slot: 2, code: '735194', name: 'guest', schedule: later });
    const now = (await offlineDriver.readCredentials(SEAM_SHAPES.igloohome)).pins.filter((p) => p.slot === 2);
    assert.deepEqual(now.map((p) => [p.schedule, p.offline]), [[later, true]]);
    await offlineDriver.clearPin(SEAM_SHAPES.igloohome, 2);
    await offlineDriver.clearPin(SEAM_SHAPES.igloohome, 1);
    assert.deepEqual(codesOn(SEAM_SHAPES.igloohome), []);
  });

  it('on a lock with both kinds, an offline code is made only when asked for, and refused where the lock has none', async () => {
    // The Yale lock-only shape takes online codes only.
    await refused(offlineDriver.setPin(SEAM_SHAPES.lockOnly, { slot: 1, code: '5829', name: 'x', schedule: { kind: 'window', from: '2030-04-01T14:00:00.000Z', until: '2030-04-02T14:00:00.000Z' }, offline: true }), 'driver.not_supported', /no offline codes/);
    assert.deepEqual(codesOn(SEAM_SHAPES.lockOnly), []);
  });
});

/** The shared conformance suite on each online shape (the igloohome takes only offline codes: see above). */
for (const [shape, externalId] of Object.entries(SEAM_SHAPES).filter(([k]) => k !== 'igloohome')) {
  describeDriverConformance(`seam, ${shape} shape, against fake-seam-connect`, async () => {
    const seam = await startFakeSeam();
    seam.addShapes();
    const driver = createSeamDriver({ apiKey: seam.apiKey, endpoint: seam.url, pollIntervalMs: 40, actionAttemptPollMs: 10, timeoutMs: 5_000 });
    return {
      driver,
      externalId,
      uniquePins: true,
      peer: {
        setPinOutOfBand: async (_slot, code) => {
          const res = await seam.post('/access_codes/create', { device_id: externalId, name: 'front desk app', code });
          assert.equal(res.status, 200, JSON.stringify(res.json));
          const pin = (await driver.readCredentials(externalId)).pins.find((p) => p.code === code);
          assert.ok(pin, 'the other app’s code is visible');
          return pin.slot;
        },
      },
      close: async () => {
        await driver.close();
        await seam.close();
      },
    };
  });
}
