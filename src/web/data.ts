/** Shared queries: the location tree, the flat location list and the model catalogue. */
import { useQuery } from '@tanstack/react-query';
import type { Location, LocationNode } from '../domain/locations.js';
import type { LockModel } from '../domain/lock-models.js';
import type { Lock } from '../domain/locks.js';
import { api, type Wire } from './api.js';

export type LockJson = Wire<Lock>;
export type ModelJson = Wire<LockModel>;
export type LocationJson = Wire<Location>;
export type NodeJson = Wire<LocationNode>;

export const useTree = () => useQuery({ queryKey: ['locations', 'tree'], queryFn: async () => (await api<{ roots: NodeJson[] }>('GET', '/api/locations/tree')).roots });
export const useLocations = () => useQuery({ queryKey: ['locations', 'flat'], queryFn: async () => (await api<{ items: LocationJson[] }>('GET', '/api/locations')).items });
export const useModels = () => useQuery({ queryKey: ['models'], queryFn: async () => (await api<{ items: ModelJson[] }>('GET', '/api/models')).items });

/** Every site in the tree, for the site filter. */
export function sitesOf(roots: NodeJson[]): NodeJson[] {
  const out: NodeJson[] = [];
  const walk = (n: NodeJson) => (n.kind === 'site' ? out.push(n) : n.children.forEach(walk));
  roots.forEach(walk);
  return out;
}

/** Finds a node of the tree by id. */
export function findNode(nodes: NodeJson[], id: string | null): NodeJson | null {
  if (!id) return null;
  for (const n of nodes) {
    if (n.id === id) return n;
    const below = findNode(n.children, id);
    if (below) return below;
  }
  return null;
}

/** "Site / Building / ... / Door" for a lock, without the organisation. */
export function lockPlace(lock: LockJson, keepLast = 4): string {
  return lock.locationPath
    .filter((p) => p.kind !== 'organisation')
    .slice(-keepLast)
    .map((p) => p.name)
    .join(' / ');
}

/** "Name (path)" labels for every location, parents first, for location pickers. */
export function locationOptions(locations: LocationJson[]): { value: string; label: string }[] {
  const byId = new Map(locations.map((l) => [l.id, l]));
  return locations
    .filter((l) => l.kind !== 'organisation')
    .map((l) => ({
      value: l.id,
      label: l.path
        .split('/')
        .filter(Boolean)
        .map((id) => byId.get(id))
        .filter((x) => x !== undefined && x.kind !== 'organisation')
        .map((x) => x!.name)
        .join(' / '),
    }))
    .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
}
