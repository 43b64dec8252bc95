import { Anchor, Badge, Card, Group, Table, Text, Title } from '@mantine/core';
import { Link } from 'react-router-dom';
import { formatDate } from '../api.js';
import { useCan } from '../session.js';
import { REASON_LABELS, STATE_LABELS, useResetCases } from '../resets.js';

/** The lock's reset history: every case with a link to it, and the signed record of a closed one. */
export function LockResetCases({ lockId }: { lockId: string }) {
  const canRead = useCan('reset.read');
  const cases = useResetCases(`?lockId=${lockId}`, canRead);
  if (!canRead || !cases.data?.length) return null;
  const open = cases.data.find((c) => c.state !== 'closed' && c.state !== 'cancelled');
  return (
    <Card withBorder data-testid="lock-reset-cases">
      <Group justify="space-between" mb="xs">
        <Title order={4}>Reset history</Title>
        {open && (
          <Anchor component={Link} to={`/resets/${open.id}`} fw={600} data-testid="open-case-link">
            Open case: {STATE_LABELS[open.state]}
          </Anchor>
        )}
      </Group>
      <Table>
        <Table.Tbody>
          {cases.data.map((c) => (
            <Table.Tr key={c.id}>
              <Table.Td w={200}>
                <Anchor component={Link} to={`/resets/${c.id}`} size="sm" data-testid="case-link">
                  {formatDate(c.openedAt)}
                </Anchor>
              </Table.Td>
              <Table.Td>{REASON_LABELS[c.reason]}</Table.Td>
              <Table.Td>
                <Badge variant="light">{STATE_LABELS[c.state]}</Badge>
              </Table.Td>
              <Table.Td>
                {c.state === 'closed' && c.outcome !== 'lighter_fix' ? (
                  <Anchor href={`/api/reset-cases/${c.id}/record.pdf`} size="sm" download data-testid="case-record-pdf">
                    Signed record (PDF)
                  </Anchor>
                ) : (
                  <Text size="sm">{c.outcome?.replace(/_/g, ' ') ?? ''}</Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}
