/**
 * Fault hook for the crash harness (test/crash/): `LOCKWARDEN_CRASH_AT=<point>:<n>[,<point>:<n>...]`
 * makes this process kill itself with SIGKILL the n-th time it reaches `<point>` (1-based), as a
 * power cut would. Without the variable every call is a no-op. Points: `reset.intent_committed`
 * (an intent row committed, its device command not sent), `reset.device_done` (the device command
 * answered, nothing recorded), `reset.in_step_tx` (inside the step's transaction, before commit),
 * `reset.step_committed` (committed, the answer not sent).
 */

export const CRASH_POINTS = ['reset.intent_committed', 'reset.device_done', 'reset.in_step_tx', 'reset.step_committed'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const armed = new Map<string, number>();
for (const part of (process.env.LOCKWARDEN_CRASH_AT ?? '').split(',')) {
  const m = /^\s*([a-z_.]+):(\d+)\s*$/.exec(part);
  if (m) armed.set(m[1]!, Number(m[2]));
}
const seen = new Map<string, number>();

/** Kills this process here when the crash harness armed `point` for this pass. */
export function crashPoint(point: CrashPoint): void {
  const at = armed.get(point);
  if (at === undefined) return;
  const n = (seen.get(point) ?? 0) + 1;
  seen.set(point, n);
  if (n === at) {
    process.stderr.write(`lockwarden: crash point ${point}:${n} reached, killing this process (LOCKWARDEN_CRASH_AT)\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
