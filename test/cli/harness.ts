/**
 * Runs the real `lockwarden` command (`bin/lockwarden.mjs`, the built CLI that `npm test` builds
 * first when stale) in child processes for the CLI suites:
 * one-shot runs with their output and exit code, long-running ones (serve, sim) started until they
 * print where they listen, and every child still running ended by PID when the suite ends.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const ENTRY = path.join('bin', 'lockwarden.mjs');
/** Generous: a child start costs opening PGlite, slow on a busy 2-core machine. */
export const RUN_TIMEOUT_MS = 45_000;

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Everything the child printed so far, both streams. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class CliHarness {
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly env: () => NodeJS.ProcessEnv) {}

  /** The environment every child gets: the suite's, minus anything that would point it elsewhere. */
  static baseEnv(dataDir: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, LOCKWARDEN_DATA: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn', NO_COLOR: '1' };
    for (const k of ['LOCKWARDEN_TOKEN', 'LOCKWARDEN_URL', 'LOCKWARDEN_SIM_URL', 'LOCKWARDEN_SECRET_KEY', 'LOCKWARDEN_MASTER_KEY', 'NODE_TEST_CONTEXT']) delete env[k];
    return env;
  }

  start(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs the CLI to completion. */
  run(...args: string[]): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = this.start(args);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`lockwarden ${args.join(' ')} did not finish in ${RUN_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, RUN_TIMEOUT_MS);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  /** Runs the CLI and fails the test unless it exits 0; returns stdout. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.run(...args);
    assert.equal(r.code, 0, `lockwarden ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts a long-running command and resolves with the first match of `ready` in its stdout. */
  async startUntil(args: string[], ready: RegExp): Promise<{ running: Running; match: RegExpExecArray }> {
    const child = this.start(args);
    let out = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const running: Running = {
      child,
      output: () => out,
      exited,
      stop: async (signal = 'SIGTERM', graceMs = 10_000) => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const r = await exited;
          clearTimeout(killer);
          return r;
        }
        return exited;
      },
    };
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lockwarden ${args.join(' ')} did not get ready:\n${out}`)), RUN_TIMEOUT_MS);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = ready.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`lockwarden ${args.join(' ')} exited (${code ?? signal}) before it was ready:\n${out}`));
      });
    });
    return { running, match };
  }

  /** Ends every child still running (by PID). */
  killAll(): void {
    for (const child of this.children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}
