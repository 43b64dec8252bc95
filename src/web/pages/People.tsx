import { useState } from 'react';
import { Alert, Badge, Button, Card, Checkbox, Code, CopyButton, Group, Modal, Select, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ROLES, type Role } from '../../domain/identity.js';
import { api, fieldErrors, formAlert, formatDate } from '../api.js';
import { describeAccess, DURATIONS, ROLE_LABELS, type GrantJson, type UserJson } from '../access.js';
import { locationOptions, useLocations } from '../data.js';
import { useCan } from '../session.js';

/** People and their grants per location: who holds what where, invitations, grants and revocations. */
export function People() {
  const locations = useLocations();
  const canGrant = useCan('access.grant');
  const canInvite = useCan('user.write');
  const [locationId, setLocationId] = useState<string | null>(null);
  const [includeInactive, setIncludeInactive] = useState(false);
  const [revoking, setRevoking] = useState<GrantJson | null>(null);
  const grants = useQuery({
    queryKey: ['access', 'grants', locationId, includeInactive],
    queryFn: async () => {
      const q = new URLSearchParams();
      if (locationId) q.set('locationId', locationId);
      if (includeInactive) q.set('includeInactive', 'true');
      return (await api<{ items: GrantJson[] }>('GET', `/api/access/grants?${q}`)).items;
    },
  });
  return (
    <Stack maw={1100}>
      <Title order={2}>People and access</Title>
      <Text size="sm" c="dimmed">
        A role applies to the place it is granted on and everything below it. Grants from requests end by themselves; any grant can be revoked at once.
      </Text>
      <Group align="flex-end">
        <Select
          label="Place"
          placeholder="everywhere you can see"
          clearable
          searchable
          w={420}
          data={locationOptions(locations.data ?? [])}
          value={locationId}
          onChange={setLocationId}
          data-testid="people-location"
        />
        <Checkbox label="Show ended grants" checked={includeInactive} onChange={(e) => setIncludeInactive(e.currentTarget.checked)} />
      </Group>
      {grants.error && <Alert color="red">{grants.error.message}</Alert>}
      <Table data-testid="grant-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Person</Table.Th>
            <Table.Th>Access</Table.Th>
            <Table.Th>Granted</Table.Th>
            <Table.Th>Ends</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(grants.data ?? []).map((g) => (
            <Table.Tr key={g.id} data-testid="grant-row">
              <Table.Td>
                {g.userName} <Text size="xs" c="dimmed">{g.userEmail}</Text>
              </Table.Td>
              <Table.Td>{describeAccess(g)}</Table.Td>
              <Table.Td>
                <Text size="sm">{formatDate(g.grantedAt)}</Text>
                {g.requestId && <Text size="xs" c="dimmed">from a request</Text>}
              </Table.Td>
              <Table.Td>{g.expiresAt ? formatDate(g.expiresAt) : 'until revoked'}</Table.Td>
              <Table.Td>
                <Badge color={g.state === 'active' ? 'green' : 'gray'}>{g.state}</Badge>
                {g.revokeReason && <Text size="xs" c="dimmed">{g.revokeReason}</Text>}
              </Table.Td>
              <Table.Td>
                {canGrant && g.state === 'active' && (
                  <Button size="xs" variant="subtle" color="red" onClick={() => setRevoking(g)}>
                    Revoke
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {grants.data?.length === 0 && <Text c="dimmed">No grants here.</Text>}
      <Group align="flex-start" grow>
        {canInvite && <InviteCard defaultLocationId={locationId} />}
        {canGrant && <GrantCard defaultLocationId={locationId} />}
      </Group>
      {revoking && <RevokeModal grant={revoking} onClose={() => setRevoking(null)} />}
    </Stack>
  );
}

function RoleAndPlace({ role, setRole, locationId, setLocationId, errors }: { role: Role; setRole: (r: Role) => void; locationId: string | null; setLocationId: (v: string | null) => void; errors: Record<string, string> }) {
  const locations = useLocations();
  return (
    <>
      <Select label="Role" data={ROLES.map((r) => ({ value: r, label: ROLE_LABELS[r] }))} value={role} onChange={(v) => v && setRole(v)} error={errors.role} />
      <Select label="Where" placeholder="the whole organisation" clearable searchable data={locationOptions(locations.data ?? [])} value={locationId} onChange={setLocationId} error={errors.locationId} />
    </>
  );
}

function InviteCard({ defaultLocationId }: { defaultLocationId: string | null }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [role, setRole] = useState<Role>('technician');
  const [locationId, setLocationId] = useState<string | null>(defaultLocationId);
  const [link, setLink] = useState<string | null>(null);
  const invite = useMutation({
    mutationFn: () => api<{ signInPath: string }>('POST', '/api/users/invite', { email, displayName, role, locationId }),
    onSuccess: async (r) => {
      setLink(`${window.location.origin}${r.signInPath}`);
      setEmail('');
      setDisplayName('');
      await queryClient.invalidateQueries({ queryKey: ['access'] });
    },
  });
  const errors = fieldErrors(invite.error);
  return (
    <Card withBorder>
      <Title order={4} mb="xs">
        Invite someone
      </Title>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          invite.mutate();
        }}
      >
        <Stack gap="xs">
          <TextInput label="Email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={errors.email} />
          <TextInput label="Name" value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} error={errors.displayName} />
          <RoleAndPlace role={role} setRole={setRole} locationId={locationId} setLocationId={setLocationId} errors={errors} />
          {formAlert(invite.error, ['email', 'displayName', 'role', 'locationId']) && <Alert color="red">{formAlert(invite.error, ['email', 'displayName', 'role', 'locationId'])}</Alert>}
          {link && (
            <Alert color="green" title="Send this one-time sign-in link (valid 24 hours, single use)">
              <Group>
                <Code data-testid="invite-link">{link}</Code>
                <CopyButton value={link}>{({ copied, copy }) => <Button size="xs" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
              </Group>
            </Alert>
          )}
          <Group>
            <Button type="submit" loading={invite.isPending}>
              Invite
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

function GrantCard({ defaultLocationId }: { defaultLocationId: string | null }) {
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: async () => (await api<{ items: UserJson[] }>('GET', '/api/users')).items });
  const [userId, setUserId] = useState<string | null>(null);
  const [role, setRole] = useState<Role>('technician');
  const [locationId, setLocationId] = useState<string | null>(defaultLocationId);
  const [duration, setDuration] = useState<string | null>(null);
  const grant = useMutation({
    mutationFn: () => api<GrantJson>('POST', '/api/access/grants', { userId, role, locationId, durationHours: duration ? Number(duration) : null }),
    onSuccess: async () => {
      notifications.show({ message: 'Access granted' });
      await queryClient.invalidateQueries({ queryKey: ['access'] });
    },
  });
  const errors = fieldErrors(grant.error);
  return (
    <Card withBorder>
      <Title order={4} mb="xs">
        Grant a role
      </Title>
      <Stack gap="xs">
        <Select label="Person" searchable data={(users.data ?? []).map((u) => ({ value: u.id, label: `${u.displayName} (${u.email})` }))} value={userId} onChange={setUserId} error={errors.userId} />
        <RoleAndPlace role={role} setRole={setRole} locationId={locationId} setLocationId={setLocationId} errors={errors} />
        <Select label="For how long" placeholder="until revoked" clearable data={DURATIONS} value={duration} onChange={setDuration} error={errors.durationHours} />
        {formAlert(grant.error, ['userId', 'role', 'locationId', 'durationHours']) && <Alert color="red">{formAlert(grant.error, ['userId', 'role', 'locationId', 'durationHours'])}</Alert>}
        <Group>
          <Button onClick={() => grant.mutate()} loading={grant.isPending} disabled={!userId}>
            Grant
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function RevokeModal({ grant, onClose }: { grant: GrantJson; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [reason, setReason] = useState('');
  const revoke = useMutation({
    mutationFn: () => api('POST', `/api/access/grants/${grant.id}/revoke`, { reason }),
    onSuccess: async () => {
      notifications.show({ message: 'Grant revoked' });
      await queryClient.invalidateQueries({ queryKey: ['access'] });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title="Revoke access">
      <Stack>
        <Text size="sm">
          {grant.userEmail}: {describeAccess(grant)}. It ends at once.
        </Text>
        <Textarea label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={fieldErrors(revoke.error).reason} data-autofocus />
        {formAlert(revoke.error, ['reason']) && <Alert color="red">{formAlert(revoke.error, ['reason'])}</Alert>}
        <Group justify="flex-end">
          <Button color="red" loading={revoke.isPending} onClick={() => revoke.mutate()}>
            Revoke
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
