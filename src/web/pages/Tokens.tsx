import { useState } from 'react';
import { Alert, Button, Checkbox, Code, CopyButton, Divider, Group, NumberInput, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ApiToken } from '../../domain/identity.js';
import { api, fieldErrors, formAlert, formatDate, type Wire } from '../api.js';

type TokenJson = Wire<ApiToken>;

/** The user's own API tokens for the CLI and scripts; a secret is shown once, at creation. */
export function Tokens() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: async () => (await api<{ items: TokenJson[] }>('GET', '/api/tokens')).items });
  const [name, setName] = useState('');
  const [days, setDays] = useState<number | string>(30);
  const [scope, setScope] = useState<string>('write');
  const [secret, setSecret] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<{ token: TokenJson; secret: string }>('POST', '/api/tokens', { name, scope, expiresInDays: typeof days === 'number' ? days : 30 }),
    onSuccess: async (r) => {
      setSecret(r.secret);
      setName('');
      await queryClient.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api('DELETE', `/api/tokens/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const errors = fieldErrors(create.error);
  const alert = formAlert(create.error, ['name', 'expiresInDays', 'scope']) ?? formAlert(revoke.error, []);
  return (
    <Stack maw={900}>
      <Title order={2}>API tokens</Title>
      <Text size="sm" c="dimmed">
        A token lets the lockwarden CLI or a script act as you: <Code>lockwarden --token lwt_... locks list</Code>.
      </Text>
      {secret && (
        <Alert color="green" title="Copy this token now: it is not shown again">
          <Group>
            <Code data-testid="token-secret">{secret}</Code>
            <CopyButton value={secret}>{({ copied, copy }) => <Button size="xs" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>
          </Group>
        </Alert>
      )}
      {alert && <Alert color="red">{alert}</Alert>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Group align="flex-end">
          <TextInput label="Token name" value={name} error={errors.name} onChange={(e) => setName(e.currentTarget.value)} />
          <Select
            label="Scope"
            value={scope}
            onChange={(v) => setScope(v ?? 'write')}
            allowDeselect={false}
            error={errors.scope}
            data={[
              { value: 'read', label: 'Read only' },
              { value: 'write', label: 'Read and change' },
              { value: 'full', label: 'Full (reveals, backups; 30 days at most)' },
            ]}
          />
          <NumberInput label="Expires in days" description="at most 365" allowDecimal={false} value={days} error={errors.expiresInDays} onChange={setDays} min={1} max={365} />
          <Button type="submit" loading={create.isPending}>
            Create token
          </Button>
        </Group>
      </form>
      <Table data-testid="token-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Starts with</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th>Last used</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(tokens.data ?? []).map((t) => (
            <Table.Tr key={t.id}>
              <Table.Td>{t.name}</Table.Td>
              <Table.Td>
                <Code>{t.prefix}…</Code>
              </Table.Td>
              <Table.Td>{formatDate(t.createdAt)}</Table.Td>
              <Table.Td>{formatDate(t.lastUsedAt)}</Table.Td>
              <Table.Td>{t.expiresAt ? formatDate(t.expiresAt) : 'never'}</Table.Td>
              <Table.Td>
                {t.revokedAt ? (
                  <Text size="sm" c="dimmed">
                    revoked {formatDate(t.revokedAt)}
                  </Text>
                ) : (
                  <Button size="xs" color="red" variant="light" loading={revoke.isPending && revoke.variables === t.id} onClick={() => revoke.mutate(t.id)}>
                    Revoke
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <SignOutEverywhere />
    </Stack>
  );
}

/** Ends every session of this account (after a lost laptop or a shared computer), optionally its tokens too. */
function SignOutEverywhere() {
  const [tokensToo, setTokensToo] = useState(false);
  const end = useMutation({
    mutationFn: () => api<{ sessionsEnded: number; tokensRevoked: number }>('POST', '/api/auth/sign-out-everywhere', { revokeApiTokens: tokensToo }),
    // This session ended too: a fresh page load drops every cached answer.
    onSuccess: () => window.location.assign('/signin'),
  });
  return (
    <>
      <Divider my="md" />
      <Title order={3}>Sessions</Title>
      <Text size="sm" c="dimmed">
        Signs this account out in every browser, this one included. A session also ends after 12 hours without use and 7 days after sign-in.
      </Text>
      {end.error && <Alert color="red">{formAlert(end.error, [])}</Alert>}
      <Group>
        <Checkbox label="Also revoke all my API tokens" checked={tokensToo} onChange={(e) => setTokensToo(e.currentTarget.checked)} />
        <Button color="red" variant="light" data-testid="sign-out-everywhere" loading={end.isPending} onClick={() => end.mutate()}>
          Sign out everywhere
        </Button>
      </Group>
    </>
  );
}
