import { and, asc, desc, eq, gt, gte, like, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { AuditCheckpoint, AuditEntry, AuditFilter } from '../domain/audit.js';
import type { Db } from './database.js';
import { framingHolds, isoMillis, lastSeqOf, type ChainBatch, type ChainRow } from './audit-chain-text.js';
import { auditCheckpoints, auditHead, auditLog, auditSigningKeys, locations } from './schema.js';

/** `audit-chain-text.ts`'s separators as SQL literals. */
const FS_SQL = sql.raw(`E'\\x1f'`);
const RS_SQL = sql.raw(`E'\\x1e'`);

/** The chain's head: the last seq and hash, and the first seq whose hash is keyed (null: not keyed yet). */
export interface AuditHead {
  seq: number;
  hash: string;
  keyedFrom: number | null;
}

/** The audit log's rows, its head and its checkpoints. Nothing here updates or deletes a log row. */
export class AuditRepository {
  constructor(private readonly db: Db) {}

  /** The head (last seq and hash), locked until the transaction ends: appends wait here in turn. */
  async lockHead(): Promise<AuditHead> {
    const [head] = await this.db.select({ seq: auditHead.seq, hash: auditHead.hash, keyedFrom: auditHead.keyedFrom }).from(auditHead).where(eq(auditHead.id, 1)).for('update');
    if (!head) throw new Error('audit_head row is missing (migration 0006 creates it)');
    return head;
  }

  async head(): Promise<AuditHead | null> {
    const [head] = await this.db.select({ seq: auditHead.seq, hash: auditHead.hash, keyedFrom: auditHead.keyedFrom }).from(auditHead).where(eq(auditHead.id, 1));
    return head ?? null;
  }

  /**
   * Inserts `rows` and moves the head to `head`, in ONE statement: the rows travel as one JSON
   * parameter (`json_populate_recordset`). Drizzle's multi-row INSERT built 16 parameters a row, and
   * building them was most of an append's CPU; a separate head UPDATE was one more round trip.
   */
  async append(rows: AuditEntry[], head: AuditHead): Promise<void> {
    const json = JSON.stringify(
      rows.map((r) => ({
        seq: r.seq,
        at: r.at,
        actor_id: r.actorId,
        actor_label: r.actorLabel,
        action: r.action,
        outcome: r.outcome,
        target_type: r.targetType,
        target_id: r.targetId,
        target_label: r.targetLabel,
        location_id: r.locationId,
        client_ip: r.clientIp,
        user_agent: r.userAgent,
        details: r.details,
        secret_macs: r.secretMacs,
        prev_hash: r.prevHash,
        hash: r.hash,
      })),
    );
    await this.db.execute(sql`
      with inserted as (
        insert into audit_log (seq, at, actor_id, actor_label, action, outcome, target_type, target_id, target_label, location_id, client_ip, user_agent, details, secret_macs, prev_hash, hash)
        select seq, at, actor_id, actor_label, action, outcome, target_type, target_id, target_label, location_id, client_ip, user_agent, details, secret_macs, prev_hash, hash
        from json_populate_recordset(null::audit_log, ${json}::json)
        order by seq
      )
      update audit_head set seq = ${head.seq}, hash = ${head.hash}, keyed_from = ${head.keyedFrom} where id = 1`);
  }

  /** Up to `limit` rows after `afterSeq`, in seq order. */
  async after(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return this.db.select().from(auditLog).where(gt(auditLog.seq, afterSeq)).orderBy(asc(auditLog.seq)).limit(limit);
  }

  /**
   * Up to `limit` rows after `afterSeq` as verification hashes them, in seq order, as ONE text in the
   * format of `audit-chain-text.ts`. Building JSON (`json_agg`) cost PostgreSQL about four times as
   * much (its escaping), and Drizzle's per-field mapping more still. When a stored value holds a
   * separator the framing no longer holds, and the batch is read again as JSON (`chainAfterJson`).
   */
  async chainAfter(afterSeq: number, limit: number): Promise<ChainBatch> {
    const result: unknown = await this.db.execute(sql`
      select count(*)::int as n, string_agg(concat(seq, ${FS_SQL}, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ${FS_SQL}, actor_id, ${FS_SQL}, actor_label, ${FS_SQL},
             action, ${FS_SQL}, outcome, ${FS_SQL}, '=' || target_type, ${FS_SQL}, '=' || target_id, ${FS_SQL}, '=' || target_label, ${FS_SQL}, '=' || location_id, ${FS_SQL},
             '=' || client_ip, ${FS_SQL}, '=' || user_agent, ${FS_SQL}, details, ${FS_SQL}, secret_macs, ${FS_SQL}, prev_hash, ${FS_SQL}, hash), ${RS_SQL} order by seq) as batch
      from (select * from audit_log where seq > ${afterSeq} order by seq limit ${limit}) x`);
    const [row] = (result as { rows: { n: number; batch: string | null }[] }).rows;
    if (!row?.batch) return { count: 0, lastSeq: afterSeq, rows: [] };
    if (framingHolds(row.batch, row.n)) return { count: row.n, lastSeq: lastSeqOf(row.batch), text: row.batch };
    const rows = await this.chainAfterJson(afterSeq, limit);
    return { count: rows.length, lastSeq: rows.at(-1)?.seq ?? afterSeq, rows };
  }

  /** `chainAfter` as one JSON text (`json_agg`): slower, but any stored character reads back as itself. */
  async chainAfterJson(afterSeq: number, limit: number): Promise<ChainRow[]> {
    const result: unknown = await this.db.execute(sql`
      select coalesce(json_agg(json_build_array(seq, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), actor_id, actor_label, action, outcome,
             target_type, target_id, target_label, location_id, client_ip, user_agent, details::text, secret_macs::text, prev_hash, hash) order by seq), '[]')::text as batch
      from (select * from audit_log where seq > ${afterSeq} order by seq limit ${limit}) x`);
    const [row] = (result as { rows: { batch: string }[] }).rows;
    const arrays = JSON.parse(row?.batch ?? '[]') as (string | number | null)[][];
    return arrays.map((a) => ({
      seq: a[0] as number,
      at: isoMillis(a[1] as string),
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
      details: a[12] as string,
      secretMacs: a[13] as string,
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
