import { useState } from 'react';
import { Alert, Button, Card, Select, Stack, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { LOCATION_KINDS, READINGS, canContain, locationLabel, type LocationKind, type Reading } from '../../domain/locations.js';
import { api, fieldErrors, formAlert } from '../api.js';
import type { LocationJson, NodeJson } from '../data.js';

/** Adds a child under the chosen location (or an organisation at the top); field errors show inline. */
export function LocationAddForm({ parent }: { parent: NodeJson | null }) {
  const queryClient = useQueryClient();
  const childKinds = LOCATION_KINDS.filter((k) => canContain(parent?.kind ?? null, k));
  const [kind, setKind] = useState<LocationKind | null>(null);
  const [name, setName] = useState('');
  const [reading, setReading] = useState<Reading | null>(null);
  const chosenKind = kind && childKinds.includes(kind) ? kind : null;
  // A site (or a new organisation) sets how the levels below it are named; deeper levels inherit it.
  const asksReading = chosenKind === 'site' || chosenKind === 'organisation';
  const create = useMutation({
    mutationFn: () =>
      api<LocationJson>('POST', '/api/locations', {
        parentId: parent?.id ?? null,
        kind: chosenKind ?? '',
        name,
        ...(asksReading && reading ? { reading } : {}),
      }),
    onSuccess: async (loc) => {
      setName('');
      notifications.show({ message: `Added ${loc.name}` });
      await queryClient.invalidateQueries({ queryKey: ['locations'] });
    },
  });
  if (childKinds.length === 0) return null;
  const errors = fieldErrors(create.error);
  const alert = formAlert(create.error, ['kind', 'name', 'reading']);
  const labelReading = parent?.reading ?? 'residential';
  return (
    <Card withBorder>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Stack>
          <Title order={5}>{parent ? `Add a location under ${parent.name}` : 'Add an organisation'}</Title>
          {alert && <Alert color="red">{alert}</Alert>}
          <Select
            label="Kind"
            placeholder="choose a kind"
            data={childKinds.map((k) => ({ value: k, label: locationLabel(k, labelReading) }))}
            value={chosenKind}
            error={errors.kind}
            onChange={setKind}
          />
          <TextInput label="Name" value={name} error={errors.name} onChange={(e) => setName(e.currentTarget.value)} />
          {asksReading && (
            <Select
              label="Reading"
              description="residential names levels property / unit; commercial names them site / area / zone"
              placeholder={parent ? `as ${parent.name} (${parent.reading})` : 'residential'}
              clearable
              data={READINGS.map((r) => ({ value: r, label: r }))}
              value={reading}
              error={errors.reading}
              onChange={setReading}
            />
          )}
          <Button type="submit" loading={create.isPending}>
            Add location
          </Button>
        </Stack>
      </form>
    </Card>
  );
}
