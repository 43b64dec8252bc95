import { useState } from 'react';
import { Alert, Button, Divider, PasswordInput, TextInput } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ssoMessage } from '../../domain/oidc.js';
import { Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiError, setCsrfToken } from '../api.js';
import type { Me } from '../session.js';
import { AuthCard } from './AuthCard.js';

/** Where to go after signing in: the `next` page when it is a path of this app, else the lock list. */
function nextPath(params: URLSearchParams): string {
  const next = params.get('next');
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/locks';
}

/** `/signin` once signed in: on to the page that sent the user here. */
export function SignedInRedirect() {
  const [params] = useSearchParams();
  return <Navigate to={nextPath(params)} replace />;
}

/**
 * Email and password sign-in; the server's message is shown as it is (it names nothing secret). With
 * single sign-on on, a "Sign in with <provider>" button, and the sentence for a refused SSO sign-in
 * (the callback sends its reason back in `?sso=`).
 */
export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const sso = useQuery({ queryKey: ['sso-public'], queryFn: () => api<{ enabled: boolean; providerName: string | null }>('GET', '/api/auth/sso'), retry: false });
  const ssoRefusal = ssoMessage(params.get('sso'));
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const me = await api<Me>('POST', '/api/auth/sign-in', { email, password });
      setCsrfToken(me.csrfToken);
      queryClient.setQueryData(['me'], me);
      await navigate(nextPath(params), { replace: true });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'cannot reach the server');
    } finally {
      setBusy(false);
    }
  };
  return (
    <AuthCard title="Sign in to lockwarden" width={380} onSubmit={() => void submit()}>
      {ssoRefusal && !error && (
        <Alert color="red" data-testid="sso-refusal">
          {ssoRefusal}
        </Alert>
      )}
      {error && <Alert color="red">{error}</Alert>}
      <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
      <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
      <Button type="submit" loading={busy}>
        Sign in
      </Button>
      {sso.data?.enabled && (
        <>
          <Divider label="or" labelPosition="center" />
          {/* A plain link, not fetch: the browser itself must go to the provider and come back. */}
          <Button component="a" href="/api/auth/sso/start" variant="default">
            Sign in with {sso.data.providerName}
          </Button>
        </>
      )}
    </AuthCard>
  );
}
