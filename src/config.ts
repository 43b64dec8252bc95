/**
 * Configuration from flags and environment, parsed once at the edge with named errors.
 * Flags win over environment variables, which win over defaults.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseInput } from './domain/validation.js';

/** The package root, from both `src/` (tsx) and `dist/` (built). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const ServeConfigSchema = z.object({
  port: z.coerce.number().int('port must be a whole number').min(0).max(65535),
  host: z.string().min(1),
  dataDir: z.string().min(1),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://')
    .optional(),
  demo: z.boolean(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  webDir: z.string(),
  secureCookies: z.boolean(),
  /** A `lockwarden sim` process to reach simulated locks through; unset runs the simulator in-process. */
  simulatorUrl: z.url('LOCKWARDEN_SIM_URL must be a URL such as http://127.0.0.1:7070').optional(),
  /** Days of device history kept per lock (0 keeps it all). */
  historyDays: z.coerce
    .number({ error: 'LOCKWARDEN_HISTORY_DAYS must be a whole number of days (0 keeps all history)' })
    .int('LOCKWARDEN_HISTORY_DAYS must be a whole number of days (0 keeps all history)')
    .min(0, 'LOCKWARDEN_HISTORY_DAYS must be a whole number of days (0 keeps all history)'),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;

/** Device history is kept this long by default: a year and a month, so last year's same season is there. */
export const DEFAULT_HISTORY_DAYS = 400;

/** Resolves the server configuration from CLI flags and the environment. */
export function serveConfig(flags: { port?: string | number; host?: string; demo?: boolean; data?: string }, env = process.env): ServeConfig {
  return parseInput(ServeConfigSchema, {
    port: flags.port ?? env.PORT ?? 8080,
    host: flags.host ?? env.HOST ?? '127.0.0.1',
    dataDir: path.resolve(flags.data ?? env.LOCKWARDEN_DATA ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    demo: flags.demo !== false && env.LOCKWARDEN_NO_DEMO !== '1',
    logLevel: env.LOG_LEVEL ?? 'info',
    webDir: path.join(PACKAGE_ROOT, 'dist', 'web'),
    secureCookies: env.LOCKWARDEN_SECURE_COOKIES === '1',
    simulatorUrl: env.LOCKWARDEN_SIM_URL || undefined,
    historyDays: env.LOCKWARDEN_HISTORY_DAYS || DEFAULT_HISTORY_DAYS,
  });
}

/** The data folder the CLI works on. */
export function dataDirFrom(flag: string | undefined, env = process.env): string {
  return path.resolve(flag ?? env.LOCKWARDEN_DATA ?? './data');
}
