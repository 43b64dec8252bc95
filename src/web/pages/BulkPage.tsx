import { useEffect, useState } from 'react';
import { Alert, Anchor, Badge, Button, Card, Checkbox, Group, Modal, Progress, Radio, Select, SimpleGrid, Stack, Table, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router-dom';
import { api, fieldErrors, formAlert, formatDate } from '../api.js';
import type { BulkJson } from '../credentials.js';
import { findNode, locationOptions, useLocations, useTree, type LockJson } from '../data.js';
import { useCan } from '../session.js';
import { newScheduleDraft, ScheduleFields, scheduleFieldPaths, scheduleOf, type ScheduleDraft } from './ScheduleFields.js';

/** The lock list's filter parameters a bulk change can target. */
const FILTER_KEYS = ['siteId', 'locationId', 'modelId', 'family', 'state', 'q', 'includeRetired'];
const FIELDS = ['target', 'target.lockIds', 'target.locationId', 'revoke', 'revoke.holders', 'revoke.all', 'add', 'add.0.holder', 'add.0.code', 'add.0.length', 'description', ...scheduleFieldPaths('add.0.schedule')];

/** Every lock matching the lock list's filter (all pages), for a bulk change by explicit ids. */
function useFilteredLocks(filter: string) {
  return useQuery({
    queryKey: ['locks', 'bulk-target', filter],
    enabled: filter !== '',
    queryFn: async () => {
      const out: LockJson[] = [];
      for (let offset = 0; ; offset += 500) {
        const page = await api<{ items: LockJson[]; total: number }>('GET', `/api/locks?${filter}&limit=500&offset=${offset}`);
        out.push(...page.items);
        if (page.items.length === 0 || out.length >= page.total) return out;
      }
    },
  });
}

/**
 * Changes many locks at once, as a turnover does: revoke the PINs of some holders (or all) and add a
 * PIN for a holder, on every lock under a location or every lock of the lock list's filter. Then
 * follows the change's progress, and lists recent changes.
 */
export function BulkPage() {
  const [params] = useSearchParams();
  const canWrite = useCan('credential.write');
  const filterParams = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v) filterParams.set(k, v);
  }
  const filter = filterParams.toString();
  const [current, setCurrent] = useState<string | null>(params.get('id'));
  return (
    <Stack>
      <Title order={2}>Bulk change</Title>
      <Text c="dimmed" size="sm">
        Revoke and add PINs on many locks at once. lockwarden records the change at once and applies it lock by lock in the background; follow its progress below.
      </Text>
      {canWrite && <BulkForm filter={filter} onStarted={setCurrent} />}
      {current && <BulkProgressCard id={current} />}
      <RecentBulks current={current} onOpen={setCurrent} />
    </Stack>
  );
}

function BulkForm({ filter, onStarted }: { filter: string; onStarted: (id: string) => void }) {
  const queryClient = useQueryClient();
  const locations = useLocations();
  const tree = useTree();
  const filtered = useFilteredLocks(filter);
  const [target, setTarget] = useState<'location' | 'filter'>(filter ? 'filter' : 'location');
  const [locationId, setLocationId] = useState<string | null>(null);
  const [revoke, setRevoke] = useState(false);
  const [revokeAll, setRevokeAll] = useState<'holders' | 'all'>('holders');
  const [holders, setHolders] = useState<string[]>([]);
  const [add, setAdd] = useState(true);
  const [holder, setHolder] = useState('');
  const [code, setCode] = useState('');
  const [schedule, setSchedule] = useState<ScheduleDraft>(newScheduleDraft());
  const [description, setDescription] = useState('');
  const [confirming, setConfirming] = useState(false);

  const lockCount = target === 'filter' ? (filtered.data?.length ?? null) : (findNode(tree.data ?? [], locationId)?.lockCount ?? null);
  const body = () => ({
    target: target === 'filter' ? { lockIds: (filtered.data ?? []).map((l) => l.id) } : { locationId: locationId ?? '' },
    ...(revoke ? { revoke: revokeAll === 'all' ? { all: true } : { holders } } : {}),
    add: add ? [{ holder, schedule: scheduleOf(schedule), ...(code.trim() ? { code: code.trim() } : {}) }] : [],
    ...(description.trim() ? { description: description.trim() } : {}),
  });
  const start = useMutation({
    mutationFn: () => api<BulkJson>('POST', '/api/bulk', body()),
    onSuccess: async (b) => {
      setConfirming(false);
      onStarted(b.id);
      queryClient.setQueryData(['bulk', b.id], b);
      await queryClient.invalidateQueries({ queryKey: ['bulk', 'recent'] });
    },
    onError: () => setConfirming(false),
  });
  const errors = fieldErrors(start.error);
  const alert = formAlert(start.error, FIELDS);
  const targetError = errors.target ?? errors['target.lockIds'] ?? errors['target.locationId'];
  const summary = [
    revoke ? (revokeAll === 'all' ? 'revoke every PIN' : `revoke the PINs of ${holders.join(', ') || '(no holder named)'}`) : null,
    add ? `add a PIN for ${holder || '(no holder named)'}` : null,
  ]
    .filter(Boolean)
    .join(' and ');

  return (
    <Card withBorder>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          start.reset();
          setConfirming(true);
        }}
      >
        <Stack>
          <Radio.Group label="Which locks" value={target} onChange={(v) => setTarget(v)} error={targetError}>
            <Group mt={4}>
              <Radio value="location" label="Every lock at or below a location" />
              <Radio value="filter" label="The locks of the lock list's filter" disabled={!filter} />
            </Group>
          </Radio.Group>
          {target === 'location' ? (
            <Select label="Location" placeholder="choose a site, building, floor, unit..." searchable data={locationOptions(locations.data ?? [])} value={locationId} onChange={setLocationId} error={errors['target.locationId']} maw={520} />
          ) : (
            <Text size="sm" data-testid="bulk-filter-summary">
              {filtered.isPending ? 'Finding the locks of the filter...' : `${filtered.data?.length ?? 0} lock(s) match the filter`}
              {filtered.data && filtered.data.length > 0 && `: ${filtered.data.slice(0, 5).map((l) => l.name).join(', ')}${filtered.data.length > 5 ? ', ...' : ''}`}{' '}
              <Anchor component={Link} to={`/locks?${filter}`} size="sm">
                change the filter
              </Anchor>
            </Text>
          )}
          {!filter && (
            <Text size="xs" c="dimmed">
              To target a filtered list instead, filter the lock list and choose &quot;Bulk change these locks&quot; there.
            </Text>
          )}
          {lockCount !== null && (
            <Text size="sm" c="dimmed">
              {lockCount} lock(s) targeted; retired locks are skipped.
            </Text>
          )}

          <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
            <Stack gap="xs">
              <Checkbox label="Revoke PINs" checked={revoke} onChange={(e) => setRevoke(e.currentTarget.checked)} />
              {revoke && (
                <>
                  <Radio.Group value={revokeAll} onChange={(v) => setRevokeAll(v)}>
                    <Group>
                      <Radio value="holders" label="of these holders" />
                      <Radio value="all" label="all PINs" />
                    </Group>
                  </Radio.Group>
                  {revokeAll === 'holders' ? (
                    <TagsInput label="Holders" description="press Enter after each name; matched ignoring case" value={holders} onChange={setHolders} error={errors['revoke.holders'] ?? errors.revoke} />
                  ) : (
                    <Alert color="orange">Every PIN lockwarden manages on these locks will be revoked.</Alert>
                  )}
                </>
              )}
            </Stack>
            <Stack gap="xs">
              <Checkbox label="Add a PIN" checked={add} onChange={(e) => setAdd(e.currentTarget.checked)} />
              {add && (
                <>
                  <TextInput label="Holder" required value={holder} onChange={(e) => setHolder(e.currentTarget.value)} error={errors['add.0.holder'] ?? errors.add} />
                  <TextInput
                    label="Code"
                    inputMode="numeric"
                    autoComplete="off"
                    placeholder="generate one per lock"
                    description="Leave empty: each lock gets its own generated code (reveal it on the lock's page). A typed code must fit every lock."
                    value={code}
                    onChange={(e) => setCode(e.currentTarget.value)}
                    error={errors['add.0.code']}
                  />
                  <ScheduleFields value={schedule} onChange={setSchedule} caps={null} errors={errors} prefix="add.0.schedule" />
                  <Text size="xs" c="dimmed">
                    Locks that cannot keep this schedule, or have no free slot, are listed as failures.
                  </Text>
                </>
              )}
            </Stack>
          </SimpleGrid>
          <TextInput label="Description" placeholder={summary || 'what this change is for'} description="optional; shown in the list of changes" value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={errors.description} maw={520} />
          {alert && <Alert color="red">{alert}</Alert>}
          <Group>
            <Button type="submit" disabled={(!revoke && !add) || (target === 'filter' && !filtered.data?.length)} loading={start.isPending}>
              Review and apply
            </Button>
          </Group>
        </Stack>
      </form>
      <Modal opened={confirming} onClose={() => setConfirming(false)} title="Apply this change?">
        <Stack>
          <Text size="sm">
            {summary || 'Nothing to do'} on {lockCount ?? 'the'} lock(s){target === 'location' && locationId ? ` at ${findNode(tree.data ?? [], locationId)?.name ?? 'the chosen location'}` : ' of the filter'}.
          </Text>
          <Group>
            <Button loading={start.isPending} onClick={() => start.mutate()}>
              Apply
            </Button>
            <Button variant="default" onClick={() => setConfirming(false)}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}

/** done / failed / pending as one bar, with the counts in words. */
export function BulkBar({ bulk, size = 'lg' }: { bulk: BulkJson; size?: string }) {
  const pct = (n: number) => (bulk.total === 0 ? 0 : (n / bulk.total) * 100);
  return (
    <Stack gap={4}>
      <Progress.Root size={size} data-testid="bulk-progress">
        <Progress.Section value={pct(bulk.done)} color="green" title={`${bulk.done} done`} />
        <Progress.Section value={pct(bulk.failed)} color="red" title={`${bulk.failed} failed`} />
        <Progress.Section value={pct(bulk.pending)} color="blue" striped animated={!bulk.finished} title={`${bulk.pending} pending`} />
      </Progress.Root>
      <Text size="xs" c="dimmed" data-testid="bulk-counts">
        {bulk.done} done, {bulk.failed} failed, {bulk.pending} pending of {bulk.total}
      </Text>
    </Stack>
  );
}

function BulkProgressCard({ id }: { id: string }) {
  const bulk = useQuery({
    queryKey: ['bulk', id],
    queryFn: () => api<BulkJson>('GET', `/api/bulk/${id}`),
    refetchInterval: (q) => (q.state.data?.finished || q.state.status === 'error' ? false : 1000),
  });
  const queryClient = useQueryClient();
  const b = bulk.data;
  const finished = b?.finished ?? false;
  // The list of recent changes shows the final counts as soon as this one is done.
  useEffect(() => {
    if (finished) void queryClient.invalidateQueries({ queryKey: ['bulk', 'recent'] });
  }, [finished, queryClient]);
  return (
    <Card withBorder data-testid="bulk-current">
      {bulk.isError && <Alert color="red">{bulk.error.message}</Alert>}
      {b && (
        <Stack gap="sm">
          <Group justify="space-between">
            <Title order={4}>{b.description}</Title>
            {b.finished ? (
              <Badge color={b.failed ? 'orange' : 'green'} variant="light" data-testid="bulk-finished">
                {b.failed ? 'finished with failures' : 'finished'}
              </Badge>
            ) : (
              <Badge variant="light">in progress</Badge>
            )}
          </Group>
          <Text size="xs" c="dimmed">
            Started {formatDate(b.createdAt)} by {b.createdBy}
          </Text>
          <BulkBar bulk={b} size="xl" />
          {b.failures.length > 0 && (
            <Table data-testid="bulk-failures">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Lock</Table.Th>
                  <Table.Th>Why it failed</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {b.failures.map((f, i) => (
                  <Table.Tr key={`${f.lockId}-${i}`}>
                    <Table.Td>
                      <LockName id={f.lockId} />
                    </Table.Td>
                    <Table.Td>{f.error}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          {b.failures.length > 0 && b.failures.length < b.failed && (
            <Text size="xs" c="dimmed">
              Showing the first {b.failures.length} of {b.failed} failures.
            </Text>
          )}
        </Stack>
      )}
    </Card>
  );
}

/** A lock's name as a link (its id until it loads). */
function LockName({ id }: { id: string }) {
  const lock = useQuery({ queryKey: ['lock', id], queryFn: () => api<LockJson>('GET', `/api/locks/${id}`), staleTime: 60_000 });
  return (
    <Anchor component={Link} to={`/locks/${id}`} size="sm">
      {lock.data?.name ?? id.slice(0, 8)}
    </Anchor>
  );
}

function RecentBulks({ current, onOpen }: { current: string | null; onOpen: (id: string) => void }) {
  const recent = useQuery({
    queryKey: ['bulk', 'recent'],
    queryFn: async () => (await api<{ items: BulkJson[] }>('GET', '/api/bulk')).items,
    refetchInterval: (q) => (q.state.status === 'error' ? false : q.state.data?.some((b) => !b.finished) ? 2000 : 15_000),
  });
  return (
    <Stack gap="xs">
      <Title order={3}>Recent bulk changes</Title>
      {recent.isError && <Alert color="red">{recent.error.message}</Alert>}
      {recent.data?.length === 0 && <Text c="dimmed">No bulk change yet.</Text>}
      {recent.data && recent.data.length > 0 && (
        <Table data-testid="bulk-recent" highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Change</Table.Th>
              <Table.Th>By</Table.Th>
              <Table.Th>Started</Table.Th>
              <Table.Th w={280}>Progress</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {recent.data.map((b) => (
              <Table.Tr key={b.id} data-testid="bulk-row" bg={b.id === current ? 'var(--mantine-color-blue-light)' : undefined}>
                <Table.Td>{b.description}</Table.Td>
                <Table.Td>{b.createdBy}</Table.Td>
                <Table.Td>{formatDate(b.createdAt)}</Table.Td>
                <Table.Td>
                  <BulkBar bulk={b} size="sm" />
                </Table.Td>
                <Table.Td>
                  <Button size="compact-xs" variant="subtle" onClick={() => onOpen(b.id)}>
                    Details
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
