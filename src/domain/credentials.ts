/**
 * Credentials on locks: what lockwarden wants on a lock (desired), what the lock last reported
 * (observed), and the rules that compare them. Pure: no I/O. Codes appear here only as plaintext
 * inputs to validation; storage keeps them encrypted and compares them by keyed fingerprint.
 */
import { z } from 'zod';
import { WEEKDAYS, type CredentialSchedule, type DriverCapabilities, type ObservedCredentials } from '../drivers/contract.js';
import { AppError } from './errors.js';
import { allowedPinDigits, allowedPinLengths, pinCodeRuleBroken, pinNameRuleBroken } from './pin-rules.js';

/** Where a desired credential stands on its way to (or off) the lock. */
export const CREDENTIAL_STATUSES = ['pending', 'confirmed', 'failed', 'removing', 'removed'] as const;
export type CredentialStatus = (typeof CREDENTIAL_STATUSES)[number];

export const CREDENTIAL_KINDS = ['pin', 'controller'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

/** Attempts at writing one credential before it is marked failed and the user is told. */
export const MAX_ATTEMPTS = 5;

/** Delay before retry number `attempt` (1-based): 2 s, 4 s, 8 s ... capped at 5 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(300_000, 2000 * 2 ** Math.max(0, attempt - 1));
}

const TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use HH:MM (24-hour)');

export const ScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('always') }).strict(),
  z
    .object({ kind: z.literal('window'), from: z.iso.datetime({ offset: true }), until: z.iso.datetime({ offset: true }) })
    .strict()
    .refine((s) => Date.parse(s.until) > Date.parse(s.from), { message: 'until must be after from', path: ['until'] }),
  z
    .object({
      kind: z.literal('recurring'),
      days: z.array(z.enum(WEEKDAYS)).min(1, 'pick at least one day').max(7),
      start: TIME,
      end: TIME,
    })
    .strict()
    .refine((s) => s.end > s.start, { message: 'end must be after start', path: ['end'] }),
]);

const Code = z.string().trim().regex(/^\d+$/, 'a PIN is digits only');
const Holder = z.string().trim().min(1, 'name the person the PIN is for').max(120);

/** Adding a PIN: typed or generated (omit `code`), in a chosen or the first free slot. */
export const PinCreateSchema = z
  .object({
    holder: Holder,
    code: Code.optional(),
    slot: z.number().int().min(1, 'slots start at 1').optional(),
    schedule: ScheduleSchema.default({ kind: 'always' }),
    /** Length of a generated code; defaults to the model's minimum, at least 6 where allowed. */
    length: z.number().int().min(4).max(16).optional(),
  })
  .strict();
export type PinCreate = z.infer<typeof PinCreateSchema>;

export const PinUpdateSchema = z
  .object({
    holder: Holder.optional(),
    code: Code.optional(),
    schedule: ScheduleSchema.optional(),
    version: z.number().int().min(1),
  })
  .strict();
export type PinUpdate = z.infer<typeof PinUpdateSchema>;

export const RevealSchema = z.object({ reason: z.string().trim().min(3, 'say why you need to see the code').max(500) }).strict();

/** A desired credential as the service returns it. Never carries the code. */
export interface Credential {
  id: string;
  lockId: string;
  kind: CredentialKind;
  slot: number | null;
  controllerId: string | null;
  holder: string;
  schedule: CredentialSchedule;
  status: CredentialStatus;
  /** 'lockwarden' when created here, 'adopted' when taken over from the lock. */
  origin: 'lockwarden' | 'adopted';
  attempts: number;
  lastError: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  confirmedAt: Date | null;
}

/**
 * Checks that `code` fits the lock (its lengths, digits, prefixes and named rules, see
 * `pinCodeRuleBroken`) and is not weak; throws `validation.failed` naming `field` and the rule.
 */
export function checkPinForLock(code: string, caps: DriverCapabilities, field = 'code'): void {
  if (caps.pin.slots === 0) throw new AppError('credential.not_supported', 'this lock takes no PIN codes');
  if (!/^\d+$/.test(code)) throw fieldError(field, 'a PIN is digits only');
  const broken = pinCodeRuleBroken(code, caps);
  if (broken) throw fieldError(field, broken);
  const weak = weakness(code);
  if (weak) throw fieldError(field, `weak PIN: ${weak}`);
}

/** Checks that the lock can keep `name` as a code's name (its length limit); throws `validation.failed` naming `field`. */
export function checkPinNameForLock(name: string, caps: DriverCapabilities, field = 'holder'): void {
  const broken = pinNameRuleBroken(name, caps);
  if (broken) throw fieldError(field, broken);
}

/** Checks a slot number against the lock's capacity. */
export function checkSlot(slot: number, caps: DriverCapabilities): void {
  if (slot < 1 || slot > caps.pin.slots) throw fieldError('slot', `this lock has slots 1-${caps.pin.slots}`);
}

/** Checks that the lock can keep this schedule. */
export function checkSchedule(schedule: CredentialSchedule, caps: DriverCapabilities): void {
  if (caps.offlineCodes === 'only' && schedule.kind !== 'window') throw fieldError('schedule', 'this lock takes only offline codes, which need a time window (from, until)');
  if (schedule.kind === 'window' && !caps.schedules.window) throw fieldError('schedule', 'this lock cannot keep time-bound PINs');
  if (schedule.kind === 'recurring' && !caps.schedules.recurring) throw fieldError('schedule', 'this lock cannot keep recurring PINs');
}

/** Why a code is too easy to guess, or null: runs (1234, 9876), one repeated digit, or two digits alternating. */
export function weakness(code: string): string | null {
  if (/^(\d)\1+$/.test(code)) return 'one digit repeated';
  const d = [...code].map(Number);
  const steps = new Set(d.slice(1).map((x, i) => (x - d[i]! + 10) % 10));
  if (steps.size === 1 && (steps.has(1) || steps.has(9))) return 'a sequence of digits';
  if (code.length >= 4 && /^(\d\d)\1+\d?$/.test(code)) return 'a repeated pair of digits';
  return null;
}

/**
 * Generates a code of `length` digits with a CSPRNG, rejecting weak codes and any code `taken`
 * says is already on the lock. With `caps` (every lock the code is for), it draws only from the
 * digits those locks allow and only codes all their rules allow.
 */
export function generatePin(length: number, randomInt: (max: number) => number, taken: (code: string) => boolean, caps: DriverCapabilities | DriverCapabilities[] = []): string {
  // A lock that takes no PINs has no rules to draw by (callers refuse it on their own).
  const locks = (Array.isArray(caps) ? caps : [caps]).filter((c) => c.pin.slots > 0);
  const digits = '0123456789'.split('').filter((d) => locks.every((c) => allowedPinDigits(c).includes(d)));
  if (digits.length === 0) throw new AppError('credential.no_code_available', 'these locks have no digit in common to make a PIN from');
  const refusing = locks.find((c) => !allowedPinLengths(c).includes(length));
  if (refusing) throw fieldError('length', pinCodeRuleBroken('0'.repeat(length).replace(/0/g, digits[0]!), refusing) ?? `this lock does not take codes of ${length} digits`);
  for (let i = 0; i < 1000; i++) {
    const code = Array.from({ length }, () => digits[randomInt(digits.length)]!).join('');
    if (!weakness(code) && !taken(code) && locks.every((c) => pinCodeRuleBroken(code, c) === null)) return code;
  }
  throw new AppError('credential.no_code_available', 'could not find a free strong PIN of that length');
}

/** Two schedules mean the same thing. */
export function sameSchedule(a: CredentialSchedule, b: CredentialSchedule): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'window' && b.kind === 'window') return Date.parse(a.from) === Date.parse(b.from) && Date.parse(a.until) === Date.parse(b.until);
  if (a.kind === 'recurring' && b.kind === 'recurring') {
    return a.start === b.start && a.end === b.end && [...a.days].sort().join() === [...b.days].sort().join();
  }
  return true;
}

/** The slot-by-slot comparison the UI shows and the reconciler acts on. */
export type SlotState =
  | 'in_sync' // desired and observed agree
  | 'missing' // desired, not on the lock
  | 'code_mismatch' // the slot holds another code
  | 'schedule_mismatch' // right code, wrong schedule or disabled
  | 'pending_removal' // revoked here, still on the lock
  | 'unmanaged'; // on the lock, not known here

/** One desired credential with what the comparison needs (fingerprints, not codes). */
export interface DesiredPin {
  id: string;
  slot: number;
  fingerprint: string;
  schedule: CredentialSchedule;
  status: CredentialStatus;
  /** The holder's name as the lock should label the slot; a different label is drift too. */
  name?: string;
}

/** One observed slot, fingerprinted (the code may be unknown when the lock does not read back). */
export interface ObservedPinPrint {
  slot: number;
  fingerprint: string | null;
  schedule: CredentialSchedule;
  enabled: boolean;
  name: string;
}

export interface SlotComparison {
  slot: number;
  state: SlotState;
  credentialId: string | null;
}

/** Compares desired PINs to observed slots. Revoked credentials (`removed`) are ignored. */
export function compareSlots(desired: DesiredPin[], observed: ObservedPinPrint[]): SlotComparison[] {
  const bySlot = new Map(observed.map((o) => [o.slot, o]));
  const out: SlotComparison[] = [];
  const claimed = new Set<number>();
  for (const d of desired) {
    if (d.status === 'removed') continue;
    claimed.add(d.slot);
    const o = bySlot.get(d.slot);
    if (d.status === 'removing') {
      out.push({ slot: d.slot, state: o ? 'pending_removal' : 'in_sync', credentialId: d.id });
      continue;
    }
    let state: SlotState;
    if (!o) state = 'missing';
    else if (o.fingerprint !== null && o.fingerprint !== d.fingerprint) state = 'code_mismatch';
    else if (!o.enabled || !sameSchedule(o.schedule, d.schedule) || (d.name !== undefined && o.name !== d.name)) state = 'schedule_mismatch';
    else state = 'in_sync';
    out.push({ slot: d.slot, state, credentialId: d.id });
  }
  for (const o of observed) if (!claimed.has(o.slot)) out.push({ slot: o.slot, state: 'unmanaged', credentialId: null });
  return out.sort((a, b) => a.slot - b.slot);
}

/** A device command the reconciler will send. */
export type PlannedCommand =
  | { op: 'set_pin'; credentialId: string; slot: number }
  | { op: 'clear_pin'; credentialId: string; slot: number }
  | { op: 'remove_controller'; credentialId: string; controllerId: string };

/** What to send so the lock matches the desired state; failed credentials wait for the user. */
export function planCommands(
  desired: DesiredPin[],
  observed: ObservedPinPrint[],
  controllerRemovals: { id: string; controllerId: string; status: CredentialStatus }[],
  observedControllers: ObservedCredentials['controllers'],
): PlannedCommand[] {
  const status = new Map(desired.map((d) => [d.id, d.status]));
  const plan: PlannedCommand[] = [];
  for (const c of compareSlots(desired, observed)) {
    if (!c.credentialId || status.get(c.credentialId) === 'failed') continue;
    if (c.state === 'pending_removal') plan.push({ op: 'clear_pin', credentialId: c.credentialId, slot: c.slot });
    else if (c.state !== 'in_sync') plan.push({ op: 'set_pin', credentialId: c.credentialId, slot: c.slot });
  }
  const present = new Set(observedControllers.map((c) => c.id));
  for (const r of controllerRemovals) {
    if (r.status === 'removing' && present.has(r.controllerId)) plan.push({ op: 'remove_controller', credentialId: r.id, controllerId: r.controllerId });
  }
  // Clear before set, so a code moving between slots never collides with itself on the lock.
  return plan.sort((a, b) => (a.op === 'clear_pin' ? 0 : 1) - (b.op === 'clear_pin' ? 0 : 1));
}

function fieldError(path: string, message: string): AppError {
  return new AppError('validation.failed', `Invalid input: ${path}: ${message}`, [{ path, message }]);
}

/** Driver capabilities as the model catalogue states them, for when the device cannot be asked. */
export function capabilitiesFromModel(c: {
  pinSlots: number;
  pinLengthMin: number;
  pinLengthMax: number;
  schedules: boolean;
  digitalKeys: boolean;
  fingerprints: boolean;
  remoteLockUnlock: boolean;
  remoteReset: boolean;
}): DriverCapabilities {
  return {
    pin: { slots: c.pinSlots, minLength: c.pinLengthMin, maxLength: c.pinLengthMax, alphabet: 'digits' },
    schedules: { window: c.schedules, recurring: c.schedules },
    digitalKeys: c.digitalKeys,
    controllers: true,
    biometrics: c.fingerprints,
    remoteLockUnlock: c.remoteLockUnlock,
    remoteFactoryReset: c.remoteReset,
    cloudBinding: false,
    events: false,
    enrollment: null,
    cloudUnbind: false,
  };
}

/** Which locks a bulk change applies to: explicit ids, or everything under a location. */
export const BulkTargetSchema = z
  .object({
    lockIds: z.array(z.uuid()).min(1).max(20000).optional(),
    locationId: z.uuid().optional(),
  })
  .strict()
  .refine((t) => (t.lockIds ? 1 : 0) + (t.locationId ? 1 : 0) === 1, { message: 'give either lockIds or locationId', path: ['lockIds'] });

/** A change to many locks at once: revoke some PINs and add others, as a turnover does. */
export const BulkChangeSchema = z
  .object({
    target: BulkTargetSchema,
    revoke: z
      .object({ holders: z.array(z.string().trim().min(1)).min(1).max(100).optional(), all: z.boolean().optional() })
      .strict()
      .refine((r) => Boolean(r.holders) !== Boolean(r.all), { message: 'give either holders or all: true', path: ['holders'] })
      .optional(),
    add: z
      .array(z.object({ holder: Holder, code: Code.optional(), schedule: ScheduleSchema.default({ kind: 'always' }), length: z.number().int().min(4).max(16).optional() }).strict())
      .max(20)
      .default([]),
    description: z.string().trim().max(200).optional(),
  })
  .strict()
  .refine((b) => b.revoke || b.add.length > 0, { message: 'nothing to do: add PINs or revoke some', path: ['add'] });
export type BulkChange = z.infer<typeof BulkChangeSchema>;
