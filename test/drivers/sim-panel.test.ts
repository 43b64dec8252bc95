/**
 * The virtual front panel: a person's hands on a simulated lock, timed by the fleet's injected
 * clock. Each gating rule of the model shows up as a refusal in plain words, a long enough hold
 * resets (and raises the driver's reset event), and a keypad model's written sequence is keyed with
 * the lock's own master code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { DriverEvent } from '../../src/drivers/contract.js';
import { SimFleet, sequenceKeys, simMasterCode, type PanelKey } from '../../src/drivers/simulator/index.js';
import { testSpec } from './fixtures.js';

function setup() {
  const clock = fixedClock(new Date('2026-03-01T09:00:00Z'));
  const fleet = new SimFleet({ clock });
  const events: DriverEvent[] = [];
  fleet.onEvent((e) => events.push(e));
  return { clock, fleet, events };
}

/** Presses the reset control, lets `seconds` pass on the fleet's clock, releases it. */
function hold(f: ReturnType<typeof setup>, id: string, seconds: number) {
  f.fleet.panel.act(id, { type: 'press_reset' });
  f.clock.advance(seconds * 1000);
  assert.equal(f.fleet.panel.view(id).pressedSeconds, seconds, 'the panel shows the time held so far');
  return f.fleet.panel.act(id, { type: 'release_reset' });
}

describe('virtual front panel', () => {
  // A DB-100-like deadbolt: 12 s hold, 25 % battery, on the door is fine, full erase.
  const db100 = (id: string) =>
    testSpec(id, 'electronic_deadbolt', { gating: { button: 'interior reset button', holdSeconds: 12, batteryMinPercent: 25, needsLockOffDoor: false } });

  it('a hold too short is refused in words and changes nothing; a long enough hold resets to setup mode with the PINs gone', () => {
    const f = setup();
    f.fleet.provision(db100('sim-1'));
    f.fleet.outOfBand.setPin('sim-1', 1, '482915');
    assert.equal(f.fleet.panel.view('sim-1').indicator.state, 'normal');

    const short = hold(f, 'sim-1', 4);
    assert.equal(short.ok, false);
    assert.equal(short.attempt?.reason, 'hold_too_short');
    assert.match(short.words, /released after 4 s; this model needs it held for 12 s/);
    assert.equal(short.view.indicator.state, 'refused');
    assert.match(short.view.indicator.words, /12 s/);
    assert.equal(f.fleet.get('sim-1').pins.length, 1, 'a refused attempt erases nothing');
    assert.equal(f.events.filter((e) => e.type === 'reset_detected').length, 0);

    const long = hold(f, 'sim-1', 12.5);
    assert.equal(long.ok, true, long.words);
    assert.equal(long.view.setupMode, true);
    assert.equal(long.view.indicator.state, 'setup_mode');
    assert.match(long.view.indicator.words, /setup mode/i);
    const s = f.fleet.get('sim-1');
    assert.deepEqual(s.pins, []);
    assert.deepEqual(s.controllers, [], 'a full erase forgets every controller, lockwarden too');
    assert.equal(f.events.filter((e) => e.type === 'reset_detected').length, 1, 'the reset is reported like any physical reset');
    assert.equal(f.fleet.log.at(-1)?.op, 'factory_reset');
    assert.equal(f.fleet.panel.view('sim-1').pressedSeconds, null, 'released');
  });

  it('refuses a reset when the battery is below the model minimum, and fresh batteries (compartment open) fix it', () => {
    const f = setup();
    f.fleet.provision(db100('sim-2'));
    const closed = f.fleet.panel.act('sim-2', { type: 'set_charge', percent: 10 });
    assert.equal(closed.ok, false);
    assert.match(closed.words, /Open the battery compartment first/);
    assert.equal(f.fleet.panel.act('sim-2', { type: 'open_compartment' }).view.compartmentOpen, true);
    assert.equal(f.fleet.panel.act('sim-2', { type: 'set_charge', percent: 10 }).view.batteryPercent, 10);
    assert.equal(f.fleet.log.at(-1)?.source, 'physical');

    const low = hold(f, 'sim-2', 15);
    assert.equal(low.attempt?.reason, 'battery_low');
    assert.match(low.words, /battery is at 10 %; a reset needs at least 25 %/);
    assert.equal(f.fleet.get('sim-2').setupMode, false);

    assert.equal(f.fleet.panel.act('sim-2', { type: 'fresh_batteries' }).view.batteryPercent, 100);
    assert.equal(hold(f, 'sim-2', 15).ok, true);
  });

  it('no power: the indicator is off and the keypad does nothing', () => {
    const f = setup();
    f.fleet.provision(db100('sim-3'));
    f.fleet.panel.act('sim-3', { type: 'open_compartment' });
    const flat = f.fleet.panel.act('sim-3', { type: 'set_charge', percent: 0 });
    assert.equal(flat.view.indicator.state, 'off');
    assert.match(flat.view.indicator.words, /no power/);
    assert.equal(f.fleet.panel.act('sim-3', { type: 'key', key: '1' }).ok, false);
  });

  it('refuses a reset while the lock is on the door for a model that must come off it', () => {
    const f = setup();
    f.fleet.provision(testSpec('cab-1', 'safe_cabinet', { gating: { button: 'reset pinhole', holdSeconds: 5, batteryMinPercent: 20, needsLockOffDoor: true } }));
    const onDoor = hold(f, 'cab-1', 6);
    assert.equal(onDoor.attempt?.reason, 'still_on_door');
    assert.match(onDoor.words, /Take it off the door first/);
    const off = f.fleet.panel.act('cab-1', { type: 'take_off_door' });
    assert.equal(off.view.onDoor, false);
    assert.ok(f.events.some((e) => e.type === 'tamper'), 'taking it off the door is what a tamper sensor reports');
    assert.equal(hold(f, 'cab-1', 6).ok, true);
    assert.equal(f.fleet.panel.act('cab-1', { type: 'put_on_door' }).view.onDoor, true);
  });

  it('a keypad model resets on its written sequence keyed with its own master code, and refuses a wrong one', () => {
    const f = setup();
    const seq = '* + master code + # then 9 9 #';
    f.fleet.provision(testSpec('kp-1', 'keypad_entry', { resetBehaviour: 'split', gating: { button: 'programming key', buttonSequence: seq, holdSeconds: 0, batteryMinPercent: 30, needsLockOffDoor: false } }));
    const master = simMasterCode('kp-1');
    assert.match(master, /^\d{6}$/);
    assert.equal(sequenceKeys(seq, master), `*${master}#99#`);
    const key = (keys: string) => {
      for (const k of keys) f.fleet.panel.act('kp-1', { type: 'key', key: k as PanelKey });
    };

    key('*000000#99#');
    assert.equal(f.fleet.panel.view('kp-1').keysEntered, 11, 'the panel counts keys, never shows them');
    assert.equal(JSON.stringify(f.fleet.panel.view('kp-1')).includes(master), false, 'the master code never shows on the panel');
    const wrong = hold(f, 'kp-1', 0);
    assert.equal(wrong.attempt?.reason, 'wrong_sequence');
    assert.match(wrong.words, /not the reset sequence/);
    assert.equal(wrong.view.keysEntered, 0, 'an attempt clears the entry');

    key(`*${master}#9`);
    assert.equal(f.fleet.panel.act('kp-1', { type: 'clear_keys' }).view.keysEntered, 0);
    key(`*${master}#99#`);
    const right = hold(f, 'kp-1', 0);
    assert.equal(right.ok, true, right.words);
    assert.equal(right.view.setupMode, true);
  });

  it('enrolls an admin with the vendor app only in setup mode, which ends it', () => {
    const f = setup();
    f.fleet.provision(db100('sim-4'));
    const early = f.fleet.panel.act('sim-4', { type: 'enroll_admin' });
    assert.equal(early.ok, false);
    assert.match(early.words, /not in setup mode/);
    hold(f, 'sim-4', 12);
    const enrolled = f.fleet.panel.act('sim-4', { type: 'enroll_admin' });
    assert.equal(enrolled.ok, true);
    assert.equal(enrolled.view.setupMode, false);
    assert.equal(enrolled.view.indicator.state, 'normal');
    assert.equal(f.fleet.get('sim-4').controllers.filter((c) => c.admin).length, 1);
  });

  it('a board fault: nothing happens, in words; a setup-mode fault: erased but the light says so', () => {
    const f = setup();
    f.fleet.provision(db100('sim-5'));
    f.fleet.physical.blockReset('sim-5', 'board_fault');
    const blocked = hold(f, 'sim-5', 13);
    assert.equal(blocked.attempt?.reason, 'board_fault');
    assert.match(blocked.words, /board does not respond/);
    f.fleet.physical.blockReset('sim-5', null);
    f.fleet.physical.failSetupMode('sim-5', true);
    const faulty = hold(f, 'sim-5', 13);
    assert.equal(faulty.ok, true);
    assert.equal(faulty.view.indicator.state, 'fault');
    assert.equal(faulty.view.label.setupCode.length, 13);
  });

  it('releasing without a press makes no attempt', () => {
    const f = setup();
    f.fleet.provision(db100('sim-6'));
    const r = f.fleet.panel.act('sim-6', { type: 'release_reset' });
    assert.equal(r.ok, false);
    assert.equal(r.attempt, null);
    assert.equal(f.fleet.get('sim-6').resetCount, 0);
  });
});
