import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Code, Group, Loader, Select, Stack, Table, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { AUDIT_PROBLEM_LABELS, type AuditEntry, type AuditVerifyReport } from '../../domain/audit.js';
import { api, formAlert, formatDate, type Wire } from '../api.js';

type EntryJson = Wire<AuditEntry>;
type ReportJson = Wire<AuditVerifyReport>;

interface Filters {
  actor: string;
  action: string;
  targetId: string;
  locationId: string;
  outcome: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { actor: '', action: '', targetId: '', locationId: '', outcome: '', from: '', to: '' };
const PAGE = 50;

function query(f: Filters, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  for (const [k, v] of Object.entries(f) as [string, string][]) if (v.trim()) q.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v.trim());
  return q.toString();
}

/** Verified up to checkpoint #N, or problems found; re-run on demand. */
function VerifyBadge() {
  const queryClient = useQueryClient();
  const verify = useQuery({ queryKey: ['audit-verify'], queryFn: () => api<ReportJson>('GET', '/api/audit/verify') });
  const checkpoint = useMutation({
    mutationFn: () => api('POST', '/api/audit/checkpoint'),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['audit-verify'] }),
  });
  const r = verify.data;
  return (
    <Stack gap={4}>
      <Group gap="xs">
        {verify.isFetching ? (
          <Loader size="xs" />
        ) : r ? (
          <Tooltip label={`${r.entries} entries, ${r.checkpoints} checkpoints, ${r.millis} ms`}>
            <Badge data-testid="audit-verify-badge" color={r.ok ? (r.lastCheckpoint ? 'green' : 'yellow') : 'red'} size="lg" variant="light">
              {r.ok ? (r.lastCheckpoint ? `Verified up to checkpoint #${r.lastCheckpoint.seq}` : `Chain verified (${r.entries} entries), no checkpoint yet`) : `Problems found: ${r.problemCount}`}
            </Badge>
          </Tooltip>
        ) : null}
        <Button size="xs" variant="default" onClick={() => void verify.refetch()}>
          Verify again
        </Button>
        <Button size="xs" variant="default" loading={checkpoint.isPending} onClick={() => checkpoint.mutate()}>
          Sign checkpoint now
        </Button>
      </Group>
      {r && !r.ok && (
        <Alert color="red" title="The audit log failed verification" data-testid="audit-problems">
          {r.problems.slice(0, 10).map((p) => (
            <Text key={`${p.kind}-${p.seq}-${p.message}`} size="sm">
              <b>{AUDIT_PROBLEM_LABELS[p.kind]}</b> (entry {p.seq}): {p.message}
            </Text>
          ))}
        </Alert>
      )}
      {verify.error && <Alert color="red">{formAlert(verify.error, [])}</Alert>}
    </Stack>
  );
}

/** The audit log: who did what, where and when; filters, pages, exports and the verification badge. */
export function AuditLog() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [cursors, setCursors] = useState<number[]>([]);
  const before = cursors[cursors.length - 1];
  const page = useQuery({
    queryKey: ['audit', filters, before],
    queryFn: () => api<{ items: EntryJson[]; nextCursor: number | null }>('GET', `/api/audit?${query(filters, { limit: String(PAGE), ...(before ? { before: String(before) } : {}) })}`),
  });
  const set = (k: keyof Filters) => (v: string | null) => setDraft((d) => ({ ...d, [k]: v ?? '' }));
  const apply = () => {
    setFilters(draft);
    setCursors([]);
  };
  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <Title order={2}>Audit log</Title>
        <VerifyBadge />
      </Group>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          apply();
        }}
      >
        <Group align="flex-end" gap="xs">
          <TextInput label="Actor" placeholder="email or id" value={draft.actor} onChange={(e) => set('actor')(e.currentTarget.value)} w={200} />
          <TextInput label="Action" placeholder="credential. or auth.sign_in" value={draft.action} onChange={(e) => set('action')(e.currentTarget.value)} w={200} />
          <TextInput label="Target id" value={draft.targetId} onChange={(e) => set('targetId')(e.currentTarget.value)} w={160} />
          <TextInput label="Location id" value={draft.locationId} onChange={(e) => set('locationId')(e.currentTarget.value)} w={160} />
          <Select label="Outcome" data={['success', 'failure', 'denied']} clearable value={draft.outcome || null} onChange={set('outcome')} w={120} />
          <TextInput label="From" type="datetime-local" value={draft.from} onChange={(e) => set('from')(e.currentTarget.value)} />
          <TextInput label="To" type="datetime-local" value={draft.to} onChange={(e) => set('to')(e.currentTarget.value)} />
          <Button type="submit">Filter</Button>
          <Button
            variant="subtle"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
              setCursors([]);
            }}
          >
            Clear
          </Button>
        </Group>
      </form>
      <Group gap="xs">
        <Button component="a" size="xs" variant="default" href={`/api/audit/export?${query(filters, { format: 'csv' })}`} download>
          Export CSV
        </Button>
        <Button component="a" size="xs" variant="default" href={`/api/audit/export?${query(filters, { format: 'jsonl' })}`} download>
          Export JSON lines
        </Button>
        <Text size="xs" c="dimmed">
          Secrets appear only as keyed HMACs.
        </Text>
      </Group>
      {page.error && <Alert color="red">{formAlert(page.error, [])}</Alert>}
      <Table data-testid="audit-table" striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>#</Table.Th>
            <Table.Th>Time</Table.Th>
            <Table.Th>Actor</Table.Th>
            <Table.Th>Action</Table.Th>
            <Table.Th>Outcome</Table.Th>
            <Table.Th>Target</Table.Th>
            <Table.Th>Client</Table.Th>
            <Table.Th>Details</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {page.data?.items.map((e) => (
            <Table.Tr key={e.seq} data-action={e.action}>
              <Table.Td>{e.seq}</Table.Td>
              <Table.Td>{formatDate(e.at)}</Table.Td>
              <Table.Td>{e.actorLabel}</Table.Td>
              <Table.Td>
                <Code>{e.action}</Code>
              </Table.Td>
              <Table.Td>
                <Text size="xs" fw={600} c={e.outcome === 'success' ? 'green' : e.outcome === 'denied' ? 'orange' : 'red'}>
                  {e.outcome}
                </Text>
              </Table.Td>
              <Table.Td>
                {e.targetType === 'reset_case' && e.targetId ? (
                  <Stack gap={0}>
                    <Anchor component={Link} to={`/resets/${e.targetId}`} size="sm" data-testid="audit-case-link">
                      {e.targetLabel ?? e.targetId}
                    </Anchor>
                    {e.action === 'reset.close' && (
                      <Anchor href={`/api/reset-cases/${e.targetId}/record.pdf`} size="xs" download data-testid="audit-record-pdf">
                        signed record (PDF)
                      </Anchor>
                    )}
                  </Stack>
                ) : (
                  (e.targetLabel ?? e.targetId ?? '')
                )}
              </Table.Td>
              <Table.Td>
                <Text size="xs">{e.clientIp ?? ''}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }}>
                  {Object.keys(e.details).length ? JSON.stringify(e.details) : ''}
                  {Object.keys(e.secretMacs).length ? ` secrets: ${Object.keys(e.secretMacs).join(', ')} (HMAC)` : ''}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {page.data?.items.length === 0 && <Text c="dimmed">No entries match.</Text>}
      <Group>
        <Button size="xs" variant="default" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </Button>
        <Button size="xs" variant="default" disabled={!page.data?.nextCursor} onClick={() => page.data?.nextCursor && setCursors((c) => [...c, page.data.nextCursor!])}>
          Older
        </Button>
      </Group>
    </Stack>
  );
}
