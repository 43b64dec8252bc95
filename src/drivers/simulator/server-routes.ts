/**
 * The simulator's HTTP routes: the driver commands (answered as `{ hub, value }` so a remote driver
 * learns each device's hub), provisioning, out-of-band and physical actions, faults, configuration
 * and the change log. Every body, parameter and query is parsed by a schema first.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SimFleet } from './fleet.js';
import {
  EnrollBodySchema,
  FaultBodySchema,
  FleetConfigInputSchema,
  OUT_OF_BAND_BODIES,
  OnlineBodySchema,
  PHYSICAL_BODIES,
  PinBodySchema,
  SpecSchema,
  type OutOfBandAction,
  type PhysicalAction,
} from './schemas.js';

/** Bad input at the HTTP edge, naming the field; answered with 400. */
export class SimValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'SimValidationError';
  }
}

/** Parses `value` with `schema` or throws a `SimValidationError` naming the first bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = [where, ...(issue?.path ?? []).map(String)].join('.');
  throw new SimValidationError(field, issue?.message ?? 'invalid');
}

const IdParams = z.object({ id: z.string().min(1) });
// Any number passes: whether a slot exists is the lock's answer (driver.invalid_pin), as in process.
const SlotParams = IdParams.extend({ slot: z.coerce.number() });
const ControllerParams = IdParams.extend({ controllerId: z.string().min(1) });
const AfterQuery = z.object({ after: z.coerce.number().pipe(z.int().min(0)).optional() });

/** Registers every route of the simulator on `app`. */
export function registerSimRoutes(app: FastifyInstance, fleet: SimFleet): void {
  const id = (params: unknown) => parseInput(IdParams, params, 'params').id;
  // The hub travels with every device answer; a device removed meanwhile simply has none.
  const answer = <T>(externalId: string, value: T) => ({ hub: fleet.has(externalId) ? fleet.hubOf(externalId) : null, value });

  app.get('/health', async () => ({ ok: true }));

  // ---- driver commands ----
  app.get('/devices/:id/capabilities', async (req) => answer(id(req.params), await fleet.capabilities(id(req.params))));
  app.get('/devices/:id/status', async (req) => answer(id(req.params), await fleet.status(id(req.params))));
  app.get('/devices/:id/credentials', async (req) => answer(id(req.params), await fleet.readCredentials(id(req.params))));
  app.put('/devices/:id/pins/:slot', async (req) => {
    const p = parseInput(SlotParams, req.params, 'params');
    const body = parseInput(PinBodySchema, req.body, 'body');
    await fleet.setPin(p.id, { slot: p.slot, ...body });
    return answer(p.id, null);
  });
  app.delete('/devices/:id/pins/:slot', async (req) => {
    const p = parseInput(SlotParams, req.params, 'params');
    await fleet.clearPin(p.id, p.slot);
    return answer(p.id, null);
  });
  app.delete('/devices/:id/controllers/:controllerId', async (req) => {
    const p = parseInput(ControllerParams, req.params, 'params');
    await fleet.removeController(p.id, p.controllerId);
    return answer(p.id, null);
  });
  app.post('/devices/:id/lock', async (req) => answer(id(req.params), await fleet.lock(id(req.params)).then(() => null)));
  app.post('/devices/:id/unlock', async (req) => answer(id(req.params), await fleet.unlock(id(req.params)).then(() => null)));
  app.post('/devices/:id/factory-reset', async (req) => answer(id(req.params), await fleet.factoryReset(id(req.params)).then(() => null)));
  app.post('/devices/:id/unbind-cloud', async (req) => answer(id(req.params), await fleet.unbindCloud(id(req.params)).then(() => null)));
  app.post('/enroll', async (req) => fleet.enroll(parseInput(EnrollBodySchema, req.body, 'body').code));

  // ---- the fleet ----
  app.get('/devices', async () => ({ devices: fleet.discover() }));
  app.post('/devices', async (req) => {
    const spec = parseInput(SpecSchema, req.body, 'body');
    return answer(spec.externalId, fleet.provision(spec));
  });
  app.get('/devices/:id', async (req) => answer(id(req.params), fleet.get(id(req.params))));
  app.delete('/devices/:id', async (req) => ({ removed: fleet.remove(id(req.params)) }));
  app.post('/devices/:id/online', async (req) => {
    const externalId = id(req.params);
    fleet.setOnline(externalId, parseInput(OnlineBodySchema, req.body, 'body').online);
    return answer(externalId, null);
  });
  app.post('/devices/:id/faults', async (req) => {
    const externalId = id(req.params);
    const body = parseInput(FaultBodySchema, req.body, 'body');
    fleet.injectFault(externalId, body.kind, body.count);
    return answer(externalId, null);
  });
  app.get('/config', async () => ({ config: fleet.currentConfig() }));
  app.post('/config', async (req) => {
    const input = parseInput(FleetConfigInputSchema, req.body, 'body');
    fleet.configure(input);
    return { config: fleet.currentConfig() };
  });
  app.get('/log', async (req) => ({ entries: fleet.logSince(parseInput(AfterQuery, req.query, 'query').after ?? 0) }));
  app.get('/state', async () => fleet.toJSON());

  // ---- out of band and physical ----
  app.post('/devices/:id/out-of-band/:action', async (req) => {
    const externalId = id(req.params);
    const action = parseInput(z.object({ action: z.enum(Object.keys(OUT_OF_BAND_BODIES) as [OutOfBandAction]) }), req.params, 'params').action;
    return answer(externalId, outOfBand(fleet, externalId, action, req.body) ?? null);
  });
  app.post('/devices/:id/physical/:action', async (req) => {
    const externalId = id(req.params);
    const action = parseInput(z.object({ action: z.enum(Object.keys(PHYSICAL_BODIES) as [PhysicalAction]) }), req.params, 'params').action;
    return answer(externalId, physical(fleet, externalId, action, req.body) ?? null);
  });
}

function outOfBand(fleet: SimFleet, externalId: string, action: OutOfBandAction, raw: unknown): unknown {
  const o = fleet.outOfBand;
  const body = <S extends z.ZodType>(schema: S) => parseInput(schema, raw, 'body');
  const B = OUT_OF_BAND_BODIES;
  switch (action) {
    case 'set-pin': {
      const b = body(B['set-pin']);
      return o.setPin(externalId, b.slot, b.code, b.name, b.schedule);
    }
    case 'clear-pin':
      return o.clearPin(externalId, body(B['clear-pin']).slot);
    case 'pair-controller': {
      const b = body(B['pair-controller']);
      return o.pairController(externalId, b.label, b.kind);
    }
    case 'remove-controller':
      return o.removeController(externalId, body(B['remove-controller']).controllerId);
    case 'issue-digital-key':
      return o.issueDigitalKey(externalId, body(B['issue-digital-key']).holder);
    case 'enroll-biometric': {
      const b = body(B['enroll-biometric']);
      return o.enrollBiometric(externalId, b.holder, b.kind);
    }
    case 'use-pin':
      return { slot: o.usePin(externalId, body(B['use-pin']).code) };
    case 'turn-bolt':
      return o.turnBolt(externalId, body(B['turn-bolt']).target);
    case 'set-battery':
      return o.setBattery(externalId, body(B['set-battery']).percent);
    case 'remove-cloud-binding':
      return o.removeCloudBinding(externalId);
    case 'enroll-admin':
      return o.enrollAdmin(externalId, body(B['enroll-admin']).label);
    case 'pair-lockwarden':
      return o.pairLockwarden(externalId);
  }
}

function physical(fleet: SimFleet, externalId: string, action: PhysicalAction, raw: unknown): unknown {
  const p = fleet.physical;
  const body = <S extends z.ZodType>(schema: S) => parseInput(schema, raw, 'body');
  const B = PHYSICAL_BODIES;
  switch (action) {
    case 'reset':
      return p.reset(externalId, body(B['reset']));
    case 'set-on-door':
      return p.setOnDoor(externalId, body(B['set-on-door']).onDoor);
    case 'set-door-aligned':
      return p.setDoorAligned(externalId, body(B['set-door-aligned']).aligned);
    case 'block-reset':
      return p.blockReset(externalId, body(B['block-reset']).reason);
    case 'mechanical-override':
      return p.useMechanicalOverride(externalId);
  }
}
