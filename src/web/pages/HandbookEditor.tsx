import { useEffect, useState, type ReactNode } from 'react';
import { ActionIcon, Alert, Anchor, Button, Card, Checkbox, Group, Loader, NumberInput, Select, Stack, TagsInput, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import {
  RESOURCE_TIERS,
  STEP_KIND_LABELS,
  STEP_KINDS,
  WARNING_KINDS,
  type HandbookContent,
  type KeyContact,
  type Resource,
  type SafetyWarning,
  type Step,
} from '../../domain/handbook.js';
import { ApiError, api, fieldErrors, formAlert } from '../api.js';
import { useModels, type LockJson } from '../data.js';
import { entryPath, TIER_LABELS, useEntry, WARNING_LABELS, type EntryJson } from '../handbook.js';

const blankContent = (): HandbookContent => ({
  title: '',
  summary: '',
  steps: [{ kind: 'press', text: '' }],
  estimatedMinutes: null,
  tools: [],
  warnings: [],
  resources: [],
  contacts: [],
  generic: false,
});

const blank = (s: string | undefined) => (s && s.trim() ? s : undefined);

/** The content as the API takes it: only the fields each step kind uses, empty optional fields left out. */
export function cleanContent(c: HandbookContent): HandbookContent {
  return {
    ...c,
    steps: c.steps.map((s) => ({
      kind: s.kind,
      text: s.text,
      ...((s.kind === 'hold' || s.kind === 'wait_indicator') && s.seconds !== undefined ? { seconds: s.seconds } : {}),
      ...(s.kind === 'sequence' ? { sequence: s.sequence ?? '' } : {}),
    })),
    resources: c.resources.map((r) => ({ tier: r.tier, label: r.label, url: blank(r.url), phone: blank(r.phone), hours: blank(r.hours) })),
    contacts: c.contacts.map((k) => ({ name: k.name, role: blank(k.role), phone: blank(k.phone), email: blank(k.email) })),
  };
}

function move<T>(list: T[], i: number, by: number): T[] {
  const j = i + by;
  if (j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}

function RowTools({ index, count, onMove, onRemove, what }: { index: number; count: number; onMove: (by: number) => void; onRemove: () => void; what: string }) {
  return (
    <Group gap={4} wrap="nowrap">
      <ActionIcon variant="default" aria-label={`Move ${what} ${index + 1} up`} disabled={index === 0} onClick={() => onMove(-1)}>
        ↑
      </ActionIcon>
      <ActionIcon variant="default" aria-label={`Move ${what} ${index + 1} down`} disabled={index === count - 1} onClick={() => onMove(1)}>
        ↓
      </ActionIcon>
      <ActionIcon variant="light" color="red" aria-label={`Remove ${what} ${index + 1}`} onClick={onRemove}>
        ×
      </ActionIcon>
    </Group>
  );
}

function Block({ title, onAdd, addLabel, children }: { title: string; onAdd: () => void; addLabel: string; children: ReactNode }) {
  return (
    <Card withBorder>
      <Group justify="space-between" mb="xs">
        <Title order={4}>{title}</Title>
        <Button size="xs" variant="default" onClick={onAdd}>
          {addLabel}
        </Button>
      </Group>
      <Stack gap="sm">{children}</Stack>
    </Card>
  );
}

/**
 * The structured editor, for a new entry (`/handbook/new?modelId=&lockId=`) or a new revision of an
 * existing one. A save says why; a save based on an older revision than the current one is refused
 * and explained.
 */
export function HandbookEditor() {
  const { id } = useParams();
  const [params] = useSearchParams();
  const editing = !!id;
  const existing = useEntry(id);
  const models = useModels();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [content, setContent] = useState<HandbookContent | null>(editing ? null : blankContent());
  const [baseRevision, setBaseRevision] = useState<number | null>(null);
  const [reason, setReason] = useState('');
  const [windowDays, setWindowDays] = useState<number | string>(180);
  const [modelId, setModelId] = useState<string | null>(params.get('modelId'));
  const lockId = params.get('lockId');
  const lock = useQuery({ queryKey: ['lock', lockId], enabled: !!lockId, queryFn: () => api<LockJson>('GET', `/api/locks/${lockId}`) });
  useEffect(() => {
    if (lock.data && !modelId) setModelId(lock.data.modelId);
  }, [lock.data, modelId]);

  // Start from the entry once it loads, and remember which revision this edit is based on.
  useEffect(() => {
    if (existing.data && content === null) {
      setContent(structuredClone<HandbookContent>(existing.data.content));
      setBaseRevision(existing.data.revision);
      setWindowDays(existing.data.verificationWindowDays);
    }
  }, [existing.data, content]);

  const save = useMutation({
    mutationFn: () => {
      const body = cleanContent(content!);
      const days = typeof windowDays === 'number' ? windowDays : undefined;
      return editing
        ? api<EntryJson>('PUT', `/api/handbook/entries/${id}`, { content: body, reason, expectedRevision: baseRevision, ...(days ? { verificationWindowDays: days } : {}) })
        : api<EntryJson>('POST', '/api/handbook/entries', { modelId, lockId, content: body, ...(reason.trim() ? { reason } : {}), ...(days ? { verificationWindowDays: days } : {}) });
    },
    onSuccess: async (e) => {
      notifications.show({ message: `Saved revision ${e.revision}` });
      queryClient.setQueryData(['handbook', 'entry', e.id], e);
      await queryClient.invalidateQueries({ queryKey: ['handbook'] });
      void navigate(entryPath(e.id));
    },
  });

  if (editing && existing.isPending) return <Loader />;
  if (editing && existing.isError) return <Alert color="red">{existing.error.message}</Alert>;
  if (!content) return <Loader />;

  const errors = fieldErrors(save.error);
  const err = (path: string) => errors[`content.${path}`];
  const conflict = save.error instanceof ApiError && save.error.code === 'handbook.revision_conflict';
  const set = (patch: Partial<HandbookContent>) => setContent({ ...content, ...patch });
  const setStep = (i: number, patch: Partial<Step>) => set({ steps: content.steps.map((s, k) => (k === i ? { ...s, ...patch } : s)) });
  const setWarning = (i: number, patch: Partial<SafetyWarning>) => set({ warnings: content.warnings.map((w, k) => (k === i ? { ...w, ...patch } : w)) });
  const setResource = (i: number, patch: Partial<Resource>) => set({ resources: content.resources.map((r, k) => (k === i ? { ...r, ...patch } : r)) });
  const setContact = (i: number, patch: Partial<KeyContact>) => set({ contacts: content.contacts.map((c, k) => (k === i ? { ...c, ...patch } : c)) });
  const known = Object.keys(errors).filter((k) => k.startsWith('content.') || k === 'reason' || k === 'modelId');

  return (
    <Stack data-testid="handbook-editor">
      <Title order={2}>
        {editing ? `Edit: ${existing.data!.content.title}` : lockId ? `New override for ${lock.data?.name ?? 'a lock'}` : 'New handbook entry'}
      </Title>
      {editing && (
        <Text c="dimmed" size="sm">
          Editing from revision {baseRevision}; saving makes revision {(baseRevision ?? 0) + 1}.{' '}
          <Anchor component={Link} to={entryPath(id)}>
            Back to the entry
          </Anchor>
        </Text>
      )}
      {!editing && (
        <Select
          label="Model"
          description={lockId ? 'an override applies to this one lock only' : 'the entry applies to every lock of this model'}
          searchable
          disabled={!!lockId}
          data={(models.data ?? []).map((m) => ({ value: m.id, label: `${m.manufacturer} ${m.modelNumber}` }))}
          value={modelId}
          onChange={setModelId}
          error={errors.modelId}
        />
      )}
      <Card withBorder>
        <Stack gap="sm">
          <TextInput label="Title" value={content.title} onChange={(e) => set({ title: e.currentTarget.value })} error={err('title')} />
          <Textarea label="Summary" autosize minRows={2} value={content.summary} onChange={(e) => set({ summary: e.currentTarget.value })} error={err('summary')} />
          <Group grow>
            <NumberInput
              label="Estimated time (minutes)"
              allowDecimal={false}
              min={1}
              value={content.estimatedMinutes ?? ''}
              onChange={(v) => set({ estimatedMinutes: typeof v === 'number' ? v : null })}
              error={err('estimatedMinutes')}
            />
            <NumberInput label="Verification window (days)" allowDecimal={false} min={1} max={3650} value={windowDays} onChange={setWindowDays} error={errors.verificationWindowDays} />
          </Group>
          <TagsInput label="Tools and materials" description="press Enter after each" value={content.tools} onChange={(tools) => set({ tools })} error={err('tools')} />
          <Checkbox
            label="Generic template: to be confirmed against the manufacturer's instructions"
            checked={content.generic}
            onChange={(e) => set({ generic: e.currentTarget.checked })}
          />
        </Stack>
      </Card>

      <Block title="Steps" addLabel="Add step" onAdd={() => set({ steps: [...content.steps, { kind: 'press', text: '' }] })}>
        {err('steps') && <Text c="red" size="sm">{err('steps')}</Text>}
        {content.steps.map((s, i) => (
          <Card key={i} withBorder padding="sm" data-testid="edit-step">
            <Group align="flex-start" wrap="nowrap">
              <Text fw={700} w={24} mt={28}>
                {i + 1}.
              </Text>
              <Stack gap={6} style={{ flex: 1 }}>
                <Group grow align="flex-start">
                  <Select
                    label="Kind"
                    data={STEP_KINDS.map((k) => ({ value: k, label: STEP_KIND_LABELS[k] }))}
                    value={s.kind}
                    allowDeselect={false}
                    onChange={(v) => v && setStep(i, { kind: v })}
                    error={err(`steps.${i}.kind`)}
                  />
                  {(s.kind === 'hold' || s.kind === 'wait_indicator') && (
                    <NumberInput
                      label={s.kind === 'hold' ? 'Hold for (seconds)' : 'Wait up to (seconds)'}
                      allowDecimal={false}
                      min={1}
                      max={3600}
                      value={s.seconds ?? ''}
                      onChange={(v) => setStep(i, { seconds: typeof v === 'number' ? v : undefined })}
                      error={err(`steps.${i}.seconds`)}
                    />
                  )}
                  {s.kind === 'sequence' && (
                    <TextInput label="Sequence to enter" placeholder="* + master code + #" value={s.sequence ?? ''} onChange={(e) => setStep(i, { sequence: e.currentTarget.value })} error={err(`steps.${i}.sequence`)} />
                  )}
                </Group>
                <Textarea label={`Step ${i + 1} text`} autosize minRows={1} value={s.text} onChange={(e) => setStep(i, { text: e.currentTarget.value })} error={err(`steps.${i}.text`)} />
              </Stack>
              <RowTools what="step" index={i} count={content.steps.length} onMove={(by) => set({ steps: move(content.steps, i, by) })} onRemove={() => set({ steps: content.steps.filter((_, k) => k !== i) })} />
            </Group>
          </Card>
        ))}
      </Block>

      <Block title="Safety warnings" addLabel="Add warning" onAdd={() => set({ warnings: [...content.warnings, { kind: 'alarm_may_trigger', text: '' }] })}>
        {content.warnings.map((w, i) => (
          <Group key={i} align="flex-start" wrap="nowrap">
            <Select
              w={260}
              label="Kind"
              data={WARNING_KINDS.map((k) => ({ value: k, label: WARNING_LABELS[k] }))}
              value={w.kind}
              allowDeselect={false}
              onChange={(v) => v && setWarning(i, { kind: v })}
            />
            <Textarea style={{ flex: 1 }} label="What to do" autosize minRows={1} value={w.text} onChange={(e) => setWarning(i, { text: e.currentTarget.value })} error={err(`warnings.${i}.text`)} />
            <RowTools what="warning" index={i} count={content.warnings.length} onMove={(by) => set({ warnings: move(content.warnings, i, by) })} onRemove={() => set({ warnings: content.warnings.filter((_, k) => k !== i) })} />
          </Group>
        ))}
      </Block>

      <Block title="Resources" addLabel="Add resource" onAdd={() => set({ resources: [...content.resources, { tier: 'manufacturer', label: '' }] })}>
        {content.resources.map((r, i) => (
          <Group key={i} align="flex-start" wrap="nowrap" grow>
            <Select label="Tier" data={RESOURCE_TIERS.map((t) => ({ value: t, label: TIER_LABELS[t] }))} value={r.tier} allowDeselect={false} onChange={(v) => v && setResource(i, { tier: v })} />
            <TextInput label="Label" value={r.label} onChange={(e) => setResource(i, { label: e.currentTarget.value })} error={err(`resources.${i}.label`)} />
            <TextInput label="Address" placeholder="https://" value={r.url ?? ''} onChange={(e) => setResource(i, { url: e.currentTarget.value })} error={err(`resources.${i}.url`)} />
            <TextInput label="Phone" value={r.phone ?? ''} onChange={(e) => setResource(i, { phone: e.currentTarget.value })} error={err(`resources.${i}.phone`)} />
            <TextInput label="Hours" placeholder="Mon-Fri 08:00-18:00" value={r.hours ?? ''} onChange={(e) => setResource(i, { hours: e.currentTarget.value })} error={err(`resources.${i}.hours`)} />
            <RowTools what="resource" index={i} count={content.resources.length} onMove={(by) => set({ resources: move(content.resources, i, by) })} onRemove={() => set({ resources: content.resources.filter((_, k) => k !== i) })} />
          </Group>
        ))}
      </Block>

      <Block title="Key contacts" addLabel="Add contact" onAdd={() => set({ contacts: [...content.contacts, { name: '' }] })}>
        {content.contacts.map((c, i) => (
          <Group key={i} align="flex-start" wrap="nowrap" grow>
            <TextInput label="Name" value={c.name} onChange={(e) => setContact(i, { name: e.currentTarget.value })} error={err(`contacts.${i}.name`)} />
            <TextInput label="Role" value={c.role ?? ''} onChange={(e) => setContact(i, { role: e.currentTarget.value })} />
            <TextInput label="Phone" value={c.phone ?? ''} onChange={(e) => setContact(i, { phone: e.currentTarget.value })} />
            <TextInput label="Email" value={c.email ?? ''} onChange={(e) => setContact(i, { email: e.currentTarget.value })} error={err(`contacts.${i}.email`)} />
            <RowTools what="contact" index={i} count={content.contacts.length} onMove={(by) => set({ contacts: move(content.contacts, i, by) })} onRemove={() => set({ contacts: content.contacts.filter((_, k) => k !== i) })} />
          </Group>
        ))}
      </Block>

      <Card withBorder>
        <Stack gap="sm">
          <Textarea
            label="Reason for this change"
            description={editing ? 'required: it is kept with the revision' : 'optional for a first version'}
            value={reason}
            onChange={(e) => setReason(e.currentTarget.value)}
            error={errors.reason}
          />
          {conflict && (
            <Alert color="orange" title="Someone saved this entry while you were editing" data-testid="conflict">
              Your changes were not saved: the entry moved on from revision {baseRevision}. Open the entry in a new tab to see the latest revision and compare, then
              re-apply your change there. Your edits stay in this form until you leave.{' '}
              <Anchor component={Link} to={`/handbook/entries/${id}/revisions`} target="_blank">
                Revisions
              </Anchor>
            </Alert>
          )}
          {!conflict && formAlert(save.error, known) && <Alert color="red">{formAlert(save.error, known)}</Alert>}
          <Group>
            <Button loading={save.isPending} onClick={() => save.mutate()} disabled={!editing && !modelId}>
              {editing ? 'Save revision' : 'Create entry'}
            </Button>
            <Button variant="default" component={Link} to={editing ? entryPath(id) : '/handbook'}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </Card>
    </Stack>
  );
}
