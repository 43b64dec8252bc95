/**
 * Configuration from flags and environment, parsed once at the edge with named errors.
 * Flags win over environment variables, which win over defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppError } from './domain/errors.js';
import { parseInput } from './domain/validation.js';
import { OUTBOUND_KINDS, parseAllowPrivate, type OutboundKind } from './net/outbound.js';

/** The package root, from `src/` (tsx), `dist/` (built) and `dist/bundle/` (the bundled command). */
export const PACKAGE_ROOT = ((here: string) => (existsSync(path.join(here, '..', 'package.json')) ? path.resolve(here, '..') : path.resolve(here, '..', '..')))(
  path.dirname(fileURLToPath(import.meta.url)),
);

export const VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The parts of the server one process can run (several processes share one PostgreSQL). */
export const SERVE_ROLES = ['all', 'api', 'worker'] as const;
export type ServeRole = (typeof SERVE_ROLES)[number];

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
  /** Where notification email goes out (`smtp://user:pass@host:587`, `smtps://...`); unset: email waits in the outbox. */
  smtpUrl: z
    .string()
    .regex(/^smtps?:\/\//, 'LOCKWARDEN_SMTP_URL must start with smtp:// or smtps://')
    .optional(),
  mailFrom: z.email('LOCKWARDEN_MAIL_FROM must be an email address'),
  /** What this process does: `api` (HTTP and UI, queues jobs), `worker` (runs jobs and maintenance, no HTTP), or `all`. */
  /** Jobs one worker process holds at once (each is one lock's commands in sequence). */
  workerConcurrency: z.coerce.number().int('LOCKWARDEN_WORKER_CONCURRENCY must be a whole number').min(1).max(10000),
  /** Commands one process sends at once to one simulated hub. */
  simHubConcurrency: z.coerce.number().int('LOCKWARDEN_SIM_HUB_CONCURRENCY must be a whole number').min(1).max(1000),
  role: z.enum(SERVE_ROLES, { error: `role must be one of ${SERVE_ROLES.join(', ')}` }),
  /** Kinds of target the owner lets the server reach on a private network (LOCKWARDEN_ALLOW_PRIVATE_TARGETS). */
  allowPrivateTargets: z.array(z.enum(OUTBOUND_KINDS)),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;

/** Device history is kept this long by default: a year and a month, so last year's same season is there. */
export const DEFAULT_HISTORY_DAYS = 400;

/** Resolves the server configuration from CLI flags and the environment. */
export function serveConfig(flags: { port?: string | number; host?: string; demo?: boolean; data?: string; role?: string }, env = process.env): ServeConfig {
  const cfg = parseInput(ServeConfigSchema, {
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
    smtpUrl: env.LOCKWARDEN_SMTP_URL || undefined,
    mailFrom: env.LOCKWARDEN_MAIL_FROM || 'lockwarden@localhost.localdomain',
    role: flags.role ?? (env.LOCKWARDEN_ROLE || 'all'),
    workerConcurrency: env.LOCKWARDEN_WORKER_CONCURRENCY || 2000,
    simHubConcurrency: env.LOCKWARDEN_SIM_HUB_CONCURRENCY || 2,
    allowPrivateTargets: allowPrivateFrom(env.LOCKWARDEN_ALLOW_PRIVATE_TARGETS),
  });
  // An embedded database belongs to exactly one process, so it cannot be shared out between roles.
  if (cfg.role !== 'all' && !cfg.databaseUrl) {
    throw new AppError('validation.failed', `--role ${cfg.role} needs a shared PostgreSQL (DATABASE_URL=postgres://...): the embedded database in the data folder is owned by one process, which must run every role (--role all)`);
  }
  return cfg;
}

/** LOCKWARDEN_ALLOW_PRIVATE_TARGETS as a list of kinds; an unknown kind is a validation error naming it. */
function allowPrivateFrom(value: string | undefined): OutboundKind[] {
  try {
    return parseAllowPrivate(value);
  } catch (e) {
    throw new AppError('validation.failed', (e as Error).message, [{ path: 'LOCKWARDEN_ALLOW_PRIVATE_TARGETS', message: (e as Error).message }]);
  }
}

/** The data folder the CLI works on. */
export function dataDirFrom(flag: string | undefined, env = process.env): string {
  return path.resolve(flag ?? env.LOCKWARDEN_DATA ?? './data');
}
