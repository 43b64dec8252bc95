/**
 * The reset-case crash harness (ARCHITECTURE.md "How a reset flows"). The server runs as a child
 * process (`bin/lockwarden.mjs serve` on a PGlite data folder) against `lockwarden sim` as its own
 * process; reset cases are driven through the HTTP API with one idempotency key per step attempt,
 * and the server is killed with SIGKILL (a) between steps, (b) after an intent row commits, before
 * and after its device command, (c) inside a step's transaction and just after its commit (the
 * crash points of `src/crash-points.ts`, armed per start with LOCKWARDEN_CRASH_AT), and (d) at a
 * random moment while a request runs, with seeded device faults and latency in the simulator. After
 * each restart the last request is repeated with the same key. Every run is then checked against
 * the simulator's state and change log. Used by `reset-crash.test.ts` (a few fixed seeds) and
 * `run.ts` (`npm run crash -- --seeds 200`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { simSetupCode } from '../../src/drivers/simulator/lock-spec.js';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CRASH_POINTS, type CrashPoint } from '../../src/crash-points.js';
import type { Actor } from '../../src/domain/identity.js';
import { pinTag } from '../../src/drivers/simulator/fleet.js';
import { SimHttpClient } from '../../src/drivers/simulator/http-client.js';
import { HttpSimControl } from '../../src/drivers/simulator/http-control.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { startRuntime } from '../../src/runtime.js';
import { openEmbedded } from '../../src/store/database.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ENTRY = path.join(ROOT, 'bin', 'lockwarden.mjs');
const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
/** Generous: a start opens PGlite and runs the migrations check, slow on a loaded 2-core machine. */
const START_TIMEOUT_MS = 240_000;

/** How a run goes wrong, by kind; every run adds to these. */
export interface CrashCounts {
  runs: number;
  cases: number;
  casesClosed: number;
  steps: number;
  restarts: number;
  /** Kills by where they happened: `between_steps`, `random_moment`, or a crash point. */
  kills: Record<string, number>;
  /** Kills at a crash point reached by the resumer while the server started (before it listened). */
  killsDuringStart: number;
  /** Requests repeated with the same key after a kill or a device error. */
  repeats: number;
  /** Device errors answered to a step (retried with the same key). */
  deviceErrors: number;
  /** Steps the resumer finished before the client repeated them (seen as done by another actor). */
  resumedByServer: number;
  factoryResets: number;
  pinWrites: number;
  /** Effects applied twice: an extra factory reset, a second code written into one slot. Must be 0. */
  duplicates: number;
  /** Problems found by the checks, in words. Must be empty. */
  problems: string[];
}

export interface CrashOptions {
  seeds: number[];
  /** Probability of a kill right after a step's answer. */
  killBetween?: number;
  /** Probability of a kill at a random moment (0..120 ms) while a request runs. */
  killRandom?: number;
  /** Probability that a (re)start arms one crash point. */
  armPoint?: number;
  /** Device fault probability per command (each of timeout, lost_ack, busy, duplicate_ack, stale_read; offline at a third). */
  faultRate?: number;
  /** Kill right after these step answers (1-based step numbers over the whole run), besides `killBetween`. */
  killAfterSteps?: number[];
  /** Crash points armed at the first starts, in order (`point:n`), before random arming takes over. */
  plan?: string[];
  log?: (line: string) => void;
}

/** A small seeded generator (mulberry32), so a failing seed replays. */
function rng(seed: number): { next(): number; int(min: number, max: number): number; chance(p: number): boolean; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0 || 1;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)), chance: (p) => next() < p, pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

interface View {
  case: {
    id: string;
    state: string;
    attempts: number;
    profile: { remoteReset: boolean; procedureSteps: number };
    recommendation: { remedy: string };
    preflight: Record<string, { passed: boolean } | undefined>;
    verification: Record<string, { passed: boolean } | undefined>;
    rebuilt: Record<string, unknown>;
    holds?: Record<string, string>;
    reenrollment?: { to: string } | null;
  };
  version: number;
  procedure: { kind: string; seconds?: number }[] | null;
  missing: string[];
  requiredChecks: string[];
  steps: { command: string; actor: string; phase: string }[];
  openIntents: unknown[];
  lockedOut: { key: string }[];
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One child process (server or simulator), started until it prints where it listens. */
class Child {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.output = (this.output + d).slice(-20_000)));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
  async ready(pattern: RegExp): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const m = pattern.exec(this.output);
      if (m) return m[1]!;
      if (!this.running) throw new Error(`child exited before it was ready:\n${this.output}`);
      if (Date.now() - t0 > START_TIMEOUT_MS) throw new Error(`child not ready in ${START_TIMEOUT_MS} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** SIGKILL by PID, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.running && this.proc.pid !== undefined) process.kill(this.proc.pid, 'SIGKILL');
    await this.exited;
  }
}

/** Runs the harness over `opts.seeds`; resolves with the counts (problems listed, never thrown). */
export async function runCrashHarness(opts: CrashOptions): Promise<CrashCounts> {
  const log = opts.log ?? (() => undefined);
  const counts: CrashCounts = {
    runs: 0,
    cases: 0,
    casesClosed: 0,
    steps: 0,
    restarts: 0,
    kills: Object.fromEntries(['between_steps', 'random_moment', ...CRASH_POINTS].map((k) => [k, 0])),
    killsDuringStart: 0,
    repeats: 0,
    deviceErrors: 0,
    resumedByServer: 0,
    factoryResets: 0,
    pinWrites: 0,
    duplicates: 0,
    problems: [],
  };
  const T0 = performance.now();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-crash-'));
  const env: NodeJS.ProcessEnv = { ...process.env, LOCKWARDEN_DATA: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn', NO_COLOR: '1' };
  for (const k of ['LOCKWARDEN_TOKEN', 'LOCKWARDEN_URL', 'LOCKWARDEN_SIM_URL', 'LOCKWARDEN_SECRET_KEY', 'LOCKWARDEN_MASTER_KEY', 'LOCKWARDEN_CRASH_AT', 'NODE_TEST_CONTEXT']) delete env[k];
  const children = new Set<Child>();
  // Interrupted: end the children this harness started (by PID), then go.
  const interrupted = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.running && c.proc.pid !== undefined) process.kill(c.proc.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const spawnChild = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const c = new Child(spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] }));
    children.add(c);
    void c.exited.then(() => children.delete(c));
    return c;
  };

  try {
    // The data folder: models, places and the owner's API token, made in this process, then released.
    let token: string;
    let modelIds: Record<string, { id: string; holdSeconds: number; sequence: string | undefined }>;
    let locationId: string;
    {
      const database = await openEmbedded(dataDir, { purpose: 'crash harness setup' });
      try {
        const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
        const { ctx, services } = runtime;
        await loadDemoFleet(ctx);
        await services.auth.bootstrapOwner();
        token = (await services.auth.createApiTokenFor(SYSTEM, 'owner@lockwarden.local', { name: 'crash harness', expiresInDays: 1 })).secret;
        modelIds = Object.fromEntries(
          (await services.models.list(SYSTEM)).map((m) => [m.modelNumber, { id: m.id, holdSeconds: m.gating.holdSeconds, sequence: m.gating.buttonSequence ?? undefined }]),
        );
        locationId = (await services.locks.list(SYSTEM, { limit: 1 })).items[0]!.locationId;
        await runtime.stop();
      } finally {
        await database.close();
      }
    }

    log(`data folder ready in ${Math.round(performance.now() - T0)} ms`);
    const sim = spawnChild(['sim', '--port', '0', '--seed', String(opts.seeds[0] ?? 1), '--state', path.join(dataDir, 'sim-state.json')]);
    const simUrl = await sim.ready(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const control = new HttpSimControl(new SimHttpClient(simUrl));

    let server: Child | null = null;
    let baseUrl = '';
    let armed: CrashPoint | null = null;
    /** Set when the harness itself killed the server (so the exit is not a crash point's). */
    let killedByHarness = false;
    let r = rng(opts.seeds[0] ?? 1);

    const plan = [...(opts.plan ?? [])];
    /** The planned point this server was started with (put back when the harness kills it first). */
    let armedPlan: string | null = null;
    const start = async () => {
      armed = null;
      const extra: NodeJS.ProcessEnv = { LOCKWARDEN_SIM_URL: simUrl };
      const planned = plan.shift();
      armedPlan = planned ?? null;
      if (planned) {
        armed = planned.split(':')[0] as CrashPoint;
        extra.LOCKWARDEN_CRASH_AT = planned;
      } else if (r.chance(opts.armPoint ?? 0.5)) {
        armed = r.pick(CRASH_POINTS);
        extra.LOCKWARDEN_CRASH_AT = `${armed}:${armed === 'reset.intent_committed' ? 1 : r.int(1, 4)}`;
      }
      killedByHarness = false;
      const t0 = performance.now();
      server = spawnChild(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], extra);
      try {
        baseUrl = await server.ready(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      } catch (e) {
        // The resumer runs at start: a crash point it reaches kills the server before it listens.
        const point = /crash point ([a-z_.]+):\d+ reached/.exec(server.output)?.[1];
        if (!point) throw e;
        await server.exited;
        counts.kills[point] = (counts.kills[point] ?? 0) + 1;
        counts.killsDuringStart++;
        counts.restarts++;
        log(`server killed at ${point} while starting (the resumer's step)`);
        return start();
      }
      log(`server started in ${Math.round(performance.now() - t0)} ms${armed ? ` (armed ${extra.LOCKWARDEN_CRASH_AT})` : ''}`);
    };
    /** After the server died: counts the kill (a crash point's when the harness did not kill it), then starts it again. */
    const restart = async (by: 'between_steps' | 'random_moment' | null) => {
      const s = server!;
      if (by) {
        killedByHarness = true;
        await s.kill();
      }
      await s.exited;
      const point = /crash point ([a-z_.]+):\d+ reached/.exec(s.output)?.[1];
      if (!point && armedPlan) plan.unshift(armedPlan); // killed before its planned point: arm it again
      if (!killedByHarness && point) counts.kills[point] = (counts.kills[point] ?? 0) + 1;
      else if (by) counts.kills[by]! += 1;
      else if (!point) counts.problems.push(`the server died by itself:\n${s.output.slice(-2000)}`);
      counts.restarts++;
      await start();
    };

    /** One HTTP request; a dead server is restarted and the same request sent again. */
    const request = async <T>(method: 'GET' | 'POST', p: string, body?: unknown, mayKill = false): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        if (attempt > 60) throw new Error(`${method} ${p}: no answer after ${attempt} attempts`);
        if (attempt > 0) counts.repeats++;
        const s = server!;
        let timer: NodeJS.Timeout | null = null;
        if (mayKill && r.chance(opts.killRandom ?? 0.05)) {
          timer = setTimeout(() => {
            killedByHarness = true;
            void s.kill();
          }, r.int(0, 120));
        }
        let res: Response;
        try {
          res = await fetch(`${baseUrl}/api${p}`, {
            method,
            headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
        } catch {
          if (timer) clearTimeout(timer);
          // A killed server's socket can close before its exit is seen here: give the exit a moment.
          if (s.running) await Promise.race([s.exited, new Promise((res) => setTimeout(res, 5000))]);
          if (!s.running || killedByHarness) {
            await s.exited;
            await restart(killedByHarness ? 'random_moment' : null);
            continue;
          }
          throw new Error(`${method} ${p}: the connection failed while the server runs`);
        }
        if (timer) clearTimeout(timer);
        const text = await res.text().catch(() => '');
        if (killedByHarness && s.running === false) {
          // Killed right after it answered: use the answer, then start it again.
          await restart('random_moment');
        }
        if (res.ok) return (text ? JSON.parse(text) : null) as T;
        let code = 'unknown';
        let message = text;
        try {
          const b = JSON.parse(text) as { error?: { code?: string; message?: string }; code?: string; message?: string };
          code = b.error?.code ?? b.code ?? code;
          message = b.error?.message ?? b.message ?? message;
        } catch {
          /* not JSON */
        }
        if (code === 'device.unreachable' || code === 'device.refused' || code === 'device.timeout' || res.status === 503) {
          counts.deviceErrors++;
          continue; // the same request again (faults are drawn per command)
        }
        throw new ApiError(res.status, code, `${method} ${p} -> ${res.status} ${code}: ${message}`);
      }
    };

    /** One step attempt with its own key, repeated with that key until it is answered. */
    const step = async (caseId: string, command: Record<string, unknown>): Promise<View> => {
      const body = { idempotencyKey: randomUUID(), command };
      let v = await request<View>('POST', `/reset-cases/${caseId}/steps`, body, true);
      counts.steps++;
      if ((opts.killAfterSteps ?? []).includes(counts.steps) || r.chance(opts.killBetween ?? 0.08)) {
        await restart('between_steps');
        // After the restart, the last request again with the same key: answered as done, nothing again.
        const again = await request<View>('POST', `/reset-cases/${caseId}/steps`, body);
        if (again.case.state !== v.case.state) counts.problems.push(`case ${caseId}: repeating ${String(command.type)} after a restart moved the case from ${v.case.state} to ${again.case.state}`);
        v = again;
      }
      return v;
    };

    const configureFaults = async (seed: number, on: boolean) => {
      const p = opts.faultRate ?? 0.04;
      await control.configure(on ? { seed, latencyMs: { min: 0, max: 15 }, faults: { timeout: p, lost_ack: p, busy: p, duplicate_ack: p, stale_read: p, offline: p / 3 }, offlineCommands: 2 } : { latencyMs: 0, faults: {} });
    };

    await start();
    const variants = ['DB-100', 'DB-220W', 'KP-80C', 'FP-300'] as const;
    for (const seed of opts.seeds) {
      r = rng(seed);
      counts.runs++;
      await configureFaults(seed, false);
      // Two cases per run: a remote reset (CB-2 Pro) and a physical one of a vendor variant.
      const plan = [
        { model: 'CB-2 Pro', reason: 'pairing_loop' },
        { model: variants[seed % variants.length]!, reason: r.pick(['ownership_transfer', 'firmware_inconsistent', 'pairing_loop']) },
      ];
      for (const [i, item] of plan.entries()) {
        counts.cases++;
        const externalId = `crash-${seed}-${i}-${randomUUID().slice(0, 8)}`;
        const lock = await request<{ id: string }>('POST', '/locks', { name: `Crash ${seed}/${i} ${item.model}`, modelId: modelIds[item.model]!.id, locationId, driver: 'simulator', externalId, batteryPercent: 90 });
        const pins: { id: string; slot: number; code: string }[] = [];
        for (const holder of ['Guest', 'Cleaner', 'Owner'].slice(0, r.int(1, 3))) {
          const added = await request<{ credential: { id: string; slot: number }; code: string }>('POST', `/locks/${lock.id}/pins`, { holder });
          pins.push({ id: added.credential.id, slot: added.credential.slot, code: added.code });
        }
        // The PINs reach the lock through the server's worker before the case starts.
        for (let t = 0; ; t++) {
          const state = await control.get(externalId);
          if (pins.every((p) => state.pins.some((x) => x.slot === p.slot && x.code === p.code))) break;
          if (t > 400) throw new Error(`seed ${seed}: PINs never reached ${externalId}`);
          await new Promise((res) => setTimeout(res, 50));
        }
        log(`seed ${seed} case ${i}: PINs on the lock at ${Math.round(performance.now() - T0)} ms`);
        const logFrom = (await control.log()).at(-1)?.seq ?? 0;
        await configureFaults(seed * 10 + i, true);
        const reissue = r.chance(0.5) ? [pins[0]!.id] : [];
        let v: View;
        try {
          v = await drive(lock.id, externalId, item.reason, reissue, modelIds[item.model]!);
        } catch (e) {
          counts.problems.push(`seed ${seed} case ${i} (${item.model}): ${e instanceof Error ? e.message : String(e)}`);
          log(`PROBLEM ${counts.problems.at(-1)}`);
          await configureFaults(0, false);
          continue;
        }
        await configureFaults(0, false);
        // ---- the checks ----
        const problemsBefore = counts.problems.length;
        const where = `seed ${seed} case ${i} (${item.model}, ${v.case.id})`;
        counts.resumedByServer += v.steps.filter((s) => s.actor === 'reset-resumer' && s.phase === 'done').length;
        if (v.case.state === 'closed') counts.casesClosed++;
        else counts.problems.push(`${where}: ended in ${v.case.state}`);
        if (v.openIntents.length) counts.problems.push(`${where}: open intents ${JSON.stringify(v.openIntents)}`);
        const expected = new Map<number, string>();
        for (const p of pins) {
          const code = reissue.includes(p.id) ? (await request<{ code: string }>('POST', `/credentials/${p.id}/reveal`, { reason: 'crash harness check' })).code : p.code;
          if (reissue.includes(p.id) && code === p.code) counts.problems.push(`${where}: slot ${p.slot} was to be reissued but kept its code`);
          expected.set(p.slot, code);
        }
        const state = await control.get(externalId);
        const actual = new Map(state.pins.map((p) => [p.slot, p.code]));
        if (JSON.stringify([...actual].sort()) !== JSON.stringify([...expected].sort())) {
          counts.problems.push(`${where}: PINs on the lock are not the snapshot's (slots ${[...actual.keys()].join(',')} vs ${[...expected.keys()].join(',')}, codes ${[...expected].every(([s, c]) => actual.get(s) === c) ? 'equal' : 'differ'})`);
        }
        const entries = (await control.log(logFrom)).filter((e) => e.externalId === externalId);
        const resets = entries.filter((e) => e.op === 'factory_reset');
        counts.factoryResets += resets.length;
        if (resets.length !== v.case.attempts) {
          counts.duplicates += Math.max(0, resets.length - v.case.attempts);
          counts.problems.push(`${where}: ${resets.length} factory resets for ${v.case.attempts} reset attempts`);
        }
        const lastReset = resets.at(-1)?.seq ?? 0;
        const tags = new Map<number, Set<string>>();
        for (const e of entries.filter((x) => x.op === 'set_pin' && x.source === 'driver' && x.seq > lastReset)) {
          counts.pinWrites++;
          tags.set(e.slot!, (tags.get(e.slot!) ?? new Set()).add(e.detail ?? ''));
        }
        for (const [slot, set] of tags) {
          if (set.size > 1) {
            counts.duplicates++;
            counts.problems.push(`${where}: slot ${slot} was written with ${set.size} different codes`);
          }
          const want = expected.get(slot);
          if (want !== undefined && !set.has(pinTag(externalId, slot, want))) counts.problems.push(`${where}: slot ${slot} was never written with its snapshot code`);
        }
        for (const p of counts.problems.slice(problemsBefore)) log(`PROBLEM ${p}`);
        log(`${Math.round(performance.now() - T0)} ms: seed ${seed} case ${i} ${item.model}: ${v.case.state}, ${resets.length} reset(s), ${v.steps.length} steps`);
      }
    }

    async function drive(lockId: string, externalId: string, reason: string, reissue: string[], model: { holdSeconds: number; sequence: string | undefined }): Promise<View> {
      let v = await request<View>('POST', '/reset-cases', { lockId, reason });
      const id = v.case.id;
      /** The reset attempt the harness has done at the door (a physical reset is done once per attempt). */
      let physicalFor = 0;
      for (let n = 0; v.case.state !== 'closed'; n++) {
        if (n > 150) throw new Error(`stuck in ${v.case.state}: ${v.missing.join('; ')}`);
        const c = v.case;
        switch (c.state) {
          case 'triage':
            v = await step(id, { type: 'decide', remedy: 'full_reset', ...(c.recommendation.remedy === 'full_reset' ? {} : { overrideReason: 'crash harness' }) });
            break;
          case 'preflight': {
            const todo = ['ownership_confirmed', 'physical_access_arranged', 'maintenance_window', 'occupants_notified', 'monitoring_notified'].find((k) => !c.preflight[k]?.passed);
            if (todo) v = await step(id, { type: 'preflight_check', check: todo, passed: true, note: 'done' });
            else if (!c.preflight.battery_adequate?.passed) v = await step(id, { type: 'read_battery' });
            else v = await step(id, { type: 'complete_preflight' });
            break;
          }
          case 'snapshot':
            v = await step(id, { type: 'take_snapshot' });
            break;
          case 'account_unbind':
            await control.outOfBand(externalId, 'remove-cloud-binding', {});
            v = await step(id, { type: 'confirm_account_unbound', note: 'removed on the vendor account' });
            break;
          case 'physical_reset':
            if (c.profile.remoteReset) {
              v = await step(id, { type: 'remote_reset' });
            } else if (v.missing.length) {
              const n = Number(/\d+/.exec(v.missing[0]!)![0]);
              const s = v.procedure?.[n - 1];
              // A timed hold is started on the server and ticked once its time has passed there.
              if (s?.kind === 'hold' && s.seconds && !c.holds?.[String(n)]) {
                v = await step(id, { type: 'start_hold', step: n });
                await new Promise((res) => setTimeout(res, s.seconds! * 1000 + 50));
              }
              v = await step(id, { type: 'procedure_step', step: n });
            } else {
              if (physicalFor !== c.attempts + 1) {
                const result = await control.physicalReset(externalId, { holdSeconds: model.holdSeconds, ...(model.sequence ? { sequence: model.sequence } : {}) });
                if (!result.ok) throw new Error(`the physical reset was refused: ${result.reason}`);
                physicalFor = c.attempts + 1;
              }
              v = await step(id, { type: 'confirm_reset' });
            }
            break;
          case 'verification': {
            const lock = await control.get(externalId);
            if (c.verification.setup_mode?.passed && !c.reenrollment) {
              // The new owner's app enrolls first; then lockwarden enrolls the lock with its label's code, as a person does in the case.
              if (lock.setupMode) await control.outOfBand(externalId, 'enroll-admin', { label: 'new owner phone' });
              v = await step(id, { type: 'reenroll', lockId, code: simSetupCode(externalId) });
              break;
            }
            const auto = ['setup_mode', 'prior_pins_gone', 'prior_controllers_refused', 'cloud_unbound', 'admin_enrollment_accepted'];
            const manual = v.requiredChecks.find((k) => !auto.includes(k) && !c.verification[k]?.passed);
            if (v.requiredChecks.some((k) => auto.includes(k) && !c.verification[k]?.passed)) v = await step(id, { type: 'run_checks', lockId });
            else if (manual) v = await step(id, { type: 'manual_check', lockId, check: manual, passed: true, note: 'checked', evidence: [] });
            else v = await step(id, { type: 'complete_verification' });
            break;
          }
          case 'rebuild':
            v = v.lockedOut.length ? await step(id, { type: 'rebuild', reissue: reissue.filter((k) => !c.rebuilt[k]) }) : await step(id, { type: 'complete_rebuild' });
            break;
          case 'close_out':
            v = await step(id, { type: 'close', note: 'crash harness' });
            break;
          default:
            throw new Error(`unexpected state ${c.state}`);
        }
      }
      // The case as the server has it now (a device report may have added a step since).
      return request<View>('GET', `/reset-cases/${id}`);
    }

    if (server) {
      const s: Child = server;
      killedByHarness = true;
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    sim.proc.kill('SIGTERM');
    await sim.exited;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    for (const c of children) await c.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return counts;
}
