import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Card, Group, Loader, Modal, Select, Stack, Table, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { FAMILY_LABELS, type LockFamily } from '../../domain/lock-models.js';
import { api, formAlert, formatDate } from '../api.js';
import { useModels } from '../data.js';
import { entryPath, GenericBadge, StatusBadge, useStale, useToc, type EntryJson, type SummaryJson, type TocLocation } from '../handbook.js';
import { useCan } from '../session.js';

/** The handbook's front page: search, then the contents by manufacturer or location, and what needs re-verification. */
export function Handbook() {
  const [params, setParams] = useSearchParams();
  const tab = params.get('view') ?? 'manufacturer';
  const canWrite = useCan('handbook.write');
  const [applying, setApplying] = useState(false);
  return (
    <Stack>
      <Group justify="space-between" data-testid="handbook-header">
        <Title order={2}>Reset handbook</Title>
        <Group gap="xs" data-testid="handbook-actions">
          <Button component="a" href="/api/handbook/export.pdf?scope=all" download variant="default" data-testid="export-pdf">
            Export PDF
          </Button>
          {canWrite && (
            <>
              <Button component={Link} to="/handbook/new" variant="default">
                New entry
              </Button>
              <Button variant="default" onClick={() => setApplying(true)}>
                Apply a template
              </Button>
            </>
          )}
        </Group>
      </Group>
      <Search />
      <Tabs value={tab} onChange={(v) => setParams(v && v !== 'manufacturer' ? { view: v } : {}, { replace: true })} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="manufacturer">By manufacturer and model</Tabs.Tab>
          <Tabs.Tab value="location">By location</Tabs.Tab>
          <Tabs.Tab value="stale">Needs re-verification</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="manufacturer" pt="md">
          <ByManufacturer />
        </Tabs.Panel>
        <Tabs.Panel value="location" pt="md">
          <ByLocation />
        </Tabs.Panel>
        <Tabs.Panel value="stale" pt="md">
          <NeedsVerification />
        </Tabs.Panel>
      </Tabs>
      <ApplyTemplate opened={applying} onClose={() => setApplying(false)} />
    </Stack>
  );
}

function Search() {
  const [q, setQ] = useState('');
  const [debounced] = useDebouncedValue(q.trim(), 250);
  const hits = useQuery({
    queryKey: ['handbook', 'search', debounced],
    enabled: debounced.length > 0,
    queryFn: async () => (await api<{ items: (SummaryJson & { rank: number })[] }>('GET', `/api/handbook/search?q=${encodeURIComponent(debounced)}&limit=20`)).items,
  });
  return (
    <Stack gap="xs">
      <TextInput
        label="Search the handbook"
        placeholder="model number (typos are fine), manufacturer, or words from the steps"
        value={q}
        onChange={(e) => setQ(e.currentTarget.value)}
        data-testid="handbook-search"
      />
      {debounced && hits.isPending && <Loader size="sm" />}
      {debounced && hits.isError && <Alert color="red">{hits.error.message}</Alert>}
      {debounced && hits.data && (
        <Card withBorder data-testid="search-results">
          {hits.data.length === 0 ? <Text c="dimmed">Nothing matches "{debounced}".</Text> : <EntryTable items={hits.data} />}
        </Card>
      )}
    </Stack>
  );
}

/** A list of entries: each linked, with its model, override lock and status. */
export function EntryTable({ items, showDue = false }: { items: SummaryJson[]; showDue?: boolean }) {
  return (
    <Table striped data-testid="entry-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Entry</Table.Th>
          <Table.Th>Model</Table.Th>
          <Table.Th>Applies to</Table.Th>
          <Table.Th>Revision</Table.Th>
          <Table.Th>Status</Table.Th>
          {showDue && <Table.Th>Last verified</Table.Th>}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {items.map((e) => (
          <Table.Tr key={e.id} data-testid="entry-row">
            <Table.Td>
              <Anchor component={Link} to={entryPath(e.id)}>
                {e.title}
              </Anchor>{' '}
              <GenericBadge generic={e.generic} />
            </Table.Td>
            <Table.Td>
              {e.manufacturer} {e.modelNumber}
            </Table.Td>
            <Table.Td>{e.lockName ? `this lock only: ${e.lockName}` : 'every lock of the model'}</Table.Td>
            <Table.Td>{e.revision}</Table.Td>
            <Table.Td>
              <StatusBadge status={e.status} />
            </Table.Td>
            {showDue && <Table.Td>{e.verifiedAt ? `${formatDate(e.verifiedAt)} by ${e.verifiedBy ?? '?'}` : 'never'}</Table.Td>}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function ByManufacturer() {
  const toc = useToc();
  const canWrite = useCan('handbook.write');
  if (toc.isPending) return <Loader />;
  if (toc.isError) return <Alert color="red">{toc.error.message}</Alert>;
  if (toc.data.manufacturers.length === 0) return <Text c="dimmed">No models in the catalogue yet.</Text>;
  return (
    <Stack data-testid="toc-manufacturers">
      {toc.data.manufacturers.map((m) => (
        <Card withBorder key={m.name}>
          <Title order={4}>{m.name}</Title>
          <Stack gap={4} mt="xs">
            {m.models.map((model) => (
              <Group key={model.modelId} gap="xs" wrap="wrap">
                <Text fw={600} w={140}>
                  {model.modelNumber}
                </Text>
                <Text size="sm" c="dimmed" w={160}>
                  {FAMILY_LABELS[model.family as LockFamily] ?? model.family}
                </Text>
                {model.entries.length === 0 && (
                  <Text size="sm" c="dimmed">
                    no entry yet{' '}
                    {canWrite && (
                      <Anchor component={Link} to={`/handbook/new?modelId=${model.modelId}`}>
                        write one
                      </Anchor>
                    )}
                  </Text>
                )}
                {model.entries.map((e) => (
                  <Group key={e.id} gap={4}>
                    <Anchor component={Link} to={entryPath(e.id)}>
                      {e.lockName ? `Override: ${e.lockName}` : e.title}
                    </Anchor>
                    <StatusBadge status={e.status} size="xs" />
                    {e.generic && (
                      <Badge size="xs" color="grape" variant="outline">
                        template
                      </Badge>
                    )}
                  </Group>
                ))}
              </Group>
            ))}
          </Stack>
        </Card>
      ))}
    </Stack>
  );
}

function LocationNode({ node, depth }: { node: TocLocation; depth: number }) {
  const hasLocks = (n: TocLocation): boolean => n.locks.length > 0 || n.children.some(hasLocks);
  if (!hasLocks(node)) return null;
  return (
    <Stack gap={2} pl={depth === 0 ? 0 : 'md'}>
      <Text fw={600} size={depth === 0 ? 'md' : 'sm'}>
        {node.name}{' '}
        <Text span size="xs" c="dimmed">
          {node.kind}
        </Text>
      </Text>
      {node.locks.map((l) => (
        <Group key={l.lockId} gap="xs" pl="md">
          {l.entryId ? (
            <Anchor component={Link} to={entryPath(l.entryId)} size="sm">
              {l.name}
            </Anchor>
          ) : (
            <Text size="sm">
              {l.name}{' '}
              <Text span c="dimmed" size="xs">
                no procedure
              </Text>
            </Text>
          )}
          {l.source === 'lock' && (
            <Badge size="xs" variant="outline">
              override
            </Badge>
          )}
          <StatusBadge status={l.status} size="xs" />
        </Group>
      ))}
      {node.children.map((c) => (
        <LocationNode key={c.id} node={c} depth={depth + 1} />
      ))}
    </Stack>
  );
}

function ByLocation() {
  const toc = useToc();
  if (toc.isPending) return <Loader />;
  if (toc.isError) return <Alert color="red">{toc.error.message}</Alert>;
  return (
    <Card withBorder data-testid="toc-locations">
      <Stack>
        {toc.data.locations.map((n) => (
          <LocationNode key={n.id} node={n} depth={0} />
        ))}
      </Stack>
    </Card>
  );
}

function NeedsVerification() {
  const stale = useStale();
  if (stale.isPending) return <Loader />;
  if (stale.isError) return <Alert color="red">{stale.error.message}</Alert>;
  if (stale.data.length === 0) return <Text c="dimmed">Every entry is verified within its window.</Text>;
  return (
    <Stack gap="xs" data-testid="needs-verification">
      <Text size="sm" c="dimmed">
        Stale (past the verification window) or never verified, oldest first.
      </Text>
      <EntryTable items={stale.data} showDue />
    </Stack>
  );
}

function ApplyTemplate({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const models = useModels();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [modelId, setModelId] = useState<string | null>(null);
  const [family, setFamily] = useState<string | null>(null);
  const apply = useMutation({
    mutationFn: () => api<EntryJson>('POST', '/api/handbook/templates/apply', { modelId, ...(family ? { family } : {}) }),
    onSuccess: async (e) => {
      notifications.show({ message: `Template applied: ${e.title} (revision ${e.revision})` });
      await queryClient.invalidateQueries({ queryKey: ['handbook'] });
      onClose();
      void navigate(entryPath(e.id));
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title="Apply a generic template to a model">
      <Stack>
        <Text size="sm">A model with an entry gets the template as a new revision; the history keeps what was there.</Text>
        <Select
          label="Model"
          searchable
          data={(models.data ?? []).map((m) => ({ value: m.id, label: `${m.manufacturer} ${m.modelNumber}` }))}
          value={modelId}
          onChange={setModelId}
        />
        <Select
          label="Family template"
          description="empty: the model's own family"
          clearable
          data={Object.entries(FAMILY_LABELS).map(([value, label]) => ({ value, label }))}
          value={family}
          onChange={setFamily}
        />
        {formAlert(apply.error, []) && <Alert color="red">{formAlert(apply.error, [])}</Alert>}
        <Button disabled={!modelId} loading={apply.isPending} onClick={() => apply.mutate()}>
          Apply
        </Button>
      </Stack>
    </Modal>
  );
}
