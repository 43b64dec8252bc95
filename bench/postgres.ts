/**
 * PostgreSQL for the benchmarks: ADMIN_DATABASE_URL (a role that may create databases) when given,
 * else a throwaway local cluster (`.ci/pg-cluster.sh`, Debian's pg_createcluster, as root) with fsync
 * on, so commits wait for the disk as they would in production. Each benchmark gets a database of
 * its own, dropped after it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const root = path.resolve(import.meta.dirname, '..');

export interface BenchPostgres {
  /** Where it came from, for the table. */
  source: string;
  /** `server_version` of the cluster. */
  version: string;
  adminUrl: string;
  /** A new empty database; `drop()` removes it (and its connections). */
  fresh(): Promise<{ url: string; drop(): Promise<void> }>;
  /** Stops the cluster this module started (nothing for ADMIN_DATABASE_URL). */
  stop(): void;
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** PostgreSQL for this run, or why there is none. */
export async function benchPostgres(): Promise<BenchPostgres | { missing: string }> {
  let adminUrl = process.env.ADMIN_DATABASE_URL;
  let cluster: string | null = null;
  if (!adminUrl) {
    const hasServer = existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));
    let hasTools = false;
    try {
      execFileSync('sh', ['-c', 'command -v pg_createcluster'], { stdio: 'ignore' });
      hasTools = true;
    } catch {
      /* not installed */
    }
    if (!hasServer || !hasTools || process.getuid?.() !== 0) {
      const why = !hasServer ? 'PostgreSQL is not installed' : !hasTools ? 'pg_createcluster is not installed' : 'starting a local cluster needs root';
      return { missing: `${why}; set ADMIN_DATABASE_URL (a role that may create databases)` };
    }
    cluster = `lwbench${process.pid}`;
    const out = execFileSync('bash', ['.ci/pg-cluster.sh', 'start', cluster], { cwd: root, encoding: 'utf8', env: { ...process.env, LW_PG_FSYNC: 'on' } });
    adminUrl = /TEST_DATABASE_URL=(\S+)/.exec(out)?.[1];
    if (!adminUrl) throw new Error(`pg-cluster.sh printed no URL: ${out}`);
  }
  const url = adminUrl;
  const version = await admin(url, async (c) => (await c.query<{ server_version: string }>('show server_version')).rows[0]!.server_version);
  return {
    source: cluster ? `local cluster (PostgreSQL ${version}, fsync on)` : `ADMIN_DATABASE_URL (PostgreSQL ${version})`,
    version,
    adminUrl: url,
    async fresh() {
      const name = `lw_bench_${randomBytes(5).toString('hex')}`;
      await admin(url, (c) => c.query(`create database ${name}`));
      const u = new URL(url);
      u.pathname = `/${name}`;
      return { url: u.toString(), drop: () => admin(url, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined) };
    },
    stop() {
      if (cluster) execFileSync('bash', ['.ci/pg-cluster.sh', 'stop', cluster], { cwd: root });
    },
  };
}
