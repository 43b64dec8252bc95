import { useState, type ReactNode } from 'react';
import { Alert, Badge, Button, Card, Group, Loader, Modal, SimpleGrid, Stack, Text, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { FAMILY_LABELS } from '../../domain/lock-models.js';
import { SERVICE_STATE_LABELS } from '../../domain/locks.js';
import { api, fieldErrors, formAlert, formatDate } from '../api.js';
import { lockPlace, type LockJson } from '../data.js';
import { entryPath, StatusBadge, useLockEntry } from '../handbook.js';
import { useCan } from '../session.js';
import { LockAlerts } from './LockAlerts.js';
import { LockCredentials } from './LockCredentials.js';
import { LockHistory } from './LockHistory.js';
import { LockResetCases } from './LockResetCases.js';
import { SimulatedLockCard } from './SimPanel.js';
import { StateBadge } from './StateBadge.js';

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase">
        {label}
      </Text>
      <Text>{children}</Text>
    </div>
  );
}

/** One lock: every field, with edit and retire, then its credentials and device status. */
export function LockDetail() {
  const { id } = useParams();
  const queryClient = useQueryClient();
  const canWrite = useCan('lock.write');
  const canRetire = useCan('lock.retire');
  const canReset = useCan('reset.read');
  const canPerformReset = useCan('reset.perform');
  const [retiring, setRetiring] = useState(false);
  const [reason, setReason] = useState('');
  const lock = useQuery({ queryKey: ['lock', id], queryFn: () => api<LockJson>('GET', `/api/locks/${id}`) });
  const canReadHandbook = useCan('handbook.read');
  const canWriteHandbook = useCan('handbook.write');
  const procedure = useLockEntry(canReadHandbook ? id : undefined);
  const retire = useMutation({
    mutationFn: () => api<LockJson>('POST', `/api/locks/${id}/retire`, { reason }),
    onSuccess: async (l) => {
      setRetiring(false);
      notifications.show({ message: `${l.name} retired` });
      queryClient.setQueryData(['lock', id], l);
      await queryClient.invalidateQueries({ queryKey: ['locks'] });
    },
  });
  if (lock.isPending) return <Loader />;
  if (lock.isError) return <Alert color="red">{lock.error.message}</Alert>;
  const l = lock.data;
  const retired = l.serviceState === 'retired';
  return (
    <Stack>
      <Group justify="space-between">
        <Group gap="sm">
          <Title order={1}>{l.name}</Title>
          <StateBadge state={l.serviceState} />
          {l.isDemo && (
            <Badge variant="outline" color="yellow">
              demo
            </Badge>
          )}
        </Group>
        <Group>
          {procedure.data?.entry && (
            <Button component={Link} to={entryPath(procedure.data.entry.id)} data-testid="reset-procedure" rightSection={<StatusBadge status={procedure.data.entry.status} size="xs" />}>
              Reset procedure
            </Button>
          )}
          {procedure.data && procedure.data.source !== 'lock' && canWriteHandbook && (
            <Button component={Link} to={`/handbook/new?lockId=${l.id}`} variant="default">
              {procedure.data.entry ? 'Override procedure for this lock' : 'Write a reset procedure'}
            </Button>
          )}
          {canReset && !retired && (
            <Button component={Link} to={`/resets?lockId=${l.id}`} variant="default" data-testid="reset-case">
              Reset cases
            </Button>
          )}
          {canWrite && !retired && (
            <Button component={Link} to={`/locks/${l.id}/edit`} variant="default">
              Edit
            </Button>
          )}
          {canRetire && !retired && (
            <Button color="red" variant="light" onClick={() => setRetiring(true)}>
              Retire
            </Button>
          )}
        </Group>
      </Group>
      <Text c="dimmed">{lockPlace(l, 10)}</Text>
      <LockAlerts lockId={l.id} />
      {retired && (
        <Alert color="gray" title="Retired">
          Retired {formatDate(l.retiredAt)}: {l.retiredReason}
        </Alert>
      )}
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="md">
          <Field label="Location">{lockPlace(l, 10)}</Field>
          <Field label="Service state">{SERVICE_STATE_LABELS[l.serviceState]}</Field>
          <Field label="Manufacturer">{l.manufacturer}</Field>
          <Field label="Model number">{l.modelNumber}</Field>
          <Field label="Family">{FAMILY_LABELS[l.family]}</Field>
          <Field label="Serial">{l.serial || '-'}</Field>
          <Field label="Firmware">{l.firmware || '-'}</Field>
          <Field label="Installed">{l.installedOn ?? '-'}</Field>
          <Field label="Driver">{l.driver}</Field>
          <Field label="External id">{l.externalId ?? '-'}</Field>
          <Field label="Credentials stored">{l.credentialStorage}</Field>
          <Field label="Mechanical key override">{l.mechanicalOverride ? 'Yes' : 'No'}</Field>
          <Field label="Battery">{l.batteryPercent === null ? 'unknown' : `${l.batteryPercent}%`}</Field>
          <Field label="Version">{l.version}</Field>
          <Field label="Created">{formatDate(l.createdAt)}</Field>
          <Field label="Updated">{formatDate(l.updatedAt)}</Field>
        </SimpleGrid>
        <Text mt="md" size="xs" c="dimmed" tt="uppercase">
          Notes
        </Text>
        <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
          {l.notes || '-'}
        </Text>
      </Card>
      {l.driver === 'simulator' && l.externalId && canPerformReset && !retired && <SimulatedLockCard lockId={l.id} />}
      <LockCredentials lock={l} />
      <LockResetCases lockId={l.id} />
      <LockHistory lockId={l.id} />
      <Modal opened={retiring} onClose={() => setRetiring(false)} title={`Retire ${l.name}`}>
        <Stack>
          <Text size="sm">A retired lock stays in the inventory as history and can no longer be edited.</Text>
          <Textarea label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={fieldErrors(retire.error).reason} />
          {formAlert(retire.error, ['reason']) && <Alert color="red">{formAlert(retire.error, ['reason'])}</Alert>}
          <Button color="red" loading={retire.isPending} onClick={() => retire.mutate()}>
            Retire lock
          </Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
