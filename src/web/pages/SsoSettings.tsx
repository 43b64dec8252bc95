import { useEffect, useState } from 'react';
import { ActionIcon, Alert, Button, Card, Checkbox, Code, Group, PasswordInput, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { IconTrash } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { SSO_ROLES, type OidcSettingsView, type SsoRole } from '../../domain/oidc.js';
import { api, fieldErrors, formAlert } from '../api.js';
import { ROLE_LABELS } from '../access.js';
import { locationOptions, useLocations } from '../data.js';

type Mapping = { group: string; role: SsoRole; locationId: string | null };
const KNOWN = ['enabled', 'providerName', 'issuerUrl', 'clientId', 'clientSecret', 'selfSignUp.role', 'selfSignUp.locationId', 'groupClaim'];
const roleOptions = SSO_ROLES.map((r) => ({ value: r, label: ROLE_LABELS[r] }));

/**
 * The owner's single sign-on settings: the identity provider (issuer, client id and secret), the
 * redirect URL to register there, self-sign-up with a default role and place, group to role mapping,
 * and whether SSO users may still use a password. Saving asks "Confirm it's you" (the API's step-up).
 */
export function SsoSettingsCard() {
  const queryClient = useQueryClient();
  const locations = useLocations();
  const current = useQuery({ queryKey: ['sso-settings'], queryFn: () => api<{ settings: OidcSettingsView | null; redirectUrl: string }>('GET', '/api/settings/sso') });
  const [enabled, setEnabled] = useState(false);
  const [providerName, setProviderName] = useState('');
  const [issuerUrl, setIssuerUrl] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [signUp, setSignUp] = useState(false);
  const [signUpRole, setSignUpRole] = useState<SsoRole>('technician');
  const [signUpPlace, setSignUpPlace] = useState<string | null>(null);
  const [groupClaim, setGroupClaim] = useState('');
  const [mappings, setMappings] = useState<Mapping[]>([]);
  const [passwordOff, setPasswordOff] = useState(false);
  const [idpMfa, setIdpMfa] = useState(false);
  const [saved, setSaved] = useState(false);

  const s = current.data?.settings;
  useEffect(() => {
    if (!s) return;
    setEnabled(s.enabled);
    setProviderName(s.providerName);
    setIssuerUrl(s.issuerUrl);
    setClientId(s.clientId);
    setSignUp(s.selfSignUp.enabled);
    setSignUpRole(s.selfSignUp.role);
    setSignUpPlace(s.selfSignUp.locationId);
    setGroupClaim(s.groupClaim ?? '');
    setMappings(s.groupRoles);
    setPasswordOff(s.passwordSignInOffForSsoUsers);
    setIdpMfa(s.idpProvidesMfa);
  }, [s]);

  const save = useMutation({
    mutationFn: () =>
      api('PUT', '/api/settings/sso', {
        enabled,
        providerName,
        issuerUrl,
        clientId,
        ...(clientSecret ? { clientSecret } : {}),
        selfSignUp: { enabled: signUp, role: signUpRole, locationId: signUpPlace },
        groupClaim: groupClaim.trim() || null,
        groupRoles: mappings,
        passwordSignInOffForSsoUsers: passwordOff,
        idpProvidesMfa: idpMfa,
      }),
    onSuccess: async () => {
      setClientSecret('');
      setSaved(true);
      await queryClient.invalidateQueries({ queryKey: ['sso-settings'] });
    },
  });
  const errors = fieldErrors(save.error);
  const alert = formAlert(save.error, KNOWN);
  const places = locationOptions(locations.data ?? []);
  const setMapping = (i: number, patch: Partial<Mapping>) => setMappings((m) => m.map((x, j) => (j === i ? { ...x, ...patch } : x)));

  return (
    <Card withBorder data-testid="sso-settings">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <Title order={4}>Single sign-on</Title>
          <Text size="sm">
            Let people sign in through your organisation&apos;s identity provider (OpenID Connect). Register this redirect URL with the provider: <Code data-testid="sso-redirect-url">{current.data?.redirectUrl ?? '…'}</Code>
          </Text>
          {alert && <Alert color="red">{alert}</Alert>}
          {saved && !save.isPending && <Alert color="green">Single sign-on settings saved.</Alert>}
          <Checkbox label="Turn on single sign-on" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          <TextInput label="Provider name (shown on the sign-in button)" placeholder="Contoso login" value={providerName} onChange={(e) => setProviderName(e.currentTarget.value)} error={errors.providerName} />
          <TextInput label="Issuer URL" placeholder="https://login.example.com/realms/main" value={issuerUrl} onChange={(e) => setIssuerUrl(e.currentTarget.value)} error={errors.issuerUrl} />
          <TextInput label="Client ID" value={clientId} onChange={(e) => setClientId(e.currentTarget.value)} error={errors.clientId} />
          <PasswordInput
            label="Client secret"
            description={s?.hasClientSecret ? 'A secret is stored. Leave this empty to keep it.' : undefined}
            value={clientSecret}
            onChange={(e) => setClientSecret(e.currentTarget.value)}
            error={errors.clientSecret}
            autoComplete="off"
          />
          <Checkbox
            label="Make an account when someone without one signs in (self-sign-up)"
            description="Off: only people who already have an account here can sign in, matched by the email their provider has verified."
            checked={signUp}
            onChange={(e) => setSignUp(e.currentTarget.checked)}
          />
          {signUp && (
            <Group grow>
              <Select label="Their role" data={roleOptions} value={signUpRole} onChange={(v) => v && setSignUpRole(v)} error={errors['selfSignUp.role']} />
              <Select label="Where" placeholder="the whole organisation" clearable searchable data={places} value={signUpPlace} onChange={setSignUpPlace} error={errors['selfSignUp.locationId']} />
            </Group>
          )}
          <TextInput label="Group claim (optional)" description="The claim that lists a person's groups, often “groups”. New accounts get the role of the first group below they are in." value={groupClaim} onChange={(e) => setGroupClaim(e.currentTarget.value)} error={errors.groupClaim} />
          {mappings.map((m, i) => (
            <Group key={i} grow align="flex-end" wrap="nowrap">
              <TextInput label="Group" value={m.group} onChange={(e) => setMapping(i, { group: e.currentTarget.value })} error={errors[`groupRoles.${i}.group`]} />
              <Select label="Role" data={roleOptions} value={m.role} onChange={(v) => v && setMapping(i, { role: v })} error={errors[`groupRoles.${i}.role`]} />
              <Select label="Where" placeholder="the whole organisation" clearable searchable data={places} value={m.locationId} onChange={(v) => setMapping(i, { locationId: v })} error={errors[`groupRoles.${i}.locationId`]} />
              <ActionIcon variant="subtle" color="red" aria-label={`Remove the mapping of ${m.group || 'this group'}`} onClick={() => setMappings((all) => all.filter((_, j) => j !== i))} style={{ flex: '0 0 auto' }}>
                <IconTrash size={16} />
              </ActionIcon>
            </Group>
          ))}
          <Group>
            <Button variant="default" size="xs" onClick={() => setMappings((m) => [...m, { group: '', role: 'technician', locationId: null }])}>
              Add a group mapping
            </Button>
          </Group>
          <Checkbox label="People who sign in with the provider cannot use a password here" checked={passwordOff} onChange={(e) => setPasswordOff(e.currentTarget.checked)} />
          <Checkbox
            label="The provider checks a second factor itself"
            description="When the provider says so in its answer (the amr claim), lockwarden does not ask for its own second factor. Otherwise a sign-in through the provider counts as the password."
            checked={idpMfa}
            onChange={(e) => setIdpMfa(e.currentTarget.checked)}
          />
          <Group>
            <Button type="submit" loading={save.isPending}>
              Save single sign-on
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
