import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ResetCaseOpenSchema } from '../../domain/reset-case.js';
import type { Services } from '../../services/index.js';
import { ResetCaseFilterSchema, ResetStepSchema } from '../../services/reset-case-service.js';
import { actorOf } from '../auth.js';
import { IdParams, ResetCaseDataOut, ResetCaseOut, ResetCaseRecordOut, items } from '../schemas.js';

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
      async (req) => services.resetCases.step(actorOf(req), req.params.id, req.body),
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

