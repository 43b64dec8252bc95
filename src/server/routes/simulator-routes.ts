import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import { PANEL_ACTIONS, PHYSICAL_RESET_REFUSALS, PanelActionSchema, type SimFleet } from '../../drivers/simulator/index.js';
import type { Services } from '../../services/index.js';
import { SimPanelService } from '../../services/sim-panel-service.js';
import { actorOf } from '../auth.js';
import { IdParams } from '../schemas.js';

const DriftBody = z
  .object({
    slot: z.number().int().min(1, 'slots start at 1'),
    code: z.string().regex(/^\d{4,12}$/, 'a code of 4-12 digits'),
  })
  .strict();

/** What a virtual front panel shows (the simulator's view of one device). */
export const PanelViewOut = z.object({
  externalId: z.string(),
  manufacturer: z.string(),
  model: z.string(),
  hasKeypad: z.boolean(),
  holdSeconds: z.number(),
  buttonSequence: z.string().nullable(),
  indicator: z.object({ state: z.enum(['off', 'normal', 'setup_mode', 'refused', 'fault']), words: z.string() }),
  pressedSeconds: z.number().nullable(),
  keysEntered: z.number(),
  compartmentOpen: z.boolean(),
  batteryPercent: z.number(),
  batteryMinPercent: z.number(),
  onDoor: z.boolean(),
  needsLockOffDoor: z.boolean(),
  setupMode: z.boolean(),
  lastAttempt: z
    .object({ at: z.string(), ok: z.boolean(), reason: z.enum(PHYSICAL_RESET_REFUSALS).nullable(), heldSeconds: z.number(), setupModeAfter: z.boolean(), words: z.string() })
    .nullable(),
  label: z.object({ text: z.string(), setupCode: z.string() }),
});

/** A panel with the lock (or practice twin) it belongs to and the name of its reset control. */
export const LockPanelOut = PanelViewOut.extend({ lockId: z.string(), lockName: z.string(), resetControl: z.string() });

/** A panel action, as the body of a POST (the action names listed in the OpenAPI description). */
export const PanelActionBody = PanelActionSchema.describe(`one action at the panel: ${PANEL_ACTIONS.join(', ')}`);

/**
 * Acting on simulated locks as a person at the door would, for demos and tests: only registered when
 * the simulator runs in this process, and only for simulated locks.
 */
export function simulatorRoutes(services: Services, fleet: SimFleet): FastifyPluginAsyncZod {
  const panels = new SimPanelService(services.ctx, fleet);
  return async (app) => {
    // The virtual front panel: a technician's hands on the lock (reset.perform where the lock is).
    app.get(
      '/simulator/locks/:id/panel',
      { schema: { tags: ['simulator'], params: IdParams, response: { 200: LockPanelOut } } },
      async (req) => panels.view(actorOf(req), req.params.id),
    );
    app.post(
      '/simulator/locks/:id/panel',
      { schema: { tags: ['simulator'], params: IdParams, body: PanelActionBody, response: { 200: z.object({ panel: LockPanelOut, ok: z.boolean(), words: z.string() }) } } },
      async (req) => panels.act(actorOf(req), req.params.id, req.body),
    );
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
