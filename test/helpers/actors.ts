import type { Actor, Role } from '../../src/domain/identity.js';

/**
 * A signed-in user holding one role, organisation-wide unless `locationPath` is given. Fully assured
 * (as a `full` API token is): service tests are not about step-up, which test/http/second-factor.test.ts covers.
 */
export function roleActor(role: Role, opts: { userId?: string; email?: string; locationPath?: string | null; locationId?: string | null } = {}): Actor {
  return {
    kind: 'user',
    userId: opts.userId ?? `00000000-0000-4000-8000-${String(ROLE_NUMBER[role]).padStart(12, '0')}`,
    email: opts.email ?? `${role}@example.test`,
    via: 'session',
    grants: [{ kind: 'role', id: `grant-${role}`, role, locationId: opts.locationId ?? null, locationPath: opts.locationPath ?? null, expiresAt: null }],
    assurance: { kind: 'token', scope: 'full' },
  };
}

const ROLE_NUMBER: Record<Role, number> = { owner: 1, admin: 2, manager: 3, technician: 4, auditor: 5, occupant: 6 };
