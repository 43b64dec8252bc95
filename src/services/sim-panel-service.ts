/**
 * The virtual front panel of a simulated lock of the inventory: what a technician at the door sees
 * and does. Whoever may perform a reset on the lock (`reset.perform` where it is) may use its panel;
 * every change to the device goes through the fleet's logged actions, so it raises the same driver
 * events (a reset is `reset_detected`) as hands on a real lock would.
 */
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { PanelActionSchema, type PanelOutcome, type PanelView, type SimFleet } from '../drivers/simulator/index.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { authorize, type ServiceContext } from './context.js';
import { LockService } from './lock-service.js';
import { lockResource } from './scope.js';

/** A panel as the product shows it: the simulator's view plus the lock and the name of its reset control. */
export interface LockPanel extends PanelView {
  lockId: string;
  lockName: string;
  /** The model's reset control as the catalogue names it ("interior reset button under the battery cover"). */
  resetControl: string;
}

/** A panel action's answer: the panel afterwards and what happened in words. */
export interface LockPanelOutcome {
  panel: LockPanel;
  ok: boolean;
  words: string;
}

/** The panels of the inventory's simulated locks, over the in-process simulator. */
export class SimPanelService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly fleet: SimFleet,
  ) {}

  /** What the lock's panel shows now. */
  async view(actor: Actor, lockId: string): Promise<LockPanel> {
    const target = await this.target(actor, lockId);
    return { ...this.fleet.panel.view(target.externalId), ...target.about };
  }

  /** Does one thing at the lock's panel (parsed from `input`); a refusal by the lock is an outcome, not an error. */
  async act(actor: Actor, lockId: string, input: unknown): Promise<LockPanelOutcome> {
    const action = parseInput(PanelActionSchema, input);
    const target = await this.target(actor, lockId);
    const outcome: PanelOutcome = this.fleet.panel.act(target.externalId, action);
    return { panel: { ...outcome.view, ...target.about }, ok: outcome.ok, words: outcome.words };
  }

  private async target(actor: Actor, lockId: string): Promise<{ externalId: string; about: Pick<LockPanel, 'lockId' | 'lockName' | 'resetControl'> }> {
    const lock = await new LockService(this.ctx).get(actor, lockId);
    authorize(actor, 'reset.perform', await lockResource(this.ctx.db, lockId));
    if (lock.driver !== 'simulator' || !lock.externalId || !this.fleet.has(lock.externalId)) {
      throw new AppError('device.not_supported', `${lock.name} is not a simulated lock: its front panel is the real one, at the door`);
    }
    const model = await new LockModelRepository(this.ctx.db).byId(lock.modelId);
    return { externalId: lock.externalId, about: { lockId: lock.id, lockName: lock.name, resetControl: model?.gating.button ?? 'reset button' } };
  }
}
