import { z } from 'zod';

/**
 * The location tree: organisation > site > building > floor/area > unit/zone > door.
 * Kinds are canonical; how they are named depends on the site's reading (residential or commercial).
 */
export const LOCATION_KINDS = ['organisation', 'site', 'building', 'floor', 'unit', 'door'] as const;
export type LocationKind = (typeof LOCATION_KINDS)[number];

export const READINGS = ['residential', 'commercial'] as const;
export type Reading = (typeof READINGS)[number];

const LABELS: Record<Reading, Record<LocationKind, string>> = {
  residential: {
    organisation: 'Organisation',
    site: 'Property',
    building: 'Building',
    floor: 'Floor',
    unit: 'Unit',
    door: 'Door',
  },
  commercial: {
    organisation: 'Organisation',
    site: 'Site',
    building: 'Building',
    floor: 'Area',
    unit: 'Zone',
    door: 'Door',
  },
};

/** The word people use for a location kind under a reading (a commercial "unit" is a zone). */
export function locationLabel(kind: LocationKind, reading: Reading): string {
  return LABELS[reading][kind];
}

/** Depth of a kind in the tree; a child must be strictly deeper than its parent. */
export function kindDepth(kind: LocationKind): number {
  return LOCATION_KINDS.indexOf(kind);
}

/**
 * Whether a location of kind `child` may sit under one of kind `parent`. Levels may be skipped
 * (a door directly in a building lobby), never reversed; only an organisation has no parent.
 */
export function canContain(parent: LocationKind | null, child: LocationKind): boolean {
  if (parent === null) return child === 'organisation';
  if (child === 'organisation' || parent === 'door') return false;
  return kindDepth(child) > kindDepth(parent);
}

/** Commercial attributes a location may carry (department, access level, security zone). */
export const LocationAttributesSchema = z
  .object({
    room: z.string().trim().max(100).optional(),
    department: z.string().trim().max(100).optional(),
    accessLevel: z.string().trim().max(50).optional(),
    securityZone: z.string().trim().max(100).optional(),
  })
  .strict();
export type LocationAttributes = z.infer<typeof LocationAttributesSchema>;

export const LocationCreateSchema = z
  .object({
    parentId: z.string().uuid().nullable(),
    kind: z.enum(LOCATION_KINDS),
    name: z.string().trim().min(1, 'name is required').max(200),
    reading: z.enum(READINGS).optional(),
    attributes: LocationAttributesSchema.default({}),
  })
  .strict();
export type LocationCreate = z.infer<typeof LocationCreateSchema>;

export const LocationUpdateSchema = z
  .object({
    name: z.string().trim().min(1, 'name is required').max(200).optional(),
    reading: z.enum(READINGS).optional(),
    attributes: LocationAttributesSchema.optional(),
  })
  .strict();
export type LocationUpdate = z.infer<typeof LocationUpdateSchema>;

/** A location as the services return it. */
export interface Location {
  id: string;
  parentId: string | null;
  kind: LocationKind;
  name: string;
  reading: Reading;
  attributes: LocationAttributes;
  path: string;
  isDemo: boolean;
  /** A site's document owner: told of access requests on the site. */
  documentOwnerId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A location with its children, for the tree view. */
export interface LocationNode extends Location {
  label: string;
  lockCount: number;
  children: LocationNode[];
}

/** Builds the materialized path of a location from its parent's path: `/rootId/.../id/`. */
export function childPath(parentPath: string | null, id: string): string {
  return `${parentPath ?? '/'}${id}/`;
}

/** Assembles flat locations into trees (roots first, children by name). */
export function buildTree(locations: Location[], lockCounts: Map<string, number>): LocationNode[] {
  const nodes = new Map<string, LocationNode>();
  for (const l of locations) {
    nodes.set(l.id, { ...l, label: locationLabel(l.kind, l.reading), lockCount: 0, children: [] });
  }
  const roots: LocationNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.parentId ? nodes.get(node.parentId) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  // Lock counts roll up: a site counts every lock below it.
  for (const l of locations) {
    const direct = lockCounts.get(l.id) ?? 0;
    if (direct === 0) continue;
    for (const ancestorId of l.path.split('/').filter(Boolean)) {
      const n = nodes.get(ancestorId);
      if (n) n.lockCount += direct;
    }
  }
  const sort = (list: LocationNode[]): void => {
    list.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    list.forEach((n) => sort(n.children));
  };
  sort(roots);
  return roots;
}
