import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AccessDecisionSchema, AccessRequestCreateSchema, DocumentOwnerSchema, GrantCreateSchema, GrantRevokeSchema, InviteSchema } from '../../domain/access.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { AccessGrantOut, AccessRequestOut, IdParams, items, NotificationOut, UserOut } from '../schemas.js';

const GrantQuery = z
  .object({
    locationId: z.string().uuid('locationId must be an id').optional(),
    userId: z.string().uuid('userId must be an id').optional(),
    includeInactive: z.enum(['true', 'false']).optional(),
  })
  .strict();
const RequestQuery = z.object({ view: z.enum(['mine', 'inbox', 'all']).default('mine') }).strict();

/** People, invitations, grants, access requests, document owners and notifications. */
export function accessRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['access'];
    app.get('/users', { schema: { tags, response: { 200: items(UserOut) } } }, async (req) => ({ items: await services.auth.listUsers(actorOf(req)) }));

    app.post('/users/invite', { schema: { tags, body: InviteSchema, response: { 201: z.object({ user: UserOut, signInPath: z.string() }) } } }, async (req, reply) => {
      const { user, oneTimeToken } = await services.access.invite(actorOf(req), req.body);
      return reply.code(201).send({ user, signInPath: `/signin/one-time#${oneTimeToken}` });
    });

    app.get('/access/grants', { schema: { tags, querystring: GrantQuery, response: { 200: items(AccessGrantOut) } } }, async (req) => ({
      items: await services.access.grants(actorOf(req), { locationId: req.query.locationId, userId: req.query.userId, includeInactive: req.query.includeInactive === 'true' }),
    }));

    app.post('/access/grants', { schema: { tags, body: GrantCreateSchema, response: { 201: AccessGrantOut } } }, async (req, reply) => reply.code(201).send(await services.access.grant(actorOf(req), req.body)));

    app.post('/access/grants/:id/revoke', { schema: { tags, params: IdParams, body: GrantRevokeSchema, response: { 200: AccessGrantOut } } }, async (req) =>
      services.access.revoke(actorOf(req), req.params.id, req.body),
    );

    app.get('/access/requests', { schema: { tags, querystring: RequestQuery, response: { 200: items(AccessRequestOut) } } }, async (req) => ({
      items: await services.access.requests(actorOf(req), req.query.view),
    }));

    app.post('/access/requests', { schema: { tags, body: AccessRequestCreateSchema, response: { 201: AccessRequestOut } } }, async (req, reply) =>
      reply.code(201).send(await services.access.request(actorOf(req), req.body)),
    );

    app.get('/access/requests/:id', { schema: { tags, params: IdParams, response: { 200: AccessRequestOut } } }, async (req) => services.access.getRequest(actorOf(req), req.params.id));

    app.post('/access/requests/:id/decision', { schema: { tags, params: IdParams, body: AccessDecisionSchema, response: { 200: AccessRequestOut } } }, async (req) =>
      services.access.decide(actorOf(req), req.params.id, req.body),
    );

    app.post('/access/requests/:id/cancel', { schema: { tags, params: IdParams, response: { 200: AccessRequestOut } } }, async (req) => services.access.cancel(actorOf(req), req.params.id));

    app.put('/locations/:id/document-owner', { schema: { tags, params: IdParams, body: DocumentOwnerSchema } }, async (req, reply) => {
      await services.access.setDocumentOwner(actorOf(req), req.params.id, req.body);
      return reply.code(204).send();
    });

    app.get('/notifications', { schema: { tags, response: { 200: items(NotificationOut) } } }, async (req) => ({ items: await services.access.notifications(actorOf(req)) }));

    app.post('/notifications/read', { schema: { tags } }, async (req, reply) => {
      await services.access.markNotificationsRead(actorOf(req));
      return reply.code(204).send();
    });
  };
}
