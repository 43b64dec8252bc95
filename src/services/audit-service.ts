/**
 * Reading the audit log: filtered pages (newest first, keyset by seq), exports as CSV or JSON lines,
 * verification and checkpoints on demand. Everything needs `audit.read`; nothing here returns a
 * secret (entries hold only HMACs of them).
 */
import { AuditExportSchema, AuditFilterSchema, AuditVerifySchema, type AuditCheckpointAnswer, type AuditEntry, type AuditVerifyReport } from '../domain/audit.js';
import type { Actor } from '../domain/identity.js';
import { escapeCell } from '../domain/sheets.js';
import { parseInput } from '../domain/validation.js';
import { AuditRepository } from '../store/audit-repository.js';
import { authorize, type ServiceContext } from './context.js';

export interface AuditPage {
  items: AuditEntry[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: number | null;
}

const CSV_COLUMNS = ['seq', 'at', 'actor_id', 'actor_label', 'action', 'outcome', 'target_type', 'target_id', 'target_label', 'location_id', 'client_ip', 'user_agent', 'details', 'secret_macs', 'prev_hash', 'hash'];
const EXPORT_BATCH = 1000;

/** Use cases on the audit log for auditors and administrators. */
export class AuditService {
  constructor(private readonly ctx: ServiceContext) {}

  /** A page of entries matching the filters, newest first. */
  async list(actor: Actor, filter: unknown): Promise<AuditPage> {
    const f = parseInput(AuditFilterSchema, filter ?? {});
    authorize(actor, 'audit.read');
    const rows = await new AuditRepository(this.ctx.db).list({ ...f, limit: f.limit + 1 });
    const items = rows.slice(0, f.limit);
    return { items, nextCursor: rows.length > f.limit ? items[items.length - 1]!.seq : null };
  }

  /**
   * The matching entries, oldest first, as CSV (with a header) or JSON lines, produced in batches so a
   * long log is never held whole. Authorization and input are checked before the first chunk.
   */
  export(actor: Actor, input: unknown): { format: 'csv' | 'jsonl'; chunks: AsyncGenerator<string> } {
    const { format, ...f } = parseInput(AuditExportSchema, input ?? {});
    authorize(actor, 'audit.read');
    const repo = new AuditRepository(this.ctx.db);
    async function* chunks(): AsyncGenerator<string> {
      // Loaded with the first CSV export rather than at every start.
      const { stringify } = await import('csv-stringify/sync');
      if (format === 'csv') yield `\uFEFF${stringify([CSV_COLUMNS], { record_delimiter: 'windows' })}`;
      let after = 0;
      for (;;) {
        const rows = await repo.list({ ...f, after, ascending: true, limit: EXPORT_BATCH });
        if (rows.length === 0) return;
        yield format === 'csv' ? stringify(rows.map(csvRow), { record_delimiter: 'windows', quoted_match: /[\n\r]/ }) : rows.map((r) => `${JSON.stringify(r)}\n`).join('');
        if (rows.length < EXPORT_BATCH) return;
        after = rows[rows.length - 1]!.seq;
      }
    }
    return { format, chunks: chunks() };
  }

  /**
   * Recomputes the whole chain and checks every checkpoint; with `witness` (what the outside witness
   * holds, as `lockwarden audit verify --witness` read it), also compares the database against it.
   */
  async verify(actor: Actor, input: unknown = {}): Promise<AuditVerifyReport> {
    const { witness } = parseInput(AuditVerifySchema, input ?? {});
    authorize(actor, 'audit.read');
    return this.ctx.audit.verify(witness ? { witness: { source: witness.source, checkpoints: witness.checkpoints, bad: witness.bad } } : {});
  }

  /** Signs the current head now (also done every minute by the server when there is something new). */
  async checkpoint(actor: Actor): Promise<AuditCheckpointAnswer> {
    authorize(actor, 'audit.read');
    const made = await this.ctx.audit.checkpoint();
    return { checkpoint: made?.checkpoint ?? null, created: made?.created ?? false, file: this.ctx.audit.checkpointsFile, witness: this.ctx.audit.witness, witnessError: made?.witnessError ?? null };
  }
}

function csvRow(r: AuditEntry): string[] {
  return [
    String(r.seq),
    r.at.toISOString(),
    r.actorId,
    r.actorLabel,
    r.action,
    r.outcome,
    r.targetType ?? '',
    r.targetId ?? '',
    r.targetLabel ?? '',
    r.locationId ?? '',
    r.clientIp ?? '',
    r.userAgent ?? '',
    JSON.stringify(r.details),
    JSON.stringify(r.secretMacs),
    r.prevHash,
    r.hash,
  ].map(escapeCell);
}
