/**
 * The audit log's vocabulary: what an entry holds, how a reader filters it, and what verification
 * reports. The chain itself (hashes, signatures) is in `crypto/audit-chain.ts`; writing and reading in
 * `services/audit-log.ts` and `services/audit-service.ts`.
 */
import { z } from 'zod';

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One recorded entry as the services return it (secrets only as keyed HMACs). */
export interface AuditEntry {
  seq: number;
  at: Date;
  actorId: string;
  actorLabel: string;
  action: string;
  outcome: AuditOutcome;
  targetType: string | null;
  targetId: string | null;
  targetLabel: string | null;
  locationId: string | null;
  clientIp: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
  /** Field name -> `hmac-sha256:<base64url>` of the secret value, never the value. */
  secretMacs: Record<string, string>;
  prevHash: string;
  hash: string;
}

/**
 * A signed statement "the log's entry `seq` has hash `hash`", kept in the database, in a file and at
 * the witness. `prevSeq` (the checkpoint before it, 0 for none) and `keyedFrom` (where the keyed chain
 * starts) are signed too; both are null on checkpoints made before they existed (version 1).
 */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: Date;
  keyId: string;
  signature: string;
  prevSeq: number | null;
  keyedFrom: number | null;
}

const isoDate = z.coerce.date({ error: 'use an ISO date or date-time' });

/** Filters of `GET /api/audit`, `lockwarden audit list|export`. Newest first; `before` is the keyset cursor. */
export const AuditFilterSchema = z
  .object({
    /** An actor id (user id, `system:<name>`) or the exact label (email). */
    actor: z.string().trim().min(1).max(320).optional(),
    /** An action or a prefix ending in `.` (`credential.`), or `*` suffix (`auth.sign_in*`). */
    action: z.string().trim().min(1).max(100).optional(),
    targetType: z.string().trim().min(1).max(50).optional(),
    targetId: z.string().trim().min(1).max(200).optional(),
    /** Entries recorded at this location or anywhere below it. */
    locationId: z.uuid('locationId must be a location id').optional(),
    outcome: z.enum(AUDIT_OUTCOMES).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    /** Only entries with a smaller seq (the `nextCursor` of the previous page). */
    before: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export type AuditFilter = z.infer<typeof AuditFilterSchema>;

export const AuditExportSchema = AuditFilterSchema.omit({ before: true, limit: true }).extend({ format: z.enum(['csv', 'jsonl']).default('jsonl') });

/** A checkpoint as a witness or checkpoint file holds it (times as ISO strings on the wire). */
export const AuditCheckpointSchema = z
  .object({
    seq: z.number().int().min(1),
    hash: z.string().max(200),
    at: z.coerce.date(),
    keyId: z.string().max(100),
    signature: z.string().max(500),
    prevSeq: z.number().int().min(0).nullable().default(null),
    keyedFrom: z.number().int().min(1).nullable().default(null),
  })
  .strict();

/** `POST /api/audit/verify`: optionally what the outside witness holds, read by the caller. */
export const AuditVerifySchema = z
  .object({
    witness: z
      .object({
        /** The witness's file or URL origin, for messages. */
        source: z.string().min(1).max(1000),
        checkpoints: z.array(AuditCheckpointSchema).max(2_000_000),
        /** Lines of the witness that are not checkpoints. */
        bad: z.array(z.object({ line: z.number().int().min(1), message: z.string().max(200) }).strict()).max(10_000).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

/** What `POST /api/audit/checkpoint` and `lockwarden audit checkpoint` answer. */
export interface AuditCheckpointAnswer {
  checkpoint: AuditCheckpoint | null;
  created: boolean;
  /** The checkpoint file (null: none). */
  file: string | null;
  /** The witness checkpoints are sent to (a file, or a URL's origin), or null. */
  witness: string | null;
  /** Why the witness did not get it (it is sent again with the next one), or null. */
  witnessError: string | null;
}

/** Kinds of problem verification can report. */
export const AUDIT_PROBLEM_KINDS = [
  /** The row's content no longer matches its hash, or the next row's link to it. */
  'edited',
  /** One or more sequence numbers are missing. */
  'removed',
  /** A row sits at a sequence number other than the one it was hashed with. */
  'reordered',
  /** Rows a checkpoint covers are gone from the end of the log. */
  'truncated',
  /** A checkpoint's signature does not verify. */
  'bad_signature',
  /** A checkpoint was signed by a key this deployment does not hold. */
  'unknown_key',
  /** The chain's hash at a checkpoint's seq differs from the signed one (rows rewritten and re-hashed). */
  'checkpoint_mismatch',
  /** A checkpoint in the file is missing from, or differs from, the database's table. */
  'checkpoint_missing',
  /** A line of the checkpoint file cannot be read. */
  'bad_checkpoint_file',
  /** The head record (last seq and hash) disagrees with the rows. */
  'head_mismatch',
  /** Entries older than the checkpoint interval allows are covered by no signed checkpoint. */
  'uncheckpointed',
  /** The witness and the database disagree: a checkpoint one has and the other lacks, or holds differently. */
  'witness_disagrees',
  /** Where the keyed chain starts differs between the database and a signed checkpoint. */
  'key_switch',
] as const;
export type AuditProblemKind = (typeof AUDIT_PROBLEM_KINDS)[number];

/** What each kind of problem means, in words for the audit page (every kind has one). */
export const AUDIT_PROBLEM_LABELS: Record<AuditProblemKind, string> = {
  edited: 'An entry was changed',
  removed: 'Entries are missing',
  reordered: 'Entries are out of order',
  truncated: 'The end of the log is gone',
  bad_signature: 'A checkpoint signature does not verify',
  unknown_key: 'A checkpoint was signed by a key this server does not hold',
  checkpoint_mismatch: 'Entries were rewritten under a checkpoint',
  checkpoint_missing: 'A checkpoint is missing',
  bad_checkpoint_file: 'The checkpoint file cannot be read',
  head_mismatch: 'The last entry recorded disagrees with the log',
  uncheckpointed: 'Old entries have no signed checkpoint',
  witness_disagrees: 'The outside witness disagrees',
  key_switch: 'Where the keyed chain starts was moved',
};

export interface AuditProblem {
  seq: number;
  kind: AuditProblemKind;
  message: string;
}

/** What `lockwarden audit verify` and `GET /api/audit/verify` report. */
export interface AuditVerifyReport {
  ok: boolean;
  entries: number;
  lastSeq: number;
  checkpoints: number;
  /** The newest checkpoint that verified (signature, file and chain agree), or null. */
  lastCheckpoint: { seq: number; hash: string; at: Date } | null;
  /** Where the file of checkpoints is (null when none is configured). */
  checkpointsFile: string | null;
  /** The first entry whose hash is keyed with the deployment's secret (null: the chain is not keyed yet). */
  keyedFrom: number | null;
  /** The witness compared against (`--witness`), or null when none was given. */
  witness: { source: string; checkpoints: number; lastSeq: number; firstDisagreement: number | null } | null;
  problems: AuditProblem[];
  /** Observations that do not fail verification (e.g. checkpoints made before the file was configured). */
  notes: string[];
  /** At most this many problems are listed; `problemCount` is the total. */
  problemCount: number;
  millis: number;
}
