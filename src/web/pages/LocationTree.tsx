import { Badge, Group, NavLink, Text } from '@mantine/core';
import type { NodeJson } from '../data.js';

interface Props {
  nodes: NodeJson[];
  selected: string | null;
  /** Ids of the nodes whose children show. */
  opened: ReadonlySet<string>;
  /** A click on a node: select it (and open it), or close it when it is already selected. */
  onClick: (n: NodeJson) => void;
}

/** The location tree as nested NavLinks: kind label, name and the locks at or below each node. */
export function LocationTree({ nodes, selected, opened, onClick }: Props) {
  return (
    <>
      {nodes.map((node) => (
        <NavLink
          key={node.id}
          data-testid="location-node"
          label={
            <Group gap={6} wrap="nowrap">
              <Text size="xs" c="dimmed">
                {node.label}
              </Text>
              <Text size="sm">{node.name}</Text>
              <Badge size="xs" variant="light" title="locks here and below">
                {node.lockCount}
              </Badge>
              {node.isDemo && (
                <Badge size="xs" variant="outline" color="yellow">
                  demo
                </Badge>
              )}
            </Group>
          }
          active={selected === node.id}
          opened={opened.has(node.id)}
          onClick={() => onClick(node)}
          childrenOffset={16}
        >
          {node.children.length ? <LocationTree nodes={node.children} selected={selected} opened={opened} onClick={onClick} /> : undefined}
        </NavLink>
      ))}
    </>
  );
}
