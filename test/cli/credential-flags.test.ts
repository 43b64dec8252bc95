/**
 * The credential flags and their output, in-process: schedules from flags (every bad combination
 * names its flag), schedules and progress in words, and following a bulk change (bar or lines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/domain/errors.js';
import { bulkFromFlags, flagOf, namingFlags, parseDays, pinCreateFromFlags, pinUpdateFromFlags, scheduleFromFlags, type ScheduleFlags } from '../../src/cli/credential-flags.js';
import { daysWords, progressBar, scheduleWords } from '../../src/cli/format.js';
import { AppError } from '../../src/domain/errors.js';
import { waitForBulk } from '../../src/cli/bulk-wait.js';
import type { LockwardenClient } from '../../src/cli/client.js';
import type { BulkView } from '../../src/services/credential-service.js';

/** Asserts `fn` throws a validation error whose first field is `flag` and whose message matches. */
function refuses(fn: () => unknown, flag: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAppError(e, 'validation.failed'), String(e));
    assert.equal(e.fields[0]?.path, flag, e.message);
    assert.ok(e.message.includes(flag), e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const LOCK = '3f2b8c1e-0000-4000-8000-000000000001';

describe('credential flags', () => {
  it('build each kind of schedule', () => {
    assert.equal(scheduleFromFlags({}), undefined);
    assert.deepEqual(scheduleFromFlags({ always: true }), { kind: 'always' });
    assert.deepEqual(scheduleFromFlags({ from: '2030-06-01T15:00:00+02:00', until: '2030-06-05T11:00:00+02:00' }), {
      kind: 'window',
      from: '2030-06-01T15:00:00+02:00',
      until: '2030-06-05T11:00:00+02:00',
    });
    assert.deepEqual(scheduleFromFlags({ days: 'fri,mon-wed', start: '09:00', end: '17:30' }), { kind: 'recurring', days: ['mon', 'tue', 'wed', 'fri'], start: '09:00', end: '17:30' });
  });

  it('refuse half pairs, mixed kinds and backwards times, naming the flag', () => {
    const cases: [ScheduleFlags, string, RegExp?][] = [
      [{ from: '2030-06-01T15:00:00Z' }, '--until'],
      [{ until: '2030-06-01T15:00:00Z' }, '--from'],
      [{ from: '2030-06-02T15:00:00Z', until: '2030-06-01T15:00:00Z' }, '--until', /after --from/],
      [{ from: '2030-06-02 15:00', until: '2030-06-03T15:00:00Z' }, '--from', /ISO date-time with an offset/],
      [{ days: 'mon' }, '--start'],
      [{ days: 'mon', start: '09:00' }, '--end'],
      [{ start: '09:00', end: '10:00' }, '--days'],
      [{ days: 'mon', start: '10:00', end: '09:00' }, '--end', /after --start/],
      [{ days: 'mon', start: '9am', end: '17:00' }, '--start', /HH:MM/],
      [{ days: 'mon', start: '09:00', end: '17:00', from: '2030-06-01T15:00:00Z', until: '2030-06-02T15:00:00Z' }, '--days', /not both/],
      [{ always: true, days: 'mon', start: '09:00', end: '17:00' }, '--always'],
    ];
    for (const [flags, flag, message] of cases) refuses(() => scheduleFromFlags(flags), flag, message);
  });

  it('read days as lists, ranges and words', () => {
    assert.deepEqual(parseDays('weekdays'), ['mon', 'tue', 'wed', 'thu', 'fri']);
    assert.deepEqual(parseDays('Sunday, sat'), ['sat', 'sun']);
    assert.deepEqual(parseDays('daily').length, 7);
    refuses(() => parseDays('fri-mon'), '--days', /backwards/);
    refuses(() => parseDays('mon,someday'), '--days', /someday/);
    refuses(() => parseDays(','), '--days');
  });

  it('parse PIN and bulk input with the domain schemas, naming flags', () => {
    assert.deepEqual(pinCreateFromFlags({ holder: ' Ann ', length: 8 }), { holder: 'Ann', length: 8, schedule: { kind: 'always' } });
    refuses(() => pinCreateFromFlags({ holder: '  ' }), '--holder');
    refuses(() => pinCreateFromFlags({ holder: 'Ann', code: '1234', length: 6 }), '--length');
    refuses(() => pinUpdateFromFlags({ version: 3 }), '--holder', /nothing to change/);
    assert.deepEqual(pinUpdateFromFlags({ version: 3, always: true }), { version: 3, schedule: { kind: 'always' } });

    const bulk = bulkFromFlags({ locks: `${LOCK}, ${LOCK.replace(/1$/, '2')}`, holder: ['Guest A', 'Guest B'], revokeAll: true, days: 'sat,sun', start: '10:00', end: '18:00' });
    assert.deepEqual(bulk.target, { lockIds: [LOCK, LOCK.replace(/1$/, '2')] });
    assert.deepEqual(bulk.revoke, { all: true });
    assert.deepEqual(
      bulk.add.map((a) => [a.holder, a.schedule.kind]),
      [
        ['Guest A', 'recurring'],
        ['Guest B', 'recurring'],
      ],
    );
    assert.deepEqual(bulkFromFlags({ location: 'Building A', revokeHolders: 'Old Guest' }, LOCK).target, { locationId: LOCK });
    refuses(() => bulkFromFlags({ holder: ['X'] }), '--location');
    refuses(() => bulkFromFlags({ locks: LOCK, location: 'x', holder: ['X'] }), '--locks');
    refuses(() => bulkFromFlags({ locks: 'abc', holder: ['X'] }), '--locks');
    refuses(() => bulkFromFlags({ locks: LOCK }), '--holder', /nothing to do/);
    refuses(() => bulkFromFlags({ locks: LOCK, from: '2030-06-01T15:00:00Z', until: '2030-06-02T15:00:00Z' }), '--holder');
    refuses(() => bulkFromFlags({ locks: LOCK, holder: ['X'], revokeAll: true, revokeHolders: 'Y' }), '--revoke-all');
  });

  it('rename API field errors to the flags they came from', async () => {
    assert.equal(flagOf('add.0.schedule.until'), '--until');
    assert.equal(flagOf('target.lockIds.3'), '--locks');
    assert.equal(flagOf('gating.holdSeconds'), 'gating.holdSeconds');
    await assert.rejects(
      namingFlags(Promise.reject(new AppError('validation.failed', 'Invalid input: code: this lock takes PINs of 6-8 digits', [{ path: 'code', message: 'this lock takes PINs of 6-8 digits' }]))),
      (e: unknown) => isAppError(e) && e.message === '--code: this lock takes PINs of 6-8 digits' && e.fields[0]!.path === '--code',
    );
    await assert.rejects(
      namingFlags(Promise.reject(new AppError('credential.slot_taken', 'slot 3 is in use', [{ path: 'slot', message: 'in use' }]))),
      (e: unknown) => isAppError(e, 'credential.slot_taken') && e.message === 'slot 3 is in use' && e.fields[0]!.path === '--slot',
    );
  });
});

describe('credential output', () => {
  it('says schedules in words', () => {
    assert.equal(scheduleWords({ kind: 'always' }), 'always');
    assert.equal(scheduleWords({ kind: 'window', from: '2030-06-01T15:00:00+02:00', until: '2030-06-05T11:00:00Z' }), 'from 2030-06-01 15:00 +02:00 until 2030-06-05 11:00 UTC');
    assert.equal(scheduleWords({ kind: 'recurring', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' }), 'Mon-Fri 09:00-17:00');
    assert.equal(daysWords(['mon', 'wed', 'fri']), 'Mon, Wed, Fri');
    assert.equal(daysWords(['sat', 'sun']), 'Sat, Sun');
    assert.equal(daysWords(['mon', 'tue', 'wed', 'sun']), 'Mon-Wed, Sun');
    assert.equal(daysWords(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']), 'every day');
  });

  it('draws progress as a bar with counts', () => {
    assert.equal(progressBar({ total: 40, done: 12, failed: 1 }, 10), '[###-------] 12/40 done, 1 failed');
    assert.equal(progressBar({ total: 40, done: 39, failed: 1 }, 10), '[##########] 39/40 done, 1 failed');
    assert.equal(progressBar({ total: 0, done: 0, failed: 0 }, 4), '[####] 0/0 done, 0 failed');
  });
});

describe('waiting for a bulk change', () => {
  const view = (done: number, failed = 0, total = 4): BulkView => ({
    id: 'b1',
    kind: 'add_pin',
    description: 'test',
    createdBy: 'test',
    createdAt: new Date(0),
    total,
    done,
    failed,
    pending: total - done - failed,
    finished: done + failed === total,
    failures: [],
  });

  /** A client whose bulk() answers the next view of `steps` on each call, and a stream that records. */
  function fixture(steps: BulkView[], isTTY: boolean) {
    let calls = 0;
    const client = { bulk: async () => steps[Math.min(++calls, steps.length - 1)]! } as unknown as LockwardenClient;
    let written = '';
    const stream = { isTTY, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    return { client, stream, written: () => written, calls: () => calls };
  }

  it('redraws a bar in place every interval on a terminal, and ends the line when finished', async () => {
    const steps = [view(0), view(1), view(1), view(3, 1)];
    const f = fixture(steps, true);
    const final = await waitForBulk(f.client, steps[0]!, { intervalMs: 5, stream: f.stream });
    assert.equal(final.finished, true);
    const frames = f.written().split('\r\x1b[2K').filter(Boolean);
    assert.deepEqual(frames, [
      '[--------------------] 0/4 done, 0 failed',
      '[#####---------------] 1/4 done, 0 failed',
      '[#####---------------] 1/4 done, 0 failed',
      '[####################] 3/4 done, 1 failed\n',
    ]);
  });

  it('prints one line per change of progress when not on a terminal', async () => {
    const steps = [view(0), view(0), view(2), view(2), view(4)];
    const f = fixture(steps, false);
    await waitForBulk(f.client, steps[0]!, { intervalMs: 5, stream: f.stream });
    assert.equal(f.written(), ['[--------------------] 0/4 done, 0 failed', '[##########----------] 2/4 done, 0 failed', '[####################] 4/4 done, 0 failed', ''].join('\n'));
  });

  it('gives up after its timeout with an "unavailable" error, saying the change goes on', async () => {
    const f = fixture([view(0)], false);
    await assert.rejects(waitForBulk(f.client, view(0), { intervalMs: 5, timeoutMs: 30, stream: f.stream }), (e: unknown) => {
      assert.ok(isAppError(e, 'device.unreachable'));
      assert.match(e.message, /goes on: lockwarden bulk status b1 --wait/);
      return true;
    });
  });
});
