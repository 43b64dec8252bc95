import { useEffect, useRef, useState } from 'react';
import { Alert, Button, Center, Loader, PasswordInput, Text } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { api, ApiError, fieldErrors, setCsrfToken } from '../api.js';
import type { Me } from '../session.js';
import { AuthCard } from './AuthCard.js';

/** Spends the one-time token from the URL fragment (never sent in a request line or logged). */
export function OneTimeSignIn() {
  const [error, setError] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const token = window.location.hash.slice(1);
    window.history.replaceState(null, '', '/signin/one-time');
    api<Me>('POST', '/api/auth/one-time', { token })
      .then(async (me) => {
        await queryClient.cancelQueries({ queryKey: ['me'] });
        setCsrfToken(me.csrfToken);
        queryClient.setQueryData(['me'], me);
        await navigate('/locks', { replace: true });
      })
      .catch((e: unknown) => setError(e instanceof ApiError ? e.message : 'cannot reach the server'));
  }, [navigate, queryClient]);
  return (
    <Center h="100vh">
      {error ? (
        <Alert color="red" title="Sign-in link not accepted">
          {error}. <a href="/signin">Sign in with a password</a>
        </Alert>
      ) : (
        <Loader />
      )}
    </Center>
  );
}

/** First sign-in of an account without a password: choose one before going on. */
export function ChoosePassword() {
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const queryClient = useQueryClient();
  const submit = async () => {
    if (password !== repeat) return setErrors({ repeat: 'the two passwords differ' });
    setBusy(true);
    try {
      await api('POST', '/api/auth/password', { newPassword: password });
      await queryClient.invalidateQueries({ queryKey: ['me'] });
    } catch (e) {
      setErrors({ ...fieldErrors(e), ...(e instanceof ApiError && e.fields.length === 0 ? { newPassword: e.message } : {}) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <AuthCard title="Choose your password" width={420} onSubmit={() => void submit()}>
      <Text size="sm" c="dimmed">
        You signed in with a one-time link. Choose a password of at least 12 characters for your next sign-in.
      </Text>
      <PasswordInput label="New password" autoComplete="new-password" value={password} error={errors.newPassword} onChange={(e) => setPassword(e.currentTarget.value)} />
      <PasswordInput label="Repeat password" autoComplete="new-password" value={repeat} error={errors.repeat} onChange={(e) => setRepeat(e.currentTarget.value)} />
      <Button type="submit" loading={busy}>
        Save password
      </Button>
    </AuthCard>
  );
}
