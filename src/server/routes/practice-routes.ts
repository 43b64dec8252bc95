import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams, items } from '../schemas.js';
import { LockPanelOut, PanelActionBody } from './simulator-routes.js';

const PracticeRunOut = z.object({
  id: z.string(),
  entryId: z.string(),
  revision: z.number(),
  actorLabel: z.string(),
  startedAt: z.date(),
  expiresAt: z.date(),
  finishedAt: z.date().nullable(),
  passed: z.boolean().nullable(),
  attempts: z.array(z.object({ at: z.string(), ok: z.boolean(), reason: z.string().nullable(), heldSeconds: z.number(), words: z.string() })),
  summary: z.string(),
  active: z.boolean(),
});
const PracticeRunDetailOut = PracticeRunOut.extend({ model: z.string(), masterCode: z.string().nullable() });

/**
 * Practice runs: a handbook entry's procedure on a throwaway virtual twin of its model, through the
 * same virtual front panel as a simulated lock. Always registered: the twins are the practice
 * service's own, whatever simulator (if any) this server runs.
 */
export function practiceRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['practice'];
    const practice = services.practice;
    app.post(
      '/handbook/entries/:id/practice-runs',
      { schema: { tags, summary: 'Start practising the entry on a new virtual twin of its model', params: IdParams, response: { 201: PracticeRunDetailOut } } },
      async (req, reply) => reply.code(201).send(await practice.start(actorOf(req), req.params.id)),
    );
    app.get(
      '/handbook/entries/:id/practice-runs',
      { schema: { tags, summary: "The entry's practice runs, newest first", params: IdParams, response: { 200: items(PracticeRunOut) } } },
      async (req) => ({ items: await practice.list(actorOf(req), req.params.id) }),
    );
    app.get('/practice-runs/:id', { schema: { tags, summary: 'One of your practice runs', params: IdParams, response: { 200: PracticeRunDetailOut } } }, async (req) =>
      practice.get(actorOf(req), req.params.id),
    );
    app.get('/practice-runs/:id/panel', { schema: { tags, summary: "The twin's front panel", params: IdParams, response: { 200: LockPanelOut } } }, async (req) =>
      practice.panel(actorOf(req), req.params.id),
    );
    app.post(
      '/practice-runs/:id/panel',
      { schema: { tags, summary: "Do one thing at the twin's front panel", params: IdParams, body: PanelActionBody, response: { 200: z.object({ panel: LockPanelOut, ok: z.boolean(), words: z.string() }) } } },
      async (req) => practice.act(actorOf(req), req.params.id, req.body),
    );
    app.post('/practice-runs/:id/finish', { schema: { tags, summary: 'Finish the run: it is recorded on the entry', params: IdParams, response: { 200: PracticeRunDetailOut } } }, async (req) =>
      practice.finish(actorOf(req), req.params.id),
    );
  };
}
