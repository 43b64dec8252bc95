import { useEffect, useState } from 'react';
import { Alert, Button, Group, Loader, NumberInput, Select, SimpleGrid, Stack, Switch, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router-dom';
import { CREDENTIAL_STORAGE } from '../../domain/lock-models.js';
import { DRIVER_NAMES, EDITABLE_SERVICE_STATES, SERVICE_STATE_LABELS, type ServiceState } from '../../domain/locks.js';
import { api, ApiError, fieldErrors, formAlert } from '../api.js';
import { locationOptions, useLocations, useModels, type LockJson } from '../data.js';

interface FormState {
  name: string;
  modelId: string | null;
  locationId: string | null;
  serial: string;
  firmware: string;
  installedOn: string;
  driver: string;
  externalId: string;
  credentialStorage: string | null;
  mechanicalOverride: boolean;
  batteryPercent: number | string;
  serviceState: ServiceState;
  notes: string;
}

const EMPTY: FormState = { name: '', modelId: null, locationId: null, serial: '', firmware: '', installedOn: '', driver: 'simulator', externalId: '', credentialStorage: null, mechanicalOverride: true, batteryPercent: '', serviceState: 'in_service', notes: '' };
const FIELDS = ['name', 'modelId', 'locationId', 'serial', 'firmware', 'installedOn', 'driver', 'externalId', 'credentialStorage', 'mechanicalOverride', 'batteryPercent', 'serviceState', 'notes', 'expectedVersion'];

function fromLock(l: LockJson): FormState {
  return { name: l.name, modelId: l.modelId, locationId: l.locationId, serial: l.serial, firmware: l.firmware, installedOn: l.installedOn ?? '', driver: l.driver, externalId: l.externalId ?? '', credentialStorage: l.credentialStorage, mechanicalOverride: l.mechanicalOverride, batteryPercent: l.batteryPercent ?? '', serviceState: l.serviceState, notes: l.notes };
}

/** The request body for a form state; `credentialStorage` left empty means "as the model". */
function toBody(f: FormState): Record<string, unknown> {
  return {
    name: f.name,
    modelId: f.modelId ?? '',
    locationId: f.locationId ?? '',
    serial: f.serial,
    firmware: f.firmware,
    installedOn: f.installedOn.trim() || null,
    driver: f.driver,
    externalId: f.externalId.trim() || null,
    ...(f.credentialStorage ? { credentialStorage: f.credentialStorage } : {}),
    mechanicalOverride: f.mechanicalOverride,
    batteryPercent: f.batteryPercent === '' ? null : Number(f.batteryPercent),
    serviceState: f.serviceState,
    notes: f.notes,
  };
}

/** Only what the editor changed, so a state set elsewhere (a reset in progress) is not overwritten. */
function changes(before: FormState, after: FormState): Record<string, unknown> {
  const a = toBody(before);
  return Object.fromEntries(Object.entries(toBody(after)).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(a[k])));
}

/** Add or edit a lock; the server's field errors appear on their inputs. */
export function LockForm() {
  const { id } = useParams();
  const editing = id !== undefined;
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const models = useModels();
  const locations = useLocations();
  const existing = useQuery({ queryKey: ['lock', id], queryFn: () => api<LockJson>('GET', `/api/locks/${id}`), enabled: editing });
  const [form, setForm] = useState<FormState>(EMPTY);
  useEffect(() => {
    if (existing.data) setForm(fromLock(existing.data));
  }, [existing.data]);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setForm((f) => ({ ...f, [key]: value }));
  // A new lock starts with its model's mechanical override; the editor may still change it.
  const chooseModel = (modelId: string | null) => {
    const model = models.data?.find((m) => m.id === modelId);
    setForm((f) => ({ ...f, modelId, ...(!editing && model ? { mechanicalOverride: model.mechanicalOverride } : {}) }));
  };

  const save = useMutation({
    mutationFn: () => {
      if (!editing || !existing.data) return api<LockJson>('POST', '/api/locks', toBody(form));
      const body = { ...changes(fromLock(existing.data), form), expectedVersion: existing.data.version };
      return api<LockJson>('PATCH', `/api/locks/${id}`, body);
    },
    onSuccess: async (l) => {
      queryClient.setQueryData(['lock', l.id], l);
      await queryClient.invalidateQueries({ queryKey: ['locks'] });
      await queryClient.invalidateQueries({ queryKey: ['locations'] });
      await navigate(`/locks/${l.id}`);
    },
  });
  const errors = fieldErrors(save.error);
  const alert = formAlert(save.error, FIELDS);
  const conflict = save.error instanceof ApiError && save.error.code === 'lock.version_conflict';
  if (editing && existing.isPending) return <Loader />;
  if (editing && existing.isError) return <Alert color="red">{existing.error.message}</Alert>;
  const stateOptions: { value: ServiceState; label: string; disabled: boolean }[] = EDITABLE_SERVICE_STATES.map((s) => ({ value: s, label: SERVICE_STATE_LABELS[s], disabled: false }));
  if (!stateOptions.some((o) => o.value === form.serviceState)) {
    stateOptions.push({ value: form.serviceState, label: SERVICE_STATE_LABELS[form.serviceState], disabled: true });
  }

  return (
    <Stack maw={900}>
      <Title order={2}>{editing ? `Edit ${existing.data?.name ?? 'lock'}` : 'Add a lock'}</Title>
      {alert && (
        <Alert color="red" title={conflict ? 'Someone else changed this lock' : undefined}>
          {alert}
          {conflict && (
            <Button
              mt="sm"
              size="xs"
              variant="light"
              display="block"
              onClick={() => {
                save.reset();
                void existing.refetch();
              }}
            >
              Load the latest version (discards your changes)
            </Button>
          )}
        </Alert>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack>
          <TextInput label="Name" required value={form.name} error={errors.name} onChange={(e) => set('name', e.currentTarget.value)} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Select label="Model" required searchable data={(models.data ?? []).map((m) => ({ value: m.id, label: `${m.manufacturer} ${m.modelNumber}` }))} value={form.modelId} error={errors.modelId} onChange={chooseModel} />
            <Select label="Location" required searchable data={locationOptions(locations.data ?? [])} value={form.locationId} error={errors.locationId} onChange={(v) => set('locationId', v)} />
            <TextInput label="Serial" value={form.serial} error={errors.serial} onChange={(e) => set('serial', e.currentTarget.value)} />
            <TextInput label="Firmware" value={form.firmware} error={errors.firmware} onChange={(e) => set('firmware', e.currentTarget.value)} />
            <TextInput label="Installed on" placeholder="YYYY-MM-DD" value={form.installedOn} error={errors.installedOn} onChange={(e) => set('installedOn', e.currentTarget.value)} />
            <NumberInput label="Battery %" min={0} max={100} allowDecimal={false} value={form.batteryPercent} error={errors.batteryPercent} onChange={(v) => set('batteryPercent', v)} />
            <Select label="Driver" data={[...DRIVER_NAMES]} value={form.driver} error={errors.driver} onChange={(v) => set('driver', v ?? 'simulator')} />
            <TextInput label="External id" description="the driver's id for this lock" value={form.externalId} error={errors.externalId} onChange={(e) => set('externalId', e.currentTarget.value)} />
            <Select label="Credential storage" placeholder="as the model" clearable data={[...CREDENTIAL_STORAGE]} value={form.credentialStorage} error={errors.credentialStorage} onChange={(v) => set('credentialStorage', v)} />
            <Select label="Service state" data={stateOptions} value={form.serviceState} error={errors.serviceState} onChange={(v) => set('serviceState', v ?? 'in_service')} />
          </SimpleGrid>
          <Switch label="Mechanical key override" checked={form.mechanicalOverride} error={errors.mechanicalOverride} onChange={(e) => set('mechanicalOverride', e.currentTarget.checked)} />
          <Textarea label="Notes" autosize minRows={2} value={form.notes} error={errors.notes} onChange={(e) => set('notes', e.currentTarget.value)} />
          <Group>
            <Button type="submit" loading={save.isPending}>
              {editing ? 'Save changes' : 'Add lock'}
            </Button>
            <Button variant="default" onClick={() => void navigate(editing ? `/locks/${id}` : '/locks')}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
