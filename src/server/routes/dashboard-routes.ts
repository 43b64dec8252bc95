import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { DashboardOut } from '../schemas.js';

/** The dashboard's figures, scoped to what the reader may see. */
export function dashboardRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/dashboard',
      {
        schema: {
          tags: ['reset cases'],
          summary: 'Open cases by state, cases per week by reason (12 weeks), failed verification checks, turnovers due today',
          description: 'Counts only what the reader may see (their reset.read scope). `turnoversToday` lists the units where a guest leaves or arrives today, with each lock’s state.',
          response: { 200: DashboardOut },
        },
      },
      async (req) => services.dashboard.get(actorOf(req)),
    );
  };
}
