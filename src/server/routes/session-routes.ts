import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams } from '../schemas.js';

export const SignOutEverywhereSchema = z.object({ revokeApiTokens: z.boolean().default(false) }).strict();
export const EndedAccessOut = z.object({ sessionsEnded: z.number().int(), tokensRevoked: z.number().int() });

/** An owner or admin ending another user's sessions (and optionally API tokens) at once. */
export function sessionRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/users/:id/sessions/revoke',
      {
        schema: {
          tags: ['users'],
          description: "Ends every session of the user at once; with revokeApiTokens also revokes their API tokens. Needs user.write.",
          params: IdParams,
          body: SignOutEverywhereSchema.nullish(),
          response: { 200: EndedAccessOut },
        },
      },
      async (req) => services.auth.revokeUserSessions(actorOf(req), req.params.id, req.body ?? {}),
    );
  };
}
