/** Shared steps of the audit-log tamper suites. */
import { sql } from 'drizzle-orm';
import type { TestEnv } from './db.js';

/** Runs SQL with the append-only triggers off, as an attacker with superuser on the database would. */
export async function tamper(env: TestEnv, ...statements: ReturnType<typeof sql>[]): Promise<void> {
  const db = env.database.db;
  await db.execute(sql`alter table audit_log disable trigger audit_log_no_change`);
  await db.execute(sql`alter table audit_checkpoints disable trigger audit_checkpoints_no_change`);
  for (const s of statements) await db.execute(s);
  await db.execute(sql`alter table audit_log enable trigger audit_log_no_change`);
  await db.execute(sql`alter table audit_checkpoints enable trigger audit_checkpoints_no_change`);
}
