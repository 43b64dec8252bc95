import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUDIT_OUTCOMES, AUDIT_PROBLEM_KINDS, AuditExportSchema, AuditFilterSchema, AuditVerifySchema } from '../../domain/audit.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';

const AuditEntryOut = z.object({
  seq: z.number(),
  at: z.date(),
  actorId: z.string(),
  actorLabel: z.string(),
  action: z.string(),
  outcome: z.enum(AUDIT_OUTCOMES),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  targetLabel: z.string().nullable(),
  locationId: z.string().nullable(),
  clientIp: z.string().nullable(),
  userAgent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  secretMacs: z.record(z.string(), z.string()),
  prevHash: z.string(),
  hash: z.string(),
});

const CheckpointOut = z.object({ seq: z.number(), hash: z.string(), at: z.date(), keyId: z.string(), signature: z.string(), prevSeq: z.number().nullable(), keyedFrom: z.number().nullable() });

const VerifyOut = z.object({
  ok: z.boolean(),
  entries: z.number(),
  lastSeq: z.number(),
  checkpoints: z.number(),
  lastCheckpoint: z.object({ seq: z.number(), hash: z.string(), at: z.date() }).nullable(),
  checkpointsFile: z.string().nullable(),
  keyedFrom: z.number().nullable(),
  witness: z.object({ source: z.string(), checkpoints: z.number(), lastSeq: z.number(), firstDisagreement: z.number().nullable() }).nullable(),
  problems: z.array(z.object({ seq: z.number(), kind: z.enum(AUDIT_PROBLEM_KINDS), message: z.string() })),
  problemCount: z.number(),
  notes: z.array(z.string()),
  millis: z.number(),
});

/** The audit log: filtered pages, exports, verification and checkpoints. All need `audit.read`. */
export function auditRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { audit } = services;
    const tags = ['audit'];

    app.get(
      '/audit',
      { schema: { tags, summary: 'Audit entries, newest first; pass nextCursor as `before` for older ones', querystring: AuditFilterSchema, response: { 200: z.object({ items: z.array(AuditEntryOut), nextCursor: z.number().nullable() }) } } },
      async (req) => audit.list(actorOf(req), req.query),
    );

    app.get(
      '/audit/export',
      { schema: { tags, summary: 'The matching entries, oldest first, as CSV or JSON lines (secrets only as HMACs)', querystring: AuditExportSchema } },
      async (req, reply) => {
        const { format, chunks } = audit.export(actorOf(req), req.query);
        const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
        return reply
          .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="lockwarden-audit-${stamp}.${format}"`)
          .header('cache-control', 'no-store')
          .send(Readable.from(chunks));
      },
    );

    app.get('/audit/verify', { schema: { tags, summary: 'Recompute the chain from genesis and check every signed checkpoint', response: { 200: VerifyOut } } }, async (req) => audit.verify(actorOf(req)));

    app.post(
      '/audit/verify',
      { schema: { tags, summary: 'Verify as GET does, and compare the database against what the outside witness holds (read by the caller)', body: AuditVerifySchema, response: { 200: VerifyOut } } },
      async (req) => audit.verify(actorOf(req), req.body),
    );

    app.post(
      '/audit/checkpoint',
      { schema: { tags, summary: 'Sign the current head now (the server also does so every minute when there is something new)', response: { 200: z.object({ checkpoint: CheckpointOut.nullable(), created: z.boolean(), file: z.string().nullable(), witness: z.string().nullable(), witnessError: z.string().nullable() }) } } },
      async (req) => audit.checkpoint(actorOf(req)),
    );
  };
}
