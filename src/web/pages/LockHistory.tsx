import { Card, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { LockEvent } from '../../domain/lock-events.js';
import { api, formatDate, type Wire } from '../api.js';

/** What the lock's device reported (unlocks with a PIN, codes changed elsewhere, offline, reset, errors), newest first. */
export function LockHistory({ lockId }: { lockId: string }) {
  const events = useQuery({
    queryKey: ['lock-events', lockId],
    queryFn: async () => (await api<{ items: Wire<LockEvent>[] }>('GET', `/api/locks/${lockId}/events?limit=50`)).items,
    refetchInterval: 10000,
  });
  return (
    <Card withBorder data-testid="lock-history">
      <Title order={4} mb="xs">
        Device history
      </Title>
      {events.data?.length ? (
        <Table>
          <Table.Tbody>
            {events.data.map((e) => (
              <Table.Tr key={e.id}>
                <Table.Td w={200}>{formatDate(e.at)}</Table.Td>
                <Table.Td>{e.summary}</Table.Td>
                <Table.Td w={120}>
                  <Text size="xs" c="dimmed">
                    {e.source}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : (
        <Text size="sm" c="dimmed">
          Nothing reported by the device yet.
        </Text>
      )}
    </Card>
  );
}
