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

/** Alerts on locks: list (open by default, one lock's with `lockId`) and acknowledge with a note. */
export function alertRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['alerts'];
    app.get('/alerts', { schema: { tags, querystring: AlertListSchema, response: { 200: items(AlertOut) } } }, async (req) => ({ items: await services.alerts.list(actorOf(req), req.query) }));
    app.post('/alerts/:id/acknowledge', { schema: { tags, params: IdParams, body: AlertAcknowledgeSchema, response: { 200: AlertOut } } }, async (req) =>
      services.alerts.acknowledge(actorOf(req), req.params.id, req.body),
    );
  };
}
