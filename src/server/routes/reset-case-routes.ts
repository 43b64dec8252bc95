import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ResetCaseOpenSchema } from '../../domain/reset-case.js';
import type { Services } from '../../services/index.js';
import { ResetCaseFilterSchema, ResetStepSchema } from '../../services/reset-case-service.js';
import { actorOf } from '../auth.js';
import { IdParams, ResetCaseDataOut, ResetCaseOut, ResetCaseRecordOut, ResetEnrollmentOut, items } from '../schemas.js';

/** Reset cases: open one, follow it step by step, read its signed close-out record. */
export function resetCaseRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['reset cases'];
    app.get('/reset-cases', { schema: { tags, querystring: ResetCaseFilterSchema, response: { 200: items(ResetCaseDataOut) } } }, async (req) =>
      services.resetCases.list(actorOf(req), req.query),
    );

    app.post('/reset-cases', { schema: { tags, body: ResetCaseOpenSchema, response: { 201: ResetCaseOut } } }, async (req, reply) =>
      reply.code(201).send(await services.resetCases.open(actorOf(req), req.body)),
    );

    app.get('/reset-cases/:id', { schema: { tags, params: IdParams, response: { 200: ResetCaseOut } } }, async (req) => services.resetCases.get(actorOf(req), req.params.id));

    app.post(
      '/reset-cases/:id/steps',
      {
        schema: {
          tags,
          description: 'One step of the case. Send an idempotencyKey per attempt; the same key again returns the case unchanged, so a retry after a lost answer is safe.',
          params: IdParams,
          body: ResetStepSchema,
          response: { 200: ResetCaseOut },
        },
      },
      async (req, reply) => {
        // A person who gives up on a waiting enrollment closes the request: the driver stops waiting.
        const gaveUp = new AbortController();
        const onClose = () => {
          if (!reply.raw.writableFinished) gaveUp.abort();
        };
        reply.raw.on('close', onClose);
        try {
          return await services.resetCases.step(actorOf(req), req.params.id, req.body, { signal: gaveUp.signal });
        } finally {
          reply.raw.off('close', onClose);
        }
      },
    );

    app.get(
      '/reset-cases/:id/enrollment',
      {
        schema: {
          tags,
          summary: 'How the case\'s lock is enrolled again',
          description: 'The driver\'s re-enrollment method (what to type, what to do at the lock) and what the person needs first, such as a link to reconnect the lock\'s account.',
          params: IdParams,
          response: { 200: ResetEnrollmentOut },
        },
      },
      async (req) => services.resetCases.enrollment(actorOf(req), req.params.id),
    );

    app.get(
      '/reset-cases/:id/record.pdf',
      {
        schema: {
          tags,
          summary: 'The signed close-out record as a PDF',
          description: 'application/pdf, as an attachment: every step with actor, time and result, the checks with their evidence, the photos by hash, the Ed25519 signature and the public key fingerprint. 409 until the case is closed.',
          params: IdParams,
        },
      },
      async (req, reply) => {
        const pdf = await services.resetCases.recordPdf(actorOf(req), req.params.id);
        return reply.header('cache-control', 'no-store').header('content-disposition', `attachment; filename="${pdf.filename}"`).type('application/pdf').send(pdf.bytes);
      },
    );

    app.get('/reset-cases/:id/record', { schema: { tags, params: IdParams, response: { 200: ResetCaseRecordOut } } }, async (req) => services.resetCases.record(actorOf(req), req.params.id));
  };
}

