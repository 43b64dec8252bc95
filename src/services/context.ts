import type { IntegrationHost } from '../drivers/integration-host.js';
import type { Clock, Ids } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { isAllowed, scopeOf, type Action, type Actor, type Resource } from '../domain/identity.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { MasterKeyring } from '../crypto/envelope.js';
import type { DriverRegistry } from '../drivers/contract.js';
import type { ReconcileRequest } from '../jobs/queue.js';
import type { Db, Engine } from '../store/database.js';
import type { AuditLog } from './audit-log.js';
import { OutboundError, outboundPolicy, type OutboundPolicy } from '../net/outbound.js';

/** Where services put background work: the durable queue in production, a recorder in some tests. */
export interface JobSink {
  enqueue(requests: ReconcileRequest[]): Promise<void>;
}

/** What every service needs: the database, a clock and an id source, all injected. */
export interface ServiceContext {
  db: Db;
  engine: Engine;
  clock: Clock;
  ids: Ids;
  /** Encrypts codes at rest and fingerprints them for comparison. */
  secrets: SecretBox;
  /** Master keys that wrap the per-site data keys of handbook secrets. */
  masterKeys: MasterKeyring;
  /** Lock drivers by name, each already gated per hub. */
  drivers: DriverRegistry;
  jobs: JobSink;
  /** The tamper-evident audit log: append inside the transaction of the action recorded. */
  audit: AuditLog;
  /** Uniform integer in [0, max): `crypto.randomInt` in production. */
  randomInt: (max: number) => number;
  /** Called after a lock is created or edited (the in-process simulator provisions new devices). */
  hooks?: { locksSaved?(lockIds: string[]): Promise<void> };
  /** How notifications leave (SMTP for email; webhooks need nothing). Absent: email waits in the outbox. */
  mail?: { smtpUrl: string; from: string };
  /** The integrations' drivers running in this process (absent where no runtime runs them). */
  integrations?: IntegrationHost;
  /** What the server may connect to (feeds, webhooks, SMTP, integrations); absent: no private network for any kind. */
  outbound?: OutboundPolicy;
}

const STRICT = outboundPolicy();

/** The context's outbound policy (the strict default when none was given). */
export function outboundOf(ctx: ServiceContext): OutboundPolicy {
  return ctx.outbound ?? STRICT;
}

/**
 * Reconcile jobs for `locks`: one per lock the registry can reach (a known driver and a device id);
 * the others are left out, since nothing could run them.
 */
export function reconcileRequests(
  drivers: DriverRegistry,
  locks: { id: string; driver: string; externalId: string | null }[],
  reason: string,
  read: boolean,
): ReconcileRequest[] {
  return locks.flatMap((lock) => {
    const driver = drivers.get(lock.driver);
    if (!driver || lock.externalId === null) return [];
    return [{ lockId: lock.id, driver: lock.driver, hub: driver.hubOf(lock.externalId), read, reason }];
  });
}

/**
 * Throws `auth.forbidden` (or, where the actor may not know the thing exists, its own not-found error) unless the policy allows `actor` to do `action` on `resource` (see
 * `Resource`: a place in the tree, `'anywhere'`, a handbook entry, or nothing = the organisation).
 */
export function authorize(actor: Actor, action: Action, resource?: Resource): void {
  if (isAllowed(actor, action, resource)) return;
  // Outside every grant of the actor, a thing that carries its not-found error (see `hideAs`) does
  // not exist for them: the same 404 as a random id, not a 403 that confirms it is there.
  const hidden = resource !== undefined && resource !== 'anywhere' ? (resource as { locationPath: string | null; notFound?: () => AppError }) : null;
  if (hidden?.notFound && hidden.locationPath !== null && !isAllowed(actor, 'location.read', { locationPath: hidden.locationPath })) throw hidden.notFound();
  throw new AppError('auth.forbidden', `not allowed: ${action}`);
}

/** A stable id for who acted, for records (a user id, or `system:<name>`). */
export function actorId(actor: Actor): string {
  return actor.kind === 'user' ? actor.userId : `system:${actor.name}`;
}

/** Who acted, as people read it in a record. */
export function actorLabel(actor: Actor): string {
  return actor.kind === 'user' ? actor.email : actor.name;
}

/**
 * Where `actor` may read with `action`, for a list query: null = everywhere, else subtree paths.
 * Someone holding the action nowhere is refused outright; someone holding it somewhere gets only
 * what is in scope (no counts or names from outside it).
 */
export function readScope(actor: Actor, action: Action, now: Date): string[] | null {
  const scope = scopeOf(actor, action, now);
  if (scope !== null && scope.length === 0) authorize(actor, action, 'anywhere');
  return scope;
}

/** Runs an outbound-policy check of a URL being saved; a refusal is a 400 naming `field`. */
export function refuseTarget(check: () => void, field: string): void {
  try {
    check();
  } catch (e) {
    if (e instanceof OutboundError) throw new AppError('validation.failed', `${field}: ${e.message}`, [{ path: field, message: e.message }]);
    throw e;
  }
}
