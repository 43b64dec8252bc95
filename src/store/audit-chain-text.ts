/**
 * The text the verifier reads the audit log in: one text per batch, fields joined by U+001F, rows by
 * U+001E, nullable fields prefixed with `=` (so NULL and '' differ). `AuditRepository.chainAfter`
 * writes it in SQL; this module reads it, with no database import, so a worker thread can parse it.
 */
import type { AuditEntry } from '../domain/audit.js';

/**
 * An audit row as verification reads it: the time as its ISO string, details and MACs as the stored
 * jsonb's text (the verifier canonicalizes them).
 */
export type ChainRow = Omit<AuditEntry, 'at' | 'details' | 'secretMacs'> & { at: string; details: string; secretMacs: string };

/** Separators between fields and between rows. */
export const FIELD_SEPARATOR = '\x1f';
export const ROW_SEPARATOR = '\x1e';
/** Fields per row. */
export const CHAIN_FIELDS = 16;

/** A batch as read: its text (framing checked) or, when a value holds a separator, its rows read as JSON. */
export type ChainBatch = { count: number; lastSeq: number } & ({ text: string } | { rows: ChainRow[] });

/**
 * Whether `text` holds exactly `count` rows of 16 fields. A stored value holding a separator can
 * only add separators, so exact totals mean no value holds one and every split is a real boundary.
 */
export function framingHolds(text: string, count: number): boolean {
  return occurrences(text, ROW_SEPARATOR) === count - 1 && occurrences(text, FIELD_SEPARATOR) === count * (CHAIN_FIELDS - 1);
}

function occurrences(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i !== -1; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

/** The seq of the last row of a batch text whose framing holds. */
export function lastSeqOf(text: string): number {
  const start = text.lastIndexOf(ROW_SEPARATOR) + 1;
  return Number(text.slice(start, text.indexOf(FIELD_SEPARATOR, start)));
}

/** The rows of a batch text whose framing holds (`framingHolds`). */
export function parseChainText(text: string): ChainRow[] {
  const lines = text.split(ROW_SEPARATOR);
  const rows = new Array<ChainRow>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const f = lines[i]!.split(FIELD_SEPARATOR);
    rows[i] = {
      seq: Number(f[0]),
      at: isoMillis(f[1]!),
      actorId: f[2]!,
      actorLabel: f[3]!,
      action: f[4]!,
      outcome: f[5] as ChainRow['outcome'],
      targetType: nullable(f[6]!),
      targetId: nullable(f[7]!),
      targetLabel: nullable(f[8]!),
      locationId: nullable(f[9]!),
      clientIp: nullable(f[10]!),
      userAgent: nullable(f[11]!),
      details: f[12]!,
      secretMacs: f[13]!,
      prevHash: f[14]!,
      hash: f[15]!,
    };
  }
  return rows;
}

/** '' is NULL, '=x' is x. */
const nullable = (field: string): string | null => (field === '' ? null : field.slice(1));

/**
 * The ISO string a JS Date gives (what was hashed at append) from `to_char(.., 'YYYY-MM-DD"T"HH24:MI:SS.US')`.
 * Entries are written with millisecond precision; a time with microseconds was changed in the
 * database, and keeps them so that it no longer matches its hash.
 */
export function isoMillis(t: string): string {
  return t.endsWith('000') ? `${t.slice(0, -3)}Z` : `${t}Z`;
}
