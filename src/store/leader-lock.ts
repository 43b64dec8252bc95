/**
 * One process at a time leads the deployment's maintenance (listening to device events, drift
 * checks, audit checkpoints): several worker processes on one PostgreSQL would otherwise record every
 * device event once each. The leader holds a session-level advisory lock on a connection of its own;
 * when that process dies its connection closes, PostgreSQL releases the lock, and the next worker that
 * tries (every `retryMs`) takes over. An embedded database has one process, which always leads.
 */
import pg from 'pg';
import type { JobConnection } from './database.js';

/** The advisory lock key of the maintenance leader. */
export const LEADER_LOCK_KEY = 7_215_004_222;

export interface Leadership {
  /** Whether this process leads now. */
  readonly leading: boolean;
  /** Gives the lead up (closes the connection that holds it). */
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  /** Called when this process becomes the leader. */
  onLead(): void;
  /** Called when it stops leading because its connection broke (not at `stop()`). */
  onLose(): void;
  onError?: (e: unknown) => void;
  /** How often a follower tries to take the lead (default 2 s). */
  retryMs?: number;
}

/** Starts trying to lead; resolves after the first attempt (so a lone process leads at once). */
export async function startLeadership(conn: JobConnection, opts: LeadershipOptions): Promise<Leadership> {
  if (conn.engine === 'pglite') {
    opts.onLead();
    return { leading: true, stop: async () => undefined };
  }
  let client: pg.Client | null = null;
  let leading = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const lose = () => {
    client = null;
    if (leading) {
      leading = false;
      opts.onLose();
    }
  };
  const attempt = async () => {
    if (stopped || leading) return;
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: conn.url, application_name: 'lockwarden leader' });
        // A broken connection has lost the lock with it: stop leading at once.
        c.on('error', (e) => {
          opts.onError?.(e);
          if (client === c) lose();
        });
        c.on('end', () => {
          if (client === c) lose();
        });
        await c.connect();
        if (stopped) {
          await c.end();
          return;
        }
        client = c;
      }
      const res = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [LEADER_LOCK_KEY]);
      if (res.rows[0]?.ok && !stopped) {
        leading = true;
        opts.onLead();
      }
    } catch (e) {
      opts.onError?.(e);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    }
  };
  await attempt();
  timer = setInterval(() => void attempt(), opts.retryMs ?? 2000);
  timer.unref();
  return {
    get leading() {
      return leading;
    },
    stop: async () => {
      stopped = true;
      if (timer) clearInterval(timer);
      leading = false;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
