import { useState } from 'react';
import { Alert, Badge, Button, Card, Group, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation } from '@tanstack/react-query';
import { api, ApiError } from '../api.js';
import { slotStateText, type LockCredentialsJson } from '../credentials.js';

/** A random code of `length` digits that is not one digit repeated (the simulator takes it as typed). */
function randomCode(length: number): string {
  for (;;) {
    const digits = crypto.getRandomValues(new Uint8Array(length));
    const code = Array.from(digits, (d) => String(d % 10)).join('');
    if (!/^(\d)\1+$/.test(code)) return code;
  }
}

const readAtOf = (v: LockCredentialsJson) => (v.observation?.readAt ? Date.parse(v.observation.readAt) : 0);

/** What lockwarden made of the change so far, from the reads after it. */
function aftermath(view: LockCredentialsJson, change: { slot: number; readBefore: number }): { text: string; repaired: boolean } {
  if (readAtOf(view) <= change.readBefore) return { text: 'Waiting for lockwarden to read the lock...', repaired: false };
  const slot = view.slots.find((s) => s.slot === change.slot);
  if (slot?.state === 'in_sync') return { text: `lockwarden noticed and put its code back: slot ${change.slot} is in sync again.`, repaired: true };
  return { text: `lockwarden sees the drift (${slot ? slotStateText(slot).label : 'slot missing'}) and is repairing it...`, repaired: false };
}

/**
 * Demo controls for a simulated lock: change a managed PIN "at the keypad", outside lockwarden, to
 * watch lockwarden notice the drift and put its code back. Hidden when the server has no simulator
 * control endpoint (404).
 */
export function SimulatorCard({ lockId, view, onChanged }: { lockId: string; view: LockCredentialsJson; onChanged: () => void }) {
  const [unavailable, setUnavailable] = useState(false);
  const target = view.slots.find((s) => s.credential && s.credential.status !== 'removing' && s.credential.status !== 'removed');
  const drift = useMutation({
    mutationFn: async (slot: number) => {
      const length = Math.max(view.capabilities.pin.minLength, Math.min(6, view.capabilities.pin.maxLength));
      const code = randomCode(length);
      // The latest read before the change: only reads after it say anything about the change.
      const readBefore = readAtOf(await api<LockCredentialsJson>('GET', `/api/locks/${lockId}/credentials`));
      await api<unknown>('POST', `/api/simulator/locks/${lockId}/drift`, { slot, code });
      return { slot, code, readBefore };
    },
    onSuccess: onChanged,
    onError: (e) => {
      if (e instanceof ApiError && e.status === 404) {
        setUnavailable(true);
        notifications.show({ color: 'gray', message: 'This server offers no simulator controls.' });
      }
    },
  });
  if (unavailable) return null;
  return (
    <Card withBorder data-testid="simulator-card" bg="var(--mantine-color-gray-0)">
      <Group gap="xs" mb={4}>
        <Title order={4}>Simulator</Title>
        <Badge size="xs" variant="outline" color="yellow">
          demo
        </Badge>
      </Group>
      <Text size="sm" c="dimmed" mb="sm">
        This lock is simulated. Play the person at the keypad who changes a code without lockwarden, and watch lockwarden detect the drift and put its code back.
      </Text>
      <Group>
        <Button variant="light" color="grape" disabled={!target} loading={drift.isPending} onClick={() => target && drift.mutate(target.slot)}>
          Change a code at the keypad (simulate drift)
        </Button>
        {!target && (
          <Text size="xs" c="dimmed">
            Add a PIN first: the change goes into the first managed PIN slot.
          </Text>
        )}
      </Group>
      {drift.data && (
        <Text size="sm" mt="sm" data-testid="sim-drift-result" data-slot={drift.data.slot}>
          Slot {drift.data.slot} now holds {drift.data.code} on the lock, set at the keypad. lockwarden should notice within seconds and restore the managed code.
        </Text>
      )}
      {drift.data && (
        <Text size="sm" fw={500} c={aftermath(view, drift.data).repaired ? 'green' : 'orange'} data-testid="sim-drift-status">
          {aftermath(view, drift.data).text}
        </Text>
      )}
      {drift.isError && !unavailable && (
        <Alert mt="sm" color="red">
          {drift.error.message}
        </Alert>
      )}
    </Card>
  );
}
