/**
 * The credential commands of the real `lockwarden` CLI in child processes, on a data folder seeded
 * with the demo fleet: bad flag combinations are refused before anything is opened; a PIN added with
 * no server stays pending (nothing applies it) and is applied once the server runs; through a running
 * server a PIN is confirmed on the (in-process simulated) lock and a bulk change finishes; the
 * simulator runs as its own process and stops on SIGTERM.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { startRuntime } from '../../src/runtime.js';
import { LOCK_FILE } from '../../src/store/data-folder-lock.js';
import { openEmbedded } from '../../src/store/database.js';
import { CliHarness, type Running } from './harness.js';

const SYSTEM: Actor = { kind: 'system', name: 'bootstrap' };
/** How long a PIN may take to reach a simulated lock through the server's worker. */
const CONFIRM_WITHIN_MS = 40_000;

interface CredentialJson {
  id: string;
  holder: string;
  slot: number;
  status: string;
  version: number;
}
interface LockCredentialsJson {
  slots: { slot: number; state: string; credential: CredentialJson | null }[];
  credentials: CredentialJson[];
}
interface BulkJson {
  id: string;
  total: number;
  done: number;
  failed: number;
  pending: number;
  finished: boolean;
  failures: { lockId: string; error: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lockwarden credential commands', () => {
  let dataDir = '';
  const cli = new CliHarness(() => ({ ...CliHarness.baseEnv(dataDir), ...(simUrl ? { LOCKWARDEN_SIM_URL: simUrl } : {}) }));
  let secret = '';
  /** PIN-capable simulated locks with schedules: [0] used locally, [1] through the server. */
  let pinLocks: Lock[] = [];
  /** The locks of one unit, all PIN-capable, for the bulk change. */
  let unitLocks: Lock[] = [];
  const UNIT_PATH = 'Harbour View Apartments/Building A/Floor 1/Unit A101';
  let localPin = { id: '', code: '' };
  /** Every simulated lock of the inventory. */
  let simLocks: Lock[] = [];
  /** The running server's URL and the `lockwarden sim` process's, while they run. */
  let url = '';
  let simUrl = '';
  let serverOutput = (): string => '';

  const api = async <T>(p: string): Promise<T> => {
    const res = await fetch(new URL(p, url), { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(res.status, 200, `GET ${p}: ${res.status}`);
    return (await res.json()) as T;
  };

  /** Polls the API until `holder`'s PIN on `lockId` is confirmed and the lock agrees. */
  async function confirmed(lockId: string, holder: string): Promise<LockCredentialsJson> {
    const deadline = Date.now() + CONFIRM_WITHIN_MS;
    let view: LockCredentialsJson | undefined;
    while (Date.now() < deadline) {
      view = await api<LockCredentialsJson>(`/api/locks/${lockId}/credentials`);
      const slot = view.slots.find((s) => s.credential?.holder === holder);
      if (slot?.credential?.status === 'confirmed' && slot.state === 'in_sync') return view;
      await sleep(250);
    }
    assert.fail(`${holder}'s PIN on ${lockId} was not confirmed within ${CONFIRM_WITHIN_MS} ms: ${JSON.stringify(view?.slots)}\n${serverOutput()}`);
  }

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-pins-'));
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      // The deployment key in the data folder, as the CLI and the server will use it.
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
      const { ctx, services } = runtime;
      assert.equal((await loadDemoFleet(ctx))?.locks, 40);
      assert.ok(await services.auth.bootstrapOwner(), 'owner created');
      secret = (await services.auth.createApiTokenFor(SYSTEM, 'owner@lockwarden.local', { name: 'credentials cli test', expiresInDays: 1 })).secret;
      const caps = new Map((await services.models.list(SYSTEM)).map((m) => [m.id, m.capabilities]));
      const locks = (await services.locks.list(SYSTEM, { limit: 500 })).items;
      const usable = (l: Lock) => l.driver === 'simulator' && l.externalId !== null && (caps.get(l.modelId)?.pinSlots ?? 0) > 0;
      simLocks = locks.filter((l) => l.driver === 'simulator' && l.externalId !== null);
      pinLocks = locks.filter((l) => usable(l) && caps.get(l.modelId)!.schedules && !l.locationPath.some((p) => p.name === 'Unit A101'));
      unitLocks = locks.filter((l) => l.locationPath.some((p) => p.name === 'Unit A101'));
      assert.ok(unitLocks.every((l) => usable(l) && caps.get(l.modelId)!.schedules), 'every lock of the unit takes scheduled PINs');
      await runtime.stop();
    } finally {
      await database.close();
    }
    assert.ok(pinLocks.length >= 2, 'two PIN locks with schedules');
    assert.ok(unitLocks.length >= 2, 'the unit has several locks');
    assert.ok(!existsSync(path.join(dataDir, LOCK_FILE)), 'the seeding process released the folder');
  });

  after(() => {
    cli.killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses bad flag combinations with exit 2 naming the flag, before opening the data folder', async () => {
    const lock = pinLocks[0]!.id;
    // The wiring of each command; every combination is covered in-process by credential-flags.test.ts.
    const cases: [string[], RegExp][] = [
      [['pins', 'add', lock, '--holder', 'X', '--from', '2030-01-01T10:00:00Z'], /--until/],
      [['pins', 'add', lock, '--holder', 'X', '--days', 'mon,tue', '--start', '09:00'], /--end/],
      [['pins', 'add', lock, '--holder', 'X', '--days', 'mon', '--start', '17:00', '--end', '09:00'], /--end: must be after --start/],
      [['pins', 'add', lock, '--holder', 'X', '--from', '2030-01-02T10:00:00Z', '--until', '2030-01-01T10:00:00Z'], /--until: must be after --from/],
      [['pins', 'add', lock, '--holder', 'X', '--code', '482913', '--length', '6'], /--length/],
      [['pins', 'edit', randomUUID(), '--version', '1'], /nothing to change/],
      [['pins', 'reveal', 'not-a-credential', '--reason', 'checking'], /not a credential id/],
      [['bulk', 'add', '--locks', lock, '--location', UNIT_PATH, '--holder', 'Y'], /--locks or --location, not both/],
      [['bulk', 'add', '--locks', `${lock},nope`, '--holder', 'Y', '--days', 'mon-fri', '--start', '18:00', '--end', '08:00'], /--end: must be after --start/],
    ];
    // All at once: none of them may open the data folder (they would refuse each other if they did).
    const results = await Promise.all(cases.map(([args]) => cli.run(...args)));
    results.forEach((r, i) => {
      const [args, flag] = cases[i]!;
      const what = `lockwarden ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 2, what);
      assert.match(r.stderr, flag, what);
      assert.doesNotMatch(r.stderr, /in use by PID|unexpected error/, what);
      assert.equal(r.stdout, '', what);
    });
    assert.ok(!existsSync(path.join(dataDir, LOCK_FILE)));
  });

  it('pins add with no server prints the code once and says it is queued; pins list shows it pending, never the code', async () => {
    const lock = pinLocks[0]!;
    const out = await cli.ok('pins', 'add', lock.id, '--holder', 'Alice Local', '--length', '6', '--days', 'mon-fri', '--start', '09:00', '--end', '17:00');
    const m = /^PIN for Alice Local: (\d{6})$/m.exec(out);
    assert.ok(m, out);
    assert.match(out, /queued; applied when the server runs/);
    const id = /credential ([0-9a-f-]{36})/.exec(out)?.[1];
    assert.ok(id, out);
    localPin = { id, code: m[1]! };

    const text = await cli.ok('pins', 'list', lock.id);
    const row = text.split('\n').find((l) => l.includes('Alice Local'));
    assert.ok(row, text);
    assert.match(row, /Mon-Fri 09:00-17:00/);
    assert.match(row, /pending/);
    assert.match(row, /not read yet/);
    assert.ok(row.includes(id));
    assert.ok(!text.includes(localPin.code), 'the code is never listed');
    assert.match(text, /changes are applied when the server runs/);

    const json = await cli.ok('pins', 'list', lock.id, '--json');
    const view = JSON.parse(json) as LockCredentialsJson;
    assert.deepEqual(
      view.credentials.map((c) => [c.holder, c.status]),
      [['Alice Local', 'pending']],
      'only the good PIN was recorded: the refused commands changed nothing',
    );
    assert.ok(!json.includes(localPin.code), 'no code in the JSON either');
  });

  it('locks unlock with no server says it needs the server (exit 2); an unknown lock is exit 3', async () => {
    // One after the other: each opens the data folder.
    const needs = await cli.run('locks', 'unlock', pinLocks[0]!.id);
    const unknown = await cli.run('pins', 'list', randomUUID());
    assert.equal(needs.code, 2, needs.stderr);
    assert.match(needs.stderr, /lockwarden serve/);
    assert.equal(unknown.code, 3, unknown.stderr);
  });

  describe('with the server running', () => {
    let server: Running;

    before(async () => {
      const started = await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
      server = started.running;
      url = started.match[1]!;
      serverOutput = () => server.output();
    });

    after(async () => {
      if (server) {
        const { code } = await server.stop('SIGTERM');
        assert.equal(code, 0, server.output());
      }
    });

    it('applies the PIN recorded with no server, once it runs', async () => {
      await confirmed(pinLocks[0]!.id, 'Alice Local');
    });

    it('pins add through the server is confirmed on the lock; pins list and pins reveal agree', async () => {
      const lock = pinLocks[1]!;
      const added = JSON.parse(await cli.ok('pins', 'add', lock.id, '--holder', 'Bob Server', '--json', '--token', secret)) as { credential: CredentialJson; code: string };
      assert.equal(added.credential.status, 'pending');
      assert.match(added.code, /^\d{4,}$/);
      await confirmed(lock.id, 'Bob Server');

      const [list, reveal, stale] = await Promise.all([
        cli.ok('pins', 'list', lock.id, '--token', secret),
        cli.ok('pins', 'reveal', added.credential.id, '--reason', 'guest lost the message', '--token', secret),
        cli.run('pins', 'edit', added.credential.id, '--version', '99', '--holder', 'Robert', '--token', secret),
      ]);
      const row = list.split('\n').find((l) => l.includes('Bob Server'));
      assert.ok(row, list);
      assert.match(row, /confirmed\s+in sync/);
      assert.ok(!list.includes(added.code), 'the code is never listed');
      assert.equal(reveal.trim(), added.code);
      assert.equal(stale.code, 5, `a stale version is a conflict from the API: ${stale.stderr}`);
      assert.match(stale.stderr, /changed since/);
    });

    it('bulk add --wait --json on a unit finishes with done == total, following progress on stderr', async () => {
      const r = await cli.run('bulk', 'add', '--location', UNIT_PATH, '--holder', 'Carol Bulk', '--from', '2030-06-01T15:00:00+02:00', '--until', '2030-06-05T11:00:00+02:00', '--wait', '--json', '--token', secret);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const view = JSON.parse(r.stdout) as BulkJson;
      assert.equal(view.total, unitLocks.length, 'one new PIN per lock of the unit');
      assert.equal(view.finished, true);
      assert.equal(view.failed, 0, JSON.stringify(view.failures));
      assert.equal(view.done, view.total);
      // Not a terminal: one line per change of progress, ending finished.
      const lines = r.stderr.trim().split('\n');
      assert.ok(lines.every((l) => /^\[[#-]{20}\] \d+\/\d+ done, \d+ failed$/.test(l)), r.stderr);
      assert.equal(lines.at(-1), `[${'#'.repeat(20)}] ${view.total}/${view.total} done, 0 failed`);
      assert.equal(new Set(lines).size, lines.length, 'a line only when progress changes');

      const bulks = await api<{ items: BulkJson[] }>('/api/bulk');
      assert.deepEqual(
        bulks.items.map((b) => b.id),
        [view.id],
        'the refused bulk commands sent nothing',
      );
      const status = await cli.ok('bulk', 'status', view.id, '--token', secret);
      assert.match(status, new RegExp(`finished: ${view.total}/${view.total} done, 0 failed`));
    });
  });

  describe('lockwarden sim', () => {
    it('starts, answers HTTP, and stops on SIGTERM', async () => {
      const { running, match } = await cli.startUntil(['sim', '--port', '0', '--seed', '7'], /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
      try {
        const simUrl = match[1]!;
        assert.notEqual(match[2], '0', 'a real port was chosen');
        assert.match(running.output(), new RegExp(`set LOCKWARDEN_SIM_URL=${simUrl.replace(/[.]/g, '\\.')} on the server`));
        const res = await fetch(simUrl);
        assert.ok(res.status >= 200 && res.status < 500, `the simulator answered ${res.status}`);
        await res.arrayBuffer();
      } finally {
        const { code, signal } = await running.stop('SIGTERM');
        assert.equal(signal, null, 'exited by itself');
        assert.equal(code, 0, running.output());
      }
    });

    it('the server reaches its locks in a lockwarden sim process: the inventory is created there, a new lock is read, a PIN is applied once', async () => {
      const sim = await cli.startUntil(['sim', '--port', '0', '--seed', '11'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
      simUrl = sim.match[1]!;
      let server: Running | undefined;
      try {
        const started = await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
        server = started.running;
        url = started.match[1]!;
        serverOutput = () => started.running.output();
        const simGet = async <T>(p: string): Promise<T> => {
          const res = await fetch(`${simUrl}${p}`);
          assert.equal(res.status, 200, `simulator GET ${p}: ${res.status}`);
          return (await res.json()) as T;
        };
        const devices = new Set((await simGet<{ devices: { externalId: string }[] }>('/devices')).devices.map((d) => d.externalId));
        assert.deepEqual(simLocks.filter((l) => !devices.has(l.externalId!)).map((l) => l.externalId), [], 'every simulated lock of the inventory exists in the simulator');

        const added = JSON.parse(
          await cli.ok('locks', 'add', '--name', 'Remote sim door', '--model', pinLocks[0]!.modelId, '--location', UNIT_PATH, '--external-id', 'remote-sim-door', '--json', '--token', secret),
        ) as Lock;
        await simGet('/devices/remote-sim-door');
        const deadline = Date.now() + CONFIRM_WITHIN_MS;
        let view = await api<{ observation: { readAt: string | null } | null }>(`/api/locks/${added.id}/credentials`);
        while (!view.observation?.readAt && Date.now() < deadline) {
          await sleep(250);
          view = await api(`/api/locks/${added.id}/credentials`);
        }
        assert.ok(view.observation?.readAt, `the new lock was read without anyone asking: ${JSON.stringify(view)}`);

        await cli.ok('pins', 'add', added.id, '--holder', 'Dana Remote', '--token', secret);
        await confirmed(added.id, 'Dana Remote');
        const log = await simGet<{ entries: { externalId: string; op: string; source: string }[] }>('/log');
        const writes = log.entries.filter((e) => e.externalId === 'remote-sim-door' && e.source === 'driver');
        assert.deepEqual(writes.map((e) => e.op), ['set_pin'], 'one write reached the simulated lock');
      } finally {
        if (server) assert.equal((await server.stop('SIGTERM')).code, 0, server.output());
        assert.equal((await sim.running.stop('SIGTERM')).code, 0, sim.running.output());
        simUrl = '';
      }
    });
  });
});
