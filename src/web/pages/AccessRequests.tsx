import { useState } from 'react';
import { Alert, Badge, Button, Card, Group, Modal, SegmentedControl, Select, Stack, Table, Tabs, Text, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSearchParams } from 'react-router-dom';
import { ROLES, type Role } from '../../domain/identity.js';
import { api, fieldErrors, formAlert, formatDate } from '../api.js';
import { describeAccess, DURATIONS, durationLabel, ROLE_LABELS, type RequestJson } from '../access.js';
import { locationOptions, useLocations } from '../data.js';

const STATE_COLORS: Record<RequestJson['state'], string> = { pending: 'yellow', approved: 'green', denied: 'red', cancelled: 'gray', lapsed: 'gray' };

const useRequests = (view: 'mine' | 'inbox' | 'all') =>
  useQuery({ queryKey: ['access', 'requests', view], queryFn: async () => (await api<{ items: RequestJson[] }>('GET', `/api/access/requests?view=${view}`)).items });

/** Access requests: ask for access, see one's own requests, and decide others' (never one's own). */
export function AccessRequests() {
  const [params] = useSearchParams();
  const entryId = params.get('entryId');
  const inbox = useRequests('inbox');
  const [tab, setTab] = useState<string | null>(entryId ? 'new' : (inbox.data?.length ?? 0) > 0 ? 'inbox' : 'mine');
  return (
    <Stack maw={1000}>
      <Title order={2}>Access requests</Title>
      <Text size="sm" c="dimmed">
        Ask for a role on a place, or to reveal one handbook entry's secrets, for a limited time. Someone with authority over that place decides; never the person asking.
      </Text>
      <Notifications />
      <Tabs value={tab} onChange={setTab}>
        <Tabs.List>
          <Tabs.Tab value="inbox" rightSection={inbox.data?.length ? <Badge size="xs">{inbox.data.length}</Badge> : null} data-testid="tab-inbox">
            To decide
          </Tabs.Tab>
          <Tabs.Tab value="mine" data-testid="tab-mine">
            My requests
          </Tabs.Tab>
          <Tabs.Tab value="new" data-testid="tab-new">
            Request access
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="inbox" pt="md">
          <RequestTable view="inbox" />
        </Tabs.Panel>
        <Tabs.Panel value="mine" pt="md">
          <RequestTable view="mine" />
        </Tabs.Panel>
        <Tabs.Panel value="new" pt="md">
          <RequestForm entryId={entryId} onSent={() => setTab('mine')} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function Notifications() {
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ['notifications'], queryFn: async () => (await api<{ items: { id: string; subject: string; createdAt: string; readAt: string | null }[] }>('GET', '/api/notifications')).items });
  const read = useMutation({ mutationFn: () => api('POST', '/api/notifications/read'), onSuccess: () => queryClient.invalidateQueries({ queryKey: ['notifications'] }) });
  const unread = (list.data ?? []).filter((n) => !n.readAt);
  if (unread.length === 0) return null;
  return (
    <Alert color="blue" title={`${unread.length} new notice${unread.length === 1 ? '' : 's'}`} data-testid="notifications">
      <Stack gap={2}>
        {unread.slice(0, 5).map((n) => (
          <Text size="sm" key={n.id}>
            {formatDate(n.createdAt)}: {n.subject}
          </Text>
        ))}
        <Group>
          <Button size="xs" variant="subtle" onClick={() => read.mutate()}>
            Mark as read
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

function RequestTable({ view }: { view: 'mine' | 'inbox' }) {
  const queryClient = useQueryClient();
  const list = useRequests(view);
  const [deciding, setDeciding] = useState<RequestJson | null>(null);
  const cancel = useMutation({
    mutationFn: (id: string) => api('POST', `/api/access/requests/${id}/cancel`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['access'] }),
    onError: (e) => notifications.show({ color: 'red', message: e.message }),
  });
  if (list.isPending) return <Text c="dimmed">Loading…</Text>;
  if (list.error) return <Alert color="red">{list.error.message}</Alert>;
  if (list.data.length === 0) return <Text c="dimmed">{view === 'inbox' ? 'Nothing waiting for your decision.' : 'You have not asked for access.'}</Text>;
  return (
    <>
      <Table data-testid={`requests-${view}`}>
        <Table.Thead>
          <Table.Tr>
            {view === 'inbox' && <Table.Th>Who</Table.Th>}
            <Table.Th>Asks for</Table.Th>
            <Table.Th>For</Table.Th>
            <Table.Th>Why</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.data.map((r) => (
            <Table.Tr key={r.id} data-testid="request-row">
              {view === 'inbox' && <Table.Td>{r.requesterEmail}</Table.Td>}
              <Table.Td>{describeAccess(r)}</Table.Td>
              <Table.Td>{durationLabel(r.durationHours)}</Table.Td>
              <Table.Td>
                <Text size="sm" lineClamp={3}>
                  {r.justification}
                </Text>
              </Table.Td>
              <Table.Td>
                <Badge color={STATE_COLORS[r.state]} data-testid="request-state">
                  {r.state}
                </Badge>
                <Text size="xs" c="dimmed">
                  {r.decisions.filter((d) => d.decision === 'approve').length}/{r.requiredApprovals} approval{r.requiredApprovals === 1 ? '' : 's'}
                </Text>
                {r.decisions.map((d) => (
                  <Text size="xs" c="dimmed" key={d.approverId}>
                    {d.decision === 'approve' ? 'approved' : 'denied'} by {d.approverEmail}: {d.reason}
                  </Text>
                ))}
              </Table.Td>
              <Table.Td>
                {view === 'inbox' && r.canDecide && (
                  <Button size="xs" onClick={() => setDeciding(r)} data-testid="decide">
                    Decide
                  </Button>
                )}
                {view === 'mine' && r.state === 'pending' && (
                  <Button size="xs" variant="subtle" color="red" loading={cancel.isPending} onClick={() => cancel.mutate(r.id)}>
                    Withdraw
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {deciding && <DecideModal request={deciding} onClose={() => setDeciding(null)} />}
    </>
  );
}

function DecideModal({ request, onClose }: { request: RequestJson; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [reason, setReason] = useState('');
  const decide = useMutation({
    mutationFn: (decision: 'approve' | 'deny') => api<RequestJson>('POST', `/api/access/requests/${request.id}/decision`, { decision, reason }),
    onSuccess: async (r) => {
      notifications.show({ message: r.state === 'pending' ? 'Recorded; another approver is needed' : `Request ${r.state}` });
      await queryClient.invalidateQueries({ queryKey: ['access'] });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title="Decide an access request">
      <Stack>
        <Text size="sm">
          <b>{request.requesterEmail}</b> asks for: {describeAccess(request)}, for {durationLabel(request.durationHours)}.
        </Text>
        <Text size="sm" c="dimmed">
          “{request.justification}”
        </Text>
        <Textarea label="Your reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={fieldErrors(decide.error).reason} data-autofocus />
        {formAlert(decide.error, ['reason']) && <Alert color="red">{formAlert(decide.error, ['reason'])}</Alert>}
        <Group justify="flex-end">
          <Button color="red" variant="light" loading={decide.isPending && decide.variables === 'deny'} onClick={() => decide.mutate('deny')}>
            Deny
          </Button>
          <Button color="green" loading={decide.isPending && decide.variables === 'approve'} onClick={() => decide.mutate('approve')} data-testid="approve">
            Approve
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function RequestForm({ entryId, onSent }: { entryId: string | null; onSent: () => void }) {
  const queryClient = useQueryClient();
  const locations = useLocations();
  const entry = useQuery({
    enabled: entryId !== null,
    queryKey: ['handbook', 'entry', entryId],
    queryFn: () => api<{ id: string; title: string }>('GET', `/api/handbook/entries/${entryId}`),
  });
  const [kind, setKind] = useState<'role' | 'reveal'>(entryId ? 'reveal' : 'role');
  const [role, setRole] = useState<Role>('technician');
  const [locationId, setLocationId] = useState<string | null>(null);
  const [duration, setDuration] = useState<string>(entryId ? '8' : '168');
  const [justification, setJustification] = useState('');
  const send = useMutation({
    mutationFn: () =>
      api<RequestJson>(
        'POST',
        '/api/access/requests',
        kind === 'reveal'
          ? { kind, entryId, justification, durationHours: Number(duration) }
          : { kind, role, locationId, justification, durationHours: Number(duration) },
      ),
    onSuccess: async (r) => {
      notifications.show({ message: `Request sent: ${r.requiredApprovals === 2 ? 'two approvers' : 'one approver'} needed` });
      setJustification('');
      await queryClient.invalidateQueries({ queryKey: ['access'] });
      onSent();
    },
  });
  const errors = fieldErrors(send.error);
  return (
    <Card withBorder maw={640}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          send.mutate();
        }}
      >
        <Stack>
          {entryId && (
            <SegmentedControl
              value={kind}
              onChange={(v) => setKind(v)}
              data={[
                { value: 'reveal', label: 'Reveal this entry' },
                { value: 'role', label: 'A role on a place' },
              ]}
            />
          )}
          {kind === 'reveal' ? (
            <Text size="sm" data-testid="request-entry">
              Reveal the secrets of <b>{entry.data?.title ?? '…'}</b>
            </Text>
          ) : (
            <Group grow>
              <Select label="Role" data={ROLES.map((r) => ({ value: r, label: ROLE_LABELS[r] }))} value={role} onChange={(v) => v && setRole(v)} error={errors.role} />
              <Select
                label="Where"
                placeholder="the whole organisation"
                clearable
                searchable
                data={locationOptions(locations.data ?? [])}
                value={locationId}
                onChange={setLocationId}
                error={errors.locationId}
              />
            </Group>
          )}
          <Select label="For how long" data={DURATIONS} value={duration} onChange={(v) => v && setDuration(v)} error={errors.durationHours} />
          <Textarea label="Why you need it" placeholder="e.g. factory reset of unit 4's keypad after move-out" value={justification} onChange={(e) => setJustification(e.currentTarget.value)} error={errors.justification} data-testid="justification" />
          {formAlert(send.error, ['role', 'locationId', 'durationHours', 'justification']) && <Alert color="red">{formAlert(send.error, ['role', 'locationId', 'durationHours', 'justification'])}</Alert>}
          <Group>
            <Button type="submit" loading={send.isPending} data-testid="send-request">
              Send request
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
