import { useState } from 'react';
import { Alert, Badge, Button, Card, Code, Group, Loader, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { EndpointView, OutboxView } from '../../services/outbox-service.js';
import { api, fieldErrors, formAlert, formatDate, type Wire } from '../api.js';

const STATUS_COLOR = { pending: 'yellow', delivered: 'green', failed: 'red' } as const;

/** Where notifications go (webhooks, email), and the outbox: every message's delivery state. */
export function NotificationSettings() {
  const queryClient = useQueryClient();
  const endpoints = useQuery({ queryKey: ['notification-endpoints'], queryFn: async () => (await api<{ items: Wire<EndpointView>[] }>('GET', '/api/notification-endpoints')).items });
  const outbox = useQuery({ queryKey: ['outbox'], queryFn: async () => (await api<{ items: Wire<OutboxView>[] }>('GET', '/api/outbox')).items, refetchInterval: 5000 });
  const [form, setForm] = useState({ channel: 'webhook', name: '', target: '', purpose: 'monitoring' });
  const [secret, setSecret] = useState<string | null>(null);
  const add = useMutation({
    mutationFn: () => api<{ secret: string | null }>('POST', '/api/notification-endpoints', form),
    onSuccess: async (r) => {
      setSecret(r.secret);
      setForm({ ...form, name: '', target: '' });
      await queryClient.invalidateQueries({ queryKey: ['notification-endpoints'] });
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => api('DELETE', `/api/notification-endpoints/${id}`), onSuccess: () => queryClient.invalidateQueries({ queryKey: ['notification-endpoints'] }) });
  const retry = useMutation({ mutationFn: (id: string) => api('POST', `/api/outbox/${id}/retry`), onSuccess: () => queryClient.invalidateQueries({ queryKey: ['outbox'] }) });
  const errors = fieldErrors(add.error);
  return (
    <Stack>
      <Title order={2}>Notifications</Title>
      <Card withBorder>
        <Title order={4}>Endpoints</Title>
        {endpoints.isPending && <Loader />}
        {endpoints.isError && <Alert color="red">{endpoints.error.message}</Alert>}
        {endpoints.data?.length === 0 && <Text c="dimmed">No endpoints: the monitoring service is not told anything yet.</Text>}
        {!!endpoints.data?.length && (
          <Table>
            <Table.Tbody>
              {endpoints.data.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td>{e.name}</Table.Td>
                  <Table.Td>{e.channel}</Table.Td>
                  <Table.Td>{e.purpose}</Table.Td>
                  <Table.Td>{e.target}</Table.Td>
                  <Table.Td>{e.locationId ? 'one place' : 'organisation'}</Table.Td>
                  <Table.Td>
                    <Button size="xs" variant="subtle" color="red" onClick={() => remove.mutate(e.id)}>
                      Remove
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        <Group grow align="flex-start" mt="sm">
          <Select label="Channel" data={['webhook', 'email']} value={form.channel} onChange={(v) => setForm({ ...form, channel: v ?? 'webhook' })} />
          <Select label="For" data={['monitoring', 'occupants']} value={form.purpose} onChange={(v) => setForm({ ...form, purpose: v ?? 'monitoring' })} />
          <TextInput label="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} error={errors.name} />
          <TextInput label={form.channel === 'webhook' ? 'URL' : 'Email address'} value={form.target} onChange={(e) => setForm({ ...form, target: e.currentTarget.value })} error={errors.target} />
        </Group>
        {formAlert(add.error, ['name', 'target']) && <Alert color="red">{formAlert(add.error, ['name', 'target'])}</Alert>}
        <Button mt="sm" loading={add.isPending} onClick={() => add.mutate()}>
          Add endpoint
        </Button>
        {secret && (
          <Alert mt="sm" color="blue" title="Signing secret (shown once)">
            Deliveries carry <Code>x-lockwarden-signature: sha256=HMAC-SHA256(secret, body)</Code>. Secret: <Code>{secret}</Code>
          </Alert>
        )}
      </Card>
      <Card withBorder data-testid="outbox">
        <Title order={4}>Outbox</Title>
        {outbox.isError && <Alert color="red">{outbox.error.message}</Alert>}
        {outbox.data?.length === 0 && <Text c="dimmed">No messages yet.</Text>}
        {!!outbox.data?.length && (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Created</Table.Th>
                <Table.Th>To</Table.Th>
                <Table.Th>Subject</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Attempts</Table.Th>
                <Table.Th>Last error</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {outbox.data.map((m) => (
                <Table.Tr key={m.id}>
                  <Table.Td>{formatDate(m.createdAt)}</Table.Td>
                  <Table.Td>
                    {m.channel}: {m.target}
                  </Table.Td>
                  <Table.Td>{m.subject}</Table.Td>
                  <Table.Td>
                    <Badge color={STATUS_COLOR[m.status]}>{m.status}</Badge>
                  </Table.Td>
                  <Table.Td>{m.attempts}</Table.Td>
                  <Table.Td>{m.lastError ?? ''}</Table.Td>
                  <Table.Td>
                    {m.status === 'failed' && (
                      <Button size="xs" variant="light" onClick={() => retry.mutate(m.id)}>
                        Send again
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
    </Stack>
  );
}
