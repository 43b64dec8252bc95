/** Credentials in the browser: wire types, the lock's credential query, and words for schedules and states. */
import { useQuery } from '@tanstack/react-query';
import type { Credential, CredentialStatus } from '../domain/credentials.js';
import type { CredentialSchedule, DriverCapabilities, Weekday } from '../drivers/contract.js';
import type { BulkView, LockControllersView, LockCredentialsView } from '../services/credential-service.js';
import { api, type Wire } from './api.js';

export type CredentialJson = Wire<Credential>;
export type LockCredentialsJson = Wire<LockCredentialsView>;
export type LockControllersJson = Wire<LockControllersView>;
export type SlotJson = LockCredentialsJson['slots'][number];
export type ControllerJson = LockCredentialsJson['controllers'][number];
export type BulkJson = Wire<BulkView>;
export type Capabilities = DriverCapabilities;
export type Schedule = CredentialSchedule;

export const DAYS: { value: Weekday; label: string }[] = [
  { value: 'mon', label: 'Mon' },
  { value: 'tue', label: 'Tue' },
  { value: 'wed', label: 'Wed' },
  { value: 'thu', label: 'Thu' },
  { value: 'fri', label: 'Fri' },
  { value: 'sat', label: 'Sat' },
  { value: 'sun', label: 'Sun' },
];

/** Poll fast while something is on its way to the lock or the lock differs, slowly otherwise. */
export function credentialsPollMs(data: LockCredentialsJson | undefined): number {
  if (!data) return 10_000;
  const busy = data.credentials.some((c) => c.status === 'pending' || c.status === 'removing') || data.controllers.some((c) => c.removal?.status === 'removing');
  return busy || data.drift > 0 ? 1500 : 10_000;
}

/** A lock's credentials, desired against observed, kept fresh by polling. */
export const useLockCredentials = (lockId: string | undefined, enabled = true) =>
  useQuery({
    queryKey: ['lock', lockId, 'credentials'],
    queryFn: () => api<LockCredentialsJson>('GET', `/api/locks/${lockId}/credentials`),
    enabled: enabled && lockId !== undefined,
    refetchInterval: (query) => (query.state.status === 'error' ? false : credentialsPollMs(query.state.data)),
  });

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A schedule in words: "Always", "From ... until ...", "Mon, Wed 09:00-17:00". */
export function scheduleText(s: Schedule): string {
  switch (s.kind) {
    case 'always':
      return 'Always';
    case 'window':
      return `From ${dateTime.format(new Date(s.from))} until ${dateTime.format(new Date(s.until))}`;
    case 'recurring': {
      const days = DAYS.filter((d) => s.days.includes(d.value)).map((d) => d.label);
      const label = days.length === 7 ? 'Every day' : days.join(', ');
      return `${label} ${s.start}-${s.end}`;
    }
  }
}

export const STATUS_COLOURS: Record<CredentialStatus, string> = {
  pending: 'blue',
  confirmed: 'green',
  failed: 'red',
  removing: 'orange',
  removed: 'gray',
};

export const STATUS_HELP: Record<CredentialStatus, string> = {
  pending: 'on its way to the lock',
  confirmed: 'the lock has it',
  failed: 'could not be written to the lock',
  removing: 'being taken off the lock',
  removed: 'gone from the lock',
};

/** How a slot compares with the lock, in words and a colour; `drift` marks a difference worth attention. */
export function slotStateText(slot: SlotJson): { label: string; colour: string; drift: boolean } {
  const status = slot.credential?.status;
  switch (slot.state) {
    case 'in_sync':
      return { label: 'In sync', colour: 'green', drift: false };
    case 'missing':
      return status === 'pending' || status === 'failed'
        ? { label: 'Not on the lock yet', colour: 'blue', drift: false }
        : { label: 'Drift: missing from the lock', colour: 'red', drift: true };
    case 'code_mismatch':
      return { label: 'Drift: code differs on the lock', colour: 'red', drift: true };
    case 'schedule_mismatch':
      return { label: 'Drift: schedule differs on the lock', colour: 'orange', drift: true };
    case 'pending_removal':
      return { label: 'Still on the lock, being removed', colour: 'orange', drift: false };
    case 'unmanaged':
      return { label: 'Unmanaged: set outside lockwarden', colour: 'grape', drift: true };
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A Date as the value of an `<input type="datetime-local">` (local time, minutes). */
export function toLocalInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value ("2026-05-01T14:30") as ISO 8601 with this browser's offset ("...T14:30:00+02:00"); '' when empty or invalid. */
export function localInputToIso(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** "4-8 digits" for the lock's PIN length. */
export function pinLengthText(caps: Capabilities): string {
  const { minLength, maxLength } = caps.pin;
  return minLength === maxLength ? `${minLength} digits` : `${minLength}-${maxLength} digits`;
}

/** The length lockwarden generates when no code is typed: 6 where the lock allows it. */
export function generatedLength(caps: Capabilities): number {
  return Math.max(caps.pin.minLength, Math.min(6, caps.pin.maxLength));
}
