/**
 * What every command shares: the global flags, printing, reaching lockwarden (a server over HTTP or
 * the data folder), and resolving locations people name by path.
 */
import type { Command } from 'commander';
import { dataDirFrom } from '../config.js';
import { AppError } from '../domain/errors.js';
import { connect, type LockwardenClient } from './client.js';

export interface GlobalOpts {
  json?: boolean;
  data?: string;
  url?: string;
  token?: string;
}

export const print = (s: string) => process.stdout.write(`${s}\n`);

/** Connects as the flags and environment say, runs `fn`, and always closes the client. */
export async function withClient<T>(cmd: Command, fn: (client: LockwardenClient, opts: GlobalOpts) => Promise<T>): Promise<void> {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  const client = await connect({
    url: opts.url ?? process.env.LOCKWARDEN_URL,
    token: opts.token ?? process.env.LOCKWARDEN_TOKEN,
    dataDir: dataDirFrom(opts.data),
    databaseUrl: process.env.DATABASE_URL || undefined,
  });
  try {
    await fn(client, opts);
  } finally {
    await client.close();
  }
}

/** Resolves a location given as an id or as a path of names separated by "/". */
export async function resolveLocation(client: LockwardenClient, ref: string): Promise<string> {
  const parts = ref.split('/').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const matches: string[] = [];
  const walk = (nodes: Awaited<ReturnType<LockwardenClient['locationTree']>>, trail: string[]) => {
    for (const n of nodes) {
      if (n.id === ref) matches.push(n.id);
      const t = [...trail, n.name.toLowerCase()];
      // A path may start below the organisation: match it against the end of the node's trail.
      if (t.length >= parts.length && t.slice(-parts.length).join('/') === parts.join('/')) matches.push(n.id);
      walk(n.children, t);
    }
  };
  walk(await client.locationTree(), []);
  const unique = [...new Set(matches)];
  if (unique.length === 1) return unique[0]!;
  throw new AppError(unique.length ? 'validation.failed' : 'location.not_found', unique.length ? `location "${ref}" matches ${unique.length} places; give more of its path or its id` : `no location "${ref}"; see \`lockwarden locations tree\``, [
    { path: 'location', message: unique.length ? 'ambiguous' : 'not found' },
  ]);
}

