import { and, asc, desc, eq, gt, gte, like, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { AuditCheckpoint, AuditEntry, AuditFilter } from '../domain/audit.js';
import type { Db } from './database.js';
import { auditCheckpoints, auditHead, auditLog, auditSigningKeys, locations } from './schema.js';

/** An audit row as `chainAfter` reads it: the time as its ISO string. */
export type ChainRow = Omit<AuditEntry, 'at'> & { at: string };

/** Rows per INSERT: 16 parameters each, well under PostgreSQL's 65,535. */
const INSERT_CHUNK = 1000;

/** The audit log's rows, its head and its checkpoints. Nothing here updates or deletes a log row. */
export class AuditRepository {
  constructor(private readonly db: Db) {}

  /** The head (last seq and hash), locked until the transaction ends: appends wait here in turn. */
  async lockHead(): Promise<{ seq: number; hash: string }> {
    const [head] = await this.db.select({ seq: auditHead.seq, hash: auditHead.hash }).from(auditHead).where(eq(auditHead.id, 1)).for('update');
    if (!head) throw new Error('audit_head row is missing (migration 0006 creates it)');
    return head;
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    const [head] = await this.db.select({ seq: auditHead.seq, hash: auditHead.hash }).from(auditHead).where(eq(auditHead.id, 1));
    return head ?? null;
  }

  async setHead(seq: number, hash: string): Promise<void> {
    await this.db.update(auditHead).set({ seq, hash }).where(eq(auditHead.id, 1));
  }

  async insert(rows: AuditEntry[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) await this.db.insert(auditLog).values(rows.slice(i, i + INSERT_CHUNK));
  }

  /** Up to `limit` rows after `afterSeq`, in seq order (verification streams the log with this). */
  async after(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return this.db.select().from(auditLog).where(gt(auditLog.seq, afterSeq)).orderBy(asc(auditLog.seq)).limit(limit);
  }

  /**
   * Up to `limit` rows after `afterSeq` as verification hashes them: the time as the ISO string a JS
   * Date would give (entries are written with millisecond precision), details and MACs as parsed
   * JSON (the caller canonicalizes). The whole batch comes back as ONE JSON text (`json_agg`) parsed
   * by JSON.parse: per-field decoding of 16 columns was most of the verifier's time on PGlite.
   */
  async chainAfter(afterSeq: number, limit: number): Promise<ChainRow[]> {
    const result: unknown = await this.db.execute(sql`
      select coalesce(json_agg(json_build_array(seq, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), actor_id, actor_label, action, outcome,
             target_type, target_id, target_label, location_id, client_ip, user_agent, details, secret_macs, prev_hash, hash) order by seq), '[]')::text as batch
      from (select * from audit_log where seq > ${afterSeq} order by seq limit ${limit}) x`);
    const [row] = (result as { rows: { batch: string }[] }).rows;
    const arrays = JSON.parse(row?.batch ?? '[]') as unknown[][];
    return arrays.map((a) => ({
      seq: a[0] as number,
      at: a[1] as string,
      actorId: a[2] as string,
      actorLabel: a[3] as string,
      action: a[4] as string,
      outcome: a[5] as ChainRow['outcome'],
      targetType: a[6] as string | null,
      targetId: a[7] as string | null,
      targetLabel: a[8] as string | null,
      locationId: a[9] as string | null,
      clientIp: a[10] as string | null,
      userAgent: a[11] as string | null,
      details: a[12] as Record<string, unknown>,
      secretMacs: a[13] as Record<string, string>,
      prevHash: a[14] as string,
      hash: a[15] as string,
    }));
  }

  /** A page of rows matching `f`: newest first, or oldest first after `after` (exports). */
  async list(f: Omit<AuditFilter, 'limit'> & { limit: number; after?: number; ascending?: boolean }): Promise<AuditEntry[]> {
    const where: SQL[] = [];
    if (f.actor) where.push(or(eq(auditLog.actorId, f.actor), eq(auditLog.actorLabel, f.actor))!);
    if (f.action) {
      const a = f.action.endsWith('*') ? f.action.slice(0, -1) : f.action;
      where.push(f.action.endsWith('.') || f.action.endsWith('*') ? like(auditLog.action, `${escapeLike(a)}%`) : eq(auditLog.action, a));
    }
    if (f.targetType) where.push(eq(auditLog.targetType, f.targetType));
    if (f.targetId) where.push(eq(auditLog.targetId, f.targetId));
    if (f.locationId) where.push(sql`${auditLog.locationId} in (select ${locations.id} from ${locations} where ${locations.path} like ${`%/${f.locationId}/%`})`);
    if (f.outcome) where.push(eq(auditLog.outcome, f.outcome));
    if (f.from) where.push(gte(auditLog.at, f.from));
    if (f.to) where.push(lte(auditLog.at, f.to));
    if (f.before) where.push(lt(auditLog.seq, f.before));
    if (f.after) where.push(gt(auditLog.seq, f.after));
    return this.db
      .select()
      .from(auditLog)
      .where(where.length ? and(...where) : undefined)
      .orderBy(f.ascending ? asc(auditLog.seq) : desc(auditLog.seq))
      .limit(f.limit);
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(auditLog);
    return row?.n ?? 0;
  }

  async insertCheckpoint(c: AuditCheckpoint): Promise<void> {
    await this.db.insert(auditCheckpoints).values(c);
  }

  async checkpoints(): Promise<AuditCheckpoint[]> {
    return this.db.select().from(auditCheckpoints).orderBy(asc(auditCheckpoints.seq));
  }

  async lastCheckpoint(): Promise<AuditCheckpoint | null> {
    const [c] = await this.db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.seq)).limit(1);
    return c ?? null;
  }

  /** Records a signing key's public half (once per key id). */
  async recordSigningKey(keyId: string, publicKey: string, at: Date): Promise<void> {
    await this.db.insert(auditSigningKeys).values({ keyId, publicKey, createdAt: at }).onConflictDoNothing();
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
