/**
 * Alerts on a lock: something a person must look at, raised by the system (a device reporting a
 * factory reset or tamper, a turnover that could not be confirmed) and acknowledged by someone who
 * operates the lock. One open alert per lock and kind: the same thing reported again counts up on it.
 */
import { z } from 'zod';

export const ALERT_KINDS = ['factory_reset', 'reset_suspected', 'tamper', 'device_error', 'turnover_unconfirmed'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** What each kind tells a person, as a title. */
export const ALERT_TITLES: Record<AlertKind, string> = {
  factory_reset: 'The lock reported a factory reset',
  reset_suspected: 'The lock may have been factory reset',
  tamper: 'Tamper reported',
  device_error: 'The device sent something lockwarden could not use',
  turnover_unconfirmed: 'The incoming guest\'s code is not confirmed on this lock',
};

export interface LockAlert {
  id: string;
  lockId: string;
  lockName: string;
  kind: AlertKind;
  title: string;
  detail: string;
  source: string;
  raisedAt: Date;
  lastSeenAt: Date;
  /** How many times it was reported while open. */
  count: number;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  note: string | null;
}

export const AlertListSchema = z
  .object({
    lockId: z.string().uuid('lockId must be a lock id').optional(),
    state: z.enum(['open', 'all'], { error: 'state is open or all' }).default('open'),
  })
  .strict();

export const AlertAcknowledgeSchema = z
  .object({ note: z.string({ error: 'say what was done (note is required)' }).trim().min(3, 'say what was done (at least 3 characters)').max(1000, 'note is at most 1000 characters') })
  .strict();
