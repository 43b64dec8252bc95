import { useState } from 'react';
import { Alert, Button, Code, CopyButton, Group, Modal, NumberInput, Stack, Text, TextInput } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, fieldErrors, formAlert } from '../api.js';
import { generatedLength, pinLengthText, scheduleText, type Capabilities, type CredentialJson } from '../credentials.js';
import { draftOf, newScheduleDraft, ScheduleFields, scheduleFieldPaths, scheduleOf, type ScheduleDraft } from './ScheduleFields.js';

interface Props {
  lockId: string;
  caps: Capabilities;
  /** The PIN being edited; null adds a new one. */
  editing: CredentialJson | null;
  onClose: () => void;
}

const FIELDS = ['holder', 'code', 'slot', 'length', 'version', ...scheduleFieldPaths('schedule')];

/**
 * Add or edit a PIN in a modal. A new PIN's code (typed or generated) is shown once, right after it
 * is saved; afterwards only a reveal with a stated reason shows it.
 */
export function PinFormModal({ lockId, caps, editing, onClose }: Props) {
  const queryClient = useQueryClient();
  const [holder, setHolder] = useState(editing?.holder ?? '');
  const [code, setCode] = useState('');
  const [slot, setSlot] = useState<number | string>('');
  const [schedule, setSchedule] = useState<ScheduleDraft>(editing ? draftOf(editing.schedule) : newScheduleDraft());
  const [created, setCreated] = useState<{ credential: CredentialJson; code: string } | null>(null);

  const save = useMutation({
    mutationFn: async () => {
      if (editing) {
        const body: Record<string, unknown> = { version: editing.version };
        if (holder.trim() !== editing.holder) body.holder = holder;
        if (code.trim()) body.code = code.trim();
        const next = scheduleOf(schedule);
        if (JSON.stringify(next) !== JSON.stringify(scheduleOf(draftOf(editing.schedule)))) body.schedule = next;
        await api<CredentialJson>('PATCH', `/api/credentials/${editing.id}`, body);
        return null;
      }
      const body: Record<string, unknown> = { holder, schedule: scheduleOf(schedule) };
      if (code.trim()) body.code = code.trim();
      if (slot !== '') body.slot = Number(slot);
      return api<{ credential: CredentialJson; code: string }>('POST', `/api/locks/${lockId}/pins`, body);
    },
    onSuccess: async (result) => {
      await queryClient.invalidateQueries({ queryKey: ['lock', lockId, 'credentials'] });
      if (result) setCreated(result);
      else onClose();
    },
  });
  const errors = fieldErrors(save.error);
  const alert = formAlert(save.error, FIELDS);
  const conflict = save.error instanceof ApiError && save.error.code === 'credential.version_conflict';

  if (created) {
    return (
      <Modal opened onClose={onClose} title="PIN added" closeOnClickOutside={false}>
        <Stack>
          <Text size="sm">
            PIN for <b>{created.credential.holder}</b> in slot {created.credential.slot} ({scheduleText(created.credential.schedule)}). It is on its way to the lock.
          </Text>
          <Group justify="center">
            <Code fz={32} px="lg" py="xs" data-testid="new-pin-code">
              {created.code}
            </Code>
          </Group>
          <Alert color="yellow" title="Note it now">
            This is the only time lockwarden shows this code without asking why. Give it to {created.credential.holder} now; later it can only be revealed with a
            recorded reason.
          </Alert>
          <Group justify="space-between">
            <CopyButton value={created.code}>
              {({ copied, copy }) => (
                <Button variant="light" onClick={copy}>
                  {copied ? 'Copied' : 'Copy code'}
                </Button>
              )}
            </CopyButton>
            <Button onClick={onClose}>I have noted it</Button>
          </Group>
        </Stack>
      </Modal>
    );
  }

  return (
    <Modal opened onClose={onClose} title={editing ? `Edit PIN in slot ${editing.slot}` : 'Add a PIN'} size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack>
          {alert && (
            <Alert color="red" title={conflict ? 'Someone else changed this PIN' : undefined}>
              {alert}
            </Alert>
          )}
          <TextInput label="Holder" description="the person (or role) this PIN is for" required data-autofocus value={holder} error={errors.holder} onChange={(e) => setHolder(e.currentTarget.value)} />
          <TextInput
            label="Code"
            inputMode="numeric"
            autoComplete="off"
            description={
              editing
                ? `Leave empty to keep the current code. This lock takes PINs of ${pinLengthText(caps)}.`
                : `Leave empty and lockwarden generates a strong ${generatedLength(caps)}-digit code. This lock takes PINs of ${pinLengthText(caps)}.`
            }
            placeholder={editing ? 'unchanged' : 'generate one for me'}
            value={code}
            error={errors.code}
            onChange={(e) => setCode(e.currentTarget.value)}
          />
          {!editing && (
            <NumberInput
              label="Slot"
              description={`optional: 1-${caps.pin.slots}; empty takes the first free slot`}
              placeholder="first free slot"
              min={1}
              max={caps.pin.slots}
              allowDecimal={false}
              allowNegative={false}
              value={slot}
              error={errors.slot}
              onChange={setSlot}
            />
          )}
          <ScheduleFields value={schedule} onChange={setSchedule} caps={caps} errors={errors} />
          <Group>
            <Button type="submit" loading={save.isPending}>
              {editing ? 'Save PIN' : 'Add PIN'}
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
