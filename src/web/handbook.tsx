/** The handbook in the browser: wire types, queries, and the small pieces every handbook page shows. */
import { Badge, Tooltip } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ContentDiff, HandbookEntry, HandbookEntrySummary, RevisionMeta, Step, StepKind, VerificationStatus, WarningKind, ResourceTier } from '../domain/handbook.js';
import { STEP_KIND_LABELS } from '../domain/handbook.js';
import { api, formatDate, type Wire } from './api.js';

export type EntryJson = Wire<HandbookEntry>;
export type SummaryJson = Wire<HandbookEntrySummary>;
export type RevisionJson = Wire<RevisionMeta>;
export type DiffJson = Wire<ContentDiff>;

export interface TocLock {
  lockId: string;
  name: string;
  modelId: string;
  entryId: string | null;
  source: 'lock' | 'model' | null;
  status: VerificationStatus | null;
}
export interface TocLocation {
  id: string;
  name: string;
  kind: string;
  locks: TocLock[];
  children: TocLocation[];
}
export interface TocJson {
  manufacturers: {
    name: string;
    models: { modelId: string; modelNumber: string; family: string; entries: { id: string; title: string; lockId: string | null; lockName: string | null; status: VerificationStatus; revision: number; generic: boolean }[] }[];
  }[];
  locations: TocLocation[];
}

export interface RevealJson {
  id: string;
  secretId: string;
  entryId: string;
  secretKind: string;
  actorId: string;
  actorLabel: string;
  reason: string;
  revealedAt: string;
}

export const entryPath = (id: string) => `/handbook/entries/${id}`;

export const useEntry = (id: string | undefined) => useQuery({ queryKey: ['handbook', 'entry', id], enabled: !!id, queryFn: () => api<EntryJson>('GET', `/api/handbook/entries/${id}`) });
export const useToc = () => useQuery({ queryKey: ['handbook', 'toc'], queryFn: () => api<TocJson>('GET', '/api/handbook/toc') });
export const useStale = () => useQuery({ queryKey: ['handbook', 'stale'], queryFn: async () => (await api<{ items: SummaryJson[] }>('GET', '/api/handbook/stale')).items });
export const useRevisions = (id: string | undefined) =>
  useQuery({ queryKey: ['handbook', 'revisions', id], enabled: !!id, queryFn: async () => (await api<{ items: RevisionJson[] }>('GET', `/api/handbook/entries/${id}/revisions`)).items });
export const useLockEntry = (lockId: string | undefined) =>
  useQuery({
    queryKey: ['handbook', 'lock', lockId],
    enabled: !!lockId,
    queryFn: () => api<{ lockId: string; source: 'lock' | 'model' | null; entry: EntryJson | null }>('GET', `/api/locks/${lockId}/handbook`),
  });

const STATUS: Record<VerificationStatus, { label: string; color: string; hint: string }> = {
  current: { label: 'verified', color: 'green', hint: 'verified within its window' },
  stale: { label: 'stale', color: 'red', hint: 'its verification window has passed: re-verify before relying on it' },
  never_verified: { label: 'never verified', color: 'orange', hint: 'nobody has confirmed this procedure on a lock yet' },
};

/** Where an entry stands against its verification window, as a badge shown wherever the entry appears. */
export function StatusBadge({ status, size = 'sm' }: { status: VerificationStatus | null; size?: 'xs' | 'sm' | 'md' }) {
  if (!status) return null;
  const s = STATUS[status];
  return (
    <Tooltip label={s.hint}>
      <Badge size={size} color={s.color} variant={status === 'current' ? 'light' : 'filled'} data-testid="handbook-status">
        {s.label}
      </Badge>
    </Tooltip>
  );
}

export function GenericBadge({ generic }: { generic: boolean }) {
  return generic ? (
    <Badge size="sm" color="grape" variant="outline">
      generic template
    </Badge>
  ) : null;
}

/** A step in plain words: "Hold for 10 seconds: ...", "Enter the sequence * + master code + #: ...". */
export function stepHeadline(step: Pick<Step, 'kind' | 'seconds' | 'sequence'>): string {
  switch (step.kind) {
    case 'press':
      return 'Press';
    case 'hold':
      return `Hold for ${step.seconds ?? '?'} seconds`;
    case 'sequence':
      return `Enter the sequence ${step.sequence ?? ''}`.trim();
    case 'wait_indicator':
      return step.seconds ? `Wait for the indicator (up to ${step.seconds} seconds)` : 'Wait for the indicator';
    case 'verify':
      return 'Verify';
    default:
      return STEP_KIND_LABELS[step.kind as StepKind] ?? 'Step';
  }
}

export const WARNING_LABELS: Record<WarningKind, string> = {
  alarm_may_trigger: 'Alarm may trigger',
  lock_out_of_service: 'Lock out of service',
  notify_monitoring: 'Notify the monitoring service first',
  notify_occupants: 'Notify occupants first',
  other: 'Warning',
};

export const TIER_LABELS: Record<ResourceTier, string> = {
  manufacturer: '1. Manufacturer',
  community: '2. Community',
  support: '3. Support line',
};

/** "verified by X on <date> at revision N", or why not. */
export function verifiedLine(e: Pick<SummaryJson, 'verifiedAt' | 'verifiedBy' | 'verifiedRevision' | 'revision'>): string {
  if (!e.verifiedAt) return 'never verified';
  const older = e.verifiedRevision !== null && e.verifiedRevision !== e.revision ? ` (the entry is now at revision ${e.revision})` : '';
  return `by ${e.verifiedBy ?? 'unknown'} on ${formatDate(e.verifiedAt)}, at revision ${e.verifiedRevision ?? '?'}${older}`;
}
