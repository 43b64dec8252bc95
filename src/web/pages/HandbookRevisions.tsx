import type { ReactNode } from 'react';
import { Alert, Anchor, Badge, Card, Grid, Group, Loader, Radio, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import type { Step } from '../../domain/handbook.js';
import { api, formatDate } from '../api.js';
import { entryPath, stepHeadline, useEntry, useRevisions, type DiffJson } from '../handbook.js';

type TextPart = { value: string; added?: boolean; removed?: boolean };
type FieldJson = DiffJson['fields'][number];

const REMOVED = { background: 'var(--mantine-color-red-1)', color: 'var(--mantine-color-red-9)', textDecoration: 'line-through' };
const ADDED = { background: 'var(--mantine-color-green-1)', color: 'var(--mantine-color-green-9)' };

/** One side of a word diff: the kept words, plus the removed (left) or added (right) words highlighted. */
function Words({ parts, side }: { parts: TextPart[]; side: 'before' | 'after' }) {
  return (
    <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
      {parts.map((p, i) => {
        if (p.added) return side === 'after' ? <mark key={i} style={ADDED} data-testid="diff-added">{p.value}</mark> : null;
        if (p.removed) return side === 'before' ? <mark key={i} style={REMOVED} data-testid="diff-removed">{p.value}</mark> : null;
        return <span key={i}>{p.value}</span>;
      })}
    </Text>
  );
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v, null, 1);
}

function FieldSide({ f, side }: { f: FieldJson; side: 'before' | 'after' }) {
  if (f.text) return <Words parts={f.text} side={side} />;
  return (
    <Text size="sm" component="pre" style={{ whiteSpace: 'pre-wrap', margin: 0, ...(side === 'before' ? REMOVED : ADDED), textDecoration: 'none' }}>
      {show(side === 'before' ? f.before : f.after)}
    </Text>
  );
}

function Row({ left, right, label }: { left: ReactNode; right: ReactNode; label: ReactNode }) {
  return (
    <Grid.Col span={12}>
      <Text size="xs" c="dimmed" tt="uppercase">
        {label}
      </Text>
      <SimpleGrid cols={2} spacing="xs">
        <Card withBorder padding="xs">
          {left}
        </Card>
        <Card withBorder padding="xs">
          {right}
        </Card>
      </SimpleGrid>
    </Grid.Col>
  );
}

function StepText({ step, style }: { step: Pick<Step, 'kind' | 'text' | 'seconds' | 'sequence'>; style?: React.CSSProperties }) {
  return (
    <Text size="sm" style={style}>
      <b>{stepHeadline(step)}</b>: {step.text}
    </Text>
  );
}

/** Two revisions side by side: fields, then steps; changed words highlighted. */
function Compare({ id, from, to }: { id: string; from: number; to: number }) {
  const diff = useQuery({ queryKey: ['handbook', 'diff', id, from, to], queryFn: () => api<DiffJson>('GET', `/api/handbook/entries/${id}/diff?from=${from}&to=${to}`) });
  if (diff.isPending) return <Loader />;
  if (diff.isError) return <Alert color="red">{diff.error.message}</Alert>;
  const d = diff.data;
  if (d.same) return <Text c="dimmed">Revisions {from} and {to} have the same content.</Text>;
  return (
    <Grid data-testid="diff">
      <Grid.Col span={12}>
        <SimpleGrid cols={2} spacing="xs">
          <Title order={5}>Revision {from}</Title>
          <Title order={5}>Revision {to}</Title>
        </SimpleGrid>
      </Grid.Col>
      {d.fields.map((f) => (
        <Row key={f.field} label={f.field} left={<FieldSide f={f} side="before" />} right={<FieldSide f={f} side="after" />} />
      ))}
      {d.steps.map((s, i) => {
        if (s.op === 'same') return <Row key={i} label={`step ${s.before} → ${s.after}`} left={<StepText step={s.step} />} right={<StepText step={s.step} />} />;
        if (s.op === 'added') return <Row key={i} label={<Badge size="xs" color="green">step {s.after} added</Badge>} left={null} right={<StepText step={s.step} style={ADDED} />} />;
        if (s.op === 'removed') return <Row key={i} label={<Badge size="xs" color="red">step {s.before} removed</Badge>} left={<StepText step={s.step} style={REMOVED} />} right={null} />;
        const fields = s.fields;
        const side = (which: 'before' | 'after') => (
          <Stack gap={2} data-testid="diff-step">
            {fields.map((f) => (
              <Group key={f.field} gap={4} wrap="nowrap" align="flex-start">
                <Text size="xs" c="dimmed" w={64}>
                  {f.field}
                </Text>
                <FieldSide f={f} side={which} />
              </Group>
            ))}
          </Stack>
        );
        return <Row key={i} label={<Badge size="xs" color="yellow">step {s.before} → {s.after} changed</Badge>} left={side('before')} right={side('after')} />;
      })}
    </Grid>
  );
}

/** An entry's revisions (author, time, reason), and any two compared side by side. */
export function HandbookRevisions() {
  const { id } = useParams();
  const entry = useEntry(id);
  const revisions = useRevisions(id);
  const [params, setParams] = useSearchParams();
  if (revisions.isPending || entry.isPending) return <Loader />;
  if (revisions.isError) return <Alert color="red">{revisions.error.message}</Alert>;
  if (entry.isError) return <Alert color="red">{entry.error.message}</Alert>;
  const revs = [...revisions.data].sort((a, b) => b.revision - a.revision);
  const latest = revs[0]?.revision ?? 1;
  const to = Number(params.get('to') ?? latest);
  const from = Number(params.get('from') ?? Math.max(1, to - 1));
  const pick = (key: 'from' | 'to', v: number) => setParams({ from: String(key === 'from' ? v : from), to: String(key === 'to' ? v : to) }, { replace: true });
  return (
    <Stack>
      <Title order={2}>Revisions: {entry.data.content.title}</Title>
      <Text c="dimmed">
        <Anchor component={Link} to={entryPath(entry.data.id)}>
          Back to the entry
        </Anchor>
      </Text>
      <Table striped data-testid="revision-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Compare from</Table.Th>
            <Table.Th>to</Table.Th>
            <Table.Th>Revision</Table.Th>
            <Table.Th>Author</Table.Th>
            <Table.Th>When</Table.Th>
            <Table.Th>Reason</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {revs.map((r) => (
            <Table.Tr key={r.revision} data-testid="revision-row">
              <Table.Td>
                <Radio aria-label={`compare from revision ${r.revision}`} checked={from === r.revision} onChange={() => pick('from', r.revision)} />
              </Table.Td>
              <Table.Td>
                <Radio aria-label={`compare to revision ${r.revision}`} checked={to === r.revision} onChange={() => pick('to', r.revision)} />
              </Table.Td>
              <Table.Td>
                {r.revision}
                {r.revision === entry.data.verifiedRevision && (
                  <Badge ml="xs" size="xs" color="green" variant="light">
                    verified
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{r.authorLabel}</Table.Td>
              <Table.Td>{formatDate(r.createdAt)}</Table.Td>
              <Table.Td>{r.reason}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {revs.length < 2 ? <Text c="dimmed">Only one revision so far: nothing to compare.</Text> : from === to ? <Text c="dimmed">Pick two different revisions.</Text> : <Compare id={entry.data.id} from={from} to={to} />}
    </Stack>
  );
}
