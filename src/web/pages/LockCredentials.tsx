import { useEffect, useState, type ReactNode } from 'react';
import { Alert, Badge, Button, Card, Code, Group, Loader, Modal, SimpleGrid, Stack, Table, Text, Textarea, TextInput, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, fieldErrors, formAlert, formatDate } from '../api.js';
import {
  scheduleText,
  slotStateText,
  STATUS_COLOURS,
  STATUS_HELP,
  useLockCredentials,
  type ControllerJson,
  type CredentialJson,
  type LockControllersJson,
  type LockCredentialsJson,
  type SlotJson,
} from '../credentials.js';
import type { LockJson } from '../data.js';
import { useCan } from '../session.js';
import { PinFormModal } from './PinForm.js';
import { SimulatorCard } from './SimulatorCard.js';

const MASK = '••••••';

type Dialog =
  | { kind: 'add' }
  | { kind: 'edit'; credential: CredentialJson }
  | { kind: 'reveal'; credential: CredentialJson }
  | { kind: 'revoke'; credential: CredentialJson }
  | { kind: 'adopt'; slot: number; name: string }
  | { kind: 'remove-unmanaged'; slot: number }
  | { kind: 'remove-controller'; controller: ControllerJson };

interface Call {
  method: string;
  url: string;
  body?: unknown;
  done: string;
}

/** A credential's status as a badge whose text is the status itself ("pending", "confirmed", ...). */
export function StatusBadge({ status, testId }: { status: CredentialJson['status']; testId?: string }) {
  return (
    <Tooltip label={STATUS_HELP[status]}>
      <Badge color={STATUS_COLOURS[status]} variant="light" style={{ flexShrink: 0, overflow: 'visible' }} styles={{ label: { overflow: 'visible' } }} data-testid={testId}>
        {status}
      </Badge>
    </Tooltip>
  );
}

/**
 * The lock page's credentials: device status and last read, the PIN slots desired against observed
 * (drift marked), paired controllers, digital keys and biometric references. Polls while anything
 * is on its way to the lock or differs from it.
 */
export function LockCredentials({ lock }: { lock: LockJson }) {
  const queryClient = useQueryClient();
  const canRead = useCan('credential.read');
  // While a reset case owns the lock, the case reads it and sends its commands: nothing here would land.
  const inReset = lock.serviceState === 'reset_in_progress';
  const canWrite = useCan('credential.write') && lock.serviceState !== 'retired' && !inReset;
  const canReveal = useCan('credential.reveal');
  const canOperate = useCan('lock.operate') && lock.serviceState !== 'retired' && !inReset;
  const creds = useLockCredentials(lock.id, canRead);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [bolt, setBolt] = useState<{ bolt: string; at: number } | null>(null);

  const invalidate = () => queryClient.invalidateQueries({ queryKey: ['lock', lock.id, 'credentials'] });
  const action = useMutation({
    mutationFn: (c: Call) => api<unknown>(c.method, c.url, c.body),
    onSuccess: async (_r, c) => {
      setDialog(null);
      notifications.show({ message: c.done });
      await invalidate();
    },
  });
  const open = (d: Dialog) => {
    action.reset();
    setDialog(d);
  };

  // After "Read now" (or a change at a simulated keypad), ask every second until a newer read lands (at most 20 s).
  const readAt = creds.data?.observation?.readAt ? Date.parse(creds.data.observation.readAt) : 0;
  const [readBefore, setReadBefore] = useState<number | null>(null);
  const waitingForRead = readBefore !== null && readAt <= readBefore;
  const expectRead = () => setReadBefore(readAt);
  useEffect(() => {
    if (!waitingForRead) return;
    const tick = setInterval(() => void invalidate(), 1000);
    const stop = setTimeout(() => setReadBefore(null), 20_000);
    return () => {
      clearInterval(tick);
      clearTimeout(stop);
    };
  }, [waitingForRead]);

  const refresh = useMutation({
    mutationFn: () => api<unknown>('POST', `/api/locks/${lock.id}/refresh`),
    onSuccess: expectRead,
  });
  const operate = useMutation({
    mutationFn: (what: 'lock' | 'unlock') => api<{ bolt: string }>('POST', `/api/locks/${lock.id}/${what}`),
    onSuccess: (r) => {
      setBolt({ bolt: r.bolt, at: Date.now() });
      notifications.show({ message: `${lock.name}: ${r.bolt}` });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'The lock did not do it', message: e.message }),
  });

  if (!canRead) return null;
  if (creds.isPending) return <Loader />;
  if (creds.isError) {
    return (
      <Alert color="red" title="Credentials unavailable" data-testid="credentials-error">
        {creds.error.message}
      </Alert>
    );
  }
  const v = creds.data;
  const caps = v.capabilities;
  const takesPins = caps.pin.slots > 0;
  const status = v.observation?.status ?? null;
  const shownBolt = bolt && bolt.at > readAt ? bolt.bolt : (status?.bolt ?? 'unknown');
  const dialogCredential = dialog && 'credential' in dialog ? dialog.credential : null;

  return (
    <Stack data-testid="credentials-section">
      <Group justify="space-between" mt="md">
        <Group gap="sm">
          <Title order={2}>Credentials</Title>
          {!v.observation?.readAt ? (
            <Badge color="gray" variant="light" data-testid="drift-count">
              not read from the lock yet
            </Badge>
          ) : v.drift > 0 ? (
            <Badge color="red" variant="light" data-testid="drift-count">
              {v.drift} slot{v.drift === 1 ? '' : 's'} differ from the lock
            </Badge>
          ) : (
            <Badge color="green" variant="light" data-testid="drift-count">
              lock matches lockwarden
            </Badge>
          )}
        </Group>
        {canWrite && takesPins && <Button onClick={() => open({ kind: 'add' })}>Add PIN</Button>}
      </Group>

      {inReset && (
        <Alert color="orange" title="A reset case owns this lock" data-testid="reset-owns-lock">
          Until the case closes, lockwarden reads this lock and sends it commands only from the case, so what you see below is the last read before the case. The case&apos;s page shows setup mode, the cloud account and the controllers as the case sees them now.
        </Alert>
      )}
      <Card withBorder data-testid="device-status">
        <Group justify="space-between" align="flex-start">
          <Stack gap={4}>
            <Text size="sm" data-testid="last-read">
              Last read from the lock: <b>{v.observation?.readAt ? formatDate(v.observation.readAt) : 'never'}</b>
              {waitingForRead && (
                <Text span size="sm" c="dimmed">
                  {' '}
                  (reading now...)
                </Text>
              )}
            </Text>
            {v.observation?.inDoubt && (
              <Text size="sm" c="orange">
                The last command&apos;s result is in doubt: lockwarden will read the lock again before trying anything else.
              </Text>
            )}
            {v.observation?.lastError && (
              <Text size="sm" c="red" data-testid="read-error">
                Last read failed: {v.observation.lastError}
              </Text>
            )}
          </Stack>
          <Group gap="xs">
            {/* A lock may be lockable but not unlockable from afar (or the other way round): one button each. */}
            {canOperate && (caps.remoteLock ?? caps.remoteLockUnlock) && (
              <Button variant="default" loading={operate.isPending && operate.variables === 'lock'} onClick={() => operate.mutate('lock')}>
                Lock
              </Button>
            )}
            {canOperate && (caps.remoteUnlock ?? caps.remoteLockUnlock) && (
              <Button variant="default" loading={operate.isPending && operate.variables === 'unlock'} onClick={() => operate.mutate('unlock')}>
                Unlock
              </Button>
            )}
            {!inReset && (
              <Button variant="light" loading={refresh.isPending} onClick={() => refresh.mutate()}>
                Read now
              </Button>
            )}
          </Group>
        </Group>
        {refresh.isError && (
          <Alert mt="sm" color="red">
            {refresh.error.message}
          </Alert>
        )}
        <SimpleGrid cols={{ base: 2, sm: 6 }} mt="md">
          <Fact label="Online">
            {status ? (
              <Badge color={status.online ? 'green' : 'red'} variant="light">
                {status.online ? 'online' : 'offline'}
              </Badge>
            ) : (
              'unknown'
            )}
          </Fact>
          <Fact label="Battery">{status?.batteryPercent == null ? 'unknown' : `${status.batteryPercent}%`}</Fact>
          <Fact label="Bolt">
            <span data-testid="bolt">{shownBolt}</span>
          </Fact>
          <Fact label="Setup mode">{status ? (status.setupMode ? 'yes: waiting for an admin' : 'no') : 'unknown'}</Fact>
          <Fact label="Firmware">{status?.firmware ?? 'unknown'}</Fact>
          <Fact label="Cloud account">{status?.cloudBound == null ? 'unknown' : status.cloudBound ? 'bound' : 'not bound'}</Fact>
        </SimpleGrid>
      </Card>

      {takesPins ? (
        <SlotTable view={v} canWrite={canWrite} canReveal={canReveal} onDialog={open} onRetry={(c) => action.mutate({ method: 'POST', url: `/api/credentials/${c.id}/retry`, done: `Trying slot ${c.slot} again` })} retryError={action.isError && !dialog ? action.error : null} />
      ) : (
        <Text c="dimmed">This lock takes no PIN codes.</Text>
      )}

      {caps.controllers && <ControllersCard lockId={lock.id} read={Boolean(v.observation?.readAt)} controllers={v.controllers} canWrite={canWrite} onRemove={(c) => open({ kind: 'remove-controller', controller: c })} onRetry={(c) => action.mutate({ method: 'POST', url: `/api/credentials/${c.id}/retry`, done: 'Trying again' })} />}

      {(caps.digitalKeys || caps.biometrics || v.digitalKeys.length > 0 || v.biometrics.length > 0) && (
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {(caps.digitalKeys || v.digitalKeys.length > 0) && (
            <Card withBorder data-testid="digital-keys">
              <Title order={4}>Digital keys</Title>
              <Text size="xs" c="dimmed" mb="xs">
                As the lock reports them; managed in the lock&apos;s own app.
              </Text>
              {v.digitalKeys.length === 0 ? <Text size="sm">{v.observation?.readAt ? 'None' : 'Not read from the lock yet.'}</Text> : v.digitalKeys.map((k) => <Text key={k.id} size="sm">{k.holder}</Text>)}
            </Card>
          )}
          {(caps.biometrics || v.biometrics.length > 0) && (
            <Card withBorder data-testid="biometrics">
              <Title order={4}>Biometric enrollments</Title>
              <Text size="xs" c="dimmed" mb="xs">
                References only: the templates never leave the lock. Enrol at the lock.
              </Text>
              {v.biometrics.length === 0 ? (
                <Text size="sm">{v.observation?.readAt ? 'None' : 'Not read from the lock yet.'}</Text>
              ) : (
                v.biometrics.map((b) => (
                  <Text key={b.id} size="sm">
                    {b.holder} <Badge size="xs" variant="outline">{b.kind}</Badge>
                  </Text>
                ))
              )}
            </Card>
          )}
        </SimpleGrid>
      )}

      {(lock.driver === 'simulator' || v.driver === 'simulator') && canWrite && <SimulatorCard
          lockId={lock.id}
          view={v}
          onChanged={() => {
            expectRead();
            void invalidate();
          }}
        />}

      {(dialog?.kind === 'add' || dialog?.kind === 'edit') && <PinFormModal lockId={lock.id} caps={caps} editing={dialog.kind === 'edit' ? dialog.credential : null} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'reveal' && dialogCredential && <RevealModal credential={dialogCredential} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'revoke' && dialogCredential && (
        <Confirm
          title={`Revoke the PIN of ${dialogCredential.holder}?`}
          confirm="Revoke PIN"
          pending={action.isPending}
          error={action.error}
          onClose={() => setDialog(null)}
          onConfirm={() => action.mutate({ method: 'DELETE', url: `/api/credentials/${dialogCredential.id}`, done: `Revoking slot ${dialogCredential.slot}` })}
        >
          Slot {dialogCredential.slot} stops working once lockwarden has removed it from the lock. This cannot be undone; add a new PIN instead.
        </Confirm>
      )}
      {dialog?.kind === 'remove-unmanaged' && (
        <Confirm
          title={`Remove the unmanaged code in slot ${dialog.slot}?`}
          confirm="Remove from the lock"
          pending={action.isPending}
          error={action.error}
          onClose={() => setDialog(null)}
          onConfirm={() => action.mutate({ method: 'POST', url: `/api/locks/${lock.id}/unmanaged/remove`, body: { slot: dialog.slot }, done: `Removing slot ${dialog.slot}` })}
        >
          Someone set this code outside lockwarden. Whoever uses it will no longer get in.
        </Confirm>
      )}
      {dialog?.kind === 'remove-controller' && (
        <Confirm
          title={`Unpair ${dialog.controller.label}?`}
          confirm="Remove controller"
          pending={action.isPending}
          error={action.error}
          onClose={() => setDialog(null)}
          onConfirm={() => action.mutate({ method: 'DELETE', url: `/api/locks/${lock.id}/controllers/${encodeURIComponent(dialog.controller.id)}`, done: `Removing ${dialog.controller.label}` })}
        >
          The {dialog.controller.kind} &quot;{dialog.controller.label}&quot; will no longer be able to operate or administer this lock.
        </Confirm>
      )}
      {dialog?.kind === 'adopt' && (
        <AdoptModal
          slot={dialog.slot}
          name={dialog.name}
          pending={action.isPending}
          error={action.error}
          onClose={() => setDialog(null)}
          onAdopt={(holder) => action.mutate({ method: 'POST', url: `/api/locks/${lock.id}/unmanaged/adopt`, body: { slot: dialog.slot, holder }, done: `Slot ${dialog.slot} is now managed by lockwarden` })}
        />
      )}
    </Stack>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase">
        {label}
      </Text>
      <Text size="sm" component="div">
        {children}
      </Text>
    </div>
  );
}

interface SlotTableProps {
  view: LockCredentialsJson;
  canWrite: boolean;
  canReveal: boolean;
  onDialog: (d: Dialog) => void;
  onRetry: (c: CredentialJson) => void;
  retryError: Error | null;
}

function SlotTable({ view, canWrite, canReveal, onDialog, onRetry, retryError }: SlotTableProps) {
  if (view.slots.length === 0) {
    return (
      <Text c="dimmed" data-testid="no-slots">
        No PINs on this lock yet ({view.capabilities.pin.slots} slots free).
      </Text>
    );
  }
  return (
    <>
      {retryError && <Alert color="red">{retryError.message}</Alert>}
      <Table striped data-testid="slot-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Slot</Table.Th>
            <Table.Th>Holder</Table.Th>
            <Table.Th>Schedule</Table.Th>
            <Table.Th>Code</Table.Th>
            <Table.Th miw={110}>Status</Table.Th>
            <Table.Th miw={200}>On the lock</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {view.slots.map((s) => (
            <SlotRow key={s.slot} slot={s} canWrite={canWrite} canReveal={canReveal} onDialog={onDialog} onRetry={onRetry} />
          ))}
        </Table.Tbody>
      </Table>
      <Text size="xs" c="dimmed">
        {view.slots.length} of {view.capabilities.pin.slots} slots in use.
      </Text>
    </>
  );
}

function SlotRow({ slot: s, canWrite, canReveal, onDialog, onRetry }: { slot: SlotJson; canWrite: boolean; canReveal: boolean; onDialog: (d: Dialog) => void; onRetry: (c: CredentialJson) => void }) {
  const c = s.credential;
  const state = slotStateText(s);
  const live = c !== null && c.status !== 'removing' && c.status !== 'removed';
  return (
    <Table.Tr data-testid={`slot-row-${s.slot}`} data-state={s.state} data-status={c?.status ?? 'unmanaged'}>
      <Table.Td>{s.slot}</Table.Td>
      <Table.Td>
        {c ? (
          <>
            {c.holder}
            {c.origin === 'adopted' && (
              <Badge ml="xs" size="xs" variant="outline">
                adopted
              </Badge>
            )}
          </>
        ) : (
          <Text size="sm" c="dimmed" fs="italic">
            {s.observed?.name ? `"${s.observed.name}" (name on the lock)` : 'no name on the lock'}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Text size="sm">{scheduleText(c?.schedule ?? s.observed?.schedule ?? { kind: 'always' })}</Text>
        {s.observed?.offline && (
          <Tooltip label="The lock works this code out by itself, without a connection; it stops working when its time window ends.">
            <Badge size="xs" variant="outline" data-testid="offline-code">
              offline code
            </Badge>
          </Tooltip>
        )}
        {s.state === 'schedule_mismatch' && s.observed && (
          <Text size="xs" c="orange">
            lock has: {s.observed.enabled ? scheduleText(s.observed.schedule) : 'disabled'}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          <Text ff="monospace" size="sm" aria-label="code hidden">
            {MASK}
          </Text>
          {c && canReveal && (
            <Button size="compact-xs" variant="subtle" onClick={() => onDialog({ kind: 'reveal', credential: c })}>
              Reveal
            </Button>
          )}
        </Group>
      </Table.Td>
      <Table.Td>
        {c ? <StatusBadge status={c.status} testId={`slot-status-${s.slot}`} /> : <Text size="sm">-</Text>}
        {c?.status === 'failed' && c.lastError && (
          <Text size="xs" c="red" maw={260} data-testid={`slot-error-${s.slot}`}>
            {c.lastError}
          </Text>
        )}
        {c?.status === 'pending' && c.attempts > 0 && (
          <Text size="xs" c="dimmed" maw={260}>
            attempt {c.attempts} did not get through{c.lastError ? `: ${c.lastError}` : ''}; retrying
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Badge
          color={state.colour}
          variant={state.drift ? 'filled' : 'light'}
          tt="none"
          h="auto"
          py={2}
          styles={{ label: { whiteSpace: 'normal', overflow: 'visible' } }}
          data-testid={`slot-state-${s.slot}`}
        >
          {state.label}
        </Badge>
      </Table.Td>
      <Table.Td>
        {canWrite && (
          <Group gap={4} wrap="nowrap" justify="flex-end">
            {c?.status === 'failed' && (
              <Button size="compact-xs" color="orange" onClick={() => onRetry(c)}>
                Retry
              </Button>
            )}
            {c && live && (
              <>
                <Button size="compact-xs" variant="default" onClick={() => onDialog({ kind: 'edit', credential: c })}>
                  Edit
                </Button>
                <Button size="compact-xs" variant="light" color="red" onClick={() => onDialog({ kind: 'revoke', credential: c })}>
                  Revoke
                </Button>
              </>
            )}
            {!c && s.state === 'unmanaged' && (
              <>
                <Button size="compact-xs" variant="light" onClick={() => onDialog({ kind: 'adopt', slot: s.slot, name: s.observed?.name ?? '' })}>
                  Adopt
                </Button>
                <Button size="compact-xs" variant="light" color="red" onClick={() => onDialog({ kind: 'remove-unmanaged', slot: s.slot })}>
                  Remove
                </Button>
              </>
            )}
          </Group>
        )}
      </Table.Td>
    </Table.Tr>
  );
}

/**
 * The lock's paired controllers (hubs, phones, Matter fabrics): as it last reported them, or as it
 * answers now ("Ask the lock", for whoever manages its credentials). lockwarden's own pairing is
 * marked and cannot be removed here.
 */
function ControllersCard({ lockId, read, controllers: reported, canWrite, onRemove, onRetry }: { lockId: string; read: boolean; controllers: ControllerJson[]; canWrite: boolean; onRemove: (c: ControllerJson) => void; onRetry: (c: CredentialJson) => void }) {
  const live = useMutation({ mutationFn: () => api<LockControllersJson>('GET', `/api/locks/${lockId}/controllers`) });
  // A live answer shows until the reported list changes (a removal went through, a new read).
  const [shownLive, setShownLive] = useState<LockControllersJson | null>(null);
  useEffect(() => setShownLive(null), [reported]);
  useEffect(() => {
    if (live.data) setShownLive(live.data);
  }, [live.data]);
  // Removal states come from the reported list, which polls.
  const controllers: ControllerJson[] = shownLive ? shownLive.controllers.map((c) => ({ ...c, removal: reported.find((r) => r.id === c.id)?.removal ?? c.removal })) : reported;
  // Vendor and root key are Matter's; other protocols leave the columns out.
  const details = controllers.some((c) => c.vendor !== undefined || c.fingerprint !== undefined);
  return (
    <Card withBorder data-testid="controllers">
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={4}>Paired controllers</Title>
          <Text size="xs" c="dimmed" mb="xs">
            Hubs, phones and fabrics that can operate or administer this lock, {shownLive ? `as it answered at ${formatDate(shownLive.readAt)}` : 'as it last reported them'}.
          </Text>
        </div>
        {canWrite && (
          <Button size="compact-sm" variant="light" loading={live.isPending} onClick={() => live.mutate()} data-testid="controllers-ask">
            Ask the lock
          </Button>
        )}
      </Group>
      {live.isError && (
        <Alert color="red" mb="xs">
          {live.error.message}
        </Alert>
      )}
      {controllers.length === 0 ? (
        <Text size="sm">{read ? 'None reported.' : 'Not read from the lock yet.'}</Text>
      ) : (
        <Table>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Kind</Table.Th>
              {details && <Table.Th>Vendor</Table.Th>}
              {details && <Table.Th>Root key</Table.Th>}
              <Table.Th />
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {controllers.map((c) => (
              <Table.Tr key={c.id} data-testid={`controller-${c.id}`}>
                <Table.Td>{c.label}</Table.Td>
                <Table.Td>{c.kind === 'fabric' ? `fabric ${c.id.replace(/^fabric-/, '')}` : c.kind}</Table.Td>
                {details && <Table.Td>{c.vendor ?? ''}</Table.Td>}
                {details && (
                  <Table.Td>
                    {c.fingerprint && (
                      <Tooltip label="SHA-256 of the fabric's root public key (first 16 bytes)">
                        <Code>{c.fingerprint.slice(0, 23)}…</Code>
                      </Tooltip>
                    )}
                  </Table.Td>
                )}
                <Table.Td>{c.admin && <Badge variant="light">admin</Badge>}</Table.Td>
                <Table.Td>
                  <Group gap={4} justify="flex-end" wrap="nowrap">
                    {c.self || c.id === 'lockwarden' ? (
                      <Badge variant="outline" color="gray">
                        this lockwarden
                      </Badge>
                    ) : c.removal ? (
                      <>
                        <StatusBadge status={c.removal.status} />
                        {c.removal.status === 'failed' && (
                          <>
                            {c.removal.lastError && (
                              <Text size="xs" c="red">
                                {c.removal.lastError}
                              </Text>
                            )}
                            {canWrite && (
                              <Button size="compact-xs" color="orange" onClick={() => onRetry(c.removal!)}>
                                Retry
                              </Button>
                            )}
                          </>
                        )}
                      </>
                    ) : (
                      canWrite && (
                        <Button size="compact-xs" variant="light" color="red" onClick={() => onRemove(c)}>
                          Remove
                        </Button>
                      )
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function Confirm({ title, confirm, children, pending, error, onClose, onConfirm }: { title: string; confirm: string; children: ReactNode; pending: boolean; error: Error | null; onClose: () => void; onConfirm: () => void }) {
  return (
    <Modal opened onClose={onClose} title={title}>
      <Stack>
        <Text size="sm">{children}</Text>
        {error && <Alert color="red">{error.message}</Alert>}
        <Group>
          <Button color="red" loading={pending} onClick={onConfirm}>
            {confirm}
          </Button>
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function AdoptModal({ slot, name, pending, error, onClose, onAdopt }: { slot: number; name: string; pending: boolean; error: Error | null; onClose: () => void; onAdopt: (holder: string) => void }) {
  const [holder, setHolder] = useState(name);
  const errors = fieldErrors(error);
  const alert = formAlert(error, ['holder']);
  return (
    <Modal opened onClose={onClose} title={`Adopt the code in slot ${slot}`}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onAdopt(holder);
        }}
      >
        <Stack>
          <Text size="sm">The code stays on the lock as it is; lockwarden manages it from now on and puts it back if it changes.</Text>
          <TextInput label="Holder" description="who uses this code" required data-autofocus value={holder} error={errors.holder} onChange={(e) => setHolder(e.currentTarget.value)} />
          {alert && <Alert color="red">{alert}</Alert>}
          <Group>
            <Button type="submit" loading={pending}>
              Adopt
            </Button>
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Asks for a reason, then shows the code until the modal closes. */
function RevealModal({ credential, onClose }: { credential: CredentialJson; onClose: () => void }) {
  const [reason, setReason] = useState('');
  const reveal = useMutation({ mutationFn: () => api<{ code: string }>('POST', `/api/credentials/${credential.id}/reveal`, { reason }) });
  const errors = fieldErrors(reveal.error);
  const alert = formAlert(reveal.error, ['reason']);
  return (
    <Modal opened onClose={onClose} title={`Reveal the PIN of ${credential.holder} (slot ${credential.slot})`}>
      {reveal.data ? (
        <Stack>
          <Group justify="center">
            <Code fz={28} px="lg" py="xs" data-testid="revealed-code">
              {reveal.data.code}
            </Code>
          </Group>
          <Text size="xs" c="dimmed">
            Your reason was recorded. The code is hidden again when you close this.
          </Text>
          <Button onClick={onClose}>Hide code</Button>
        </Stack>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            reveal.mutate();
          }}
        >
          <Stack>
            <Textarea label="Reason" description="why you need to see this code; it is recorded" required data-autofocus value={reason} error={errors.reason} onChange={(e) => setReason(e.currentTarget.value)} />
            {alert && <Alert color="red">{reveal.error instanceof ApiError && reveal.error.status === 403 ? 'You may not reveal codes.' : alert}</Alert>}
            <Group>
              <Button type="submit" loading={reveal.isPending}>
                Show code
              </Button>
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
