import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';

/**
 * `POST /api/admin/backup`: the encrypted archive, streamed while the server keeps running. The
 * passphrase travels in the body (never in the URL, which proxies log) and is not logged.
 */
export function backupRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/admin/backup',
      {
        schema: {
          tags: ['admin'],
          summary: 'A backup archive of the whole deployment (database, keys, checkpoint file), encrypted with the given passphrase',
          body: z.object({ passphrase: z.string().min(12, 'the backup passphrase must be at least 12 characters').max(1024) }).strict(),
        },
      },
      async (req, reply) => {
        const stream = await services.backup.create(actorOf(req), { passphrase: req.body.passphrase });
        const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-disposition', `attachment; filename="lockwarden-${stamp}.lwbackup"`)
          .header('cache-control', 'no-store')
          .send(stream);
      },
    );
  };
}
