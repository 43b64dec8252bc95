/**
 * The server as a user runs it (`lockwarden serve`, the built command, a child process on 127.0.0.1
 * with the demo fleet): cold start (spawn to the first 200 on /healthz), API latency under a fixed
 * request rate measured by an open-model load generator in ANOTHER process (bench/open-load.ts: request
 * i due at i / rate, latency from when it was due; autocannon's `-R` sends bursts instead), and the
 * server's resident memory (now and its high-water mark, from /proc) after the load.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'bin', 'lockwarden.mjs');

export interface LatencyFigure {
  endpoint: string;
  path: string;
  rate: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
  /** Server CPU time (user + system, from /proc) per request answered: the figure a busy machine does not distort. */
  serverCpuMsPerRequest: number;
  /**
   * When the goal rate misses p99 < 25 ms: the highest of a few lower rates (step by step down) at
   * which every request was answered and p99 stayed under 25 ms, with its p99; null when none did.
   */
  sustainable: { rate: number; p99Ms: number } | null;
}

/** Lower rates tried, highest first, when the goal rate misses its p99. */
const STEP_DOWN = [400, 300, 200, 150, 100, 50];
const P99_GOAL_MS = 25;

export interface ServiceResult {
  benchmark: 'service';
  engine: 'pglite' | 'postgres';
  coldStartMs: number[];
  coldStartMedianMs: number;
  /** CPU time the server process used from spawn to its first 200 (median). */
  coldStartCpuMedianMs: number;
  loadAverageBefore: number[];
  latency: LatencyFigure[];
  rssAfterLoadMb: number;
  rssPeakMb: number;
  durationSeconds: number;
  connections: number;
}

function env(dataDir: string, databaseUrl?: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, LOCKWARDEN_DATA: dataDir, DATABASE_URL: databaseUrl ?? '', LOG_LEVEL: 'warn', NO_COLOR: '1' };
  for (const k of ['LOCKWARDEN_TOKEN', 'LOCKWARDEN_URL', 'LOCKWARDEN_SIM_URL']) delete e[k];
  return e;
}

/** Starts `serve` and resolves with its URL and the milliseconds from spawn to the first 200 on /healthz. */
async function startServer(dataDir: string, databaseUrl?: string): Promise<{ child: ChildProcess; url: string; coldMs: number; coldCpuMs: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [entry, 'serve', '--port', '0', '--host', '127.0.0.1'], { cwd: root, env: env(dataDir, databaseUrl), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 120 s:\n${out}`)), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}):\n${out}`));
    });
  });
  // The URL is printed once listening; the first 200 is what a load balancer waits for.
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { child, url, coldMs: performance.now() - t0, coldCpuMs: cpuMsOf(child.pid!) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(killer);
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command name: state is field 3, utime 14 and stime 15 (1-based) of the whole line.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssOf(pid: number): { nowMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { nowMb: Math.round(kb('VmRSS') / 1024), peakMb: Math.round(kb('VmHWM') / 1024) };
}

interface LoadJson {
  latency: { p50: number; p99: number; max: number };
  requests: { average: number; total: number };
  errors: number;
  non2xx: number;
}

/** Runs bench/open-load.ts (a second process) at `rate` requests per second for `seconds`. */
function load(url: string, token: string, rate: number, seconds: number, connections: number): LoadJson {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'open-load.ts'), url, token, String(rate), String(seconds), String(connections)], { cwd: root, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`load generator failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as LoadJson;
}

/** Measures cold start, latency at `rate` req/s for the three reads, and RSS. */
export async function runService(opts: { rate: number; seconds: number; connections: number; coldStarts: number; databaseUrl?: string | undefined }): Promise<ServiceResult> {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-if-stale.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-bench-service-'));
  try {
    // First start loads the demo fleet and makes the keys; not a cold start.
    const first = await startServer(dataDir, opts.databaseUrl);
    await stop(first.child);
    const tokenRun = spawnSync(process.execPath, [entry, 'tokens', 'create', '--email', 'owner@lockwarden.local', '--json'], { cwd: root, env: env(dataDir, opts.databaseUrl), encoding: 'utf8' });
    if (tokenRun.status !== 0) throw new Error(`tokens create failed: ${tokenRun.stderr}`);
    const token = (JSON.parse(tokenRun.stdout) as { secret: string }).secret;

    const loadAverageBefore = loadavg().map((l) => Number(l.toFixed(2)));
    const cold: number[] = [];
    const coldCpu: number[] = [];
    for (let i = 0; i < opts.coldStarts - 1; i++) {
      const s = await startServer(dataDir, opts.databaseUrl);
      cold.push(s.coldMs);
      coldCpu.push(s.coldCpuMs);
      await stop(s.child);
    }
    const server = await startServer(dataDir, opts.databaseUrl);
    cold.push(server.coldMs);
    coldCpu.push(server.coldCpuMs);
    try {
      const get = async <T>(p: string) => (await (await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
      const lock = (await get<{ items: { id: string }[] }>('/api/locks?limit=1')).items[0]!;
      const entry_ = (await get<{ items: { id: string }[] }>('/api/handbook/entries')).items[0]!;
      const endpoints = [
        { endpoint: 'lock list (50)', path: '/api/locks?limit=50' },
        { endpoint: 'lock detail', path: `/api/locks/${lock.id}` },
        { endpoint: 'handbook entry', path: `/api/handbook/entries/${entry_.id}` },
      ];
      const latency: LatencyFigure[] = [];
      for (const e of endpoints) {
        load(`${server.url}${e.path}`, token, opts.rate, 2, opts.connections); // warm-up
        const cpu0 = cpuMsOf(server.child.pid!);
        const r = load(`${server.url}${e.path}`, token, opts.rate, opts.seconds, opts.connections);
        const cpuMs = cpuMsOf(server.child.pid!) - cpu0;
        const meets = (x: LoadJson, rate: number) => x.errors === 0 && x.non2xx === 0 && x.latency.p99 < P99_GOAL_MS && x.requests.average >= rate * 0.95;
        let sustainable: LatencyFigure['sustainable'] = meets(r, opts.rate) ? { rate: opts.rate, p99Ms: r.latency.p99 } : null;
        for (const rate of STEP_DOWN.filter((x) => x < opts.rate)) {
          if (sustainable) break;
          const lower = load(`${server.url}${e.path}`, token, rate, Math.min(opts.seconds, 5), opts.connections);
          if (meets(lower, rate)) sustainable = { rate, p99Ms: lower.latency.p99 };
        }
        latency.push({ ...e, rate: opts.rate, achievedRate: Math.round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99, maxMs: r.latency.max, errors: r.errors, non2xx: r.non2xx, serverCpuMsPerRequest: Number((cpuMs / Math.max(1, r.requests.total)).toFixed(2)), sustainable });
      }
      const rss = rssOf(server.child.pid!);
      const sorted = [...cold].sort((a, b) => a - b);
      const sortedCpu = [...coldCpu].sort((a, b) => a - b);
      return {
        benchmark: 'service',
        engine: opts.databaseUrl ? 'postgres' : 'pglite',
        coldStartMs: cold.map(Math.round),
        coldStartMedianMs: Math.round(sorted[Math.floor(sorted.length / 2)]!),
        coldStartCpuMedianMs: sortedCpu[Math.floor(sortedCpu.length / 2)]!,
        loadAverageBefore,
        latency,
        rssAfterLoadMb: rss.nowMb,
        rssPeakMb: rss.peakMb,
        durationSeconds: opts.seconds,
        connections: opts.connections,
      };
    } finally {
      await stop(server.child);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
