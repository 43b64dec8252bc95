import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { CapabilitiesSchema, LockModelCreateSchema, LockModelUpdateSchema, type LockModel } from '../domain/lock-models.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction } from '../store/database.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { HandbookRepository } from '../store/handbook-repository.js';
import { authorize, type ServiceContext } from './context.js';

/** Use cases on the model catalogue. */
export class LockModelService {
  constructor(private readonly ctx: ServiceContext) {}

  private repo(db = this.ctx.db) {
    return new LockModelRepository(db);
  }

  async list(actor: Actor): Promise<LockModel[]> {
    authorize(actor, 'model.read', 'anywhere');
    return this.repo().all();
  }

  async get(actor: Actor, id: string): Promise<LockModel> {
    authorize(actor, 'model.read', 'anywhere');
    const model = await this.repo().byId(id);
    if (!model) throw new AppError('model.not_found', `model ${id} not found`);
    return model;
  }

  /** Adds a model; manufacturer + model number must be new to the catalogue. */
  async create(actor: Actor, input: unknown, opts: { isDemo?: boolean } = {}): Promise<LockModel> {
    const data = parseInput(LockModelCreateSchema, input);
    authorize(actor, 'model.write');
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = this.repo(tx);
      if (await repo.byIdentity(data.manufacturer, data.modelNumber)) throw duplicate(data.manufacturer, data.modelNumber);
      const now = this.ctx.clock.now();
      const created = await repo.insert({ id: this.ctx.ids.uuid(), ...data, isDemo: opts.isDemo ?? false, createdAt: now, updatedAt: now });
      await this.ctx.audit.append(tx, { actor, action: 'model.create', target: { type: 'model', id: created.id, label: `${created.manufacturer} ${created.modelNumber}` }, details: { family: created.family } });
      return created;
    });
  }

  /** Edits a model; nested objects are replaced whole and re-checked together. */
  async update(actor: Actor, id: string, input: unknown): Promise<LockModel> {
    const data = parseInput(LockModelUpdateSchema, input);
    authorize(actor, 'model.write');
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = this.repo(tx);
      const current = await repo.byId(id);
      if (!current) throw new AppError('model.not_found', `model ${id} not found`);
      const merged = { ...current, ...data };
      parseInput(CapabilitiesSchema, merged.capabilities);
      const clash = await repo.byIdentity(merged.manufacturer, merged.modelNumber);
      if (clash && clash.id !== id) throw duplicate(merged.manufacturer, merged.modelNumber);
      const updated = await repo.update(id, { ...data, updatedAt: this.ctx.clock.now() });
      await this.ctx.audit.append(tx, { actor, action: 'model.update', target: { type: 'model', id, label: `${updated.manufacturer} ${updated.modelNumber}` }, details: { changes: data } });
      return updated;
    });
  }

  /** Deletes a model no lock uses; models in use are kept so history stays whole. */
  async delete(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'model.write');
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = this.repo(tx);
      const model = await repo.byId(id);
      if (!model) throw new AppError('model.not_found', `model ${id} not found`);
      const n = await repo.lockCount(id);
      if (n > 0) throw new AppError('model.in_use', `model is used by ${n} lock(s); move them to another model first`);
      // The handbook's history is not thrown away with a model: refuse instead.
      if (await new HandbookRepository(tx).forModel(id)) throw new AppError('model.in_use', 'model has a handbook entry; its revisions are kept, so the model stays');
      await repo.delete(id);
      await this.ctx.audit.append(tx, { actor, action: 'model.delete', target: { type: 'model', id, label: `${model.manufacturer} ${model.modelNumber}` } });
    });
  }
}

function duplicate(manufacturer: string, modelNumber: string): AppError {
  return new AppError('model.duplicate', `${manufacturer} ${modelNumber} is already in the catalogue`, [
    { path: 'modelNumber', message: 'this manufacturer already has a model with this number' },
  ]);
}
