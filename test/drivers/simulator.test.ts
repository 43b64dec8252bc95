/**
 * The simulated fleet as a device network: every fault kind, offline periods, setup-mode refusal
 * after a physical reset, events, the exact log of applied changes, latency, seed reproducibility,
 * and saving/restoring a fleet.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { isDriverError, type DriverErrorCode, type DriverEvent, type PinWrite } from '../../src/drivers/contract.js';
import { SimFleet, type SimFleetOptions } from '../../src/drivers/simulator/index.js';
import { fullDeadbolt, testSpec } from './fixtures.js';

const ID = 'sim-0001';
const pin = (slot: number, code: string): PinWrite => ({ slot, code, name: `p${slot}`, schedule: { kind: 'window', from: '2026-03-01T00:00:00Z', until: '2026-04-01T00:00:00Z' } });

function fleetWithLock(opts: SimFleetOptions = {}): { fleet: SimFleet; events: DriverEvent[] } {
  const fleet = new SimFleet({ clock: fixedClock(new Date('2026-03-01T09:00:00Z')), ...opts });
  fleet.provision(fullDeadbolt(ID));
  const events: DriverEvent[] = [];
  fleet.onEvent((e) => events.push(e));
  return { fleet, events };
}

async function rejectsCode(p: Promise<unknown>, code: DriverErrorCode, uncertain: boolean): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isDriverError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.uncertain, uncertain, 'uncertain');
    return true;
  });
}

const pinsOf = (fleet: SimFleet) => fleet.get(ID).pins;
const driverLog = (fleet: SimFleet) => fleet.log.filter((e) => e.source === 'driver');

describe('simulated fleet: faults', () => {
  it('timeout: not applied, uncertain', async () => {
    const { fleet } = fleetWithLock();
    fleet.injectFault(ID, 'timeout');
    await rejectsCode(fleet.setPin(ID, pin(1, '482915')), 'driver.timeout', true);
    assert.deepEqual(pinsOf(fleet), []);
    assert.equal(driverLog(fleet).length, 0);
    await fleet.setPin(ID, pin(1, '482915'));
    assert.equal(pinsOf(fleet).length, 1, 'only the next command failed');
  });

  it('lost_ack: applied once, then a timeout that is uncertain', async () => {
    const { fleet } = fleetWithLock();
    fleet.injectFault(ID, 'lost_ack');
    await rejectsCode(fleet.setPin(ID, pin(1, '482915')), 'driver.timeout', true);
    assert.equal(pinsOf(fleet)[0]?.code, '482915');
    assert.deepEqual(driverLog(fleet).map((e) => [e.op, e.slot]), [['set_pin', 1]]);
  });

  it('duplicate_ack: applied once, reported twice', async () => {
    const { fleet, events } = fleetWithLock();
    fleet.injectFault(ID, 'duplicate_ack');
    await fleet.clearPin(ID, 5);
    const changed = events.filter((e) => e.type === 'credentials_changed');
    assert.equal(changed.length, 2);
    assert.ok(changed.every((e) => e.bySelf === true), "lockwarden's own write is reported as its own");
    assert.equal(driverLog(fleet).length, 1);
  });

  it('partial: the code is stored without schedule or enabled flag, and the write is uncertain', async () => {
    const { fleet } = fleetWithLock();
    fleet.injectFault(ID, 'partial');
    // A scripted fault waits for a command it can hit: this read is not a PIN write.
    await fleet.readCredentials(ID);
    await rejectsCode(fleet.setPin(ID, pin(2, '482915')), 'driver.timeout', true);
    assert.deepEqual(pinsOf(fleet)[0], { slot: 2, code: '482915', name: 'p2', schedule: { kind: 'always' }, enabled: false });
  });

  it('stale_read: a read returns the credentials as they were before the latest change', async () => {
    const { fleet } = fleetWithLock();
    await fleet.setPin(ID, pin(1, '482915'));
    await fleet.setPin(ID, pin(2, '730264'));
    fleet.injectFault(ID, 'stale_read');
    assert.deepEqual((await fleet.readCredentials(ID)).pins.map((p) => p.slot), [1]);
    assert.deepEqual((await fleet.readCredentials(ID)).pins.map((p) => p.slot), [1, 2]);
  });

  it('busy: refused and retryable, not applied', async () => {
    const { fleet } = fleetWithLock();
    fleet.injectFault(ID, 'busy', 2);
    await rejectsCode(fleet.lock(ID), 'driver.busy', false);
    await rejectsCode(fleet.unlock(ID), 'driver.busy', false);
    await fleet.unlock(ID);
    assert.equal(fleet.get(ID).bolt, 'unlocked');
    assert.deepEqual(driverLog(fleet).map((e) => e.op), ['unlock']);
  });

  it('offline: unreachable (not uncertain) for the next K commands, status says offline, then back', async () => {
    const { fleet, events } = fleetWithLock();
    fleet.injectFault(ID, 'offline', 3);
    await rejectsCode(fleet.readCredentials(ID), 'driver.unreachable', false);
    assert.equal((await fleet.status(ID)).online, false);
    await rejectsCode(fleet.setPin(ID, pin(1, '482915')), 'driver.unreachable', false);
    assert.equal((await fleet.status(ID)).online, true);
    assert.deepEqual(
      events.filter((e) => e.type === 'online').map((e) => e.type === 'online' && e.online),
      [false, true],
    );
    assert.deepEqual(pinsOf(fleet), []);
  });

  it('offline by hand lasts until set online; count 0 clears a scripted fault', async () => {
    const { fleet } = fleetWithLock();
    fleet.setOnline(ID, false);
    for (let i = 0; i < 5; i++) await rejectsCode(fleet.readCredentials(ID), 'driver.unreachable', false);
    fleet.setOnline(ID, true);
    fleet.injectFault(ID, 'timeout', 100);
    fleet.injectFault(ID, 'timeout', 0);
    await fleet.readCredentials(ID);
  });

  it('answers driver.unknown_device for a lock it does not have', async () => {
    const { fleet } = fleetWithLock();
    await rejectsCode(fleet.status('nope'), 'driver.unknown_device', false);
    await rejectsCode(fleet.capabilities('nope'), 'driver.unknown_device', false);
    assert.throws(() => fleet.get('nope'), (e: unknown) => isDriverError(e) && e.code === 'driver.unknown_device');
    assert.throws(() => fleet.injectFault('nope', 'busy'), (e: unknown) => isDriverError(e) && e.code === 'driver.unknown_device');
    assert.throws(() => fleet.outOfBand.setPin('nope', 1, '482915'), (e: unknown) => isDriverError(e) && e.code === 'driver.unknown_device');
  });
});

describe('simulated fleet: resets through the fleet', () => {
  it('a physical reset is logged and reported; afterwards only status works until re-pairing', async () => {
    const { fleet, events } = fleetWithLock();
    await fleet.setPin(ID, pin(1, '482915'));
    assert.deepEqual(fleet.physical.reset(ID, { holdSeconds: 3 }), { ok: false, reason: 'hold_too_short' });
    assert.equal(fleet.log.filter((e) => e.op === 'factory_reset').length, 0, 'a refused reset is not a change');
    assert.deepEqual(fleet.physical.reset(ID, { holdSeconds: 10 }), { ok: true });
    assert.deepEqual(fleet.log.at(-1), { seq: fleet.log.length, at: '2026-03-01T09:00:00.000Z', externalId: ID, op: 'factory_reset', source: 'physical', detail: 'full_trust_anchor_erase' });
    assert.ok(events.some((e) => e.type === 'reset_detected' && e.externalId === ID));
    assert.equal((await fleet.status(ID)).setupMode, true);
    await rejectsCode(fleet.readCredentials(ID), 'driver.refused', false);
    await rejectsCode(fleet.setPin(ID, pin(1, '482915')), 'driver.refused', false);
    fleet.outOfBand.enrollAdmin(ID, 'New owner');
    await rejectsCode(fleet.readCredentials(ID), 'driver.refused', false);
    fleet.outOfBand.pairLockwarden(ID);
    assert.deepEqual((await fleet.readCredentials(ID)).pins, []);
  });

  it('a remote factory reset works where declared, and is refused where not', async () => {
    const { fleet, events } = fleetWithLock();
    await fleet.factoryReset(ID);
    assert.equal(fleet.get(ID).setupMode, true);
    assert.equal(events.filter((e) => e.type === 'reset_detected').length, 1);
    fleet.provision(testSpec('kp-1', 'keypad_entry'));
    await rejectsCode(fleet.factoryReset('kp-1'), 'driver.not_supported', false);
  });
});

describe('simulated fleet: the log of applied changes', () => {
  it('logs every application exactly once, with its source, and nothing that failed', async () => {
    const { fleet } = fleetWithLock();
    await fleet.setPin(ID, pin(1, '482915'));
    await fleet.setPin(ID, pin(1, '482915'));
    await fleet.clearPin(ID, 9);
    await assert.rejects(fleet.setPin(ID, pin(2, '482915')));
    await assert.rejects(fleet.setPin(ID, pin(2, '12')));
    fleet.outOfBand.setPin(ID, 3, '730264', 'keypad');
    const phone = fleet.outOfBand.pairController(ID, 'Phone');
    await fleet.removeController(ID, phone.id);
    assert.equal(fleet.outOfBand.usePin(ID, '000000'), null);
    assert.equal(fleet.outOfBand.usePin(ID, '730264'), 3);
    fleet.physical.setOnDoor(ID, false);
    assert.deepEqual(
      fleet.log.map((e) => [e.seq, e.op, e.source, e.slot ?? e.controllerId ?? null]),
      [
        [1, 'provision', 'physical', null],
        [2, 'set_pin', 'driver', 1],
        [3, 'set_pin', 'driver', 1],
        [4, 'clear_pin', 'driver', 9],
        [5, 'set_pin', 'out_of_band', 3],
        [6, 'pair_controller', 'out_of_band', phone.id],
        [7, 'remove_controller', 'driver', phone.id],
        [8, 'use_pin', 'out_of_band', 3],
        [9, 'set_on_door', 'physical', null],
      ],
    );
    assert.equal(JSON.stringify(fleet.log).includes('482915'), false, 'codes never reach the log');
    assert.deepEqual(fleet.logSince(7).map((e) => e.seq), [8, 9]);
  });

  it('emits events for changes made outside lockwarden', () => {
    const { fleet, events } = fleetWithLock();
    fleet.outOfBand.setPin(ID, 3, '730264');
    fleet.outOfBand.usePin(ID, '730264');
    fleet.physical.setOnDoor(ID, false);
    assert.deepEqual(
      events.map((e) => e.type),
      ['credentials_changed', 'pin_used', 'bolt', 'tamper'],
    );
  });

  it('an offline lock reports nothing until it is back online', () => {
    const { fleet, events } = fleetWithLock();
    fleet.setOnline(ID, false);
    fleet.outOfBand.setPin(ID, 3, '730264');
    fleet.setOnline(ID, true);
    assert.deepEqual(
      events.map((e) => e.type),
      ['online', 'online'],
    );
    assert.equal(fleet.log.at(-1)?.op, 'set_pin', 'the change itself happened');
  });

  it('provision keeps an existing lock as it is; remove takes it away', async () => {
    const { fleet } = fleetWithLock();
    await fleet.setPin(ID, pin(1, '482915'));
    fleet.provision(fullDeadbolt(ID));
    assert.equal(pinsOf(fleet).length, 1);
    assert.equal(fleet.log.filter((e) => e.op === 'provision').length, 1);
    assert.equal(fleet.remove(ID), true);
    assert.equal(fleet.remove(ID), false);
    assert.equal(fleet.has(ID), false);
  });
});

describe('simulated fleet: latency, seeds, persistence', () => {
  it('waits the configured latency per command, drawn from the range with the seed', async () => {
    const waits: number[] = [];
    const { fleet } = fleetWithLock({ sleep: async (ms) => void waits.push(ms), config: { seed: 7, latencyMs: { min: 5, max: 50 } } });
    for (let i = 0; i < 20; i++) await fleet.status(ID);
    await fleet.capabilities(ID);
    assert.equal(waits.length, 20, 'capabilities are not sent to the lock');
    assert.ok(waits.every((ms) => Number.isInteger(ms) && ms >= 5 && ms <= 50));
    assert.ok(new Set(waits).size > 5, 'drawn, not fixed');
    fleet.configure({ latencyMs: 12 });
    await fleet.status(ID);
    assert.equal(waits.at(-1), 12);
  });

  it('same seed and same commands give the same outcomes; another seed does not', async () => {
    const run = async (seed: number) => {
      const { fleet } = fleetWithLock({ config: { seed, faults: { timeout: 0.1, lost_ack: 0.1, busy: 0.1, duplicate_ack: 0.1, partial: 0.1, stale_read: 0.1, offline: 0.05 } } });
      const outcomes: string[] = [];
      for (let i = 0; i < 150; i++) {
        const slot = (i % 10) + 1;
        const command = i % 3 === 0 ? fleet.readCredentials(ID) : i % 3 === 1 ? fleet.setPin(ID, pin(slot, String(100000 + i))) : fleet.clearPin(ID, slot);
        outcomes.push(await command.then(() => 'ok', (e: unknown) => (isDriverError(e) ? e.code : 'other')));
      }
      return { outcomes, log: fleet.log, state: fleet.get(ID) };
    };
    const a = await run(42);
    const b = await run(42);
    assert.deepEqual(b, a);
    assert.ok(new Set(a.outcomes).size >= 4, `faults happened: ${[...new Set(a.outcomes)].join(', ')}`);
    assert.notDeepEqual((await run(43)).outcomes, a.outcomes);
  });

  it('saves and restores a fleet: locks, configuration and log', async () => {
    const { fleet } = fleetWithLock({ config: { seed: 9, latencyMs: { min: 0, max: 3 } } });
    await fleet.setPin(ID, pin(1, '482915'));
    fleet.outOfBand.pairController(ID, 'Phone');
    fleet.physical.blockReset(ID, 'board_fault');
    const restored = SimFleet.fromJSON(JSON.parse(JSON.stringify(fleet)));
    assert.deepEqual(restored.toJSON(), fleet.toJSON());
    assert.deepEqual(restored.physical.reset(ID, { holdSeconds: 60 }), { ok: false, reason: 'board_fault' });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lw-sim-')), 'fleet.json');
    assert.equal(SimFleet.load(file).has(ID), false, 'a missing file is an empty fleet');
    fleet.save(file);
    assert.deepEqual(SimFleet.load(file).get(ID), fleet.get(ID));
    assert.throws(() => SimFleet.fromJSON({ version: 1, config: {}, locks: [{}], log: [] }));
  });
});
