import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BulkChangeSchema, PinCreateSchema, PinUpdateSchema, RevealSchema } from '../../domain/credentials.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { BulkOut, CredentialOut, IdParams, items, LockControllersOut, LockCredentialsOut } from '../schemas.js';

/** Credentials on locks, bulk changes and remote lock/unlock: validate, call the service, return. */
export function credentialRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { credentials } = services;
    const tags = ['credentials'];

    app.get('/locks/:id/credentials', { schema: { tags, params: IdParams, response: { 200: LockCredentialsOut } } }, async (req) =>
      credentials.forLock(actorOf(req), req.params.id),
    );
    app.post(
      '/locks/:id/pins',
      { schema: { tags, params: IdParams, body: PinCreateSchema, response: { 201: z.object({ credential: CredentialOut, code: z.string() }) } } },
      async (req, reply) => reply.code(201).send(await credentials.addPin(actorOf(req), req.params.id, req.body)),
    );
    app.post('/locks/:id/refresh', { schema: { tags, params: IdParams } }, async (req, reply) => {
      await credentials.refresh(actorOf(req), req.params.id);
      return reply.code(202).send({ queued: true });
    });
    app.post('/locks/:id/unmanaged/adopt', { schema: { tags, params: IdParams, body: z.object({ slot: z.number(), holder: z.string() }).strict(), response: { 201: CredentialOut } } }, async (req, reply) =>
      reply.code(201).send(await credentials.adopt(actorOf(req), req.params.id, req.body)),
    );
    app.post('/locks/:id/unmanaged/remove', { schema: { tags, params: IdParams, body: z.object({ slot: z.number() }).strict(), response: { 202: CredentialOut } } }, async (req, reply) =>
      reply.code(202).send(await credentials.removeUnmanaged(actorOf(req), req.params.id, req.body)),
    );
    app.get('/locks/:id/controllers', { schema: { tags, params: IdParams, response: { 200: LockControllersOut } } }, async (req) =>
      credentials.listControllers(actorOf(req), req.params.id),
    );
    app.delete(
      '/locks/:id/controllers/:controllerId',
      { schema: { tags, params: IdParams.extend({ controllerId: z.string().min(1).max(200) }), response: { 202: CredentialOut } } },
      async (req, reply) => reply.code(202).send(await credentials.removeController(actorOf(req), req.params.id, req.params.controllerId)),
    );
    for (const action of ['lock', 'unlock'] as const) {
      app.post(`/locks/:id/${action}`, { schema: { tags, params: IdParams, response: { 200: z.object({ bolt: z.string() }) } } }, async (req) =>
        credentials.operate(actorOf(req), req.params.id, action),
      );
    }

    app.patch('/credentials/:id', { schema: { tags, params: IdParams, body: PinUpdateSchema, response: { 200: CredentialOut } } }, async (req) =>
      credentials.updatePin(actorOf(req), req.params.id, req.body),
    );
    app.delete('/credentials/:id', { schema: { tags, params: IdParams, response: { 202: CredentialOut } } }, async (req, reply) =>
      reply.code(202).send(await credentials.revoke(actorOf(req), req.params.id)),
    );
    app.post('/credentials/:id/retry', { schema: { tags, params: IdParams, response: { 200: CredentialOut } } }, async (req) =>
      credentials.retry(actorOf(req), req.params.id),
    );
    app.post('/credentials/:id/reveal', { schema: { tags, params: IdParams, body: RevealSchema, response: { 200: z.object({ code: z.string() }) } } }, async (req, reply) => {
      void reply.header('cache-control', 'no-store');
      return credentials.reveal(actorOf(req), req.params.id, req.body);
    });

    app.post('/bulk', { schema: { tags, body: BulkChangeSchema, response: { 202: BulkOut } } }, async (req, reply) =>
      reply.code(202).send(await credentials.bulkChange(actorOf(req), req.body)),
    );
    app.get('/bulk', { schema: { tags, response: { 200: items(BulkOut) } } }, async (req) => ({ items: await credentials.bulks(actorOf(req)) }));
    app.get('/bulk/:id', { schema: { tags, params: IdParams, response: { 200: BulkOut } } }, async (req) => credentials.bulk(actorOf(req), req.params.id));
  };
}
