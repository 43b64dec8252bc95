import { Button, Center, Paper, Stack, Text, Title } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { api, setCsrfToken } from '../api.js';
import type { Me } from '../session.js';
import { FactorForm } from '../second-factor.js';

/** The second step of signing in: the password was right; now the authenticator app, a passkey or a recovery code. */
export function SecondFactorSignIn({ me, onDone }: { me: Me; onDone?: () => void }) {
  const queryClient = useQueryClient();
  const cancel = async () => {
    await api('POST', '/api/auth/sign-out').catch(() => undefined);
    window.location.assign('/signin');
  };
  return (
    <Center mih="100vh" bg="gray.0" p="sm">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={380}>
        <Stack>
        <Title order={2}>Second step</Title>
      <Text size="sm">Signed in as {me.user.email}. Confirm with your second factor to continue.</Text>
      <FactorForm
        methods={me.secondFactorMethods ?? []}
        passkeyOptionsUrl="/api/auth/second-factor/passkey-options"
        submitLabel="Continue"
        submit={async (proof) => {
          const next = await api<Me>('POST', '/api/auth/second-factor', proof);
          setCsrfToken(next.csrfToken);
          queryClient.setQueryData(['me'], next);
          onDone?.();
        }}
      />
      <Button variant="subtle" size="xs" onClick={() => void cancel()}>
        Sign out
      </Button>
        </Stack>
      </Paper>
    </Center>
  );
}
