import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ApplyTemplateSchema,
  HandbookContentSchema,
  HandbookEntryCreateSchema,
  HandbookExportSchema,
  HandbookFilterSchema,
  HandbookSaveSchema,
  HandbookSearchSchema,
  HandbookVerifySchema,
  SecretCreateSchema,
  SecretRevealSchema,
} from '../../domain/handbook.js';
import { LOCK_FAMILIES } from '../../domain/lock-models.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { ContentDiffOut, HandbookEntryOut, HandbookSummaryOut, HandbookTocOut, IdParams, items, MaskedSecretOut, RevisionMetaOut, SecretRevealOut } from '../schemas.js';

const RevisionParams = z.object({ id: z.string().uuid('not a valid id'), revision: z.coerce.number().int().min(1) });
const DiffQuery = z.object({ from: z.coerce.number().int().min(1), to: z.coerce.number().int().min(1) }).strict();

/** The reset handbook: entries, revisions and diffs, verification, search, contents, secrets, key rotation. */
export function handbookRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { handbook } = services;
    const tags = ['handbook'];

    app.get('/handbook/entries', { schema: { tags, querystring: HandbookFilterSchema, response: { 200: items(HandbookSummaryOut) } } }, async (req) => ({
      items: await handbook.list(actorOf(req), req.query),
    }));
    app.post('/handbook/entries', { schema: { tags, body: HandbookEntryCreateSchema, response: { 201: HandbookEntryOut } } }, async (req, reply) =>
      reply.code(201).send(await handbook.create(actorOf(req), req.body)),
    );
    app.get('/handbook/entries/:id', { schema: { tags, params: IdParams, response: { 200: HandbookEntryOut } } }, async (req) => handbook.get(actorOf(req), req.params.id));
    app.put('/handbook/entries/:id', { schema: { tags, params: IdParams, body: HandbookSaveSchema, response: { 200: HandbookEntryOut } } }, async (req) =>
      handbook.save(actorOf(req), req.params.id, req.body),
    );
    app.get('/handbook/entries/:id/revisions', { schema: { tags, params: IdParams, response: { 200: items(RevisionMetaOut) } } }, async (req) => ({
      items: await handbook.revisions(actorOf(req), req.params.id),
    }));
    app.get('/handbook/entries/:id/revisions/:revision', { schema: { tags, params: RevisionParams, response: { 200: RevisionMetaOut.extend({ content: HandbookContentSchema }) } } }, async (req) =>
      handbook.revision(actorOf(req), req.params.id, req.params.revision),
    );
    app.get('/handbook/entries/:id/diff', { schema: { tags, params: IdParams, querystring: DiffQuery, response: { 200: ContentDiffOut } } }, async (req) =>
      handbook.diff(actorOf(req), req.params.id, req.query.from, req.query.to),
    );
    app.post('/handbook/entries/:id/verify', { schema: { tags, params: IdParams, body: HandbookVerifySchema.optional(), response: { 200: HandbookEntryOut } } }, async (req) =>
      handbook.verify(actorOf(req), req.params.id, req.body ?? {}),
    );
    app.get('/handbook/entries/:id/reveals', { schema: { tags, params: IdParams, response: { 200: items(SecretRevealOut) } } }, async (req) => ({
      items: await handbook.reveals(actorOf(req), req.params.id),
    }));
    app.post('/handbook/entries/:id/secrets', { schema: { tags, params: IdParams, body: SecretCreateSchema, response: { 201: MaskedSecretOut } } }, async (req, reply) =>
      reply.code(201).send(await handbook.addSecret(actorOf(req), req.params.id, req.body)),
    );
    app.delete('/handbook/secrets/:id', { schema: { tags, params: IdParams } }, async (req, reply) => {
      await handbook.deleteSecret(actorOf(req), req.params.id);
      return reply.code(204).send();
    });
    app.post('/handbook/secrets/:id/reveal', { schema: { tags, params: IdParams, body: SecretRevealSchema, response: { 200: z.object({ secret: MaskedSecretOut, value: z.string() }) } } }, async (req, reply) => {
      const out = await handbook.reveal(actorOf(req), req.params.id, req.body);
      // A revealed value must not linger in a cache or a proxy.
      void reply.header('cache-control', 'no-store');
      return out;
    });
    app.get('/handbook/stale', { schema: { tags, response: { 200: items(HandbookSummaryOut) } } }, async (req) => ({ items: await handbook.needsVerification(actorOf(req)) }));
    app.get('/handbook/search', { schema: { tags, querystring: HandbookSearchSchema, response: { 200: items(HandbookSummaryOut.extend({ rank: z.number() })) } } }, async (req) => ({
      items: await handbook.search(actorOf(req), req.query),
    }));
    app.get('/handbook/toc', { schema: { tags, response: { 200: HandbookTocOut } } }, async (req) => handbook.toc(actorOf(req)));
    app.get(
      '/handbook/export.pdf',
      {
        schema: {
          tags,
          summary: 'Export the handbook, a location subtree or a manufacturer as a PDF',
          description:
            'application/pdf, as an attachment. Secrets are redacted unless includeSecrets=true with a reason, which needs handbook.reveal (403 otherwise); each printed secret is recorded as a reveal.',
          querystring: HandbookExportSchema,
        },
      },
      async (req, reply) => {
        // Authorized and gathered (reveals recorded) before any byte is sent, so errors are still a clean 4xx.
        const out = await handbook.preparePdf(actorOf(req), req.query);
        const body = new PassThrough();
        // Streamed as pages are finished; a failure mid-way aborts the response rather than sending a torn file.
        out.write(body).then(
          () => body.end(),
          (err: unknown) => {
            req.log.error({ err }, 'handbook PDF export failed while streaming');
            body.destroy(err instanceof Error ? err : new Error(String(err)));
          },
        );
        // The document may carry secrets and always carries procedures: no cache, no proxy copy.
        return reply
          .header('cache-control', 'no-store')
          .header('content-disposition', `attachment; filename="${out.filename}"`)
          .header('x-handbook-entries', String(out.entries))
          .type('application/pdf')
          .send(body);
      },
    );
    app.get('/handbook/templates', { schema: { tags, response: { 200: items(z.object({ family: z.enum(LOCK_FAMILIES), content: HandbookContentSchema })) } } }, async (req) => ({
      items: handbook.templates(actorOf(req)),
    }));
    app.post('/handbook/templates/apply', { schema: { tags, body: ApplyTemplateSchema, response: { 200: HandbookEntryOut } } }, async (req) => handbook.applyTemplate(actorOf(req), req.body));
    app.get(
      '/locks/:id/handbook',
      { schema: { tags, params: IdParams, response: { 200: z.object({ lockId: z.string(), source: z.enum(['lock', 'model']).nullable(), entry: HandbookEntryOut.nullable() }) } } },
      async (req) => handbook.forLock(actorOf(req), req.params.id),
    );
    app.post('/keys/rotate', { schema: { tags: ['keys'], response: { 200: z.object({ masterVersion: z.number(), rewrapped: z.number(), origin: z.string() }) } } }, async (req) =>
      handbook.rotateKeys(actorOf(req)),
    );
  };
}
