import type { Clock, Ids } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { isAllowed, type Action, type Actor } from '../domain/identity.js';
import type { Db, Engine } from '../store/database.js';

/** What every service needs: the database, a clock and an id source, all injected. */
export interface ServiceContext {
  db: Db;
  engine: Engine;
  clock: Clock;
  ids: Ids;
}

/** Throws `auth.forbidden` unless the policy allows `actor` to do `action`. */
export function authorize(actor: Actor, action: Action, resource?: { locationPath?: string }): void {
  if (!isAllowed(actor, action, resource)) {
    throw new AppError('auth.forbidden', `not allowed: ${action}`);
  }
}
