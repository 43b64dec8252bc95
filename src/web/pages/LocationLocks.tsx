import { Anchor, Card, Group, List, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { api } from '../api.js';
import type { LockJson, NodeJson } from '../data.js';
import { StateBadge } from './StateBadge.js';

const SHOWN = 10;

/** The chosen location: its attributes and the first locks at or below it, with a link to all of them. */
export function LocationLocks({ node }: { node: NodeJson }) {
  const locks = useQuery({
    queryKey: ['locks', `locationId=${node.id}&limit=${SHOWN}`],
    queryFn: () => api<{ items: LockJson[]; total: number }>('GET', `/api/locks?locationId=${node.id}&limit=${SHOWN}`),
  });
  const attributes = Object.entries(node.attributes).filter(([, v]) => v);
  return (
    <Card withBorder data-testid="location-detail">
      <Title order={4}>
        {node.label}: {node.name}
      </Title>
      <Text size="sm" c="dimmed">
        {node.reading} reading
        {attributes.map(([k, v]) => ` · ${k}: ${String(v)}`).join('')}
      </Text>
      {locks.isError && <Text c="red">{locks.error.message}</Text>}
      {locks.data && locks.data.items.length > 0 && (
        <List mt="sm" spacing={4} listStyleType="none">
          {locks.data.items.map((l) => (
            <List.Item key={l.id}>
              <Group gap="xs">
                <Anchor component={Link} to={`/locks/${l.id}`} size="sm">
                  {l.name}
                </Anchor>
                <StateBadge state={l.serviceState} />
              </Group>
            </List.Item>
          ))}
        </List>
      )}
      {locks.data?.items.length === 0 && (
        <Text size="sm" mt="sm" c="dimmed">
          No lock here or below.
        </Text>
      )}
      <Anchor component={Link} to={`/locks?locationId=${node.id}`} mt="sm" size="sm">
        All {node.lockCount} lock(s) here and below in the lock list
      </Anchor>
      {node.kind === 'unit' && (
        <Anchor component={Link} to={`/units/${node.id}/occupancy`} mt="xs" size="sm">
          Occupancy and turnovers
        </Anchor>
      )}
    </Card>
  );
}
