/**
 * The virtual front panel of a simulated lock: what a technician's hands do at the lock (hold the
 * reset control, key in a sequence, open the battery compartment, swap batteries, take the lock off
 * the door, enroll an admin with the vendor app) and what the lock shows back (its indicator light in
 * words). The panel keeps only transient state per device (the button pressed since, keys entered,
 * compartment open, the last attempt); every change to the lock itself goes through the fleet's
 * logged actions, so it is recorded and raises the lock's driver events like any other change.
 *
 * Time held is measured with the fleet's clock (injected), never with a browser's: the person says
 * "pressed" and "released", the simulator times it.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../domain/clock.js';
import type { OutOfBandActions, PhysicalActions } from './fleet-actions.js';
import { simSetupCode, type PhysicalResetRefusal, type VirtualLockState } from './lock-spec.js';

/** The keys of a lock's keypad. */
export const PANEL_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
export type PanelKey = (typeof PANEL_KEYS)[number];

/** What a person can do at the panel. */
export type PanelAction =
  | { type: 'press_reset' }
  | { type: 'release_reset' }
  | { type: 'key'; key: PanelKey }
  | { type: 'clear_keys' }
  | { type: 'open_compartment' }
  | { type: 'close_compartment' }
  | { type: 'set_charge'; percent: number }
  | { type: 'fresh_batteries' }
  | { type: 'take_off_door' }
  | { type: 'put_on_door' }
  | { type: 'enroll_admin' }
  | { type: 'pair_phone'; label: string };

/** The panel's actions by name (for schemas). */
export const PANEL_ACTIONS = [
  'press_reset',
  'release_reset',
  'key',
  'clear_keys',
  'open_compartment',
  'close_compartment',
  'set_charge',
  'fresh_batteries',
  'take_off_door',
  'put_on_door',
  'enroll_admin',
  'pair_phone',
] as const;

/** A panel action as typed input (strict: an unknown field or action is refused, naming it). */
export const PanelActionSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('press_reset') }),
    z.strictObject({ type: z.literal('release_reset') }),
    z.strictObject({ type: z.literal('key'), key: z.enum(PANEL_KEYS, 'a key of the keypad: 0-9, * or #') }),
    z.strictObject({ type: z.literal('clear_keys') }),
    z.strictObject({ type: z.literal('open_compartment') }),
    z.strictObject({ type: z.literal('close_compartment') }),
    z.strictObject({ type: z.literal('set_charge'), percent: z.int('a whole percentage').min(0, 'at least 0 %').max(100, 'at most 100 %') }),
    z.strictObject({ type: z.literal('fresh_batteries') }),
    z.strictObject({ type: z.literal('take_off_door') }),
    z.strictObject({ type: z.literal('put_on_door') }),
    z.strictObject({ type: z.literal('enroll_admin') }),
    /** Someone pairs a phone at the lock with the vendor's app, outside lockwarden (what an audit of controllers must find). */
    z.strictObject({ type: z.literal('pair_phone'), label: z.string().trim().min(1, 'name the phone').max(60, 'at most 60 characters') }),
  ],
  { error: `type is one of: ${PANEL_ACTIONS.join(', ')}` },
);

/** The indicator light: `off` no power, `refused` the last reset attempt was refused, `fault` erased but not in setup mode. */
export type IndicatorState = 'off' | 'normal' | 'setup_mode' | 'refused' | 'fault';

/** One reset attempt made by releasing the reset control. */
export interface PanelAttempt {
  at: string;
  ok: boolean;
  /** Why it was refused (null when it reset). */
  reason: PhysicalResetRefusal | null;
  heldSeconds: number;
  /** Whether the lock was in setup mode right after (a successful attempt on a faulty board is not). */
  setupModeAfter: boolean;
  words: string;
}

/** What the panel shows of one lock. */
export interface PanelView {
  externalId: string;
  manufacturer: string;
  model: string;
  /** The lock has a keypad: it takes PINs, or its reset is a keyed sequence. */
  hasKeypad: boolean;
  /** Seconds the model wants the reset control held (0: a press is enough). */
  holdSeconds: number;
  /** The model's reset sequence as written in the catalogue, when it has one ("master code" stays a name). */
  buttonSequence: string | null;
  indicator: { state: IndicatorState; words: string };
  /** Seconds held so far while the reset control is down (fleet clock), else null. */
  pressedSeconds: number | null;
  /** How many keys were entered since the last attempt (never which). */
  keysEntered: number;
  compartmentOpen: boolean;
  batteryPercent: number;
  batteryMinPercent: number;
  onDoor: boolean;
  needsLockOffDoor: boolean;
  setupMode: boolean;
  lastAttempt: PanelAttempt | null;
  /** The label on the lock, with the setup code lockwarden enrolls it with. */
  label: { text: string; setupCode: string };
}

/** The answer to one action: the panel afterwards, what happened in words, and the attempt when one was made. */
export interface PanelOutcome {
  view: PanelView;
  ok: boolean;
  words: string;
  attempt: PanelAttempt | null;
}

/** What the panel needs from the fleet. */
export interface PanelHost {
  clock: Clock;
  get(externalId: string): VirtualLockState;
  physical: PhysicalActions;
  outOfBand: OutOfBandActions;
  setBattery(externalId: string, percent: number): void;
}

interface PanelState {
  pressedAt: number | null;
  keys: string;
  compartmentOpen: boolean;
  lastAttempt: PanelAttempt | null;
}

/**
 * The master code a simulated keypad lock carries (6 digits, fixed per device). The panel never shows
 * it: on a real lock it is a secret kept by whoever runs the building (a handbook entry's secret);
 * a practice twin hands it to the person practising.
 */
export function simMasterCode(externalId: string): string {
  const h = createHash('sha256').update(`lockwarden-sim-master|${externalId}`).digest();
  let out = '';
  for (let i = 0; out.length < 6; i++) out += String(h[i]! % 10);
  return out;
}

/**
 * The keys a written reset sequence asks for on this lock. Rule (kept simple and honest): "master
 * code" stands for the lock's own master code; digits, `*` and `#` are keys; every other word
 * ("program", "then", "+") is dropped, because it either separates keys or names the reset control
 * itself, which the person presses (and releases) after keying the sequence to make the attempt.
 * So "* + master code + # then 9 9 #" on a lock whose master code is 482913 is `*482913#99#`.
 */
export function sequenceKeys(buttonSequence: string, masterCode: string): string {
  return buttonSequence.toLowerCase().replace(/master\s*code/g, masterCode).replace(/[^0-9*#]/g, '');
}

/** Plain words for a refused reset attempt, with the figures a person needs to put it right. */
export function refusalWords(reason: PhysicalResetRefusal, s: VirtualLockState, heldSeconds: number): string {
  switch (reason) {
    case 'hold_too_short':
      return `Refused: held too short. The button was released after ${fmtSeconds(heldSeconds)}; this model needs it held for ${s.gating.holdSeconds} s.`;
    case 'wrong_sequence':
      return 'Refused: the keys entered are not the reset sequence. Clear the entry and key the sequence again, then press the reset control.';
    case 'battery_low':
      return `Refused: the battery is at ${s.batteryPercent} %; a reset needs at least ${s.gating.batteryMinPercent} %. Fit fresh batteries first.`;
    case 'still_on_door':
      return 'Refused: this model resets only when taken off the door. Take it off the door first.';
    case 'battery_compartment_inaccessible':
      return 'Nothing happens: the battery compartment cannot be opened, so the reset button cannot be reached.';
    case 'board_fault':
      return 'Nothing happens: the lock\'s board does not respond (a board fault). The lock needs replacing.';
    case 'damaged':
      return 'Nothing happens: the lock is damaged. It needs replacing.';
  }
}

function fmtSeconds(s: number): string {
  return `${Math.round(s * 10) / 10} s`;
}

/** The front panels of every lock in a fleet. */
export class SimPanels {
  private readonly states = new Map<string, PanelState>();

  constructor(private readonly host: PanelHost) {}

  /** What the panel of one lock shows now. */
  view(externalId: string): PanelView {
    const s = this.host.get(externalId);
    const p = this.state(externalId);
    const now = this.host.clock.now().getTime();
    return {
      externalId: s.externalId,
      manufacturer: s.manufacturer,
      model: s.model,
      hasKeypad: s.capabilities.pin.slots > 0 || Boolean(s.gating.buttonSequence),
      holdSeconds: s.gating.holdSeconds,
      buttonSequence: s.gating.buttonSequence ?? null,
      indicator: indicator(s, p.lastAttempt),
      pressedSeconds: p.pressedAt === null ? null : Math.max(0, (now - p.pressedAt) / 1000),
      keysEntered: p.keys.length,
      compartmentOpen: p.compartmentOpen,
      batteryPercent: s.batteryPercent,
      batteryMinPercent: s.gating.batteryMinPercent,
      onDoor: s.onDoor,
      needsLockOffDoor: s.gating.needsLockOffDoor,
      setupMode: s.setupMode,
      lastAttempt: p.lastAttempt ? { ...p.lastAttempt } : null,
      label: { text: `${s.manufacturer} ${s.model} · ${s.externalId}`, setupCode: simSetupCode(s.externalId) },
    };
  }

  /** Does one thing at the panel; a thing the lock refuses is an outcome with `ok: false`, not an error. */
  act(externalId: string, action: PanelAction): PanelOutcome {
    const s = this.host.get(externalId);
    const p = this.state(externalId);
    const done = (ok: boolean, words: string, attempt: PanelAttempt | null = null): PanelOutcome => ({ view: this.view(externalId), ok, words, attempt });
    switch (action.type) {
      case 'press_reset':
        if (p.pressedAt !== null) return done(true, 'The reset control is already held down.');
        p.pressedAt = this.host.clock.now().getTime();
        return done(true, 'Holding the reset control…');
      case 'release_reset': {
        if (p.pressedAt === null) return done(false, 'The reset control was not held down.');
        const heldSeconds = (this.host.clock.now().getTime() - p.pressedAt) / 1000;
        p.pressedAt = null;
        const attempt = this.attempt(externalId, s, p, heldSeconds);
        return done(attempt.ok, attempt.words, attempt);
      }
      case 'key':
        if (s.batteryPercent === 0) return done(false, 'Nothing happens: the lock has no power.');
        if (!(s.capabilities.pin.slots > 0 || s.gating.buttonSequence)) return done(false, 'This lock has no keypad.');
        // A keypad buffers a limited entry; 64 keys is more than any reset sequence.
        p.keys = (p.keys + action.key).slice(-64);
        return done(true, `${p.keys.length} key${p.keys.length === 1 ? '' : 's'} entered.`);
      case 'clear_keys':
        p.keys = '';
        return done(true, 'Entry cleared.');
      case 'open_compartment':
        if (s.resetBlocked === 'battery_compartment_inaccessible') return done(false, 'The battery compartment will not open.');
        p.compartmentOpen = true;
        return done(true, 'Battery compartment open.');
      case 'close_compartment':
        p.compartmentOpen = false;
        return done(true, 'Battery compartment closed.');
      case 'set_charge':
      case 'fresh_batteries': {
        if (!p.compartmentOpen) return done(false, 'Open the battery compartment first.');
        const percent = action.type === 'fresh_batteries' ? 100 : action.percent;
        this.host.setBattery(externalId, percent);
        return done(true, action.type === 'fresh_batteries' ? 'Fresh batteries fitted: 100 %.' : `Batteries at ${percent} %.`);
      }
      case 'take_off_door':
      case 'put_on_door': {
        const onDoor = action.type === 'put_on_door';
        if (s.onDoor === onDoor) return done(true, onDoor ? 'The lock is already on the door.' : 'The lock is already off the door.');
        this.host.physical.setOnDoor(externalId, onDoor);
        return done(true, onDoor ? 'The lock is back on the door.' : 'The lock is off the door.');
      }
      case 'enroll_admin': {
        if (!s.setupMode) return done(false, 'The vendor app cannot enroll an admin: the lock is not in setup mode (it already has an admin, or was not reset).');
        if (s.batteryPercent === 0) return done(false, 'The vendor app finds no lock: it has no power.');
        this.host.outOfBand.enrollAdmin(externalId, 'Vendor app admin');
        p.lastAttempt = null;
        return done(true, 'The vendor app enrolled an admin; the lock has left setup mode.');
      }
      case 'pair_phone': {
        if (s.batteryPercent === 0) return done(false, 'The vendor app finds no lock: it has no power.');
        if (s.setupMode) return done(false, 'The vendor app pairs a phone only once the lock has an admin: it is in setup mode.');
        this.host.outOfBand.pairController(externalId, action.label, 'phone');
        return done(true, `The vendor app paired "${action.label}" with the lock.`);
      }
    }
  }

  /** Forgets a lock's panel (the lock left the fleet). */
  forget(externalId: string): void {
    this.states.delete(externalId);
  }

  private attempt(externalId: string, s: VirtualLockState, p: PanelState, heldSeconds: number): PanelAttempt {
    const entered = p.keys;
    p.keys = '';
    const at = this.host.clock.now().toISOString();
    // The lock compares against the written sequence: keys that spell it out on this lock are that sequence.
    const written = s.gating.buttonSequence;
    const sequence = written ? (entered === sequenceKeys(written, simMasterCode(externalId)) ? written : entered) : undefined;
    const result = this.host.physical.reset(externalId, { ...(sequence !== undefined ? { sequence } : {}), holdSeconds: heldSeconds });
    const after = this.host.get(externalId);
    const attempt: PanelAttempt = result.ok
      ? {
          at,
          ok: true,
          reason: null,
          heldSeconds,
          setupModeAfter: after.setupMode,
          words: after.setupMode
            ? `Reset after ${fmtSeconds(heldSeconds)}: the lock erased itself and is in setup mode.`
            : `The lock erased itself after ${fmtSeconds(heldSeconds)}, but did not return to setup mode.`,
        }
      : { at, ok: false, reason: result.reason, heldSeconds, setupModeAfter: after.setupMode, words: refusalWords(result.reason, s, heldSeconds) };
    p.lastAttempt = attempt;
    return { ...attempt };
  }

  private state(externalId: string): PanelState {
    let p = this.states.get(externalId);
    if (!p) {
      p = { pressedAt: null, keys: '', compartmentOpen: false, lastAttempt: null };
      this.states.set(externalId, p);
    }
    return p;
  }
}

/** The indicator light as a person would describe it. */
function indicator(s: VirtualLockState, last: PanelAttempt | null): PanelView['indicator'] {
  if (s.batteryPercent === 0) return { state: 'off', words: 'No light: the lock has no power (the batteries are flat).' };
  if (last && !last.ok) return { state: 'refused', words: `Red blinks. ${last.words}` };
  if (s.setupMode) return { state: 'setup_mode', words: 'Flashing blue: setup mode. The lock is erased and waits for an admin to enroll it.' };
  if (last?.ok && !last.setupModeAfter) return { state: 'fault', words: 'Solid red: the lock erased itself but did not return to setup mode.' };
  return { state: 'normal', words: 'Green: the lock works normally.' };
}
