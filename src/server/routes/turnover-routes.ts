import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StayCreateSchema, UnitSettingsSchema } from '../../domain/occupancy.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams, items, TurnoverOut } from '../schemas.js';

const StayOut = z.object({
  id: z.string(),
  locationId: z.string(),
  source: z.enum(['manual', 'ical']),
  guestName: z.string(),
  guestEmail: z.string().nullable(),
  guestPhone: z.string().nullable(),
  checkIn: z.date(),
  checkOut: z.date(),
  status: z.enum(['active', 'cancelled']),
  codeSentAt: z.date().nullable(),
});
const SettingsOut = z.object({
  locationId: z.string(),
  icalUrl: z.string().nullable(),
  timeZone: z.string(),
  checkInTime: z.string(),
  checkOutTime: z.string(),
  confirmLeadMinutes: z.number(),
  feedCheckedAt: z.date().nullable(),
  feedError: z.string().nullable(),
});
const OccupancyOut = z.object({ settings: SettingsOut, stays: z.array(StayOut), turnoversToday: TurnoverOut.nullable() });
const EndpointOut = z.object({
  id: z.string(),
  locationId: z.string().nullable(),
  channel: z.enum(['webhook', 'email']),
  purpose: z.enum(['monitoring', 'occupants']),
  name: z.string(),
  target: z.string(),
  createdBy: z.string(),
  createdAt: z.date(),
});
const MessageOut = z.object({
  id: z.string(),
  channel: z.enum(['webhook', 'email']),
  target: z.string(),
  topic: z.string(),
  subject: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number(),
  lastError: z.string().nullable(),
  nextAttemptAt: z.date(),
  createdAt: z.date(),
  deliveredAt: z.date().nullable(),
});
/** Endpoint input is checked by the service's schema (a webhook URL or an email address, by channel). */
const EndpointIn = z.record(z.string(), z.unknown());
const OutboxQuery = z.object({ status: z.enum(['pending', 'delivered', 'failed'], { error: 'status is pending, delivered or failed' }).optional() }).strict();

/** Occupancy of units (stays, calendar feed, today's turnover) and the notification outbox. */
export function turnoverRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const t = services.turnovers;
    const o = services.outbox;
    const tags = ['turnover'];
    app.get('/units/:id/occupancy', { schema: { tags, params: IdParams, response: { 200: OccupancyOut } } }, async (req) => t.unit(actorOf(req), req.params.id));
    app.patch('/units/:id/occupancy', { schema: { tags, params: IdParams, body: UnitSettingsSchema, response: { 200: SettingsOut } } }, async (req) => t.updateSettings(actorOf(req), req.params.id, req.body));
    app.post('/units/:id/stays', { schema: { tags, params: IdParams, body: StayCreateSchema, response: { 201: StayOut } } }, async (req, reply) => reply.code(201).send(await t.addStay(actorOf(req), req.params.id, req.body)));
    app.post('/units/:id/feed/poll', { schema: { tags, params: IdParams, response: { 200: z.object({ added: z.number(), updated: z.number(), cancelled: z.number() }) } } }, async (req) => t.pollFeed(actorOf(req), req.params.id));
    app.post('/stays/:id/cancel', { schema: { tags, params: IdParams, response: { 200: StayOut } } }, async (req) => t.cancelStay(actorOf(req), req.params.id));
    const ntags = ['notifications'];
    app.get('/notification-endpoints', { schema: { tags: ntags, response: { 200: items(EndpointOut) } } }, async (req) => ({ items: await o.endpoints(actorOf(req)) }));
    app.post('/notification-endpoints', { schema: { tags: ntags, body: EndpointIn, response: { 201: z.object({ endpoint: EndpointOut, secret: z.string().nullable() }) } } }, async (req, reply) =>
      reply.code(201).send(await o.addEndpoint(actorOf(req), req.body)),
    );
    app.delete('/notification-endpoints/:id', { schema: { tags: ntags, params: IdParams } }, async (req, reply) => {
      await o.removeEndpoint(actorOf(req), req.params.id);
      return reply.code(204).send();
    });
    app.get('/outbox', { schema: { tags: ntags, querystring: OutboxQuery, response: { 200: items(MessageOut) } } }, async (req) => ({ items: await o.messages(actorOf(req), req.query) }));
    app.post('/outbox/:id/retry', { schema: { tags: ntags, params: IdParams, response: { 200: MessageOut } } }, async (req) => o.retry(actorOf(req), req.params.id));
  };
}
