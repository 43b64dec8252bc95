import { useState, type ReactNode } from 'react';
import { Alert, Anchor, Badge, Button, Card, Group, List, Loader, Modal, SimpleGrid, Stack, Text, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { RESOURCE_TIERS, STEP_KIND_LABELS } from '../../domain/handbook.js';
import { FAMILY_LABELS, type LockFamily } from '../../domain/lock-models.js';
import { api, formAlert, formatDate } from '../api.js';
import { GenericBadge, StatusBadge, stepHeadline, TIER_LABELS, useEntry, verifiedLine, WARNING_LABELS, type EntryJson } from '../handbook.js';
import { useCan } from '../session.js';
import { AttachmentsSection, AttachmentThumbs, useAttachments } from './HandbookAttachments.js';
import { HandbookSecrets } from './HandbookSecrets.js';
import { PracticeRuns } from './PracticePage.js';

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <Card withBorder data-testid={testId}>
      <Title order={4} mb="xs">
        {title}
      </Title>
      {children}
    </Card>
  );
}

/** One handbook entry, as a technician follows it at the door. */
export function HandbookEntryPage() {
  const { id } = useParams();
  const entry = useEntry(id);
  const canWrite = useCan('handbook.write');
  const canVerify = useCan('handbook.verify');
  const attachments = useAttachments(id);
  const [verifying, setVerifying] = useState(false);
  if (entry.isPending) return <Loader />;
  if (entry.isError) return <Alert color="red">{entry.error.message}</Alert>;
  const e = entry.data;
  const c = e.content;
  const files = attachments.data ?? [];
  return (
    <Stack>
      <Group justify="space-between" align="flex-start" data-testid="entry-header">
        <Stack gap={4}>
          <Group gap="sm">
            <Title order={1}>{c.title}</Title>
            <StatusBadge status={e.status} size="md" />
            <GenericBadge generic={c.generic} />
          </Group>
          <Text c="dimmed">
            <Anchor component={Link} to="/handbook">
              Handbook
            </Anchor>{' '}
            / {e.manufacturer} {e.modelNumber} ({FAMILY_LABELS[e.family as LockFamily] ?? e.family})
            {e.lockId && (
              <>
                {' '}
                / override for{' '}
                <Anchor component={Link} to={`/locks/${e.lockId}`}>
                  {e.lockName}
                </Anchor>
              </>
            )}
          </Text>
        </Stack>
        <Group gap="xs" data-testid="entry-actions">
          <Button component="a" href={`/api/handbook/export.pdf?scope=manufacturer&manufacturer=${encodeURIComponent(e.manufacturer)}`} download variant="default">
            PDF of {e.manufacturer}
          </Button>
          {canVerify && (
            <Button color="green" variant="light" onClick={() => setVerifying(true)}>
              Mark verified
            </Button>
          )}
          <Button component={Link} to={`/handbook/entries/${e.id}/revisions`} variant="default">
            Revisions
          </Button>
          {canWrite && (
            <Button component={Link} to={`/handbook/entries/${e.id}/edit`} variant="default">
              Edit
            </Button>
          )}
        </Group>
      </Group>

      {c.generic && (
        <Alert color="grape" title="Generic template" data-testid="generic-notice">
          This is the generic procedure for the {FAMILY_LABELS[e.family as LockFamily] ?? e.family} family, not the manufacturer's own. Confirm every step
          against the manufacturer's instructions before relying on it.
        </Alert>
      )}
      {e.status !== 'current' && (
        <Alert color={e.status === 'stale' ? 'red' : 'orange'} title={e.status === 'stale' ? 'Stale: re-verify this procedure' : 'Never verified'} data-testid="stale-notice">
          {e.status === 'stale'
            ? `Its ${e.verificationWindowDays}-day verification window ended ${formatDate(e.dueAt)}. Check it against the lock and mark it verified.`
            : 'Nobody has confirmed this procedure on a lock yet.'}
        </Alert>
      )}

      {c.warnings.length > 0 && (
        <Alert color="red" variant="filled" title="Safety: before you start" data-testid="warnings">
          <List spacing={4}>
            {c.warnings.map((w, i) => (
              <List.Item key={i}>
                <Text span fw={700}>
                  {WARNING_LABELS[w.kind]}:
                </Text>{' '}
                {w.text}
              </List.Item>
            ))}
          </List>
        </Alert>
      )}

      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 4 }}>
          <Meta label="Estimated time">{c.estimatedMinutes ? `${c.estimatedMinutes} minutes` : 'not given'}</Meta>
          <Meta label="Revision">
            <span data-testid="entry-revision">{e.revision}</span> · {formatDate(e.lastRevision.createdAt)} by {e.lastRevision.authorLabel}
          </Meta>
          <Meta label="Last verified">
            <span data-testid="last-verified">{verifiedLine(e)}</span>
          </Meta>
          <Meta label="Verification window">{e.verificationWindowDays} days</Meta>
        </SimpleGrid>
        {c.summary && (
          <Text mt="md" style={{ whiteSpace: 'pre-wrap' }}>
            {c.summary}
          </Text>
        )}
      </Card>

      {c.tools.length > 0 && (
        <Section title="Tools and materials">
          <Group gap="xs">
            {c.tools.map((t) => (
              <Badge key={t} variant="light" color="gray">
                {t}
              </Badge>
            ))}
          </Group>
        </Section>
      )}

      <Section title="Steps" testId="steps">
        <Stack gap="sm" component="ol" style={{ paddingLeft: 0, margin: 0, listStyle: 'none' }}>
          {c.steps.map((s, i) => (
            <Group key={i} component="li" align="flex-start" wrap="nowrap" gap="sm" data-testid="step">
              <Badge size="lg" circle variant="filled">
                {i + 1}
              </Badge>
              <div>
                <Group gap="xs">
                  <Text fw={700}>{stepHeadline(s)}</Text>
                  <Badge size="xs" variant="outline" color="gray">
                    {STEP_KIND_LABELS[s.kind]}
                  </Badge>
                </Group>
                <Text style={{ whiteSpace: 'pre-wrap' }}>{s.text}</Text>
                <AttachmentThumbs items={files.filter((a) => a.step === i + 1)} canWrite={canWrite} />
              </div>
            </Group>
          ))}
        </Stack>
      </Section>

      <PracticeRuns entryId={e.id} />

      {attachments.isError && <Alert color="red">Attachments: {attachments.error.message}</Alert>}
      <AttachmentsSection entryId={e.id} stepCount={c.steps.length} items={files} canWrite={canWrite} />

      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Section title="Resources" testId="resources">
          {c.resources.length === 0 && <Text c="dimmed">None recorded.</Text>}
          <Stack gap="xs">
            {RESOURCE_TIERS.map((tier) => {
              const rs = c.resources.filter((r) => r.tier === tier);
              if (rs.length === 0) return null;
              return (
                <div key={tier}>
                  <Text size="xs" c="dimmed" tt="uppercase">
                    {TIER_LABELS[tier]}
                  </Text>
                  {rs.map((r, i) => (
                    <Text key={i} size="sm">
                      {r.url ? (
                        <Anchor href={r.url} target="_blank" rel="noreferrer noopener">
                          {r.label}
                        </Anchor>
                      ) : (
                        r.label
                      )}
                      {r.phone && ` · ${r.phone}`}
                      {r.hours && ` · hours: ${r.hours}`}
                    </Text>
                  ))}
                </div>
              );
            })}
          </Stack>
        </Section>
        <Section title="Key contacts" testId="contacts">
          {c.contacts.length === 0 && <Text c="dimmed">None recorded.</Text>}
          {c.contacts.map((k, i) => (
            <Text key={i} size="sm">
              <Text span fw={600}>
                {k.name}
              </Text>
              {k.role && ` (${k.role})`}
              {k.phone && ` · ${k.phone}`}
              {k.email && (
                <>
                  {' · '}
                  <Anchor href={`mailto:${k.email}`}>{k.email}</Anchor>
                </>
              )}
            </Text>
          ))}
        </Section>
      </SimpleGrid>

      <HandbookSecrets entry={e} />
      <VerifyModal entry={e} opened={verifying} onClose={() => setVerifying(false)} />
    </Stack>
  );
}

function Meta({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase">
        {label}
      </Text>
      <Text size="sm">{children}</Text>
    </div>
  );
}

function VerifyModal({ entry, opened, onClose }: { entry: EntryJson; opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [note, setNote] = useState('');
  const verify = useMutation({
    mutationFn: () => api<EntryJson>('POST', `/api/handbook/entries/${entry.id}/verify`, { revision: entry.revision, note }),
    onSuccess: async (e) => {
      queryClient.setQueryData(['handbook', 'entry', e.id], e);
      notifications.show({ message: `Revision ${e.revision} marked verified` });
      setNote('');
      onClose();
      await queryClient.invalidateQueries({ queryKey: ['handbook'] });
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title={`Mark revision ${entry.revision} verified`}>
      <Stack>
        <Text size="sm">Confirm you followed or checked this revision against the lock. Your name and the time are recorded.</Text>
        <Textarea label="Note (optional)" value={note} onChange={(ev) => setNote(ev.currentTarget.value)} />
        {formAlert(verify.error, []) && <Alert color="red">{formAlert(verify.error, [])}</Alert>}
        <Button color="green" loading={verify.isPending} onClick={() => verify.mutate()}>
          Confirm verified
        </Button>
      </Stack>
    </Modal>
  );
}
