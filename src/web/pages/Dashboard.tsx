/**
 * The dashboard: open reset cases by state, cases per week by reason (12 weeks), failed verification
 * checks and today's turnovers, for what the reader may see. Loaded as its own chunk: the charts
 * (@mantine/charts on recharts) are the biggest library in the UI and only this page needs them.
 */
import '@mantine/charts/styles.css';
import { BarChart } from '@mantine/charts';
import { Alert, Anchor, Card, Group, Loader, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { RESET_REASONS, type ResetReason, type VerificationCheck } from '../../domain/reset-case.js';
import type { Dashboard as DashboardData } from '../../services/dashboard-service.js';
import { api, formatDate, type Wire } from '../api.js';
import { CHECK_LABELS, REASON_LABELS, STATE_LABELS } from '../resets.js';

const REASON_COLORS: Record<ResetReason, string> = {
  occupancy_change: 'teal.6',
  ownership_transfer: 'blue.6',
  unknown_admin_detected: 'grape.6',
  credential_compromise: 'red.6',
  lost_admin_phone: 'orange.6',
  management_app_replaced: 'cyan.6',
  pairing_loop: 'indigo.6',
  cannot_authenticate_controller: 'violet.6',
  firmware_inconsistent: 'yellow.7',
  door_does_not_latch: 'gray.6',
};

/** "23 Feb" for a week's Monday. */
const weekLabel = (iso: string) => new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** A demo lock of one model in service, to try a reset on (the demo fleet's), or none. */
function useDemoLock(model: string) {
  return useQuery({
    queryKey: ['try-a-reset', model],
    staleTime: 60_000,
    queryFn: async () => (await api<{ items: { id: string; name: string; isDemo: boolean; modelNumber: string; serviceState: string }[] }>('GET', `/api/locks?q=${encodeURIComponent(model)}&limit=20`)).items.find((l) => l.isDemo && l.modelNumber === model && l.serviceState === 'in_service') ?? null,
  });
}

/**
 * "Try a reset": two demo locks to practise on, one reset at the door (its virtual front panel
 * plays the technician's hands) and one remote reset whose cloud account outlives a local reset.
 */
function TryAReset() {
  const door = useDemoLock('DB-100');
  const remote = useDemoLock('CB-2 Pro');
  if (!door.data && !remote.data) return null;
  return (
    <Card withBorder data-testid="try-a-reset">
      <Title order={4}>Try a reset on the demo</Title>
      <Text size="sm" mb="xs">
        Open a reset case on a simulated lock and take it to its signed close-out; the lock’s virtual front panel plays your hands at the door.
      </Text>
      <Stack gap={4}>
        {door.data && (
          <Anchor component={Link} to={`/locks/${door.data.id}`}>
            At the door, full erase: {door.data.name}
          </Anchor>
        )}
        {remote.data && (
          <Anchor component={Link} to={`/locks/${remote.data.id}`}>
            Remotely, with its cloud account removed first: {remote.data.name}
          </Anchor>
        )}
      </Stack>
    </Card>
  );
}

export function Dashboard() {
  const q = useQuery({ queryKey: ['dashboard'], queryFn: () => api<Wire<DashboardData>>('GET', '/api/dashboard'), refetchInterval: 60_000 });
  if (q.isPending) return <Loader />;
  if (q.isError) return <Alert color="red">{q.error.message}</Alert>;
  const d = q.data;
  const open = d.casesByState.reduce((n, s) => n + s.count, 0);
  const totals = new Map<ResetReason, number>();
  for (const w of d.resetsByWeek) for (const [r, n] of Object.entries(w.byReason) as [ResetReason, number][]) totals.set(r, (totals.get(r) ?? 0) + n);
  const reasons = RESET_REASONS.filter((r) => totals.has(r));
  const weekly = d.resetsByWeek.map((w) => ({ week: weekLabel(w.week), ...w.byReason }));
  return (
    <Stack data-testid="dashboard">
      <Title order={2}>Dashboard</Title>
      <TryAReset />
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Group justify="space-between" mb="xs">
            <Title order={4}>Open reset cases by state</Title>
            <Text fw={700} data-testid="dash-open-total">
              {open} open
            </Text>
          </Group>
          <BarChart
            h={220}
            data={d.casesByState.map((s) => ({ state: STATE_LABELS[s.state], cases: s.count }))}
            dataKey="state"
            series={[{ name: 'cases', label: 'Cases', color: 'blue.6' }]}
            tickLine="y"
            xAxisProps={{ interval: 0, angle: -30, textAnchor: 'end', height: 60, fontSize: 11 }}
            yAxisProps={{ allowDecimals: false }}
          />
          <Group gap="md" mt="xs">
            {d.casesByState
              .filter((s) => s.count > 0)
              .map((s) => (
                <Anchor key={s.state} component={Link} to={`/resets?state=${s.state}`} size="sm" data-testid={`dash-state-${s.state}`}>
                  {STATE_LABELS[s.state]}: {s.count}
                </Anchor>
              ))}
          </Group>
        </Card>
        <Card withBorder>
          <Title order={4} mb="xs">
            Reset cases per week by reason
          </Title>
          <BarChart
            h={220}
            data={weekly}
            dataKey="week"
            type="stacked"
            withLegend={reasons.length > 0}
            legendProps={{ verticalAlign: 'bottom' }}
            series={reasons.map((r) => ({ name: r, label: REASON_LABELS[r], color: REASON_COLORS[r] }))}
            yAxisProps={{ allowDecimals: false }}
          />
          <Text size="sm" mt="xs" data-testid="dash-reasons">
            Since {weekLabel(d.since)}: {reasons.length ? reasons.map((r) => `${REASON_LABELS[r]} ${totals.get(r)}`).join(' · ') : 'no cases'}
          </Text>
        </Card>
        <Card withBorder>
          <Group justify="space-between" mb="xs">
            <Title order={4}>Verification failures</Title>
            <Text fw={700} c={d.verificationFailures.count ? 'red' : undefined} data-testid="dash-failures-count">
              {d.verificationFailures.count} since {weekLabel(d.since)}
            </Text>
          </Group>
          {d.verificationFailures.latest.length ? (
            <Table data-testid="dash-failures">
              <Table.Tbody>
                {d.verificationFailures.latest.map((f) => (
                  <Table.Tr key={`${f.caseId}-${f.check}-${f.at}`}>
                    <Table.Td>
                      <Anchor component={Link} to={`/resets/${f.caseId}`} size="sm">
                        {f.lockName}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{CHECK_LABELS[f.check as VerificationCheck] ?? f.check}</Text>
                      {f.note && (
                        <Text size="xs" c="dimmed">
                          {f.note}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Text size="xs">{formatDate(f.at)}</Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          ) : (
            <Text size="sm" c="dimmed">
              No check has failed.
            </Text>
          )}
        </Card>
        <Card withBorder data-testid="dash-turnovers">
          <Title order={4} mb="xs">
            Turnovers due today
          </Title>
          {d.turnoversToday.length ? (
            <Table>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Unit</Table.Th>
                  <Table.Th>Leaving</Table.Th>
                  <Table.Th>Arriving</Table.Th>
                  <Table.Th>Locks ready</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {d.turnoversToday.map((t) => {
                  const ready = t.locks.filter((l) => (!t.outgoing || l.outgoing === 'revoked' || l.outgoing === 'none' || l.outgoing === 'removed') && (!t.incoming || l.incoming === 'confirmed')).length;
                  const failed = t.locks.some((l) => l.incoming === 'error' || l.incoming === 'failed');
                  return (
                    <Table.Tr key={t.locationId} data-testid={`dash-turnover-${t.unitName}`}>
                      <Table.Td>
                        <Anchor component={Link} to={`/units/${t.locationId}/occupancy`}>
                          {t.unitName}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>{t.outgoing ? `${t.outgoing.guestName}, ${formatDate(t.outgoing.checkOut)}` : '—'}</Table.Td>
                      <Table.Td>{t.incoming ? `${t.incoming.guestName}, ${formatDate(t.incoming.checkIn)}` : '—'}</Table.Td>
                      <Table.Td>
                        <Text size="sm" c={failed ? 'red' : ready === t.locks.length ? 'green' : undefined}>
                          {ready} of {t.locks.length}
                          {failed ? ' (a lock failed)' : ''}
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          ) : (
            <Text size="sm" c="dimmed">
              No turnovers due today.
            </Text>
          )}
        </Card>
      </SimpleGrid>
    </Stack>
  );
}
