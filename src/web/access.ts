/** Shared shapes and labels of the access pages. */
import type { AccessGrantView, AccessRequestView } from '../domain/access.js';
import type { Role, User } from '../domain/identity.js';
import type { Wire } from './api.js';

export type GrantJson = Wire<AccessGrantView>;
export type RequestJson = Wire<AccessRequestView>;
export type UserJson = Wire<User>;

export const ROLE_LABELS: Record<Role, string> = {
  owner: 'Owner',
  admin: 'Admin',
  manager: 'Manager',
  technician: 'Technician',
  auditor: 'Auditor',
  occupant: 'Occupant',
};

/** What a request or grant gives, in words. */
export function describeAccess(a: { kind: 'role' | 'reveal'; role: Role | null; locationName: string | null; entryTitle: string | null }): string {
  if (a.kind === 'reveal') return `Reveal the secrets of "${a.entryTitle ?? 'an entry'}"`;
  return `${ROLE_LABELS[a.role!]} on ${a.locationName ?? 'the whole organisation'}`;
}

export function durationLabel(hours: number): string {
  if (hours % 24 === 0) return `${hours / 24} day${hours === 24 ? '' : 's'}`;
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}

export const DURATIONS = [
  { value: '1', label: '1 hour' },
  { value: '4', label: '4 hours' },
  { value: '8', label: '8 hours' },
  { value: '24', label: '1 day' },
  { value: '72', label: '3 days' },
  { value: '168', label: '1 week' },
  { value: '720', label: '30 days' },
];
