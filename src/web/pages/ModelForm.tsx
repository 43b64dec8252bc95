import { useEffect, useState } from 'react';
import { Alert, Button, Checkbox, Fieldset, Group, Loader, Modal, NumberInput, Select, SimpleGrid, Stack, Switch, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router-dom';
import { CREDENTIAL_STORAGE, FAMILY_LABELS, LOCK_FAMILIES, RESET_BEHAVIOUR_LABELS, RESET_BEHAVIOURS, familyDefaults, type LockFamily, type LockModelCreate } from '../../domain/lock-models.js';
import { api, fieldErrors, formAlert } from '../api.js';
import { useModels, type ModelJson } from '../data.js';
import { useCan } from '../session.js';

const blank = (family: LockFamily): LockModelCreate => ({ manufacturer: '', modelNumber: '', name: '', ...familyDefaults(family) });
const CAPABILITY_FLAGS = [
  ['schedules', 'Schedules'],
  ['digitalKeys', 'Digital keys'],
  ['fingerprints', 'Fingerprints'],
  ['remoteLockUnlock', 'Remote lock/unlock'],
  ['remoteReset', 'Remote factory reset'],
] as const;
/** Paths of the inputs below; a field error on any other path goes to the form's Alert. */
const KNOWN = ['manufacturer', 'modelNumber', 'name', 'family', 'resetBehaviour', 'credentialStorage', 'capabilities.pinSlots', 'capabilities.pinLengthMin', 'capabilities.pinLengthMax', 'gating.button', 'gating.buttonSequence', 'gating.holdSeconds', 'gating.batteryMinPercent'];

/** Add or edit a model; choosing a family on a new model fills sensible defaults. */
export function ModelForm() {
  const { id } = useParams();
  const editing = id !== undefined;
  const models = useModels();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const canWrite = useCan('model.write');
  const [m, setM] = useState<LockModelCreate>(blank('electronic_deadbolt'));
  const [deleting, setDeleting] = useState(false);
  useEffect(() => {
    const found = models.data?.find((x) => x.id === id);
    if (found) {
      const { id: _id, isDemo: _d, createdAt: _c, updatedAt: _u, ...rest } = found;
      setM(rest);
    }
  }, [models.data, id]);
  const save = useMutation({
    mutationFn: () => (editing ? api<ModelJson>('PATCH', `/api/models/${id}`, m) : api<ModelJson>('POST', '/api/models', m)),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['models'] });
      await navigate('/models');
    },
  });
  const remove = useMutation({
    mutationFn: () => api('DELETE', `/api/models/${id}`),
    onSuccess: async () => {
      notifications.show({ message: `Deleted ${m.manufacturer} ${m.modelNumber}` });
      await queryClient.invalidateQueries({ queryKey: ['models'] });
      await navigate('/models');
    },
  });
  const errors = fieldErrors(save.error);
  const alert = formAlert(save.error, KNOWN);
  const cap = <K extends keyof LockModelCreate['capabilities']>(k: K, v: LockModelCreate['capabilities'][K]) => setM((x) => ({ ...x, capabilities: { ...x.capabilities, [k]: v } }));
  const gate = <K extends keyof LockModelCreate['gating']>(k: K, v: LockModelCreate['gating'][K]) => setM((x) => ({ ...x, gating: { ...x.gating, [k]: v } }));
  const num = (v: string | number) => (typeof v === 'number' ? v : Number.NaN);
  if (editing && models.isPending) return <Loader />;
  if (editing && models.data && !models.data.some((x) => x.id === id)) return <Alert color="red">No model with this id in the catalogue.</Alert>;

  return (
    <Stack maw={900}>
      <Title order={2}>{editing ? `Edit ${m.manufacturer} ${m.modelNumber}` : 'Add a model'}</Title>
      {alert && <Alert color="red">{alert}</Alert>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Manufacturer" required value={m.manufacturer} error={errors.manufacturer} onChange={(e) => setM({ ...m, manufacturer: e.currentTarget.value })} />
            <TextInput label="Model number" required value={m.modelNumber} error={errors.modelNumber} onChange={(e) => setM({ ...m, modelNumber: e.currentTarget.value })} />
            <TextInput label="Name" value={m.name} error={errors.name} onChange={(e) => setM({ ...m, name: e.currentTarget.value })} />
            <Select
              label="Family"
              data={LOCK_FAMILIES.map((f) => ({ value: f, label: FAMILY_LABELS[f] }))}
              value={m.family}
              error={errors.family}
              onChange={(v) => {
                if (!v) return;
                const family = v;
                setM(editing ? { ...m, family } : { ...m, ...familyDefaults(family) });
              }}
            />
            <Select label="Factory reset behaviour" data={RESET_BEHAVIOURS.map((r) => ({ value: r, label: RESET_BEHAVIOUR_LABELS[r] }))} value={m.resetBehaviour} error={errors.resetBehaviour} onChange={(v) => v && setM({ ...m, resetBehaviour: v })} />
            <Select label="Credential storage" data={[...CREDENTIAL_STORAGE]} value={m.credentialStorage} error={errors.credentialStorage} onChange={(v) => v && setM({ ...m, credentialStorage: v })} />
          </SimpleGrid>
          <Switch label="Mechanical key override" checked={m.mechanicalOverride} onChange={(e) => setM({ ...m, mechanicalOverride: e.currentTarget.checked })} />
          <Fieldset legend="Credential capabilities">
            <SimpleGrid cols={{ base: 1, sm: 3 }}>
              <NumberInput label="PIN slots" value={m.capabilities.pinSlots} error={errors['capabilities.pinSlots']} onChange={(v) => cap('pinSlots', num(v))} />
              <NumberInput label="PIN length min" value={m.capabilities.pinLengthMin} error={errors['capabilities.pinLengthMin']} onChange={(v) => cap('pinLengthMin', num(v))} />
              <NumberInput label="PIN length max" value={m.capabilities.pinLengthMax} error={errors['capabilities.pinLengthMax']} onChange={(v) => cap('pinLengthMax', num(v))} />
            </SimpleGrid>
            <Group mt="sm">
              {CAPABILITY_FLAGS.map(([k, label]) => (
                <Checkbox key={k} label={label} checked={m.capabilities[k]} onChange={(e) => cap(k, e.currentTarget.checked)} />
              ))}
            </Group>
          </Fieldset>
          <Fieldset legend="Physical gating of a factory reset">
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <TextInput label="Reset button or control" value={m.gating.button} error={errors['gating.button']} onChange={(e) => gate('button', e.currentTarget.value)} />
              <TextInput label="Button sequence" value={m.gating.buttonSequence ?? ''} error={errors['gating.buttonSequence']} onChange={(e) => gate('buttonSequence', e.currentTarget.value || undefined)} />
              <NumberInput label="Hold seconds" value={m.gating.holdSeconds} error={errors['gating.holdSeconds']} onChange={(v) => gate('holdSeconds', num(v))} />
              <NumberInput label="Battery minimum %" value={m.gating.batteryMinPercent} error={errors['gating.batteryMinPercent']} onChange={(v) => gate('batteryMinPercent', num(v))} />
            </SimpleGrid>
            <Checkbox mt="sm" label="The lock must be off the door" checked={m.gating.needsLockOffDoor} onChange={(e) => gate('needsLockOffDoor', e.currentTarget.checked)} />
          </Fieldset>
          <Group>
            <Button type="submit" loading={save.isPending}>
              {editing ? 'Save changes' : 'Add model'}
            </Button>
            <Button variant="default" onClick={() => void navigate('/models')}>
              Cancel
            </Button>
            {editing && canWrite && (
              <Button color="red" variant="light" ml="auto" onClick={() => setDeleting(true)}>
                Delete model
              </Button>
            )}
          </Group>
        </Stack>
      </form>
      <Modal opened={deleting} onClose={() => setDeleting(false)} title={`Delete ${m.manufacturer} ${m.modelNumber}`}>
        <Stack>
          <Text size="sm">The model leaves the catalogue. A model that locks still use cannot be deleted.</Text>
          {remove.isError && <Alert color="red">{remove.error.message}</Alert>}
          <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
            Delete model
          </Button>
        </Stack>
      </Modal>
    </Stack>
  );
}
