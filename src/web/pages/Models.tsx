import { Anchor, Badge, Button, Group, Loader, Table, Title, Stack } from '@mantine/core';
import { Link } from 'react-router-dom';
import { FAMILY_LABELS, RESET_BEHAVIOUR_LABELS } from '../../domain/lock-models.js';
import { useModels } from '../data.js';
import { useCan } from '../session.js';

/** The model catalogue. */
export function Models() {
  const models = useModels();
  const canWrite = useCan('model.write');
  if (models.isPending) return <Loader />;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Model catalogue</Title>
        {canWrite && (
          <Button component={Link} to="/models/new">
            Add model
          </Button>
        )}
      </Group>
      <Table striped data-testid="model-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Manufacturer</Table.Th>
            <Table.Th>Model number</Table.Th>
            <Table.Th>Name</Table.Th>
            <Table.Th>Family</Table.Th>
            <Table.Th>Factory reset</Table.Th>
            <Table.Th>PIN slots</Table.Th>
            <Table.Th>Hold (s)</Table.Th>
            <Table.Th>Battery min</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(models.data ?? []).map((m) => (
            <Table.Tr key={m.id}>
              <Table.Td>{m.manufacturer}</Table.Td>
              <Table.Td>
                {canWrite ? (
                  <Anchor component={Link} to={`/models/${m.id}/edit`}>
                    {m.modelNumber}
                  </Anchor>
                ) : (
                  m.modelNumber
                )}
                {m.isDemo && (
                  <Badge ml="xs" size="xs" variant="outline" color="yellow">
                    demo
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>{m.name}</Table.Td>
              <Table.Td>{FAMILY_LABELS[m.family]}</Table.Td>
              <Table.Td>{RESET_BEHAVIOUR_LABELS[m.resetBehaviour]}</Table.Td>
              <Table.Td>{m.capabilities.pinSlots}</Table.Td>
              <Table.Td>{m.gating.holdSeconds}</Table.Td>
              <Table.Td>{m.gating.batteryMinPercent}%</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
