import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALERT_KINDS, AlertAcknowledgeSchema, AlertListSchema } from '../../domain/alerts.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams, items } from '../schemas.js';

const AlertOut = z.object({
  id: z.string(),
  lockId: z.string(),
  lockName: z.string(),
  kind: z.enum(ALERT_KINDS),
  title: z.string(),
  detail: z.string(),
  source: z.string(),
  raisedAt: z.date(),
  lastSeenAt: z.date(),
  count: z.number(),
  acknowledgedAt: z.date().nullable(),
  acknowledgedBy: z.string().nullable(),
  note: z.string().nullable(),
});

const LockEventOut = z.object({ id: z.string(), lockId: z.string(), at: z.date(), type: z.string(), summary: z.string(), source: z.string() });
const EventsQuery = z.object({ limit: z.coerce.number().int('limit must be whole').min(1, 'limit is at least 1').max(500, 'limit is at most 500').default(100) }).strict();

/** Alerts on locks (list, open by default; acknowledge with a note) and a lock's device history. */
export function alertRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['alerts'];
    app.get('/alerts', { schema: { tags, querystring: AlertListSchema, response: { 200: items(AlertOut) } } }, async (req) => ({ items: await services.alerts.list(actorOf(req), req.query) }));
    app.get('/locks/:id/events', { schema: { tags, params: IdParams, querystring: EventsQuery, response: { 200: items(LockEventOut) } } }, async (req) => ({
      items: await services.lockEvents.list(actorOf(req), req.params.id, req.query.limit),
    }));
    app.post('/alerts/:id/acknowledge', { schema: { tags, params: IdParams, body: AlertAcknowledgeSchema, response: { 200: AlertOut } } }, async (req) =>
      services.alerts.acknowledge(actorOf(req), req.params.id, req.body),
    );
  };
}
