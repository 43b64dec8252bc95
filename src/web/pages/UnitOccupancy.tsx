import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Card, Group, Loader, NumberInput, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import type { Stay } from '../../domain/occupancy.js';
import type { TurnoverView, UnitSettings } from '../../services/turnover-service.js';
import { api, fieldErrors, formAlert, formatDate, type Wire } from '../api.js';
import { useCan } from '../session.js';

type Occupancy = { settings: Wire<UnitSettings>; stays: Wire<Stay>[]; turnoversToday: Wire<TurnoverView> | null };

const STATE_COLOR: Record<string, string> = { confirmed: 'green', removed: 'green', pending: 'yellow', removing: 'yellow', failed: 'red', error: 'red', not_yet: 'gray', none: 'gray', revoked: 'gray' };

/** A unit's occupancy: today's turnover lock by lock, its stays, a new stay, and its calendar feed. */
export function UnitOccupancy() {
  const { id = '' } = useParams();
  const queryClient = useQueryClient();
  const canWrite = useCan('credential.write');
  const data = useQuery({ queryKey: ['occupancy', id], queryFn: () => api<Occupancy>('GET', `/api/units/${id}/occupancy`), refetchInterval: 3000 });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['occupancy', id] });
  const [stay, setStay] = useState({ guestName: '', guestEmail: '', guestPhone: '', checkIn: '', checkOut: '' });
  const [feed, setFeed] = useState<{ icalUrl: string; timeZone: string; confirmLeadMinutes: number } | null>(null);
  const addStay = useMutation({
    mutationFn: () =>
      api<Wire<Stay>>('POST', `/api/units/${id}/stays`, {
        guestName: stay.guestName,
        ...(stay.guestEmail ? { guestEmail: stay.guestEmail } : {}),
        ...(stay.guestPhone ? { guestPhone: stay.guestPhone } : {}),
        checkIn: stay.checkIn ? new Date(stay.checkIn).toISOString() : '',
        checkOut: stay.checkOut ? new Date(stay.checkOut).toISOString() : '',
      }),
    onSuccess: async () => {
      setStay({ guestName: '', guestEmail: '', guestPhone: '', checkIn: '', checkOut: '' });
      notifications.show({ message: 'Stay added' });
      await refresh();
    },
  });
  const cancel = useMutation({ mutationFn: (stayId: string) => api('POST', `/api/stays/${stayId}/cancel`), onSuccess: refresh });
  const saveFeed = useMutation({
    mutationFn: () => api('PATCH', `/api/units/${id}/occupancy`, { icalUrl: feed!.icalUrl || null, timeZone: feed!.timeZone, confirmLeadMinutes: feed!.confirmLeadMinutes }),
    onSuccess: async () => {
      notifications.show({ message: 'Occupancy settings saved' });
      await refresh();
    },
  });
  const poll = useMutation({
    mutationFn: () => api<{ added: number; updated: number; cancelled: number }>('POST', `/api/units/${id}/feed/poll`),
    onSuccess: async (r) => {
      notifications.show({ message: `Feed read: ${r.added} added, ${r.updated} changed, ${r.cancelled} cancelled` });
      await refresh();
    },
    onError: refresh,
  });
  if (data.isPending) return <Loader />;
  if (data.isError) return <Alert color="red">{data.error.message}</Alert>;
  const { settings, stays, turnoversToday: today } = data.data;
  const f = feed ?? { icalUrl: settings.icalUrl ?? '', timeZone: settings.timeZone, confirmLeadMinutes: settings.confirmLeadMinutes };
  const stayErrors = fieldErrors(addStay.error);
  const feedErrors = { ...fieldErrors(saveFeed.error), ...fieldErrors(poll.error) };
  return (
    <Stack>
      <Title order={2}>Occupancy and turnovers</Title>
      <Card withBorder data-testid="turnovers-today">
        <Title order={4}>Turnovers due today</Title>
        {!today && <Text c="dimmed">No check-in or check-out today ({settings.timeZone}).</Text>}
        {today && (
          <>
            <Text size="sm">
              {today.outgoing ? `Out: ${today.outgoing.guestName} at ${formatDate(today.outgoing.checkOut)}` : 'Nobody leaves'} ·{' '}
              {today.incoming ? `In: ${today.incoming.guestName} at ${formatDate(today.incoming.checkIn)}` : 'Nobody arrives'}
            </Text>
            <Table mt="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Lock</Table.Th>
                  <Table.Th>Outgoing code</Table.Th>
                  <Table.Th>Incoming code</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {today.locks.map((l) => (
                  <Table.Tr key={l.lockId} data-testid={`turnover-lock-${l.lockId}`}>
                    <Table.Td>
                      <Anchor component={Link} to={`/locks/${l.lockId}`}>
                        {l.lockName}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>
                      <Badge color={STATE_COLOR[l.outgoing] ?? 'gray'}>{l.outgoing}</Badge>
                    </Table.Td>
                    <Table.Td>
                      <Badge color={STATE_COLOR[l.incoming] ?? 'gray'}>{l.incoming}</Badge> {l.error && <Text span size="xs" c="red">{l.error}</Text>}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </>
        )}
      </Card>
      <Card withBorder data-testid="stays">
        <Title order={4}>Stays</Title>
        {stays.length === 0 && <Text c="dimmed">No stays yet.</Text>}
        {stays.length > 0 && (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Guest</Table.Th>
                <Table.Th>Check-in</Table.Th>
                <Table.Th>Check-out</Table.Th>
                <Table.Th>From</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {stays.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>
                    {s.guestName}
                    {s.guestEmail ? ` <${s.guestEmail}>` : ''}
                  </Table.Td>
                  <Table.Td>{formatDate(s.checkIn)}</Table.Td>
                  <Table.Td>{formatDate(s.checkOut)}</Table.Td>
                  <Table.Td>{s.source === 'ical' ? 'calendar feed' : 'by hand'}</Table.Td>
                  <Table.Td>
                    {s.status}
                    {s.codeSentAt ? ' · code sent' : ''}
                  </Table.Td>
                  <Table.Td>
                    {canWrite && s.status === 'active' && (
                      <Button size="xs" variant="subtle" color="red" onClick={() => cancel.mutate(s.id)}>
                        Cancel
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      {canWrite && (
        <Card withBorder>
          <Title order={4}>Add a stay</Title>
          <Group grow align="flex-start">
            <TextInput label="Guest name" value={stay.guestName} onChange={(e) => setStay({ ...stay, guestName: e.currentTarget.value })} error={stayErrors.guestName} />
            <TextInput label="Guest email" description="The code is sent here" value={stay.guestEmail} onChange={(e) => setStay({ ...stay, guestEmail: e.currentTarget.value })} error={stayErrors.guestEmail} />
            <TextInput label="Guest phone" value={stay.guestPhone} onChange={(e) => setStay({ ...stay, guestPhone: e.currentTarget.value })} error={stayErrors.guestPhone} />
          </Group>
          <Group grow align="flex-start">
            <TextInput type="datetime-local" label="Check-in" value={stay.checkIn} onChange={(e) => setStay({ ...stay, checkIn: e.currentTarget.value })} error={stayErrors.checkIn} />
            <TextInput type="datetime-local" label="Check-out" value={stay.checkOut} onChange={(e) => setStay({ ...stay, checkOut: e.currentTarget.value })} error={stayErrors.checkOut} />
          </Group>
          {formAlert(addStay.error, ['guestName', 'guestEmail', 'guestPhone', 'checkIn', 'checkOut']) && (
            <Alert color="red" mt="sm">
              {formAlert(addStay.error, ['guestName', 'guestEmail', 'guestPhone', 'checkIn', 'checkOut'])}
            </Alert>
          )}
          <Button mt="sm" loading={addStay.isPending} onClick={() => addStay.mutate()}>
            Add stay
          </Button>
        </Card>
      )}
      <Card withBorder data-testid="feed">
        <Title order={4}>Booking calendar (iCal feed)</Title>
        <Text size="sm" c="dimmed">
          Read every 15 minutes. Last read: {formatDate(settings.feedCheckedAt)}
        </Text>
        {settings.feedError && (
          <Alert color="red" mt="xs">
            {settings.feedError}
          </Alert>
        )}
        <Group grow align="flex-start" mt="xs">
          <TextInput label="Feed URL" placeholder="https://www.airbnb.com/calendar/ical/....ics" value={f.icalUrl} disabled={!canWrite} onChange={(e) => setFeed({ ...f, icalUrl: e.currentTarget.value })} error={feedErrors.icalUrl} />
          <TextInput label="Time zone" value={f.timeZone} disabled={!canWrite} onChange={(e) => setFeed({ ...f, timeZone: e.currentTarget.value })} error={feedErrors.timeZone} />
          <NumberInput label="Confirm by (minutes before arrival)" value={f.confirmLeadMinutes} disabled={!canWrite} onChange={(v) => setFeed({ ...f, confirmLeadMinutes: Number(v) })} error={feedErrors.confirmLeadMinutes} />
        </Group>
        {formAlert(saveFeed.error ?? poll.error, ['icalUrl', 'timeZone', 'confirmLeadMinutes']) && (
          <Alert color="red" mt="sm">
            {formAlert(saveFeed.error ?? poll.error, ['icalUrl', 'timeZone', 'confirmLeadMinutes'])}
          </Alert>
        )}
        {canWrite && (
          <Group mt="sm">
            <Button loading={saveFeed.isPending} onClick={() => saveFeed.mutate()}>
              Save settings
            </Button>
            <Button variant="light" loading={poll.isPending} disabled={!settings.icalUrl} onClick={() => poll.mutate()}>
              Read feed now
            </Button>
          </Group>
        )}
      </Card>
    </Stack>
  );
}
