import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { Alert, Badge, Box, Button, Card, Group, NumberInput, SimpleGrid, Stack, Text, Title, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { PanelAction, PanelKey } from '../../drivers/simulator/panel.js';
import { api, ApiError } from '../api.js';

/** What a virtual front panel shows (GET .../panel). */
export interface PanelJson {
  externalId: string;
  manufacturer: string;
  model: string;
  resetControl: string;
  hasKeypad: boolean;
  holdSeconds: number;
  buttonSequence: string | null;
  indicator: { state: 'off' | 'normal' | 'setup_mode' | 'refused' | 'fault'; words: string };
  pressedSeconds: number | null;
  keysEntered: number;
  compartmentOpen: boolean;
  batteryPercent: number;
  batteryMinPercent: number;
  onDoor: boolean;
  needsLockOffDoor: boolean;
  setupMode: boolean;
  lastAttempt: { at: string; ok: boolean; reason: string | null; heldSeconds: number; setupModeAfter: boolean; words: string } | null;
  label: { text: string; setupCode: string };
}

/** The answer to one panel action (POST .../panel). */
export interface PanelOutcomeJson {
  panel: PanelJson;
  ok: boolean;
  words: string;
}

/** A panel action, as the API takes it: the simulator's own type, so the two cannot drift apart. */
export type PanelActionJson = PanelAction;

/** Which simulated device the panel is bound to: a lock of the inventory, or a practice run's throwaway twin. */
export type SimPanelProps = ({ lockId: string; practiceRunId?: undefined } | { practiceRunId: string; lockId?: undefined }) & {
  /** Called with every answer of the panel (a practice page keeps its own record of what happened). */
  onOutcome?: (outcome: PanelOutcomeJson, action: PanelActionJson) => void;
  /** Turns the panel's buttons off (a finished practice run). */
  disabled?: boolean;
};

const LIGHT: Record<PanelJson['indicator']['state'], { color: string; label: string }> = {
  off: { color: 'var(--mantine-color-gray-5)', label: 'off' },
  normal: { color: 'var(--mantine-color-green-6)', label: 'green' },
  setup_mode: { color: 'var(--mantine-color-blue-6)', label: 'flashing blue' },
  refused: { color: 'var(--mantine-color-red-6)', label: 'red' },
  fault: { color: 'var(--mantine-color-red-8)', label: 'solid red' },
};

const KEYS: PanelKey[] = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

/** The panel's API address for its device. */
export function panelUrl(p: { lockId?: string | undefined; practiceRunId?: string | undefined }): string {
  return p.lockId ? `/api/simulator/locks/${p.lockId}/panel` : `/api/practice-runs/${p.practiceRunId}/panel`;
}

/**
 * The virtual front panel of a simulated lock, laid out for a phone first: the reset control to
 * press and hold (pointer or Space/Enter; the server times the hold, the seconds shown here are only
 * the live count), the indicator light in words, the keypad, the battery compartment, on/off the
 * door, the vendor app's admin enrollment and the label with the setup code. Renders nothing when
 * the server offers no simulator (404).
 */
export function SimPanel(props: SimPanelProps) {
  const url = panelUrl(props);
  const queryClient = useQueryClient();
  const panel = useQuery({ queryKey: ['sim-panel', url], queryFn: () => api<PanelJson>('GET', url), refetchInterval: 5000, retry: false });
  const [last, setLast] = useState<{ ok: boolean; words: string } | null>(null);
  const [heldSince, setHeldSince] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [charge, setCharge] = useState<number | string>(20);
  const [phone, setPhone] = useState('');
  // Press and release must reach the server in order: each action waits for the one before.
  const chain = useRef<Promise<unknown>>(Promise.resolve());
  const holding = useRef(false);

  const act = useMutation({
    mutationFn: (action: PanelActionJson) => {
      const next = chain.current.catch(() => undefined).then(() => api<PanelOutcomeJson>('POST', url, action));
      chain.current = next;
      return next;
    },
    onSuccess: (outcome, action) => {
      queryClient.setQueryData(['sim-panel', url], outcome.panel);
      setLast({ ok: outcome.ok, words: outcome.words });
      props.onOutcome?.(outcome, action);
    },
  });

  useEffect(() => {
    if (heldSince === null) return;
    const t = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(t);
  }, [heldSince]);

  if (panel.isPending) return <Text size="sm">Loading the lock's panel…</Text>;
  if (panel.isError) {
    if (panel.error instanceof ApiError && panel.error.status === 404 && props.lockId) return null;
    return <Alert color="red">{panel.error.message}</Alert>;
  }
  const p = panel.data;
  const disabled = props.disabled === true;
  const light = LIGHT[p.indicator.state];

  const press = () => {
    if (holding.current || disabled) return;
    holding.current = true;
    setHeldSince(Date.now());
    setNow(Date.now());
    act.mutate({ type: 'press_reset' });
  };
  const release = () => {
    if (!holding.current) return;
    holding.current = false;
    setHeldSince(null);
    act.mutate({ type: 'release_reset' });
  };
  const heldShown = heldSince !== null ? (now - heldSince) / 1000 : null;

  return (
    <Stack gap="sm" data-testid="sim-panel">
      <Group justify="space-between" wrap="nowrap" align="flex-start">
        <div>
          <Text fw={600}>
            {p.manufacturer} {p.model}
          </Text>
          <Text size="xs" c="dimmed">
            Virtual front panel: do what the procedure says, as at the lock.
          </Text>
        </div>
        <Badge variant="outline" color="yellow">
          simulated
        </Badge>
      </Group>

      <Group gap="sm" wrap="nowrap" align="center" data-testid="sim-indicator" data-state={p.indicator.state}>
        <Box
          aria-hidden
          className={p.indicator.state === 'setup_mode' ? 'lw-flash' : undefined}
          style={{ width: 22, height: 22, minWidth: 22, borderRadius: '50%', background: light.color, boxShadow: p.indicator.state === 'off' ? 'none' : `0 0 10px ${light.color}` }}
        />
        <Text size="sm" aria-live="polite" role="status" aria-label={`Indicator light ${light.label}: ${p.indicator.words}`}>
          {p.indicator.words}
        </Text>
      </Group>
      <style>{'@keyframes lw-flash { 50% { opacity: 0.2 } } .lw-flash { animation: lw-flash 0.8s step-end infinite; } @media (prefers-reduced-motion: reduce) { .lw-flash { animation: none; } }'}</style>

      <Button
        size="xl"
        h={96}
        fullWidth
        color={heldShown !== null ? 'orange' : 'dark'}
        disabled={disabled}
        data-testid="sim-reset-button"
        aria-pressed={heldShown !== null}
        aria-label={`Press and hold: ${p.resetControl}`}
        style={{ touchAction: 'none', userSelect: 'none' }}
        onPointerDown={(e: PointerEvent<HTMLButtonElement>) => {
          e.currentTarget.setPointerCapture?.(e.pointerId);
          press();
        }}
        onPointerUp={release}
        onPointerCancel={release}
        onKeyDown={(e: KeyboardEvent<HTMLButtonElement>) => {
          if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
            e.preventDefault();
            press();
          }
        }}
        onKeyUp={(e: KeyboardEvent<HTMLButtonElement>) => {
          if (e.key === ' ' || e.key === 'Enter') {
            e.preventDefault();
            release();
          }
        }}
        onContextMenu={(e) => e.preventDefault()}
      >
        <Stack gap={2} align="center">
          <Text fw={700} size="lg" c="inherit" style={{ whiteSpace: 'normal', textAlign: 'center', lineHeight: 1.2 }}>
            {heldShown !== null ? `Holding… ${heldShown.toFixed(1)} s` : `Press and hold: ${p.resetControl}`}
          </Text>
          <Text size="xs" c="inherit" opacity={0.8}>
            {p.holdSeconds > 0 ? `this model needs a ${p.holdSeconds} s hold` : 'a press is enough'}
          </Text>
        </Stack>
      </Button>
      <Text size="xs" c="dimmed" aria-live="polite" data-testid="sim-held">
        {heldShown !== null ? `Held for ${Math.floor(heldShown)} s` : ' '}
      </Text>

      {last && (
        <Alert color={last.ok ? 'green' : 'orange'} p="xs" data-testid="sim-outcome" aria-live="polite">
          {last.words}
        </Alert>
      )}
      {act.isError && <Alert color="red">{act.error.message}</Alert>}

      {p.hasKeypad && (
        <Card withBorder p="sm">
          <Group justify="space-between" mb="xs">
            <Text size="sm" fw={600}>
              Keypad
            </Text>
            <Text size="sm" c="dimmed" data-testid="sim-keys">
              {p.keysEntered} key{p.keysEntered === 1 ? '' : 's'} entered
            </Text>
          </Group>
          {p.buttonSequence && (
            <Text size="xs" c="dimmed" mb="xs">
              Reset sequence: {p.buttonSequence}. Key it in, then press the {p.resetControl}.
            </Text>
          )}
          <SimpleGrid cols={3} spacing={6} maw={320} mx="auto">
            {KEYS.map((k) => (
              <Button key={k} variant="default" h={48} fz="lg" disabled={disabled} aria-label={`Key ${k}`} onClick={() => act.mutate({ type: 'key', key: k })}>
                {k}
              </Button>
            ))}
          </SimpleGrid>
          <Button mt="xs" size="xs" variant="subtle" disabled={disabled} onClick={() => act.mutate({ type: 'clear_keys' })}>
            Clear the entry
          </Button>
        </Card>
      )}

      <SimpleGrid cols={{ base: 1, xs: 2 }} spacing="sm">
        <Card withBorder p="sm">
          <Text size="sm" fw={600}>
            Battery compartment
          </Text>
          <Text size="sm" data-testid="sim-battery">
            {p.compartmentOpen ? 'Open' : 'Closed'} · charge {p.batteryPercent} %
          </Text>
          <Text size="xs" c={p.batteryPercent < p.batteryMinPercent ? 'red' : 'dimmed'}>
            A reset needs at least {p.batteryMinPercent} %.
          </Text>
          <Group gap="xs" mt="xs">
            <Button size="xs" variant="light" disabled={disabled} onClick={() => act.mutate({ type: p.compartmentOpen ? 'close_compartment' : 'open_compartment' })}>
              {p.compartmentOpen ? 'Close the compartment' : 'Open the compartment'}
            </Button>
            {p.compartmentOpen && (
              <Button size="xs" variant="light" color="green" disabled={disabled} onClick={() => act.mutate({ type: 'fresh_batteries' })}>
                Fit fresh batteries
              </Button>
            )}
          </Group>
          {p.compartmentOpen && (
            <Group gap="xs" mt="xs" align="flex-end" wrap="nowrap">
              <NumberInput size="xs" label="Charge (%)" min={0} max={100} value={charge} onChange={setCharge} w={110} disabled={disabled} />
              <Button size="xs" variant="default" disabled={disabled || typeof charge !== 'number'} onClick={() => typeof charge === 'number' && act.mutate({ type: 'set_charge', percent: charge })}>
                Fit these batteries
              </Button>
            </Group>
          )}
        </Card>
        <Card withBorder p="sm">
          <Text size="sm" fw={600}>
            Door
          </Text>
          <Text size="sm" data-testid="sim-door">
            {p.onDoor ? 'On the door' : 'Off the door'}
          </Text>
          <Text size="xs" c="dimmed">
            {p.needsLockOffDoor ? 'This model resets only off the door.' : 'This model resets on the door.'}
          </Text>
          <Button size="xs" mt="xs" variant="light" disabled={disabled} onClick={() => act.mutate({ type: p.onDoor ? 'take_off_door' : 'put_on_door' })}>
            {p.onDoor ? 'Take it off the door' : 'Put it back on the door'}
          </Button>
        </Card>
      </SimpleGrid>

      <Button variant="light" color="grape" disabled={disabled} onClick={() => act.mutate({ type: 'enroll_admin' })}>
        Enroll admin with the vendor app
      </Button>
      <Group gap="xs" align="flex-end" wrap="nowrap">
        <TextInput size="xs" label="Pair a phone with the vendor app" placeholder="the phone's name" value={phone} onChange={(e) => setPhone(e.currentTarget.value)} disabled={disabled} style={{ flex: 1 }} data-testid="sim-phone-name" />
        <Button size="xs" variant="default" disabled={disabled || !phone.trim()} onClick={() => act.mutate({ type: 'pair_phone', label: phone.trim() })} data-testid="sim-pair-phone">
          Pair
        </Button>
      </Group>

      <Box p="sm" style={{ border: '1px dashed var(--mantine-color-gray-5)', borderRadius: 6, background: 'var(--mantine-color-gray-0)' }} data-testid="sim-label">
        <Title order={6}>Label on the lock</Title>
        <Text size="xs">{p.label.text}</Text>
        <Text size="sm">
          Setup code:{' '}
          <Text span ff="monospace" fw={700} data-testid="sim-setup-code">
            {p.label.setupCode}
          </Text>
        </Text>
      </Box>
    </Stack>
  );
}

/** The lock page's "Simulated lock" card around the panel; nothing when the server has no simulator for it. */
export function SimulatedLockCard({ lockId }: { lockId: string }) {
  const url = panelUrl({ lockId });
  const panel = useQuery({ queryKey: ['sim-panel', url], queryFn: () => api<PanelJson>('GET', url), refetchInterval: 5000, retry: false });
  if (panel.isError && panel.error instanceof ApiError && (panel.error.status === 404 || panel.error.status === 403)) return null;
  return (
    <Card withBorder data-testid="simulated-lock-card">
      <Title order={3} mb="xs">
        Simulated lock
      </Title>
      <SimPanel lockId={lockId} />
    </Card>
  );
}
