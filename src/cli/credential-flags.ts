/**
 * Credential flags to service input: schedules from --from/--until or --days/--start/--end, PIN and
 * bulk-change inputs, all parsed with the domain schemas before anything is sent. Every error names
 * the flag to fix (never the schema field), so `pins add --from X` says "--until", not "schedule".
 */
import { InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import { BulkChangeSchema, PinCreateSchema, PinUpdateSchema, RevealSchema, ScheduleSchema } from '../domain/credentials.js';
import { WEEKDAYS, type CredentialSchedule, type Weekday } from '../drivers/contract.js';
import { AppError, isAppError, type FieldError } from '../domain/errors.js';

/** The schedule flags shared by `pins add`, `pins edit` and `bulk add`. */
export interface ScheduleFlags {
  from?: string;
  until?: string;
  days?: string;
  start?: string;
  end?: string;
  always?: boolean;
}

/** A bad-input error that names the flag (exit code 2 like every `validation.failed`). */
export function flagError(flag: string, message: string): AppError {
  return new AppError('validation.failed', `${flag}: ${message}`, [{ path: flag, message }]);
}

/** Which flag each schema field comes from; numeric path parts (list indexes) are dropped first. */
const FLAG_OF: Record<string, string> = {
  holder: '--holder',
  code: '--code',
  slot: '--slot',
  length: '--length',
  version: '--version',
  reason: '--reason',
  description: '--description',
  schedule: 'schedule flags (--from/--until or --days/--start/--end)',
  kind: 'schedule flags (--from/--until or --days/--start/--end)',
  from: '--from',
  until: '--until',
  days: '--days',
  start: '--start',
  end: '--end',
  location: '--location',
  target: '--locks or --location',
  'target.lockIds': '--locks',
  'target.locationId': '--location',
  revoke: '--revoke-holders or --revoke-all',
  'revoke.holders': '--revoke-holders',
  'revoke.all': '--revoke-all',
  add: '--holder',
};

/** The flag a schema (or API) field path comes from, or the path itself when no flag maps to it. */
export function flagOf(path: string): string {
  const key = path
    .split('.')
    .filter((p) => p !== '' && !/^\d+$/.test(p))
    .join('.')
    // A PIN in a bulk change and a schedule inside a PIN come from the same flags as on their own.
    .replace(/^add\./, '')
    .replace(/^schedule\.(?=.)/, '');
  return FLAG_OF[key] ?? path;
}

/** Error messages people can act on, where zod's own are too terse for a command line. */
function friendlier(field: string, message: string): string {
  if ((field === '--from' || field === '--until') && /datetime/i.test(message)) {
    return 'use an ISO date-time with an offset, e.g. 2026-06-01T15:00:00+02:00';
  }
  if (field === '--until' && /until must be after from/.test(message)) return 'must be after --from';
  if (field === '--end' && /end must be after start/.test(message)) return 'must be after --start';
  return message;
}

/** `o` without its undefined properties, so flags not given are absent from the input (and its JSON). */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Parses `input` with a domain schema, or throws a validation error naming the flags. */
export function parseFlags<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => {
    const path = flagOf(i.path.map(String).join('.'));
    return { path, message: friendlier(path, i.message) };
  });
  throw flagFieldsError(fields);
}

function flagFieldsError(fields: FieldError[]): AppError {
  const unique = fields.filter((f, i) => fields.findIndex((g) => g.path === f.path && g.message === f.message) === i);
  return new AppError('validation.failed', unique.map((f) => `${f.path}: ${f.message}`).join('; '), unique);
}

/**
 * Runs an API call and renames the fields of a validation error it returns to the flags they came
 * from (the server checks a PIN against the lock and answers with `code`, which the user typed as --code).
 */
export async function namingFlags<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (isAppError(e) && e.fields.length > 0) {
      const fields = e.fields.map((f) => ({ path: flagOf(f.path), message: f.message }));
      const renamed = fields.some((f, i) => f.path !== e.fields[i]!.path);
      if (renamed) {
        const message = e.code === 'validation.failed' ? fields.map((f) => `${f.path}: ${f.message}`).join('; ') : e.message;
        throw new AppError(e.code, message, fields);
      }
    }
    throw e;
  }
}

const DAY_ALIASES: Record<string, Weekday[]> = {
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  weekend: ['sat', 'sun'],
  daily: [...WEEKDAYS],
  all: [...WEEKDAYS],
};

const FULL_DAY_NAMES: Record<string, Weekday> = { monday: 'mon', tuesday: 'tue', wednesday: 'wed', thursday: 'thu', friday: 'fri', saturday: 'sat', sunday: 'sun' };

/** Weekday from "mon", "Monday", "MON". */
function weekday(word: string): Weekday | undefined {
  const w = word.trim().toLowerCase();
  return (WEEKDAYS as readonly string[]).includes(w) ? (w as Weekday) : FULL_DAY_NAMES[w];
}

/** Parses --days: "mon,wed,fri", ranges "mon-fri", or weekdays / weekend / daily. */
export function parseDays(raw: string): Weekday[] {
  const out = new Set<Weekday>();
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const alias = DAY_ALIASES[part.toLowerCase()];
    if (alias) {
      alias.forEach((d) => out.add(d));
      continue;
    }
    const range = /^([a-z]+)\s*-\s*([a-z]+)$/i.exec(part);
    if (range) {
      const a = weekday(range[1]!);
      const b = weekday(range[2]!);
      if (!a || !b) throw flagError('--days', `unknown day in "${part}"; use ${WEEKDAYS.join(', ')}`);
      const i = WEEKDAYS.indexOf(a);
      const j = WEEKDAYS.indexOf(b);
      if (j < i) throw flagError('--days', `"${part}" runs backwards; write it Monday first (e.g. mon-fri)`);
      WEEKDAYS.slice(i, j + 1).forEach((d) => out.add(d));
      continue;
    }
    const d = weekday(part);
    if (!d) throw flagError('--days', `unknown day "${part}"; use ${WEEKDAYS.join(', ')}, a range such as mon-fri, weekdays or weekend`);
    out.add(d);
  }
  if (out.size === 0) throw flagError('--days', 'pick at least one day');
  return WEEKDAYS.filter((d) => out.has(d));
}

/**
 * The schedule the flags describe, or undefined when none was given. Each half of a pair without the
 * other, and flags of two kinds together, are refused naming the flag.
 */
export function scheduleFromFlags(f: ScheduleFlags): CredentialSchedule | undefined {
  const window = f.from !== undefined || f.until !== undefined;
  const recurring = f.days !== undefined || f.start !== undefined || f.end !== undefined;
  const kinds = [window && '--from/--until', recurring && '--days/--start/--end', f.always && '--always'].filter(Boolean);
  if (kinds.length > 1) throw flagError(f.always ? '--always' : '--days', `give one schedule: ${kinds.join(' or ')}, not both`);
  if (f.always) return { kind: 'always' };
  if (window) {
    if (f.from === undefined) throw flagError('--from', '--until needs --from (when the PIN starts working)');
    if (f.until === undefined) throw flagError('--until', '--from needs --until (when the PIN stops working)');
    return parseFlags(ScheduleSchema, { kind: 'window', from: f.from, until: f.until });
  }
  if (recurring) {
    if (f.days === undefined) throw flagError('--days', '--start/--end need --days (e.g. --days mon-fri)');
    if (f.start === undefined) throw flagError('--start', '--days needs --start and --end (HH:MM, 24-hour)');
    if (f.end === undefined) throw flagError('--end', '--days needs --start and --end (HH:MM, 24-hour)');
    return parseFlags(ScheduleSchema, { kind: 'recurring', days: parseDays(f.days), start: f.start, end: f.end });
  }
  return undefined;
}

/** A commander parser for whole numbers within bounds; the message names the flag. */
export function intArg(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`);
    }
    return n;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A commander parser for an id argument (a UUID), refused before anything is sent. */
export function idArg(what: string) {
  return (raw: string): string => {
    if (!UUID.test(raw.trim())) throw new InvalidArgumentError(`"${raw}" is not a ${what} id (a UUID such as 3f2b...-...)`);
    return raw.trim();
  };
}

export interface PinAddFlags extends ScheduleFlags {
  holder: string;
  code?: string;
  length?: number;
  slot?: number;
}

/** `pins add` flags as the service's PIN input, parsed with `PinCreateSchema`. */
export function pinCreateFromFlags(f: PinAddFlags): z.output<typeof PinCreateSchema> {
  if (f.code !== undefined && f.length !== undefined) throw flagError('--length', 'give --code (your own PIN) or --length (a generated one), not both');
  return parseFlags(PinCreateSchema, compact({ holder: f.holder, code: f.code, slot: f.slot, length: f.length, schedule: scheduleFromFlags(f) ?? { kind: 'always' } }));
}

export interface PinEditFlags extends ScheduleFlags {
  version: number;
  holder?: string;
  code?: string;
}

/** `pins edit` flags as the service's update input; something must change. */
export function pinUpdateFromFlags(f: PinEditFlags): z.output<typeof PinUpdateSchema> {
  const schedule = scheduleFromFlags(f);
  if (f.holder === undefined && f.code === undefined && schedule === undefined) {
    throw flagError('--holder', 'nothing to change: give --holder, --code, or a schedule (--always, --from/--until, --days/--start/--end)');
  }
  return parseFlags(PinUpdateSchema, compact({ version: f.version, holder: f.holder, code: f.code, schedule }));
}

/** `pins reveal --reason`, parsed with `RevealSchema`. */
export function revealFromFlags(f: { reason: string }): { reason: string } {
  return parseFlags(RevealSchema, { reason: f.reason });
}

export interface BulkAddFlags extends ScheduleFlags {
  location?: string;
  locks?: string;
  holder?: string[];
  code?: string;
  length?: number;
  revokeHolders?: string;
  revokeAll?: boolean;
  description?: string;
}

/** A UUID standing in for a --location not resolved yet, so the rest can be checked first. */
const PLACEHOLDER_ID = '00000000-0000-4000-8000-000000000000';

/**
 * `bulk add` flags as a bulk change, parsed with `BulkChangeSchema`. `locationId` is the resolved
 * --location; without it the flags are checked with a stand-in, before connecting.
 */
export function bulkFromFlags(f: BulkAddFlags, locationId?: string): z.output<typeof BulkChangeSchema> {
  if (f.location !== undefined && f.locks !== undefined) throw flagError('--locks', 'give --locks or --location, not both');
  if (f.location === undefined && f.locks === undefined) throw flagError('--location', 'say which locks: --location <id or path> or --locks <id,id,...>');
  if (f.revokeAll && f.revokeHolders !== undefined) throw flagError('--revoke-all', 'give --revoke-holders or --revoke-all, not both');
  if (f.code !== undefined && f.length !== undefined) throw flagError('--length', 'give --code (one PIN for every lock) or --length (generated per lock), not both');
  const holders = f.holder ?? [];
  if (holders.length === 0 && (f.code !== undefined || f.length !== undefined)) throw flagError('--holder', '--code and --length need --holder (who the new PIN is for)');
  const schedule = scheduleFromFlags(f);
  if (holders.length === 0 && schedule) throw flagError('--holder', 'schedule flags need --holder (who the new PIN is for)');
  const csv = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const notId = f.locks === undefined ? undefined : csv(f.locks).find((id) => !UUID.test(id));
  if (notId !== undefined) throw flagError('--locks', `"${notId}" is not a lock id (a UUID)`);
  return parseFlags(
    BulkChangeSchema,
    compact({
      target: f.locks !== undefined ? { lockIds: csv(f.locks) } : { locationId: locationId ?? PLACEHOLDER_ID },
      revoke: f.revokeAll ? { all: true } : f.revokeHolders !== undefined ? { holders: csv(f.revokeHolders) } : undefined,
      add: holders.map((holder) => compact({ holder, code: f.code, length: f.length, schedule: schedule ?? { kind: 'always' } })),
      description: f.description,
    }),
  );
}
