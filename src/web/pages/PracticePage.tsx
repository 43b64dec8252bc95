import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Card, Group, Loader, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, formatDate } from '../api.js';
import { stepHeadline, useEntry } from '../handbook.js';
import { useCan } from '../session.js';
import { SimPanel } from './SimPanel.js';

/** A practice run as the API answers. */
export interface PracticeRunJson {
  id: string;
  entryId: string;
  revision: number;
  actorLabel: string;
  startedAt: string;
  expiresAt: string;
  finishedAt: string | null;
  passed: boolean | null;
  attempts: { at: string; ok: boolean; reason: string | null; heldSeconds: number; words: string }[];
  summary: string;
  active: boolean;
  model?: string;
  masterCode?: string | null;
}

/** "Practise on a virtual lock" and the entry's practice runs, for the handbook entry page. */
export function PracticeRuns({ entryId }: { entryId: string }) {
  const navigate = useNavigate();
  const canPractise = useCan('reset.perform');
  const runs = useQuery({ queryKey: ['practice-runs', entryId], queryFn: () => api<{ items: PracticeRunJson[] }>('GET', `/api/handbook/entries/${entryId}/practice-runs`) });
  const start = useMutation({
    mutationFn: () => api<PracticeRunJson>('POST', `/api/handbook/entries/${entryId}/practice-runs`),
    onSuccess: (run) => navigate(`/practice/${run.id}`),
  });
  return (
    <Card withBorder data-testid="practice-runs">
      <Group justify="space-between" mb="xs">
        <Title order={4}>Practice runs</Title>
        {canPractise && (
          <Button variant="light" color="grape" loading={start.isPending} onClick={() => start.mutate()}>
            Practise on a virtual lock
          </Button>
        )}
      </Group>
      <Text size="sm" c="dimmed" mb="xs">
        Rehearse this procedure on a throwaway virtual twin of the model before a real reset needs it. A practice run never touches a real lock.
      </Text>
      {start.isError && <Alert color="red">{start.error.message}</Alert>}
      {runs.isError && <Alert color="red">{runs.error.message}</Alert>}
      {runs.data?.items.length === 0 && <Text size="sm">Nobody has practised this procedure yet.</Text>}
      <Stack gap="xs">
        {runs.data?.items.map((r) => (
          <Group key={r.id} gap="xs" wrap="nowrap" align="flex-start" data-testid="practice-run">
            <Badge color={r.passed ? 'green' : r.finishedAt ? 'red' : 'gray'} variant="light" style={{ flexShrink: 0 }}>
              {r.passed ? 'passed' : r.finishedAt ? 'not passed' : r.active ? 'in progress' : 'unfinished'}
            </Badge>
            <div>
              <Text size="sm">{r.summary}</Text>
              <Text size="xs" c="dimmed">
                {r.actorLabel} · {formatDate(r.startedAt)} · revision {r.revision}
                {r.active && (
                  <>
                    {' · '}
                    <Anchor component={Link} to={`/practice/${r.id}`} size="xs">
                      continue
                    </Anchor>
                  </>
                )}
              </Text>
            </div>
          </Group>
        ))}
      </Stack>
    </Card>
  );
}

/** One practice run: the entry's procedure step by step beside the twin's virtual front panel, and Finish. */
export function PracticePage() {
  const { id } = useParams();
  const queryClient = useQueryClient();
  const run = useQuery({ queryKey: ['practice-run', id], queryFn: () => api<PracticeRunJson>('GET', `/api/practice-runs/${id}`) });
  const entry = useEntry(run.data?.entryId);
  const [step, setStep] = useState(0);
  const finish = useMutation({
    mutationFn: () => api<PracticeRunJson>('POST', `/api/practice-runs/${id}/finish`),
    onSuccess: async (r) => {
      queryClient.setQueryData(['practice-run', id], r);
      await queryClient.invalidateQueries({ queryKey: ['practice-runs', r.entryId] });
    },
  });
  if (run.isPending) return <Loader />;
  if (run.isError) return <Alert color="red">{run.error.message}</Alert>;
  const r = run.data;
  const steps = entry.data?.content.steps ?? [];
  return (
    <Stack>
      <Stack gap={2}>
        <Title order={1}>Practice run</Title>
        <Text c="dimmed">
          {entry.data ? (
            <Anchor component={Link} to={`/handbook/entries/${r.entryId}`}>
              {entry.data.content.title}
            </Anchor>
          ) : (
            'Handbook entry'
          )}{' '}
          · on a throwaway virtual twin{r.model ? ` of the ${r.model}` : ''}, never a real lock
        </Text>
      </Stack>
      {r.masterCode && (
        <Alert color="blue" title="The twin's master code">
          This twin's master code is <b data-testid="practice-master-code">{r.masterCode}</b>. On a real lock it is a secret of the handbook entry: reveal it there.
        </Alert>
      )}
      {r.finishedAt ? (
        <Alert color={r.passed ? 'green' : 'red'} title={r.passed ? 'Passed' : 'Not passed'} data-testid="practice-result">
          {r.summary}{' '}
          <Anchor component={Link} to={`/handbook/entries/${r.entryId}`}>
            Back to the entry
          </Anchor>
        </Alert>
      ) : !r.active ? (
        <Alert color="gray">This practice run's virtual lock is gone (a twin lasts an hour). Start a new run from the entry.</Alert>
      ) : null}
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Card withBorder data-testid="practice-steps">
          <Title order={4} mb="xs">
            Procedure
          </Title>
          {steps.length === 0 && <Text size="sm">Loading the procedure…</Text>}
          {steps.length > 0 && (
            <Stack gap="xs">
              <Text size="xs" c="dimmed">
                Step {step + 1} of {steps.length}
              </Text>
              <Text fw={700}>{stepHeadline(steps[step]!)}</Text>
              <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
                {steps[step]!.text}
              </Text>
              <Group gap="xs">
                <Button size="xs" variant="default" disabled={step === 0} onClick={() => setStep(step - 1)}>
                  Previous step
                </Button>
                <Button size="xs" variant="default" disabled={step >= steps.length - 1} onClick={() => setStep(step + 1)}>
                  Next step
                </Button>
              </Group>
              <Stack gap={2} mt="xs" component="ol" style={{ paddingLeft: 18, margin: 0 }}>
                {steps.map((s, i) => (
                  <Text key={i} component="li" size="xs" c={i === step ? undefined : 'dimmed'} fw={i === step ? 700 : undefined}>
                    {stepHeadline(s)}
                  </Text>
                ))}
              </Stack>
            </Stack>
          )}
        </Card>
        <Card withBorder>
          <Title order={4} mb="xs">
            Virtual twin
          </Title>
          {r.active ? (
            <SimPanel practiceRunId={r.id} onOutcome={(o) => o.panel && void queryClient.invalidateQueries({ queryKey: ['practice-run', id] })} />
          ) : (
            <Text size="sm" c="dimmed">
              The twin is gone.
            </Text>
          )}
        </Card>
      </SimpleGrid>
      {r.attempts.length > 0 && (
        <Card withBorder data-testid="practice-attempts">
          <Title order={5} mb={4}>
            Attempts so far
          </Title>
          {r.attempts.map((a, i) => (
            <Text key={i} size="sm" c={a.ok ? 'green' : 'red'}>
              {i + 1}. {a.words}
            </Text>
          ))}
        </Card>
      )}
      {r.active && (
        <Button size="lg" color="green" loading={finish.isPending} onClick={() => finish.mutate()}>
          Finish the practice run
        </Button>
      )}
      {finish.isError && <Alert color="red">{finish.error.message}</Alert>}
    </Stack>
  );
}
