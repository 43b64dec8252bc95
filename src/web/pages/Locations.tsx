import { useState } from 'react';
import { Alert, Card, Group, Loader, Stack, Text, Title } from '@mantine/core';
import { findNode, useTree, type NodeJson } from '../data.js';
import { useCan } from '../session.js';
import { LocationAddForm } from './LocationAddForm.js';
import { LocationLocks } from './LocationLocks.js';
import { LocationTree } from './LocationTree.js';

/** The location tree; choose a node to see its locks or add a child under it. */
export function Locations() {
  const tree = useTree();
  const canWrite = useCan('location.write');
  const [selectedId, setSelectedId] = useState<string | null>(null);
  // Nodes the user opened or closed; the others follow startsOpen.
  const [toggled, setToggled] = useState<ReadonlyMap<string, boolean>>(new Map());
  if (tree.isPending) return <Loader />;
  if (tree.isError) return <Alert color="red">{tree.error.message}</Alert>;
  const selected = findNode(tree.data, selectedId);
  // Organisations and sites start open, deeper levels closed; a click toggles a selected node.
  const startsOpen = (n: NodeJson) => n.kind === 'organisation' || n.kind === 'site';
  const opened = new Set<string>();
  const collect = (nodes: NodeJson[]) =>
    nodes.forEach((n) => {
      if (toggled.get(n.id) ?? startsOpen(n)) opened.add(n.id);
      collect(n.children);
    });
  collect(tree.data);
  const setOpen = (n: NodeJson, open: boolean) => setToggled((m) => new Map(m).set(n.id, open));
  const click = (n: NodeJson) => {
    if (n.id === selectedId) setOpen(n, !opened.has(n.id));
    else {
      setSelectedId(n.id);
      setOpen(n, true);
    }
  };
  return (
    <Stack>
      <Title order={2}>Locations</Title>
      <Group align="flex-start" wrap="nowrap">
        <Card withBorder w={480} data-testid="location-tree">
          <LocationTree nodes={tree.data} selected={selected?.id ?? null} opened={opened} onClick={click} />
          {tree.data.length === 0 && <Text c="dimmed">No locations yet: add an organisation.</Text>}
        </Card>
        <Stack flex={1}>
          {selected ? <LocationLocks node={selected} /> : <Text c="dimmed">Choose a location to see its locks.</Text>}
          {canWrite && <LocationAddForm key={selected?.id ?? 'top'} parent={selected} />}
        </Stack>
      </Group>
    </Stack>
  );
}
