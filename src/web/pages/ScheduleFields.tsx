import { Checkbox, Group, Radio, Stack, Text, TextInput } from '@mantine/core';
import type { Weekday } from '../../drivers/contract.js';
import { DAYS, localInputToIso, toLocalInput, type Capabilities, type Schedule } from '../credentials.js';

/** A schedule while it is being edited: every kind's inputs kept, so switching kinds loses nothing. */
export interface ScheduleDraft {
  kind: Schedule['kind'];
  from: string;
  until: string;
  days: Weekday[];
  start: string;
  end: string;
}

/** A fresh draft: always; a time-bound choice starts from now until a week from now. */
export function newScheduleDraft(now = new Date()): ScheduleDraft {
  const from = new Date(now);
  from.setSeconds(0, 0);
  const until = new Date(from.getTime() + 7 * 86_400_000);
  return { kind: 'always', from: toLocalInput(from), until: toLocalInput(until), days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' };
}

export function draftOf(s: Schedule): ScheduleDraft {
  const base = newScheduleDraft();
  if (s.kind === 'window') return { ...base, kind: 'window', from: toLocalInput(new Date(s.from)), until: toLocalInput(new Date(s.until)) };
  if (s.kind === 'recurring') return { ...base, kind: 'recurring', days: [...s.days], start: s.start, end: s.end };
  return base;
}

/** The request body's schedule; datetime-local values become ISO 8601 with the browser's offset. */
export function scheduleOf(d: ScheduleDraft): Schedule {
  if (d.kind === 'window') return { kind: 'window', from: localInputToIso(d.from), until: localInputToIso(d.until) };
  if (d.kind === 'recurring') return { kind: 'recurring', days: DAYS.map((x) => x.value).filter((v) => d.days.includes(v)), start: d.start, end: d.end };
  return { kind: 'always' };
}

/** The field paths these inputs show errors for, under `prefix` (e.g. "schedule"). */
export function scheduleFieldPaths(prefix: string): string[] {
  return [prefix, ...['kind', 'from', 'until', 'days', 'start', 'end'].map((k) => `${prefix}.${k}`)];
}

interface Props {
  value: ScheduleDraft;
  onChange: (d: ScheduleDraft) => void;
  /** What the lock(s) can keep; null when unknown (bulk changes across models: the server checks each lock). */
  caps: Capabilities | null;
  errors: Record<string, string>;
  /** Where the server reports this schedule's errors ("schedule", "add.0.schedule"). */
  prefix?: string;
}

/** Always / Time-bound / Recurring, offering only what the lock can keep. */
export function ScheduleFields({ value, onChange, caps, errors, prefix = 'schedule' }: Props) {
  const set = <K extends keyof ScheduleDraft>(k: K, v: ScheduleDraft[K]) => onChange({ ...value, [k]: v });
  const canWindow = caps?.schedules.window ?? true;
  const canRecurring = caps?.schedules.recurring ?? true;
  const err = (k: string) => errors[`${prefix}.${k}`];
  return (
    <Stack gap="xs">
      <Radio.Group label="When does it work?" value={value.kind} onChange={(v) => set('kind', v)} error={errors[prefix] ?? err('kind')}>
        <Group mt={4}>
          <Radio value="always" label="Always" />
          {canWindow && <Radio value="window" label="Time-bound" />}
          {canRecurring && <Radio value="recurring" label="Recurring" />}
        </Group>
      </Radio.Group>
      {caps && !canWindow && !canRecurring && (
        <Text size="xs" c="dimmed">
          This lock keeps no schedules: its PINs work at all times.
        </Text>
      )}
      {value.kind === 'window' && (
        <Group grow align="flex-start">
          <TextInput type="datetime-local" label="From" required value={value.from} error={err('from')} onChange={(e) => set('from', e.currentTarget.value)} />
          <TextInput type="datetime-local" label="Until" required value={value.until} error={err('until')} onChange={(e) => set('until', e.currentTarget.value)} />
        </Group>
      )}
      {value.kind === 'recurring' && (
        <>
          <Checkbox.Group label="Days" value={value.days} onChange={(v) => set('days', v)} error={err('days')}>
            <Group mt={4} gap="sm">
              {DAYS.map((d) => (
                <Checkbox key={d.value} value={d.value} label={d.label} />
              ))}
            </Group>
          </Checkbox.Group>
          <Group grow align="flex-start">
            <TextInput type="time" label="Start" required value={value.start} error={err('start')} onChange={(e) => set('start', e.currentTarget.value)} />
            <TextInput type="time" label="End" required value={value.end} error={err('end')} onChange={(e) => set('end', e.currentTarget.value)} />
          </Group>
          <Text size="xs" c="dimmed">
            Times are the lock&apos;s local time.
          </Text>
        </>
      )}
    </Stack>
  );
}
