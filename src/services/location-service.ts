import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import {
  buildTree,
  canContain,
  childPath,
  LocationCreateSchema,
  LocationUpdateSchema,
  locationLabel,
  type Location,
  type LocationNode,
} from '../domain/locations.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction } from '../store/database.js';
import { LocationRepository } from '../store/location-repository.js';
import { inScope } from '../domain/identity.js';
import { authorize, readScope, type ServiceContext } from './context.js';
import { hideAs, locationResource } from './scope.js';

/** The locations inside `scope`, plus the ancestors of each granted subtree (null scope: all). */
function visibleLocations(all: Location[], scope: string[] | null): Location[] {
  if (scope === null) return all;
  const ancestors = new Set(scope.flatMap((p) => p.split('/').filter(Boolean)));
  return all.filter((l) => inScope(scope, l.path) || ancestors.has(l.id));
}

/** Use cases on the location tree. */
export class LocationService {
  constructor(private readonly ctx: ServiceContext) {}

  private repo(db = this.ctx.db) {
    return new LocationRepository(db);
  }

  /**
   * The tree the reader may see, with lock counts rolled up from the locks in scope only. The
   * ancestors of a granted subtree are included (by name, for the path to it), their siblings not.
   */
  async tree(actor: Actor): Promise<LocationNode[]> {
    const scope = readScope(actor, 'location.read', this.ctx.clock.now());
    const repo = this.repo();
    const [all, counts] = await Promise.all([repo.all(), repo.lockCounts()]);
    const visible = visibleLocations(all, scope);
    const inside = new Set(visible.filter((l) => inScope(scope, l.path)).map((l) => l.id));
    return buildTree(visible, new Map([...counts].filter(([id]) => inside.has(id))));
  }

  /** Every location the reader may see (as in `tree`), flat, parents first. */
  async list(actor: Actor): Promise<Location[]> {
    const scope = readScope(actor, 'location.read', this.ctx.clock.now());
    return visibleLocations(await this.repo().all(), scope);
  }

  async get(actor: Actor, id: string): Promise<Location> {
    authorize(actor, 'location.read', await locationResource(this.ctx.db, id));
    const loc = await this.repo().byId(id);
    if (!loc) throw new AppError('location.not_found', `location ${id} not found`);
    return loc;
  }

  /** Adds a location under a parent; the kind must fit the tree and the name be unique among siblings. */
  async create(actor: Actor, input: unknown, opts: { isDemo?: boolean } = {}): Promise<Location> {
    const data = parseInput(LocationCreateSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = this.repo(tx);
      const parent = data.parentId ? await repo.byId(data.parentId) : null;
      if (data.parentId && !parent) {
        throw new AppError('location.not_found', `parent location ${data.parentId} not found`, [{ path: 'parentId', message: 'no such location' }]);
      }
      // A new top-level location is the organisation's business; a child, its parent's subtree's.
      authorize(actor, 'location.write', parent ? { locationPath: parent.path } : undefined);
      if (!canContain(parent?.kind ?? null, data.kind)) {
        const where = parent ? `inside a ${locationLabel(parent.kind, parent.reading).toLowerCase()}` : 'at the top of the tree';
        throw new AppError('location.invalid_parent', `a ${data.kind} cannot be placed ${where}`, [{ path: 'kind', message: `not allowed ${where}` }]);
      }
      if (await repo.siblingNameTaken(data.parentId, data.name)) {
        throw new AppError('validation.failed', `"${data.name}" already exists here`, [{ path: 'name', message: 'a sibling already has this name' }]);
      }
      const id = this.ctx.ids.uuid();
      const now = this.ctx.clock.now();
      const created = await repo.insert({
        id,
        parentId: data.parentId,
        kind: data.kind,
        name: data.name,
        reading: data.reading ?? parent?.reading ?? 'residential',
        attributes: data.attributes,
        path: childPath(parent?.path ?? null, id),
        isDemo: opts.isDemo ?? false,
        createdAt: now,
        updatedAt: now,
      });
      await this.ctx.audit.append(tx, { actor, action: 'location.create', target: { type: 'location', id, label: data.name }, locationId: id, details: { kind: data.kind, parentId: data.parentId, reading: created.reading } });
      return created;
    });
  }

  /** Renames a location or changes its reading/attributes. A reading change applies to its subtree. */
  async update(actor: Actor, id: string, input: unknown): Promise<Location> {
    const data = parseInput(LocationUpdateSchema, input);
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = this.repo(tx);
      const loc = await repo.byId(id);
      const notFound = () => new AppError('location.not_found', `location ${id} not found`);
      if (!loc) throw notFound();
      authorize(actor, 'location.write', hideAs({ locationPath: loc.path }, notFound));
      if (data.name && (await repo.siblingNameTaken(loc.parentId, data.name, id))) {
        throw new AppError('validation.failed', `"${data.name}" already exists here`, [{ path: 'name', message: 'a sibling already has this name' }]);
      }
      const now = this.ctx.clock.now();
      if (data.reading && data.reading !== loc.reading) {
        for (const d of await repo.subtree(loc.path)) if (d.id !== id) await repo.update(d.id, { reading: data.reading, updatedAt: now });
      }
      const updated = await repo.update(id, { ...data, updatedAt: now });
      await this.ctx.audit.append(tx, { actor, action: 'location.update', target: { type: 'location', id, label: updated.name }, locationId: id, details: { changes: data } });
      return updated;
    });
  }
}
