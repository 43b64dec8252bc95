/**
 * `lockwarden sim`: the lock simulator as its own process, so a server started with
 * LOCKWARDEN_SIM_URL reaches its simulated locks over HTTP as it would reach real hubs.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { startSimServer, type RunningSimServer } from '../drivers/simulator/index.js';
import { intArg } from './credential-flags.js';
import { print, type GlobalOpts } from './shared.js';

/** The port `lockwarden sim` listens on unless told otherwise (0 picks a free one). */
export const DEFAULT_SIM_PORT = 7070;

interface SimFlags {
  port: number;
  host: string;
  seed?: number;
  state?: string;
}

/** Adds `sim` to the program. */
export function addSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run the lock simulator as its own process (the server uses it when LOCKWARDEN_SIM_URL is set)')
    .option('-p, --port <port>', `port to listen on (0 picks a free one)`, intArg('--port', 0, 65535), DEFAULT_SIM_PORT)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--seed <n>', 'seed for the simulated devices, for a fleet that is the same on every run', intArg('--seed', 0))
    .option('--state <file>', 'keep the simulated devices in this file across restarts')
    .action(async (f: SimFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      // Signals are listened for before anything starts: one arriving while the simulator starts (or
      // just after it says where it listens) still stops it cleanly instead of killing the process.
      let requested: NodeJS.Signals | null = null;
      let sim: RunningSimServer | null = null;
      const close = (running: { close(): Promise<void> }, signal: NodeJS.Signals) =>
        running.close().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`lockwarden: simulator did not stop cleanly on ${signal}: ${e instanceof Error ? e.message : String(e)}\n`);
            process.exit(1);
          },
        );
      const stop = (signal: NodeJS.Signals) => {
        if (requested) return;
        requested = signal;
        if (sim) void close(sim, signal);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      sim = await startSimServer({
        host: f.host,
        port: f.port,
        ...(f.seed === undefined ? {} : { seed: f.seed }),
        ...(f.state === undefined ? {} : { stateFile: path.resolve(f.state) }),
      });
      const devices = sim.fleet.discover().length;
      if (g.json) {
        print(JSON.stringify({ url: sim.url, devices }));
      } else {
        // One write, so a reader that waits for the URL also gets the hint.
        print(
          `lockwarden simulator listening on ${sim.url} (${devices} simulated lock${devices === 1 ? '' : 's'}${f.state ? `, kept in ${path.resolve(f.state)}` : ''})\n` +
            `set LOCKWARDEN_SIM_URL=${sim.url} on the server to use it`,
        );
      }
      if (requested) void close(sim, requested);
    });
}
