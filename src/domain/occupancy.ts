/**
 * Occupancy of units and turnover rules: stays (typed by hand or read from a booking platform's iCal
 * feed), the unit's time zone and usual check-in/out times, and when a turnover issues, confirms and
 * revokes codes. Pure: no I/O (the feed's text is parsed here, fetched elsewhere).
 */
import ICAL from 'ical.js';
import { z } from 'zod';
import { AppError } from './errors.js';

const TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use HH:MM (24-hour)');

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const HttpUrl = z
  .string()
  .trim()
  .max(2000, 'at most 2000 characters')
  .refine((u) => {
    try {
      const p = new URL(u).protocol;
      return p === 'http:' || p === 'https:';
    } catch {
      return false;
    }
  }, 'an http:// or https:// URL');

/** A unit's occupancy settings (all optional on update). */
export const UnitSettingsSchema = z
  .object({
    icalUrl: HttpUrl.nullable().optional(),
    timeZone: z.string().trim().refine(isTimeZone, 'an IANA time zone such as Europe/Paris').optional(),
    checkInTime: TIME.optional(),
    checkOutTime: TIME.optional(),
    confirmLeadMinutes: z.number().int('whole minutes').min(0).max(7 * 24 * 60, 'at most a week').optional(),
  })
  .strict();
export type UnitSettingsInput = z.infer<typeof UnitSettingsSchema>;

/** A stay typed by hand. */
export const StayCreateSchema = z
  .object({
    guestName: z.string().trim().min(1, 'name the guest').max(200),
    guestEmail: z.email('a valid email address').max(320).nullable().optional(),
    guestPhone: z
      .string()
      .trim()
      .regex(/^\+?[0-9 ()-]{5,30}$/, 'digits, spaces, ( ) - and a leading +')
      .nullable()
      .optional(),
    checkIn: z.iso.datetime({ offset: true, error: 'checkIn: an ISO date-time with offset' }),
    checkOut: z.iso.datetime({ offset: true, error: 'checkOut: an ISO date-time with offset' }),
  })
  .strict()
  .refine((s) => Date.parse(s.checkOut) > Date.parse(s.checkIn), { message: 'the stay ends before it starts (checkOut must be after checkIn)', path: ['checkOut'] });
export type StayCreate = z.infer<typeof StayCreateSchema>;

/** Where notifications go (unknown fields refused on either channel). */
const EndpointCommon = {
  name: z.string().trim().min(1, 'name the endpoint').max(120),
  purpose: z.enum(['monitoring', 'occupants'], { error: 'purpose is monitoring or occupants' }).default('monitoring'),
  locationId: z.uuid('locationId must be a location id').nullable().default(null),
};
export const EndpointCreateSchema = z.discriminatedUnion('channel', [
  z.object({ channel: z.literal('webhook'), target: HttpUrl, secret: z.string().min(16, 'a signing secret of at least 16 characters').max(200).optional(), ...EndpointCommon }).strict(),
  z.object({ channel: z.literal('email'), target: z.email('a valid email address').max(320), ...EndpointCommon }).strict(),
]);

/** A stay as the services return it. */
export interface Stay {
  id: string;
  locationId: string;
  source: 'manual' | 'ical';
  guestName: string;
  guestEmail: string | null;
  guestPhone: string | null;
  checkIn: Date;
  checkOut: Date;
  status: 'active' | 'cancelled';
  codeSentAt: Date | null;
}

/** Two stays overlap when one starts before the other ends (back-to-back is a turnover, not an overlap). */
export function overlaps(a: { checkIn: Date; checkOut: Date }, b: { checkIn: Date; checkOut: Date }): boolean {
  return a.checkIn < b.checkOut && b.checkIn < a.checkOut;
}

/** Throws `stay.overlap` naming the clash when `stay` overlaps any of `others` (active ones). */
export function checkNoOverlap(stay: { checkIn: Date; checkOut: Date; label: string }, others: { checkIn: Date; checkOut: Date; guestName: string }[]): void {
  const clash = others.find((o) => overlaps(stay, o));
  if (clash) {
    throw new AppError('stay.overlap', `${stay.label} (${stay.checkIn.toISOString()} - ${stay.checkOut.toISOString()}) overlaps the stay of ${clash.guestName} (${clash.checkIn.toISOString()} - ${clash.checkOut.toISOString()})`, [
      { path: 'checkIn', message: `overlaps the stay of ${clash.guestName}` },
    ]);
  }
}

/** The UTC instant of a wall-clock time in `timeZone`. */
export function zonedTime(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  // Start from the wall time read as UTC, then correct by the zone's offset at that instant (twice, for DST edges).
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let t = wall;
  for (let i = 0; i < 2; i++) t = wall - offsetMs(new Date(t), timeZone);
  return new Date(t);
}

function offsetMs(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at.getTime() / 1000) * 1000;
}

/** The start and end of the calendar day containing `at` in `timeZone`. */
export function dayIn(at: Date, timeZone: string): { start: Date; end: Date } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at).split('-').map(Number);
  const [y, m, d] = parts as [number, number, number];
  return { start: zonedTime(y, m, d, 0, 0, timeZone), end: zonedTime(y, m, d + 1, 0, 0, timeZone) };
}

/** A booking read from a feed. */
export interface FeedBooking {
  uid: string;
  guestName: string;
  checkIn: Date;
  checkOut: Date;
}

/**
 * Reads the bookings of an iCal feed as booking platforms publish them (VEVENTs with DTSTART and
 * DTEND; all-day dates take the unit's check-in/out times in its time zone; a time with a TZID the
 * feed does not define is read in that zone, else in the unit's). Cancelled events are left out.
 * Anything unreadable is `feed.invalid` naming the event and the problem.
 */
export function parseFeed(text: string, unit: { timeZone: string; checkInTime: string; checkOutTime: string }): FeedBooking[] {
  let root: ICAL.Component;
  try {
    const parsed: unknown = ICAL.parse(text);
    if (!Array.isArray(parsed) || parsed[0] !== 'vcalendar') throw new Error('not a VCALENDAR');
    root = new ICAL.Component(parsed as never);
  } catch {
    // The parser's message quotes the line it choked on: fetched content, which may be another
    // server's answer (a URL pointed inside), so it is never repeated here.
    throw new AppError('feed.invalid', 'the calendar feed is not valid iCalendar (it must be a VCALENDAR with VEVENTs)', [{ path: 'icalUrl', message: 'not an iCalendar feed' }]);
  }
  const out: FeedBooking[] = [];
  const seen = new Set<string>();
  for (const [i, v] of root.getAllSubcomponents('vevent').entries()) {
    const where = `event ${i + 1}`;
    const bad = (problem: string): never => {
      throw new AppError('feed.invalid', `the calendar feed's ${where}${uid ? ` (UID ${uid})` : ''}: ${problem}`, [{ path: 'icalUrl', message: problem }]);
    };
    const uid = String(v.getFirstPropertyValue('uid') ?? '').trim();
    if (!uid) bad('has no UID');
    if (seen.has(uid)) bad('repeats a UID');
    seen.add(uid);
    if (String(v.getFirstPropertyValue('status') ?? '').toUpperCase() === 'CANCELLED') continue;
    const checkIn = readTime(v, 'dtstart', unit.checkInTime, unit.timeZone) ?? bad('has no readable DTSTART');
    const checkOut = readTime(v, 'dtend', unit.checkOutTime, unit.timeZone) ?? bad('has no readable DTEND');
    if (checkOut <= checkIn) bad(`ends (${checkOut.toISOString()}) before it starts (${checkIn.toISOString()})`);
    const summary = String(v.getFirstPropertyValue('summary') ?? '').trim();
    out.push({ uid, guestName: summary.slice(0, 200) || 'Guest', checkIn, checkOut });
  }
  return out;
}

function readTime(v: ICAL.Component, name: string, defaultTime: string, unitZone: string): Date | null {
  const prop = v.getFirstProperty(name);
  if (!prop) return null;
  const t = prop.getFirstValue() as ICAL.Time | null;
  if (!t || typeof t !== 'object' || !('year' in t) || !(t.year > 1900 && t.year < 3000) || !(t.month >= 1 && t.month <= 12) || !(t.day >= 1 && t.day <= 31)) return null;
  if (t.isDate) {
    const [h, m] = defaultTime.split(':').map(Number) as [number, number];
    return zonedTime(t.year, t.month, t.day, h, m, unitZone);
  }
  const tzid = prop.getParameter('tzid');
  const zone = t.zone?.tzid;
  if (zone === 'UTC') return new Date(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second));
  if (zone && zone !== 'floating') {
    const d = t.toJSDate();
    return Number.isFinite(d.getTime()) ? d : null;
  }
  const tz = typeof tzid === 'string' && isTimeZone(tzid) ? tzid : unitZone;
  return zonedTime(t.year, t.month, t.day, t.hour, t.minute, tz);
}

/** How far ahead a code goes onto a lock that keeps time-bound PINs itself (as Seam preloads: 72 h). */
export const PRELOAD_MS = 72 * 3600_000;

/** Margin before the confirmation deadline at which a lock without schedules gets the code. */
export const PLAIN_LOCK_MARGIN_MS = 30 * 60_000;

/**
 * When a stay's code should go onto a lock: 72 h ahead where the lock keeps time-bound PINs itself
 * (the lock opens it at check-in); on a lock without schedules, shortly before the confirmation
 * deadline and never before the previous guest has checked out (the code works as soon as it is on).
 */
export function issueAt(stay: { checkIn: Date }, lockKeepsWindows: boolean, leadMinutes: number, previousCheckOut: Date | null): Date {
  if (lockKeepsWindows) return new Date(stay.checkIn.getTime() - PRELOAD_MS);
  const t = confirmBy(stay, leadMinutes).getTime() - PLAIN_LOCK_MARGIN_MS;
  return new Date(Math.max(t, previousCheckOut?.getTime() ?? t));
}

/** When a lock must have confirmed the incoming code, or the turnover is flagged. */
export function confirmBy(stay: { checkIn: Date }, leadMinutes: number): Date {
  return new Date(stay.checkIn.getTime() - leadMinutes * 60_000);
}
