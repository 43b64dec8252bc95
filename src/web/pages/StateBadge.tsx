import { Badge } from '@mantine/core';
import { SERVICE_STATE_LABELS, type ServiceState } from '../../domain/locks.js';

const COLOURS: Record<ServiceState, string> = {
  in_service: 'green',
  setup_mode: 'blue',
  needs_attention: 'orange',
  reset_in_progress: 'violet',
  retired: 'gray',
};

/** A lock's service state as a coloured badge. */
export function StateBadge({ state }: { state: ServiceState }) {
  return (
    <Badge color={COLOURS[state]} variant="light">
      {SERVICE_STATE_LABELS[state]}
    </Badge>
  );
}
