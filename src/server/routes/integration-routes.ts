import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AdoptSchema, CommissionSchema, INTEGRATION_DRIVERS, IntegrationCreateSchema } from '../../domain/integrations.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams, items, LockOut } from '../schemas.js';

const IntegrationOut = z.object({
  id: z.string(),
  driver: z.enum(INTEGRATION_DRIVERS),
  name: z.string(),
  config: z.record(z.string(), z.unknown()),
  hasSecret: z.boolean(),
  hasWebhookSecret: z.boolean(),
  createdAt: z.date(),
  createdBy: z.string(),
  running: z.boolean(),
  error: z.string().nullable(),
});

const DeviceOut = z.object({
  externalId: z.string(),
  manufacturer: z.string().nullable(),
  model: z.string().nullable(),
  label: z.string(),
  lockId: z.string().nullable(),
  modelId: z.string().nullable(),
});

/** Integrations (Z-Wave JS servers, Matter, MQTT brokers, Seam workspaces): add, list, restart, remove, devices, adopt. */
export function integrationRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['integrations'];
    const svc = services.integrations;
    app.get('/integrations', { schema: { tags, response: { 200: items(IntegrationOut) } } }, async (req) => ({ items: await svc.list(actorOf(req)) }));
    app.post('/integrations', { schema: { tags, body: IntegrationCreateSchema, response: { 201: IntegrationOut } } }, async (req, reply) => reply.code(201).send(await svc.create(actorOf(req), req.body)));
    app.get('/integrations/:id', { schema: { tags, params: IdParams, response: { 200: IntegrationOut } } }, async (req) => svc.get(actorOf(req), req.params.id));
    app.delete('/integrations/:id', { schema: { tags, params: IdParams } }, async (req, reply) => {
      await svc.remove(actorOf(req), req.params.id);
      return reply.code(204).send();
    });
    app.post('/integrations/:id/restart', { schema: { tags, params: IdParams, response: { 200: IntegrationOut } } }, async (req) => svc.restart(actorOf(req), req.params.id));
    app.get('/integrations/:id/devices', { schema: { tags, params: IdParams, response: { 200: items(DeviceOut) } } }, async (req) => ({ items: await svc.devices(actorOf(req), req.params.id) }));
    // Seam's webhook deliveries: no session or token (Seam signs them instead); the signature is checked
    // on the bytes as received, so JSON is not parsed here (only in this route's own scope).
    const webhookRoute: FastifyPluginAsyncZod = async (hook) => {
      hook.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_req, body, done) => done(null, body));
      hook.post('/integrations/:id/webhook', { config: { public: true }, schema: { tags, params: IdParams } }, async (req, reply) => {
        await svc.webhook(req.params.id, req.headers, req.body as Buffer);
        return reply.code(204).send();
      });
    };
    await app.register(webhookRoute);
    app.post('/integrations/:id/commission', { schema: { tags, params: IdParams, body: CommissionSchema, response: { 200: DeviceOut } } }, async (req) => svc.commission(actorOf(req), req.params.id, req.body));
    app.post('/integrations/:id/adopt', { schema: { tags, params: IdParams, body: AdoptSchema, response: { 201: LockOut } } }, async (req, reply) =>
      reply.code(201).send(await svc.adopt(actorOf(req), req.params.id, req.body)),
    );
  };
}
