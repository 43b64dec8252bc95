import { useEffect, useState } from 'react';
import { Anchor, Badge, Button, Group, MultiSelect, Pagination, Select, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router-dom';
import { FAMILY_LABELS, LOCK_FAMILIES } from '../../domain/lock-models.js';
import { SERVICE_STATE_LABELS, SERVICE_STATES } from '../../domain/locks.js';
import { api } from '../api.js';
import { findNode, lockPlace, sitesOf, useModels, useTree, type LockJson } from '../data.js';
import { useCan } from '../session.js';
import { StateBadge } from './StateBadge.js';

const PAGE = 25;
const FILTERS = ['siteId', 'locationId', 'modelId', 'family', 'state', 'q', 'includeRetired'];

/** The list's filter (without paging), for a bulk change of the same locks. */
function bulkFilter(params: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const key of FILTERS) {
    const v = params.get(key);
    if (v) out.set(key, v);
  }
  return out.toString();
}

/** The lock list: filters live in the URL, so a link reproduces the view. */
export function LockList() {
  const [params, setParams] = useSearchParams();
  const canWrite = useCan('lock.write');
  const canBulk = useCan('credential.write');
  const tree = useTree();
  const models = useModels();
  const urlQ = params.get('q') ?? '';
  const [search, setSearch] = useState(urlQ);
  const [debounced] = useDebouncedValue(search, 300);
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);

  const update = (key: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    if (key !== 'page') next.delete('page');
    setParams(next, { replace: true });
  };
  // Typing writes the search to the URL (debounced); a URL changed from outside (a link, Back) wins.
  useEffect(() => {
    if (urlQ !== debounced) update('q', debounced || null);
  }, [debounced]);
  useEffect(() => {
    if (urlQ !== debounced) setSearch(urlQ);
  }, [urlQ]);

  const query = new URLSearchParams();
  for (const key of FILTERS) {
    const v = params.get(key);
    if (v) query.set(key, v);
  }
  query.set('limit', String(PAGE));
  query.set('offset', String((page - 1) * PAGE));
  const locks = useQuery({
    queryKey: ['locks', query.toString()],
    queryFn: () => api<{ items: LockJson[]; total: number }>('GET', `/api/locks?${query.toString()}`),
    placeholderData: keepPreviousData,
  });
  const list = (key: string) => (params.get(key) ?? '').split(',').filter(Boolean);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Locks</Title>
        <Group>
          {canBulk && (
            <Button component={Link} to={`/bulk?${bulkFilter(params)}`} variant="default">
              Bulk change these locks
            </Button>
          )}
          {canWrite && (
            <Button component={Link} to="/locks/new">
              Add lock
            </Button>
          )}
        </Group>
      </Group>
      <Group align="flex-end" wrap="wrap">
        <Select
          label="Site"
          placeholder="All sites"
          clearable
          data={sitesOf(tree.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
          value={params.get('siteId')}
          onChange={(v) => update('siteId', v)}
          w={220}
        />
        <Select
          label="Model"
          placeholder="All models"
          clearable
          searchable
          data={(models.data ?? []).map((m) => ({ value: m.id, label: `${m.manufacturer} ${m.modelNumber}` }))}
          value={params.get('modelId')}
          onChange={(v) => update('modelId', v)}
          w={240}
        />
        <MultiSelect
          label="Family"
          placeholder={list('family').length ? undefined : 'All families'}
          clearable
          data={LOCK_FAMILIES.map((f) => ({ value: f, label: FAMILY_LABELS[f] }))}
          value={list('family')}
          onChange={(v) => update('family', v.join(',') || null)}
          w={260}
        />
        <MultiSelect
          label="State"
          placeholder={list('state').length ? undefined : 'All active states'}
          clearable
          data={SERVICE_STATES.map((s) => ({ value: s, label: SERVICE_STATE_LABELS[s] }))}
          value={list('state')}
          onChange={(v) => update('state', v.join(',') || null)}
          w={260}
        />
        <TextInput label="Search" placeholder="name, serial, model" value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={220} />
        <Switch
          label="Show retired"
          mb={8}
          checked={params.get('includeRetired') === 'true'}
          onChange={(e) => update('includeRetired', e.currentTarget.checked ? 'true' : null)}
        />
      </Group>
      {params.get('locationId') && (
        <Group gap="xs">
          <Text size="sm">
            Showing locks at or below {findNode(tree.data ?? [], params.get('locationId'))?.name ?? 'one location'}.
          </Text>
          <Anchor size="sm" onClick={() => update('locationId', null)}>
            Show all
          </Anchor>
        </Group>
      )}
      <Table striped highlightOnHover data-testid="lock-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Location</Table.Th>
            <Table.Th>Model</Table.Th>
            <Table.Th>Family</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Battery</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {locks.data?.items.map((l) => (
            <Table.Tr key={l.id} data-testid="lock-row">
              <Table.Td>
                <Anchor component={Link} to={`/locks/${l.id}`}>
                  {l.name}
                </Anchor>
                {l.isDemo && (
                  <Badge ml="xs" size="xs" variant="outline" color="yellow">
                    demo
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{lockPlace(l, 3)}</Table.Td>
              <Table.Td>
                {l.manufacturer} {l.modelNumber}
              </Table.Td>
              <Table.Td>{FAMILY_LABELS[l.family]}</Table.Td>
              <Table.Td>
                <StateBadge state={l.serviceState} />
              </Table.Td>
              <Table.Td c={l.batteryPercent !== null && l.batteryPercent < 20 ? 'red' : undefined}>{l.batteryPercent === null ? '-' : `${l.batteryPercent}%`}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {locks.data && locks.data.items.length === 0 && <Text c="dimmed">No lock matches these filters.</Text>}
      {locks.isError && <Text c="red">{locks.error.message}</Text>}
      <Group justify="space-between">
        <Text size="sm" c="dimmed">
          {locks.data ? `${locks.data.total} lock(s)` : 'Loading...'}
        </Text>
        <Pagination total={Math.max(1, Math.ceil((locks.data?.total ?? 0) / PAGE))} value={page} onChange={(p) => update('page', String(p))} />
      </Group>
    </Stack>
  );
}
