import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LocationCreateSchema, LocationUpdateSchema } from '../../domain/locations.js';
import { LockModelCreateSchema, LockModelUpdateSchema } from '../../domain/lock-models.js';
import { LockCreateSchema, LockFilterSchema, LockRetireSchema, LockUpdateSchema } from '../../domain/locks.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams, items, LocationNodeOut, LocationOut, LockModelOut, LockOut } from '../schemas.js';

/** Locations, the model catalogue and locks: validate, call the service, return what it gives. */
export function inventoryRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { locations, models, locks } = services;

    const loc = ['locations'];
    app.get('/locations/tree', { schema: { tags: loc, response: { 200: z.object({ roots: z.array(LocationNodeOut) }) } } }, async (req) => ({
      roots: await locations.tree(actorOf(req)),
    }));
    app.get('/locations', { schema: { tags: loc, response: { 200: items(LocationOut) } } }, async (req) => ({ items: await locations.list(actorOf(req)) }));
    app.get('/locations/:id', { schema: { tags: loc, params: IdParams, response: { 200: LocationOut } } }, async (req) => locations.get(actorOf(req), req.params.id));
    app.post('/locations', { schema: { tags: loc, body: LocationCreateSchema, response: { 201: LocationOut } } }, async (req, reply) =>
      reply.code(201).send(await locations.create(actorOf(req), req.body)),
    );
    app.patch('/locations/:id', { schema: { tags: loc, params: IdParams, body: LocationUpdateSchema, response: { 200: LocationOut } } }, async (req) =>
      locations.update(actorOf(req), req.params.id, req.body),
    );

    const mod = ['models'];
    app.get('/models', { schema: { tags: mod, response: { 200: items(LockModelOut) } } }, async (req) => ({ items: await models.list(actorOf(req)) }));
    app.get('/models/:id', { schema: { tags: mod, params: IdParams, response: { 200: LockModelOut } } }, async (req) => models.get(actorOf(req), req.params.id));
    app.post('/models', { schema: { tags: mod, body: LockModelCreateSchema, response: { 201: LockModelOut } } }, async (req, reply) =>
      reply.code(201).send(await models.create(actorOf(req), req.body)),
    );
    app.patch('/models/:id', { schema: { tags: mod, params: IdParams, body: LockModelUpdateSchema, response: { 200: LockModelOut } } }, async (req) =>
      models.update(actorOf(req), req.params.id, req.body),
    );
    app.delete('/models/:id', { schema: { tags: mod, params: IdParams } }, async (req, reply) => {
      await models.delete(actorOf(req), req.params.id);
      return reply.code(204).send();
    });

    const lk = ['locks'];
    app.get(
      '/locks',
      { schema: { tags: lk, querystring: LockFilterSchema, response: { 200: z.object({ items: z.array(LockOut), total: z.number(), limit: z.number(), offset: z.number() }) } } },
      async (req) => locks.list(actorOf(req), req.query),
    );
    app.get('/locks/:id', { schema: { tags: lk, params: IdParams, response: { 200: LockOut } } }, async (req) => locks.get(actorOf(req), req.params.id));
    app.post('/locks', { schema: { tags: lk, body: LockCreateSchema, response: { 201: LockOut } } }, async (req, reply) =>
      reply.code(201).send(await locks.create(actorOf(req), req.body)),
    );
    app.patch('/locks/:id', { schema: { tags: lk, params: IdParams, body: LockUpdateSchema, response: { 200: LockOut } } }, async (req) =>
      locks.update(actorOf(req), req.params.id, req.body),
    );
    app.post('/locks/:id/retire', { schema: { tags: lk, params: IdParams, body: LockRetireSchema, response: { 200: LockOut } } }, async (req) =>
      locks.retire(actorOf(req), req.params.id, req.body),
    );
  };
}
