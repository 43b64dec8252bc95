import { useState } from 'react';
import { Alert, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { LockAlert } from '../../domain/alerts.js';
import { api, fieldErrors, formAlert, formatDate, type Wire } from '../api.js';
import { useCan } from '../session.js';

type AlertJson = Wire<LockAlert>;

/** Open alerts on one lock (a reset or tamper the device reported), each acknowledged with a note. */
export function LockAlerts({ lockId }: { lockId: string }) {
  const queryClient = useQueryClient();
  const canAck = useCan('lock.operate');
  const [acking, setAcking] = useState<AlertJson | null>(null);
  const [note, setNote] = useState('');
  const alerts = useQuery({
    queryKey: ['alerts', lockId],
    queryFn: async () => (await api<{ items: AlertJson[] }>('GET', `/api/alerts?lockId=${lockId}`)).items,
    refetchInterval: 5000,
  });
  const ack = useMutation({
    mutationFn: (a: AlertJson) => api<AlertJson>('POST', `/api/alerts/${a.id}/acknowledge`, { note }),
    onSuccess: async () => {
      setAcking(null);
      setNote('');
      notifications.show({ message: 'Alert acknowledged' });
      await queryClient.invalidateQueries({ queryKey: ['alerts'] });
    },
  });
  if (!alerts.data?.length) return null;
  return (
    <Stack gap="xs" data-testid="lock-alerts">
      {alerts.data.map((a) => (
        <Alert key={a.id} color={a.kind === 'tamper' ? 'orange' : 'red'} title={a.title}>
          <Group justify="space-between" align="flex-start">
            <Text size="sm">
              {formatDate(a.raisedAt)}
              {a.count > 1 ? ` (reported ${a.count} times, last ${formatDate(a.lastSeenAt)})` : ''}: {a.detail}
            </Text>
            {canAck && (
              <Button size="xs" variant="white" onClick={() => setAcking(a)}>
                Acknowledge
              </Button>
            )}
          </Group>
        </Alert>
      ))}
      <Modal opened={acking !== null} onClose={() => setAcking(null)} title={acking ? `Acknowledge: ${acking.title}` : ''}>
        <Stack>
          <Textarea label="What was done" description="For example: the reset was ours (reset case opened), or the lock was re-enrolled." value={note} onChange={(e) => setNote(e.currentTarget.value)} error={fieldErrors(ack.error).note} />
          {formAlert(ack.error, ['note']) && <Alert color="red">{formAlert(ack.error, ['note'])}</Alert>}
          <Button loading={ack.isPending} onClick={() => acking && ack.mutate(acking)}>
            Acknowledge alert
          </Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
