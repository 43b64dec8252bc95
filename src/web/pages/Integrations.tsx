import { useState } from 'react';
import { Alert, Badge, Button, Card, Code, Group, Modal, PasswordInput, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { INTEGRATION_DRIVERS, INTEGRATION_LABELS, INTEGRATION_SECRET, type Integration, type IntegrationDevice, type IntegrationDriver } from '../../domain/integrations.js';
import { api, fieldErrors, formAlert, type Wire } from '../api.js';
import { locationOptions, useLocations, type LockJson } from '../data.js';

type IntegrationJson = Wire<Integration>;

/** The settings each protocol asks for, besides its name and secret. */
const FIELDS: Record<IntegrationDriver, { key: string; label: string; placeholder: string }[]> = {
  zwave: [{ key: 'url', label: 'Z-Wave JS server URL', placeholder: 'ws://192.168.1.20:3000' }],
  matter: [],
  zigbee2mqtt: [
    { key: 'url', label: 'MQTT broker URL', placeholder: 'mqtt://192.168.1.20:1883' },
    { key: 'username', label: 'Username', placeholder: 'optional' },
    { key: 'baseTopic', label: 'Base topic', placeholder: 'zigbee2mqtt' },
  ],
  seam: [{ key: 'endpoint', label: 'API endpoint', placeholder: 'https://connect.getseam.com' }],
};

function AddIntegration({ onDone }: { onDone: () => void }) {
  const queryClient = useQueryClient();
  const [driver, setDriver] = useState<IntegrationDriver>('seam');
  const [name, setName] = useState('');
  const [config, setConfig] = useState<Record<string, string>>({});
  const [secret, setSecret] = useState('');
  const [webhookSecret, setWebhookSecret] = useState('');
  const create = useMutation({
    mutationFn: () => {
      const cfg = Object.fromEntries(Object.entries(config).filter(([k, v]) => v.trim() && FIELDS[driver].some((f) => f.key === k)));
      return api<IntegrationJson>('POST', '/api/integrations', { driver, name, config: cfg, ...(secret ? { secret } : {}), ...(driver === 'seam' && webhookSecret.trim() ? { webhookSecret } : {}) });
    },
    onSuccess: async (i) => {
      notifications.show({ message: i.running ? `${i.name} connected` : `${i.name} saved, but not running: ${i.error ?? ''}`, color: i.running ? 'green' : 'orange' });
      setSecret('');
      setWebhookSecret('');
      await queryClient.invalidateQueries({ queryKey: ['integrations'] });
      onDone();
    },
  });
  const errors = fieldErrors(create.error);
  const needs = INTEGRATION_SECRET[driver];
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Stack>
        <Select label="Kind" data={INTEGRATION_DRIVERS.map((d) => ({ value: d, label: INTEGRATION_LABELS[d] }))} value={driver} allowDeselect={false} onChange={(v) => v && setDriver(v)} />
        <TextInput label="Name" withAsterisk value={name} error={errors.name} onChange={(e) => setName(e.currentTarget.value)} />
        {FIELDS[driver].map((f) => (
          <TextInput key={f.key} label={f.label} placeholder={f.placeholder} value={config[f.key] ?? ''} error={errors[`config.${f.key}`]} onChange={(e) => setConfig({ ...config, [f.key]: e.currentTarget.value })} />
        ))}
        {needs && (
          <PasswordInput label={needs.label[0]!.toUpperCase() + needs.label.slice(1)} withAsterisk={needs.required} description="Stored encrypted; never shown again" value={secret} error={errors.secret} onChange={(e) => setSecret(e.currentTarget.value)} />
        )}
        {driver === 'seam' && (
          <PasswordInput
            label="Webhook signing secret"
            description="Optional: the whsec_... secret of a Seam webhook pointed at this integration's webhook address; without it, events are polled"
            value={webhookSecret}
            error={errors.webhookSecret}
            onChange={(e) => setWebhookSecret(e.currentTarget.value)}
          />
        )}
        {formAlert(create.error, ['name', 'secret', 'webhookSecret', ...FIELDS[driver].map((f) => `config.${f.key}`)]) && <Alert color="red">{formAlert(create.error, ['name', 'secret', 'webhookSecret', ...FIELDS[driver].map((f) => `config.${f.key}`)])}</Alert>}
        <Button type="submit" loading={create.isPending}>
          Connect
        </Button>
      </Stack>
    </form>
  );
}

/** Matter: a lock joins lockwarden's fabric with the pairing code from its label or QR code. */
function Commission({ integration }: { integration: IntegrationJson }) {
  const queryClient = useQueryClient();
  const [code, setCode] = useState('');
  const commission = useMutation({
    mutationFn: () => api<Wire<IntegrationDevice>>('POST', `/api/integrations/${integration.id}/commission`, { pairingCode: code }),
    onSuccess: async (d) => {
      notifications.show({ message: `${d.label} joined lockwarden's fabric; adopt it below` });
      setCode('');
      await queryClient.invalidateQueries({ queryKey: ['integrations', integration.id, 'devices'] });
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        commission.mutate();
      }}
    >
      <Group align="flex-end">
        <TextInput label="Pairing code" description="11-digit code or MT:... from the lock's label" value={code} error={fieldErrors(commission.error).pairingCode ?? formAlert(commission.error, ['pairingCode'])} onChange={(e) => setCode(e.currentTarget.value)} />
        <Button type="submit" loading={commission.isPending}>
          Commission
        </Button>
      </Group>
    </form>
  );
}

function Devices({ integration }: { integration: IntegrationJson }) {
  const queryClient = useQueryClient();
  const locations = useLocations();
  const [adopting, setAdopting] = useState<Wire<IntegrationDevice> | null>(null);
  const [locationId, setLocationId] = useState<string | null>(null);
  const [name, setName] = useState('');
  const devices = useQuery({
    queryKey: ['integrations', integration.id, 'devices'],
    queryFn: async () => (await api<{ items: Wire<IntegrationDevice>[] }>('GET', `/api/integrations/${integration.id}/devices`)).items,
    enabled: integration.running,
  });
  const adopt = useMutation({
    mutationFn: (d: Wire<IntegrationDevice>) => api<LockJson>('POST', `/api/integrations/${integration.id}/adopt`, { externalId: d.externalId, locationId, ...(name.trim() ? { name } : {}) }),
    onSuccess: async (l) => {
      notifications.show({ message: `${l.name} added to the inventory` });
      setAdopting(null);
      setName('');
      await queryClient.invalidateQueries({ queryKey: ['integrations', integration.id, 'devices'] });
      await queryClient.invalidateQueries({ queryKey: ['locks'] });
    },
  });
  if (!integration.running) return null;
  if (devices.isError) return <Alert color="red">{devices.error.message}</Alert>;
  return (
    <>
      <Table data-testid={`devices-${integration.name}`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Device</Table.Th>
            <Table.Th>Manufacturer and model</Table.Th>
            <Table.Th>In the catalogue</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(devices.data ?? []).map((d) => (
            <Table.Tr key={d.externalId}>
              <Table.Td>{d.label}</Table.Td>
              <Table.Td>{[d.manufacturer, d.model].filter(Boolean).join(' ') || 'not reported'}</Table.Td>
              <Table.Td>{d.modelId ? 'yes' : 'no: adopting adds it as the device reports it'}</Table.Td>
              <Table.Td>
                {d.lockId ? (
                  <Button component={Link} to={`/locks/${d.lockId}`} size="xs" variant="subtle">
                    Open lock
                  </Button>
                ) : (
                  <Button size="xs" onClick={() => setAdopting(d)}>
                    Adopt
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal opened={adopting !== null} onClose={() => setAdopting(null)} title={adopting ? `Adopt ${adopting.label}` : ''}>
        <Stack>
          <Select label="Location" required searchable data={locationOptions(locations.data ?? [])} value={locationId} error={fieldErrors(adopt.error).locationId} onChange={setLocationId} />
          <TextInput label="Name in the inventory" placeholder={adopting?.label} value={name} onChange={(e) => setName(e.currentTarget.value)} />
          {formAlert(adopt.error, ['locationId']) && <Alert color="red">{formAlert(adopt.error, ['locationId'])}</Alert>}
          <Button loading={adopt.isPending} onClick={() => adopting && adopt.mutate(adopting)}>
            Add to the inventory
          </Button>
        </Stack>
      </Modal>
    </>
  );
}

/** Integrations: connect controllers, brokers and cloud workspaces; see their devices and adopt them as locks. */
export function Integrations() {
  const queryClient = useQueryClient();
  const [adding, setAdding] = useState(false);
  const list = useQuery({ queryKey: ['integrations'], queryFn: async () => (await api<{ items: IntegrationJson[] }>('GET', '/api/integrations')).items });
  const restart = useMutation({
    mutationFn: (id: string) => api<IntegrationJson>('POST', `/api/integrations/${id}/restart`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['integrations'] }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api('DELETE', `/api/integrations/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['integrations'] }),
  });
  const problem = formAlert(remove.error, []) ?? formAlert(restart.error, []);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Integrations</Title>
        <Button onClick={() => setAdding(true)}>Add integration</Button>
      </Group>
      <Text size="sm" c="dimmed">
        The controllers, brokers and cloud workspaces lockwarden reaches real locks through. Their locks join the inventory when you adopt them.
      </Text>
      {problem && <Alert color="red">{problem}</Alert>}
      {(list.data ?? []).map((i) => (
        <Card key={i.id} withBorder data-testid={`integration-${i.name}`}>
          <Stack>
            <Group justify="space-between">
              <Group gap="sm">
                <Text fw={600}>{i.name}</Text>
                <Badge variant="light">{INTEGRATION_LABELS[i.driver]}</Badge>
                <Badge color={i.running ? 'green' : 'red'} data-testid="integration-status">
                  {i.running ? 'running' : 'not running'}
                </Badge>
                {i.hasSecret && <Badge variant="outline">secret stored</Badge>}
              </Group>
              <Group gap="xs">
                <Button size="xs" variant="default" loading={restart.isPending} onClick={() => restart.mutate(i.id)}>
                  Restart
                </Button>
                <Button size="xs" color="red" variant="light" onClick={() => remove.mutate(i.id)}>
                  Remove
                </Button>
              </Group>
            </Group>
            {i.error && (
              <Alert color="orange">
                {i.error}
                <Text size="xs" c="dimmed">
                  lockwarden tries again by itself (after 30 seconds, then waiting longer each time, up to 10 minutes); Restart tries now.
                </Text>
              </Alert>
            )}
            {i.hasWebhookSecret && (
              <Text size="sm">
                Webhook address for Seam: <Code>{`${window.location.origin}/api/integrations/${i.id}/webhook`}</Code>
              </Text>
            )}
            {i.driver === 'matter' && i.running && <Commission integration={i} />}
            <Devices integration={i} />
          </Stack>
        </Card>
      ))}
      {list.data?.length === 0 && <Text c="dimmed">No integrations yet.</Text>}
      <Modal opened={adding} onClose={() => setAdding(false)} title="Add integration">
        <AddIntegration onDone={() => setAdding(false)} />
      </Modal>
    </Stack>
  );
}
