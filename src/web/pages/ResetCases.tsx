/** Reset cases: open ones first, and a form to open a case for a lock (from its page). */
import { useState } from 'react';
import { Alert, Badge, Button, Card, Loader, Select, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { RESET_REASONS, type ResetReason } from '../../domain/reset-case.js';
import { api, formAlert, formatDate } from '../api.js';
import { useCan } from '../session.js';
import { REASON_LABELS, STATE_LABELS, useResetCases, type CaseViewJson } from '../resets.js';

export function ResetCases() {
  const [params] = useSearchParams();
  const lockId = params.get('lockId');
  const state = params.get('state');
  const q = new URLSearchParams();
  if (lockId) q.set('lockId', lockId);
  if (state) q.set('state', state);
  const qs = q.toString();
  const cases = useResetCases(qs ? `?${qs}` : '');
  const canManage = useCan('reset.manage');
  return (
    <Stack>
      <Title order={1}>Reset cases</Title>
      {lockId && canManage && <OpenCase lockId={lockId} />}
      {cases.isPending ? (
        <Loader />
      ) : cases.isError ? (
        <Alert color="red">{cases.error.message}</Alert>
      ) : cases.data.length === 0 ? (
        <Text c="dimmed">No reset cases.</Text>
      ) : (
        <Table.ScrollContainer minWidth={500}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Opened</Table.Th>
                <Table.Th>Reason</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Outcome</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {cases.data.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>
                    <Link to={`/resets/${c.id}`}>{formatDate(c.openedAt)}</Link>
                  </Table.Td>
                  <Table.Td>{REASON_LABELS[c.reason]}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{STATE_LABELS[c.state]}</Badge>
                  </Table.Td>
                  <Table.Td>{c.outcome?.replace(/_/g, ' ') ?? ''}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}

function OpenCase({ lockId }: { lockId: string }) {
  const navigate = useNavigate();
  const [reason, setReason] = useState<ResetReason | null>(null);
  const [description, setDescription] = useState('');
  const open = useMutation({
    mutationFn: () => api<CaseViewJson>('POST', '/api/reset-cases', { lockId, reason, description }),
    onSuccess: (v) => navigate(`/resets/${v.case.id}`),
  });
  const error = formAlert(open.error, []);
  return (
    <Card withBorder maw={560}>
      <Stack>
        <Title order={4}>Open a reset case</Title>
        <Select label="Why" data={RESET_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }))} value={reason} onChange={(x) => setReason(x)} data-testid="reason" />
        <Textarea label="What happened" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={() => open.mutate()} disabled={!reason || open.isPending}>
          Open the case
        </Button>
      </Stack>
    </Card>
  );
}
