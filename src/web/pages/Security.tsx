import { useState } from 'react';
import { Alert, Badge, Button, Card, Checkbox, Code, Group, Image, List, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, formatDate, type Wire } from '../api.js';
import { problem, registerPasskey } from '../second-factor.js';
import { SsoSettingsCard } from './SsoSettings.js';
import type { SecondFactorStatus } from '../../domain/second-factor.js';

type Status = Wire<SecondFactorStatus>;

/** Recovery codes, shown once right after they are made. */
function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <Alert color="yellow" title="Save your recovery codes now" data-testid="recovery-codes">
      <Stack gap="xs">
        <Text size="sm">Each code signs you in once if you lose your phone or security key. They are not shown again.</Text>
        <List size="sm" spacing={2}>
          {codes.map((c) => (
            <List.Item key={c}>
              <Code>{c}</Code>
            </List.Item>
          ))}
        </List>
        <Button size="xs" variant="default" onClick={onDone}>
          I saved them
        </Button>
      </Stack>
    </Alert>
  );
}

/** Setting up an authenticator app: the QR code and the secret as text, then its first code. */
function TotpEnrolment({ onEnrolled }: { onEnrolled: (codes: string[] | null) => void }) {
  const [begun, setBegun] = useState<{ factorId: string; secret: string; qrSvg: string } | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const begin = useMutation({
    mutationFn: () => api<{ factorId: string; secret: string; qrSvg: string }>('POST', '/api/auth/security/totp'),
    onSuccess: (b) => (setBegun(b), setError(null)),
    onError: (e) => setError(problem(e)),
  });
  const confirm = useMutation({
    mutationFn: () => api<{ recoveryCodes: string[] | null }>('POST', `/api/auth/security/totp/${begun!.factorId}/confirm`, { code }),
    onSuccess: (r) => (setBegun(null), setCode(''), onEnrolled(r.recoveryCodes)),
    onError: (e) => setError(problem(e)),
  });
  if (!begun) {
    return (
      <Stack gap="xs">
        {error && <Alert color="red">{error}</Alert>}
        <Button variant="default" loading={begin.isPending} onClick={() => begin.mutate()}>
          Add an authenticator app
        </Button>
      </Stack>
    );
  }
  return (
    <Card withBorder>
      <Stack gap="xs">
        <Text size="sm">Scan this with your authenticator app, or type the key into it.</Text>
        <Image src={`data:image/svg+xml;utf8,${encodeURIComponent(begun.qrSvg)}`} alt="QR code for your authenticator app" w={180} h={180} />
        <Text size="sm">
          Key: <Code data-testid="totp-secret">{begun.secret}</Code>
        </Text>
        {error && <Alert color="red">{error}</Alert>}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            confirm.mutate();
          }}
        >
          <Group align="end">
            <TextInput label="Code the app shows" inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={code} onChange={(e) => setCode(e.currentTarget.value)} />
            <Button type="submit" loading={confirm.isPending}>
              Turn on
            </Button>
          </Group>
        </form>
      </Stack>
    </Card>
  );
}

/** The owner's setting: which roles must sign in with a second factor. */
function PolicyCard() {
  const queryClient = useQueryClient();
  const policy = useQuery({ queryKey: ['second-factor-policy'], queryFn: () => api<{ requiredForRoles: ('owner' | 'admin')[] }>('GET', '/api/settings/second-factor-policy') });
  const save = useMutation({
    mutationFn: (requiredForRoles: string[]) => api('PUT', '/api/settings/second-factor-policy', { requiredForRoles }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['second-factor-policy'] }),
  });
  const roles = policy.data?.requiredForRoles ?? [];
  const toggle = (role: 'owner' | 'admin', on: boolean) => save.mutate(on ? [...roles, role] : roles.filter((r) => r !== role));
  return (
    <Card withBorder>
      <Stack gap="xs">
        <Title order={4}>Organisation policy</Title>
        <Text size="sm">Require a second factor of these roles (they set one up at their next sign-in):</Text>
        {save.error && <Alert color="red">{problem(save.error)}</Alert>}
        <Group>
          <Checkbox label="Owners" checked={roles.includes('owner')} disabled={save.isPending} onChange={(e) => toggle('owner', e.currentTarget.checked)} />
          <Checkbox label="Admins" checked={roles.includes('admin')} disabled={save.isPending} onChange={(e) => toggle('admin', e.currentTarget.checked)} />
        </Group>
      </Stack>
    </Card>
  );
}

/**
 * The signed-in user's second factors: add an authenticator app or a passkey, see and remove them,
 * new recovery codes; for owners, the organisation's policy and single sign-on. With `required`, it is the guided
 * enrolment a session is limited to under the policy.
 */
export function Security({ required = false, showPolicy = false, showSso = false, onEnrolled }: { required?: boolean; showPolicy?: boolean; showSso?: boolean; onEnrolled?: () => void }) {
  const queryClient = useQueryClient();
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [label, setLabel] = useState('Passkey');
  const status = useQuery({ queryKey: ['security'], queryFn: () => api<Status>('GET', '/api/auth/security') });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['security'] });
  const enrolled = (newCodes: string[] | null) => {
    setCodes(newCodes);
    void refresh();
    if (!newCodes) onEnrolled?.();
  };
  const passkey = useMutation({ mutationFn: () => registerPasskey(label), onSuccess: (r) => enrolled(r.recoveryCodes), onError: (e) => setError(problem(e)) });
  const remove = useMutation({ mutationFn: (id: string) => api('DELETE', `/api/auth/security/factors/${id}`), onSuccess: refresh, onError: (e) => setError(problem(e)) });
  const regenerate = useMutation({ mutationFn: () => api<{ recoveryCodes: string[] }>('POST', '/api/auth/security/recovery-codes'), onSuccess: (r) => (setCodes(r.recoveryCodes), void refresh()), onError: (e) => setError(problem(e)) });
  const s = status.data;
  return (
    <Stack maw={720}>
      <Title order={2}>{required ? 'Set up a second factor' : 'Security'}</Title>
      {required && <Alert color="blue">Your organisation requires a second factor for your role. Add an authenticator app or a passkey to continue.</Alert>}
      {codes && (
        <RecoveryCodes
          codes={codes}
          onDone={() => {
            setCodes(null);
            onEnrolled?.();
          }}
        />
      )}
      {error && (
        <Alert color="red" withCloseButton onClose={() => setError(null)}>
          {error}
        </Alert>
      )}
      {s && (
        <Card withBorder>
          <Stack gap="xs">
            <Title order={4}>Second factors</Title>
            {s.factors.length === 0 ? (
              <Text size="sm" c="dimmed">
                None yet: you sign in with your password alone.
              </Text>
            ) : (
              <Table.ScrollContainer minWidth={320}>
                <Table>
                  <Table.Tbody>
                    {s.factors.map((f) => (
                      <Table.Tr key={f.id}>
                        <Table.Td>
                          {f.label} <Badge variant="light">{f.kind === 'totp' ? 'authenticator app' : 'passkey'}</Badge>
                        </Table.Td>
                        <Table.Td>
                          <Text size="xs" c="dimmed">
                            last used {formatDate(f.lastUsedAt)}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          <Button size="xs" color="red" variant="subtle" onClick={() => remove.mutate(f.id)}>
                            Remove
                          </Button>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
            {s.factors.length > 0 && (
              <Group justify="space-between">
                <Text size="sm">{s.recoveryCodesLeft} recovery codes left</Text>
                <Button size="xs" variant="default" loading={regenerate.isPending} onClick={() => regenerate.mutate()}>
                  New recovery codes
                </Button>
              </Group>
            )}
          </Stack>
        </Card>
      )}
      {!codes && (
        <Card withBorder>
          <Stack gap="sm">
            <TotpEnrolment onEnrolled={enrolled} />
            <Group align="end">
              <TextInput label="Passkey name" value={label} onChange={(e) => setLabel(e.currentTarget.value)} />
              <Button variant="default" loading={passkey.isPending} onClick={() => (setError(null), passkey.mutate())}>
                Add a passkey or security key
              </Button>
            </Group>
          </Stack>
        </Card>
      )}
      {showPolicy && <PolicyCard />}
      {showSso && <SsoSettingsCard />}
    </Stack>
  );
}
