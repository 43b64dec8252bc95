/**
 * The second factor in the browser: proving it (at sign-in and for "Confirm it's you"), the step-up
 * dialog that answers `auth.step_up_required` and retries the action, and passkey helpers on
 * @simplewebauthn/browser.
 */
import { useEffect, useRef, useState } from 'react';
import { Alert, Anchor, Button, Modal, PasswordInput, Stack, Text, TextInput } from '@mantine/core';
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { api, ApiError, setStepUpHandler } from './api.js';

export type Method = 'totp' | 'webauthn' | 'recovery';

/** Runs the browser's passkey prompt for options from `optionsUrl`; returns the answer for the server. */
export async function passkeyAnswer(optionsUrl: string): Promise<Record<string, unknown>> {
  const optionsJSON = await api<Parameters<typeof startAuthentication>[0]['optionsJSON']>('POST', optionsUrl);
  return (await startAuthentication({ optionsJSON })) as unknown as Record<string, unknown>;
}

/** Registers a new passkey or security key for the signed-in user; returns the server's answer. */
export async function registerPasskey(label: string): Promise<{ recoveryCodes: string[] | null }> {
  const optionsJSON = await api<Parameters<typeof startRegistration>[0]['optionsJSON']>('POST', '/api/auth/security/passkey-options');
  const response = await startRegistration({ optionsJSON });
  return api('POST', '/api/auth/security/passkey', { response, label });
}

/** A message a person can act on, for an error from the API or the browser's passkey prompt. */
export function problem(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error && e.name === 'NotAllowedError') return 'the passkey prompt was closed or timed out; try again';
  return e instanceof Error ? e.message : 'something went wrong';
}

/**
 * The form that proves a second factor: a code from the authenticator app, a passkey, or a recovery
 * code; or the password when the account has no factor (`methods` empty). Calls `submit` with the proof.
 */
export function FactorForm({ methods, passkeyOptionsUrl, submit, submitLabel }: { methods: Method[]; passkeyOptionsUrl: string; submit: (proof: Record<string, unknown>) => Promise<void>; submitLabel: string }) {
  const [mode, setMode] = useState<'totp' | 'recovery' | 'password'>(methods.includes('totp') ? 'totp' : methods.length === 0 ? 'password' : 'recovery');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (proof: () => Promise<Record<string, unknown>>) => {
    setBusy(true);
    setError(null);
    try {
      await submit(await proof());
    } catch (e) {
      setError(problem(e));
    } finally {
      setBusy(false);
    }
  };
  const send = () => void run(async () => (mode === 'password' ? { method: 'password', password: value } : { method: mode, code: value.trim() }));
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <Stack>
        {error && <Alert color="red">{error}</Alert>}
        {methods.includes('webauthn') && (
          <Button variant="light" loading={busy} onClick={() => void run(async () => ({ method: 'webauthn', response: await passkeyAnswer(passkeyOptionsUrl) }))}>
            Use a passkey or security key
          </Button>
        )}
        {mode === 'totp' && (
          <TextInput label="Code from your authenticator app" inputMode="numeric" autoComplete="one-time-code" maxLength={6} data-autofocus value={value} onChange={(e) => setValue(e.currentTarget.value)} />
        )}
        {mode === 'recovery' && methods.includes('recovery') && (
          <TextInput label="Recovery code" description="One of the codes you saved when you set up your second factor; each works once." autoComplete="off" value={value} onChange={(e) => setValue(e.currentTarget.value)} />
        )}
        {mode === 'password' && <PasswordInput label="Your password" autoComplete="current-password" data-autofocus value={value} onChange={(e) => setValue(e.currentTarget.value)} />}
        {(mode !== 'recovery' || methods.includes('recovery')) && (
          <Button type="submit" loading={busy}>
            {submitLabel}
          </Button>
        )}
        {methods.includes('totp') && methods.includes('recovery') && (
          <Anchor component="button" type="button" size="sm" onClick={() => (setMode(mode === 'totp' ? 'recovery' : 'totp'), setValue(''))}>
            {mode === 'totp' ? 'Use a recovery code instead' : 'Use the authenticator app instead'}
          </Anchor>
        )}
      </Stack>
    </form>
  );
}

/**
 * "Confirm it's you": registered with the API client, it opens when an action answers
 * `auth.step_up_required`; once the server accepts the proof, the action is sent again.
 */
export function StepUpDialog() {
  const [reason, setReason] = useState<string | null>(null);
  const [methods, setMethods] = useState<Method[] | null>(null);
  const pending = useRef<((ok: boolean) => void) | null>(null);
  useEffect(() => {
    setStepUpHandler(async (why) => {
      const status = await api<{ factors: { kind: 'totp' | 'webauthn' }[]; recoveryCodesLeft: number }>('GET', '/api/auth/security');
      const kinds = new Set(status.factors.map((f) => f.kind));
      const m: Method[] = [...(kinds.has('totp') ? (['totp'] as const) : []), ...(kinds.has('webauthn') ? (['webauthn'] as const) : []), ...(kinds.size && status.recoveryCodesLeft ? (['recovery'] as const) : [])];
      setMethods(m);
      setReason(why);
      return new Promise<boolean>((resolve) => (pending.current = resolve));
    });
    return () => setStepUpHandler(null);
  }, []);
  const close = (ok: boolean) => {
    pending.current?.(ok);
    pending.current = null;
    setReason(null);
  };
  return (
    <Modal opened={reason !== null} onClose={() => close(false)} title="Confirm it's you" centered zIndex={400}>
      {reason !== null && methods && (
        <Stack>
          <Text size="sm">
            {methods.length ? 'This needs a fresh confirmation from your second factor' : 'This needs your password again'} (it then counts for 5 minutes).
          </Text>
          <FactorForm
            methods={methods}
            passkeyOptionsUrl="/api/auth/step-up/passkey-options"
            submitLabel="Confirm"
            submit={async (proof) => {
              await api('POST', '/api/auth/step-up', proof);
              close(true);
            }}
          />
        </Stack>
      )}
    </Modal>
  );
}
