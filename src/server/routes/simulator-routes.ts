import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { SimFleet } from '../../drivers/simulator/index.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';
import { IdParams } from '../schemas.js';

const DriftBody = z
  .object({
    slot: z.number().int().min(1, 'slots start at 1'),
    code: z.string().regex(/^\d{4,12}$/, 'a code of 4-12 digits'),
  })
  .strict();

/**
 * Acting on simulated locks as a person at the door would, for demos and tests: only registered when
 * the simulator runs in this process, and only for simulated locks.
 */
export function simulatorRoutes(services: Services, fleet: SimFleet): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/simulator/locks/:id/drift',
      { schema: { tags: ['simulator'], params: IdParams, body: DriftBody, response: { 200: z.object({ externalId: z.string(), slot: z.number() }) } } },
      async (req) => {
        // Editing the lock is what a person at the keypad does to it: it takes lock-write rights.
        const actor = actorOf(req);
        const lock = await services.locks.get(actor, req.params.id);
        await services.credentials.assertCanWrite(actor, lock.id);
        if (lock.driver !== 'simulator' || !lock.externalId || !fleet.has(lock.externalId)) {
          throw new AppError('device.not_supported', 'only simulated locks can be changed from here');
        }
        fleet.outOfBand.setPin(lock.externalId, req.body.slot, req.body.code, 'set at the keypad');
        return { externalId: lock.externalId, slot: req.body.slot };
      },
    );
  };
}
