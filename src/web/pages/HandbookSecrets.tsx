import { useState } from 'react';
import { Alert, Button, Card, Code, Group, Modal, PasswordInput, Select, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { SECRET_KIND_LABELS, SECRET_KINDS, type SecretKind } from '../../domain/handbook.js';
import { Link } from 'react-router-dom';
import { api, ApiError, fieldErrors, formAlert, formatDate } from '../api.js';
import type { EntryJson, RevealJson } from '../handbook.js';
import { useCan } from '../session.js';

type SecretJson = EntryJson['secrets'][number];

/** An entry's secrets: masked; a reveal asks why and shows the value once; the reveal record below. */
export function HandbookSecrets({ entry }: { entry: EntryJson }) {
  const canWrite = useCan('handbook.write');
  const canReveal = useCan('handbook.reveal');
  const queryClient = useQueryClient();
  const [revealing, setRevealing] = useState<SecretJson | null>(null);
  const [adding, setAdding] = useState(false);
  const reveals = useQuery({
    queryKey: ['handbook', 'reveals', entry.id],
    queryFn: async () => (await api<{ items: RevealJson[] }>('GET', `/api/handbook/entries/${entry.id}/reveals`)).items,
    retry: false,
  });
  const remove = useMutation({
    mutationFn: (s: SecretJson) => api<void>('DELETE', `/api/handbook/secrets/${s.id}`),
    onSuccess: async () => {
      notifications.show({ message: 'Secret deleted' });
      await queryClient.invalidateQueries({ queryKey: ['handbook', 'entry', entry.id] });
    },
    onError: (e) => notifications.show({ color: 'red', message: e.message }),
  });
  return (
    <Card withBorder data-testid="secrets">
      <Group justify="space-between" mb="xs">
        <Title order={4}>Secrets</Title>
        {!canReveal && entry.secrets.length > 0 && (
          <Button size="xs" variant="light" component={Link} to={`/access?entryId=${entry.id}`} data-testid="request-reveal">
            Request access to reveal
          </Button>
        )}
        {canWrite && (
          <Button size="xs" variant="default" onClick={() => setAdding(true)}>
            Add secret
          </Button>
        )}
      </Group>
      {entry.secrets.length === 0 ? (
        <Text c="dimmed" size="sm">
          No master, programming or installer codes kept for this entry.
        </Text>
      ) : (
        <Table>
          <Table.Tbody>
            {entry.secrets.map((s) => (
              <Table.Tr key={s.id} data-testid="secret-row">
                <Table.Td>{SECRET_KIND_LABELS[s.kind]}</Table.Td>
                <Table.Td>{s.label}</Table.Td>
                <Table.Td>
                  <Code>{s.masked}</Code>
                </Table.Td>
                <Table.Td>
                  <Group gap="xs" justify="flex-end">
                    {canReveal && (
                      <Button size="xs" variant="light" color="orange" onClick={() => setRevealing(s)}>
                        Reveal
                      </Button>
                    )}
                    {canWrite && (
                      <Button
                        size="xs"
                        variant="subtle"
                        color="red"
                        loading={remove.isPending && remove.variables?.id === s.id}
                        onClick={() => {
                          if (window.confirm(`Delete the ${SECRET_KIND_LABELS[s.kind].toLowerCase()} ${s.label}? It cannot be recovered.`)) remove.mutate(s);
                        }}
                      >
                        Delete
                      </Button>
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {reveals.data && (
        <Stack gap={4} mt="md" data-testid="reveal-history">
          <Text size="xs" c="dimmed" tt="uppercase">
            Reveal record
          </Text>
          {reveals.data.length === 0 ? (
            <Text size="sm" c="dimmed">
              Nobody has revealed a secret of this entry.
            </Text>
          ) : (
            <Table>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>Who</Table.Th>
                  <Table.Th>Which</Table.Th>
                  <Table.Th>Why</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {reveals.data.map((r) => (
                  <Table.Tr key={r.id} data-testid="reveal-row">
                    <Table.Td>{formatDate(r.revealedAt)}</Table.Td>
                    <Table.Td>{r.actorLabel}</Table.Td>
                    <Table.Td>{SECRET_KIND_LABELS[r.secretKind as SecretKind] ?? r.secretKind}</Table.Td>
                    <Table.Td>{r.reason}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      )}
      {revealing && <RevealModal entryId={entry.id} secret={revealing} onClose={() => setRevealing(null)} />}
      <AddSecretModal entryId={entry.id} opened={adding} onClose={() => setAdding(false)} />
    </Card>
  );
}

/** Asks why, reveals, shows the value until the dialog closes; nothing keeps it after that. */
function RevealModal({ entryId, secret, onClose }: { entryId: string; secret: SecretJson; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [reason, setReason] = useState('');
  const reveal = useMutation({
    mutationFn: () => api<{ value: string }>('POST', `/api/handbook/secrets/${secret.id}/reveal`, { reason }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['handbook', 'reveals', entryId] }),
  });
  const close = () => {
    reveal.reset();
    onClose();
  };
  return (
    <Modal opened onClose={close} title={`Reveal ${SECRET_KIND_LABELS[secret.kind].toLowerCase()}${secret.label ? `: ${secret.label}` : ''}`}>
      {reveal.data ? (
        <Stack>
          <Code block fz="xl" data-testid="revealed-value">
            {reveal.data.value}
          </Code>
          <Text size="sm" c="dimmed">
            Shown once: closing this dialog forgets it. Your reveal is recorded.
          </Text>
          <Button onClick={close}>Close</Button>
        </Stack>
      ) : (
        <Stack>
          <Text size="sm">Every reveal is recorded with your name, the time and your reason.</Text>
          <Textarea label="Reason" placeholder="e.g. factory reset of the records room keypad" value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={fieldErrors(reveal.error).reason} data-autofocus />
          {formAlert(reveal.error, ['reason']) && (
            <Alert color="red">
              {formAlert(reveal.error, ['reason'])}
              {reveal.error instanceof ApiError && reveal.error.status === 403 && (
                <>
                  {' '}
                  <Link to={`/access?entryId=${entryId}`}>Request access to reveal this entry's secrets</Link>
                </>
              )}
            </Alert>
          )}
          <Button color="orange" loading={reveal.isPending} onClick={() => reveal.mutate()}>
            Reveal
          </Button>
        </Stack>
      )}
    </Modal>
  );
}

function AddSecretModal({ entryId, opened, onClose }: { entryId: string; opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [kind, setKind] = useState<SecretKind>('master_code');
  const [label, setLabel] = useState('');
  const [value, setValue] = useState('');
  const add = useMutation({
    mutationFn: () => api('POST', `/api/handbook/entries/${entryId}/secrets`, { kind, label, value }),
    onSuccess: async () => {
      notifications.show({ message: 'Secret saved, encrypted' });
      setLabel('');
      setValue('');
      add.reset();
      onClose();
      await queryClient.invalidateQueries({ queryKey: ['handbook', 'entry', entryId] });
    },
  });
  const errors = fieldErrors(add.error);
  return (
    <Modal opened={opened} onClose={onClose} title="Add a secret">
      <Stack>
        <Select label="Kind" data={SECRET_KINDS.map((k) => ({ value: k, label: SECRET_KIND_LABELS[k] }))} value={kind} onChange={(v) => v && setKind(v)} allowDeselect={false} />
        <TextInput label="Label" description="which one, e.g. 'front desk keypad'" value={label} onChange={(e) => setLabel(e.currentTarget.value)} error={errors.label} />
        <PasswordInput label="Value" value={value} onChange={(e) => setValue(e.currentTarget.value)} error={errors.value} autoComplete="off" />
        {formAlert(add.error, ['kind', 'label', 'value']) && <Alert color="red">{formAlert(add.error, ['kind', 'label', 'value'])}</Alert>}
        <Button loading={add.isPending} onClick={() => add.mutate()}>
          Save secret
        </Button>
      </Stack>
    </Modal>
  );
}
