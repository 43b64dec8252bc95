/**
 * Occupancy and turnover. A unit's stays are typed by hand or read from its iCal feed; the turnover
 * job (`tick`, run by the runtime every minute and by tests with a fixed clock) then, on every lock of
 * the unit: issues the incoming guest's code as desired state (a window PIN 72 h ahead where the lock
 * keeps time-bound PINs, else shortly before arrival) and sends it to the guest through the outbox;
 * revokes the outgoing guest's codes at check-out (or at once when a stay is cancelled); and raises a
 * `turnover_unconfirmed` alert, with a notice to the monitoring endpoints, on a lock that has not
 * confirmed the code by the unit's lead time before arrival. Reconcile jobs do the device work, as
 * for any other credential change.
 */
import { and, asc, eq, gt, inArray, isNull, lte, ne, sql } from 'drizzle-orm';
import { capabilitiesFromModel, generatePin, checkPinForLock } from '../domain/credentials.js';
import { allowedPinLengths } from '../domain/pin-rules.js';
import { AppError } from '../domain/errors.js';
import { inScope, isAllowed, scopeOf, type Actor } from '../domain/identity.js';
import {
  PRELOAD_MS,
  StayCreateSchema,
  UnitSettingsSchema,
  checkNoOverlap,
  confirmBy,
  dayIn,
  issueAt,
  parseFeed,
  type FeedBooking,
  type Stay,
} from '../domain/occupancy.js';
import { parseInput } from '../domain/validation.js';
import type { CredentialStatus } from '../domain/credentials.js';
import { inTransaction, type Db } from '../store/database.js';
import { CredentialRepository, type CredentialRow } from '../store/credential-repository.js';
import { credentials, lockModels, locks, locations, stayCodes, stays, unitOccupancy } from '../store/schema.js';
import { AlertService } from './alert-service.js';
import { actorLabel, authorize, outboundOf, reconcileRequests, refuseTarget, type ServiceContext } from './context.js';
import { checkUrlLiteral, OutboundError, outboundFetch, type OutboundPolicy } from '../net/outbound.js';
import { endpointMessages, queueMessages } from './outbox-service.js';
import { hideAs, locationResource } from './scope.js';

/** Who acts for the turnover job. */
export const TURNOVER: Actor = { kind: 'system', name: 'turnover' };
/** Minutes between two reads of a unit's feed. */
export const FEED_EVERY_MS = 15 * 60_000;
const FEED_MAX_BYTES = 2 * 1024 * 1024;
/** Time a code issued after its confirmation deadline has to reach the lock before it is flagged. */
export const ISSUE_GRACE_MS = 15 * 60_000;

export interface UnitSettings {
  locationId: string;
  icalUrl: string | null;
  timeZone: string;
  checkInTime: string;
  checkOutTime: string;
  confirmLeadMinutes: number;
  feedCheckedAt: Date | null;
  feedError: string | null;
}

/** One lock's part of a turnover: the outgoing code going, the incoming one coming. */
export interface TurnoverLockState {
  lockId: string;
  lockName: string;
  outgoing: CredentialStatus | 'none' | 'revoked';
  incoming: CredentialStatus | 'not_yet' | 'error';
  error: string | null;
}

export interface TurnoverView {
  locationId: string;
  unitName: string;
  outgoing: Pick<Stay, 'id' | 'guestName' | 'checkOut'> | null;
  incoming: Pick<Stay, 'id' | 'guestName' | 'checkIn'> | null;
  locks: TurnoverLockState[];
}

export interface UnitOccupancyView {
  settings: UnitSettings;
  stays: Stay[];
  turnoversToday: TurnoverView | null;
}

type StayRow = typeof stays.$inferSelect;
type UnitLock = { id: string; name: string; driver: string; externalId: string | null; caps: ReturnType<typeof capabilitiesFromModel> };

export class TurnoverService {
  constructor(private readonly ctx: ServiceContext) {}

  // ---- occupancy ------------------------------------------------------------------------------

  /** A unit's settings, its stays (current and coming, plus the last week's) and today's turnover. */
  async unit(actor: Actor, locationId: string): Promise<UnitOccupancyView> {
    const place = await this.unitResource(locationId);
    authorize(actor, 'credential.read', place);
    const settings = await this.settings(this.ctx.db, locationId);
    // The feed URL is a bearer secret of the booking platform: only those who may change it see it.
    const shown = isAllowed(actor, 'credential.write', place) ? settings : { ...settings, icalUrl: settings.icalUrl ? maskUrl(settings.icalUrl) : null };
    const since = new Date(this.ctx.clock.now().getTime() - 7 * 86400_000);
    const rows = await this.ctx.db.select().from(stays).where(and(eq(stays.locationId, locationId), gt(stays.checkOut, since))).orderBy(asc(stays.checkIn));
    return { settings: shown, stays: rows.map(presentStay), turnoversToday: await this.today(locationId, settings) };
  }

  /** Changes a unit's feed URL, time zone, usual times or lead time. */
  async updateSettings(actor: Actor, locationId: string, input: unknown): Promise<UnitSettings> {
    const data = parseInput(UnitSettingsSchema, input);
    authorize(actor, 'credential.write', await this.unitResource(locationId));
    if (data.icalUrl) refuseTarget(() => checkUrlLiteral(outboundOf(this.ctx), 'ical', data.icalUrl!), 'icalUrl');
    await inTransaction(this.ctx.db, async (tx) => {
      await this.ensureSettings(tx, locationId);
      await tx
        .update(unitOccupancy)
        .set({
          ...data,
          // A platform's export URL carries its own access token: sealed at rest, an HMAC in the audit log.
          ...(data.icalUrl !== undefined ? { icalUrl: data.icalUrl === null ? null : this.ctx.secrets.encrypt(data.icalUrl, feedContext(locationId)), feedCheckedAt: null, feedError: null } : {}),
          updatedAt: this.ctx.clock.now(),
        })
        .where(eq(unitOccupancy.locationId, locationId));
      const { icalUrl, ...plain } = data;
      await this.ctx.audit.append(tx, {
        actor,
        action: 'occupancy.settings',
        target: { type: 'location', id: locationId, label: 'occupancy settings' },
        locationId,
        details: { changed: Object.keys(data), ...plain, ...(icalUrl !== undefined ? { icalUrl: icalUrl === null ? 'removed' : 'set' } : {}) },
        ...(icalUrl ? { secrets: { icalUrl } } : {}),
      });
    });
    return this.settings(this.ctx.db, locationId);
  }

  /** Adds a stay typed by hand; it may not overlap another stay of the unit. */
  async addStay(actor: Actor, locationId: string, input: unknown): Promise<Stay> {
    const data = parseInput(StayCreateSchema, input);
    authorize(actor, 'credential.write', await this.unitResource(locationId));
    const now = this.ctx.clock.now();
    const row: StayRow = {
      id: this.ctx.ids.uuid(),
      locationId,
      source: 'manual',
      externalUid: null,
      guestName: data.guestName,
      guestEmail: data.guestEmail ?? null,
      guestPhone: data.guestPhone ?? null,
      checkIn: new Date(data.checkIn),
      checkOut: new Date(data.checkOut),
      status: 'active',
      codeSentAt: null,
      createdBy: actorLabel(actor),
      createdAt: now,
      updatedAt: now,
    };
    await inTransaction(this.ctx.db, async (tx) => {
      await this.lockUnit(tx, locationId);
      checkNoOverlap({ ...row, label: `the stay of ${row.guestName}` }, await this.activeStays(tx, locationId));
      await tx.insert(stays).values(row);
      await this.ctx.audit.append(tx, { actor, action: 'stay.add', target: { type: 'stay', id: row.id, label: row.guestName }, locationId, details: { checkIn: data.checkIn, checkOut: data.checkOut, source: 'manual', guestEmail: row.guestEmail !== null } });
    });
    return presentStay(row);
  }

  /** Cancels a stay: its codes are revoked at once. */
  async cancelStay(actor: Actor, stayId: string): Promise<Stay> {
    const [found] = await this.ctx.db.select().from(stays).where(eq(stays.id, stayId));
    const notFound = () => new AppError('stay.not_found', `stay ${stayId} not found`);
    if (!found) throw notFound();
    authorize(actor, 'credential.write', hideAs(await this.unitResource(found.locationId), notFound));
    if (found.status === 'cancelled') return presentStay(found);
    const lockIds = await inTransaction(this.ctx.db, async (tx) => {
      await tx.update(stays).set({ status: 'cancelled', updatedAt: this.ctx.clock.now() }).where(eq(stays.id, stayId));
      const revoked = await this.revokeCodes(tx, [stayId]);
      await this.ctx.audit.append(tx, { actor, action: 'stay.cancel', target: { type: 'stay', id: stayId, label: found.guestName }, locationId: found.locationId, details: { revokedOnLocks: revoked.length } });
      return revoked;
    });
    await this.queue(lockIds, 'stay cancelled');
    return presentStay({ ...found, status: 'cancelled' });
  }

  /** Reads the unit's feed now (also done every 15 minutes by the job). */
  async pollFeed(actor: Actor, locationId: string): Promise<{ added: number; updated: number; cancelled: number }> {
    authorize(actor, 'credential.write', await this.unitResource(locationId));
    return this.syncFeed(actor, locationId);
  }

  /**
   * Today's turnovers across the fleet (for the dashboard): every unit where a guest leaves or arrives
   * today in the unit's own time zone, among the units where the actor may read credentials.
   */
  async dueTodayEverywhere(actor: Actor): Promise<TurnoverView[]> {
    const scope = scopeOf(actor, 'credential.read', this.ctx.clock.now());
    if (scope !== null && scope.length === 0) return [];
    const now = this.ctx.clock.now().getTime();
    // A day and a half either side covers "today" in every time zone; today() then keeps the unit's own day.
    const from = new Date(now - 36 * 3600_000);
    const to = new Date(now + 36 * 3600_000);
    const units = await this.ctx.db
      .selectDistinct({ id: stays.locationId, path: locations.path, name: locations.name })
      .from(stays)
      .innerJoin(locations, eq(locations.id, stays.locationId))
      .where(and(eq(stays.status, 'active'), sql`((${stays.checkIn} >= ${from} and ${stays.checkIn} < ${to}) or (${stays.checkOut} >= ${from} and ${stays.checkOut} < ${to}))`))
      .orderBy(asc(locations.name));
    const out: TurnoverView[] = [];
    for (const u of units) {
      if (!inScope(scope, u.path)) continue;
      const view = await this.today(u.id, await this.settings(this.ctx.db, u.id));
      if (view) out.push(view);
    }
    return out;
  }

  /** Today's turnover of one unit (null when nobody leaves or arrives there today). */
  async dueToday(actor: Actor, locationId: string): Promise<TurnoverView | null> {
    authorize(actor, 'credential.read', await this.unitResource(locationId));
    return this.today(locationId, await this.settings(this.ctx.db, locationId));
  }

  // ---- the job --------------------------------------------------------------------------------

  /** One round of the turnover job: read due feeds, issue, revoke, check confirmations. */
  async tick(): Promise<{ feeds: number; issued: number; revoked: number; alerts: number; errors: string[] }> {
    const errors: string[] = [];
    const feeds = await this.pollDueFeeds(errors);
    const issued = await this.issueDue(errors);
    const revoked = await this.revokeDue();
    const alerts = await this.checkConfirmations();
    return { feeds, issued, revoked, alerts, errors };
  }

  private async pollDueFeeds(errors: string[]): Promise<number> {
    const cutoff = new Date(this.ctx.clock.now().getTime() - FEED_EVERY_MS);
    const due = await this.ctx.db
      .select({ locationId: unitOccupancy.locationId })
      .from(unitOccupancy)
      .where(and(sql`${unitOccupancy.icalUrl} is not null`, sql`(${unitOccupancy.feedCheckedAt} is null or ${unitOccupancy.feedCheckedAt} <= ${cutoff})`));
    for (const u of due) {
      try {
        await this.syncFeed(TURNOVER, u.locationId);
      } catch (e) {
        errors.push(`feed of ${u.locationId}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return due.length;
  }

  /** Issues the codes of stays whose time has come on every lock of their unit that has none yet. */
  private async issueDue(errors: string[]): Promise<number> {
    const now = this.ctx.clock.now();
    const candidates = await this.ctx.db
      .select()
      .from(stays)
      .where(and(eq(stays.status, 'active'), gt(stays.checkOut, now), lte(stays.checkIn, new Date(now.getTime() + PRELOAD_MS))))
      .orderBy(asc(stays.checkIn));
    let issued = 0;
    for (const stay of candidates) {
      try {
        issued += await this.issueStay(stay);
      } catch (e) {
        errors.push(`stay ${stay.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return issued;
  }

  private async issueStay(stay: StayRow): Promise<number> {
    const now = this.ctx.clock.now();
    const settings = await this.settings(this.ctx.db, stay.locationId);
    const unitLocks = await this.unitLocks(stay.locationId);
    const done = new Set((await this.ctx.db.select({ lockId: stayCodes.lockId }).from(stayCodes).where(eq(stayCodes.stayId, stay.id))).map((r) => r.lockId));
    const [prev] = await this.ctx.db
      .select({ checkOut: stays.checkOut })
      .from(stays)
      .where(and(eq(stays.locationId, stay.locationId), eq(stays.status, 'active'), lte(stays.checkOut, stay.checkIn), ne(stays.id, stay.id)))
      .orderBy(sql`${stays.checkOut} desc`)
      .limit(1);
    const due = unitLocks.filter((l) => !done.has(l.id) && issueAt(stay, l.caps.schedules.window, settings.confirmLeadMinutes, prev?.checkOut ?? null) <= now);
    if (due.length === 0) return 0;
    const [unit] = await this.ctx.db.select({ name: locations.name, path: locations.path }).from(locations).where(eq(locations.id, stay.locationId));
    const lockIds = await inTransaction(this.ctx.db, async (tx) => {
      await this.lockUnit(tx, stay.locationId);
      const [fresh] = await tx.select().from(stays).where(eq(stays.id, stay.id));
      if (fresh?.status !== 'active') return [];
      const already = new Set((await tx.select({ lockId: stayCodes.lockId }).from(stayCodes).where(eq(stayCodes.stayId, stay.id))).map((r) => r.lockId));
      const todo = due.filter((l) => !already.has(l.id));
      if (todo.length === 0) return [];
      const code = await this.stayCode(tx, stay.id, unitLocks);
      const repo = new CredentialRepository(tx);
      const rows = await repo.forLocks(todo.map((l) => l.id));
      const observations = new Map((await repo.observations(todo.map((l) => l.id))).map((o) => [o.lockId, o]));
      const creds: (typeof credentials.$inferInsert)[] = [];
      const links: (typeof stayCodes.$inferInsert)[] = [];
      for (const lock of todo) {
        const mine = rows.filter((r) => r.lockId === lock.id && r.kind === 'pin' && r.status !== 'removed');
        const observed = (observations.get(lock.id)?.pins ?? []).filter((p) => !mine.some((r) => r.slot === p.slot));
        const slots = new Set([...mine.map((r) => r.slot!), ...observed.map((p) => p.slot)]);
        const prints = new Set([...mine.filter((r) => r.status !== 'removing').map((r) => r.codeMac), ...observed.map((p) => p.fingerprint)].filter(Boolean));
        let error: string | null = null;
        let slot: number | null = null;
        try {
          checkPinForLock(code, lock.caps);
          if (prints.has(this.ctx.secrets.fingerprint(code, lock.id))) throw new AppError('credential.duplicate_pin', 'the lock already holds this code for someone else');
          for (let s = 1; s <= lock.caps.pin.slots && slot === null; s++) if (!slots.has(s)) slot = s;
          if (slot === null) throw new AppError('credential.slot_taken', `all ${lock.caps.pin.slots} slots are in use`);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        const id = this.ctx.ids.uuid();
        if (error === null) {
          creds.push({
            id,
            lockId: lock.id,
            kind: 'pin',
            slot,
            controllerId: null,
            holder: stay.guestName,
            codeCipher: this.ctx.secrets.encrypt(code, `credential:${id}`),
            codeMac: this.ctx.secrets.fingerprint(code, lock.id),
            schedule: lock.caps.schedules.window ? { kind: 'window', from: stay.checkIn.toISOString(), until: stay.checkOut.toISOString() } : { kind: 'always' },
            status: 'pending',
            origin: 'lockwarden',
            createdBy: `system:${TURNOVER.kind === 'system' ? TURNOVER.name : ''}`,
            createdAt: now,
            updatedAt: now,
          });
        }
        links.push({ stayId: stay.id, lockId: lock.id, credentialId: error === null ? id : null, error, issuedAt: now });
      }
      await repo.insert(creds);
      await tx.insert(stayCodes).values(links);
      const send = fresh.codeSentAt === null && fresh.guestEmail !== null && creds.length > 0;
      if (send) {
        await queueMessages(this.ctx, tx, [
          {
            channel: 'email',
            target: fresh.guestEmail!,
            topic: 'turnover.code_issued',
            subject: `Your door code for ${unit?.name ?? 'your stay'}`,
            body: guestMessage(fresh, unit?.name ?? 'your unit', code, settings.timeZone),
            locationId: stay.locationId,
          },
        ]);
        await tx.update(stays).set({ codeSentAt: now }).where(eq(stays.id, stay.id));
      }
      await this.ctx.audit.append(tx, {
        actor: TURNOVER,
        action: 'turnover.issue',
        target: { type: 'stay', id: stay.id, label: stay.guestName },
        locationId: stay.locationId,
        details: { locks: links.map((l) => ({ lockId: l.lockId, credentialId: l.credentialId, error: l.error })), checkIn: stay.checkIn.toISOString(), checkOut: stay.checkOut.toISOString(), codeSentToGuest: send },
        secrets: { code },
      });
      return creds.map((c) => c.lockId);
    });
    await this.queue(lockIds, 'turnover: incoming code');
    return lockIds.length;
  }

  /** The stay's code: the one already issued on another lock of the unit, else a new one that fits every lock. */
  private async stayCode(tx: Db, stayId: string, unitLocks: UnitLock[]): Promise<string> {
    const [existing] = await tx
      .select({ id: credentials.id, codeCipher: credentials.codeCipher })
      .from(stayCodes)
      .innerJoin(credentials, eq(credentials.id, stayCodes.credentialId))
      .where(eq(stayCodes.stayId, stayId))
      .limit(1);
    if (existing?.codeCipher) return this.ctx.secrets.decrypt(existing.codeCipher, `credential:${existing.id}`);
    const withPins = unitLocks.filter((l) => l.caps.pin.slots > 0);
    const min = Math.max(4, ...withPins.map((l) => l.caps.pin.minLength));
    const max = Math.min(16, ...withPins.map((l) => l.caps.pin.maxLength));
    // A length every lock takes (a 4-or-6 lock with an 8-digit one has none in between: keep the old pick).
    const common = Array.from({ length: Math.max(0, max - min + 1) }, (_, i) => min + i).filter((n) => withPins.every((l) => allowedPinLengths(l.caps).includes(n)));
    const length = common.find((n) => n >= 6) ?? common[common.length - 1] ?? Math.max(min, Math.min(6, max));
    const taken = new Map<string, Set<string>>();
    for (const l of withPins) {
      const rows = await new CredentialRepository(tx).forLock(l.id);
      taken.set(l.id, new Set(rows.filter((r) => r.kind === 'pin' && r.status !== 'removing').map((r) => r.codeMac ?? '')));
    }
    return generatePin(length, this.ctx.randomInt, (c) => withPins.some((l) => taken.get(l.id)!.has(this.ctx.secrets.fingerprint(c, l.id))), withPins.map((l) => l.caps));
  }

  /** Revokes the codes of stays that have ended or were cancelled. */
  private async revokeDue(): Promise<number> {
    const now = this.ctx.clock.now();
    const ended = await this.ctx.db
      .selectDistinct({ stayId: stayCodes.stayId, locationId: stays.locationId, guestName: stays.guestName })
      .from(stayCodes)
      .innerJoin(stays, eq(stays.id, stayCodes.stayId))
      .where(and(isNull(stayCodes.revokedAt), sql`(${stays.checkOut} <= ${now} or ${stays.status} = 'cancelled')`));
    let n = 0;
    for (const s of ended) {
      const lockIds = await inTransaction(this.ctx.db, async (tx) => {
        const revoked = await this.revokeCodes(tx, [s.stayId]);
        await this.ctx.audit.append(tx, { actor: TURNOVER, action: 'turnover.revoke', target: { type: 'stay', id: s.stayId, label: s.guestName }, locationId: s.locationId, details: { locks: revoked } });
        return revoked;
      });
      n += lockIds.length;
      await this.queue(lockIds, 'turnover: outgoing code');
    }
    return n;
  }

  /** Marks the stays' live codes for removal; returns the locks touched. */
  private async revokeCodes(tx: Db, stayIds: string[]): Promise<string[]> {
    const now = this.ctx.clock.now();
    const links = await tx.select().from(stayCodes).where(and(inArray(stayCodes.stayId, stayIds), isNull(stayCodes.revokedAt)));
    const credIds = links.map((l) => l.credentialId).filter((x): x is string => x !== null);
    if (credIds.length) {
      await tx
        .update(credentials)
        .set({ status: 'removing', attempts: 0, lastError: null, version: sql`${credentials.version} + 1`, updatedAt: now })
        .where(and(inArray(credentials.id, credIds), sql`${credentials.status} not in ('removing','removed')`));
    }
    if (links.length) await tx.update(stayCodes).set({ revokedAt: now }).where(and(inArray(stayCodes.stayId, stayIds), isNull(stayCodes.revokedAt)));
    return [...new Set(links.filter((l) => l.credentialId !== null).map((l) => l.lockId))];
  }

  /** Raises an alert (and tells the monitoring endpoints) for each lock that has not confirmed an arriving guest's code in time. */
  private async checkConfirmations(): Promise<number> {
    const now = this.ctx.clock.now();
    const rows = await this.ctx.db
      .select({ link: stayCodes, stay: stays, lead: unitOccupancy.confirmLeadMinutes, status: credentials.status, lockName: locks.name, path: locations.path })
      .from(stayCodes)
      .innerJoin(stays, eq(stays.id, stayCodes.stayId))
      .innerJoin(locks, eq(locks.id, stayCodes.lockId))
      .innerJoin(locations, eq(locations.id, stays.locationId))
      .leftJoin(unitOccupancy, eq(unitOccupancy.locationId, stays.locationId))
      .leftJoin(credentials, eq(credentials.id, stayCodes.credentialId))
      .where(and(eq(stays.status, 'active'), isNull(stayCodes.alertedAt), isNull(stayCodes.revokedAt), gt(stays.checkOut, now)));
    const alerts = new AlertService(this.ctx);
    let n = 0;
    for (const r of rows) {
      // A code issued late (a stay added at the last minute) gets a short grace to reach the lock.
      const deadline = Math.max(confirmBy(r.stay, r.lead ?? 120).getTime(), r.link.issuedAt.getTime() + ISSUE_GRACE_MS);
      if (deadline > now.getTime() || r.status === 'confirmed') continue;
      const why = r.link.error ?? (r.status === 'failed' ? 'the lock refused the code' : 'the lock has not confirmed the code');
      const detail = `${r.stay.guestName} arrives ${r.stay.checkIn.toISOString()}: ${why}`;
      await alerts.raise(TURNOVER, r.link.lockId, 'turnover_unconfirmed', { detail, source: 'turnover' });
      await inTransaction(this.ctx.db, async (tx) => {
        await tx.update(stayCodes).set({ alertedAt: now }).where(and(eq(stayCodes.stayId, r.link.stayId), eq(stayCodes.lockId, r.link.lockId)));
        await queueMessages(this.ctx, tx, await endpointMessages(tx, r.path, 'monitoring', { topic: 'turnover.unconfirmed', subject: `Turnover not confirmed on ${r.lockName}`, body: `The incoming guest's code is not confirmed on ${r.lockName}. ${detail}.`, locationId: r.stay.locationId }));
      });
      n++;
    }
    return n;
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Reads the feed and applies it; any failure (unreachable, malformed, overlapping) is recorded on the unit, shown on its page, and thrown. */
  private async syncFeed(actor: Actor, locationId: string): Promise<{ added: number; updated: number; cancelled: number }> {
    const settings = await this.settings(this.ctx.db, locationId);
    if (!settings.icalUrl) throw new AppError('feed.invalid', 'this unit has no calendar feed URL', [{ path: 'icalUrl', message: 'set it first' }]);
    try {
      return await this.applyFeed(actor, locationId, parseFeed(await fetchFeed(outboundOf(this.ctx), settings.icalUrl), settings));
    } catch (e) {
      const message = e instanceof AppError ? e.message : 'the calendar feed could not be applied';
      await this.ctx.db.update(unitOccupancy).set({ feedCheckedAt: this.ctx.clock.now(), feedError: message }).where(eq(unitOccupancy.locationId, locationId));
      throw e;
    }
  }

  private async applyFeed(actor: Actor, locationId: string, bookings: FeedBooking[]): Promise<{ added: number; updated: number; cancelled: number }> {
    const now = this.ctx.clock.now();
    const result = { added: 0, updated: 0, cancelled: 0 };
    const touched = await inTransaction(this.ctx.db, async (tx) => {
      await this.lockUnit(tx, locationId);
      const current = await this.activeStays(tx, locationId);
      const byUid = new Map(current.filter((s) => s.source === 'ical').map((s) => [s.externalUid!, s]));
      const feedUids = new Set(bookings.map((b) => b.uid));
      // Bookings gone from the feed (that have not ended) are cancelled; ended ones are history.
      const gone = current.filter((s) => s.source === 'ical' && !feedUids.has(s.externalUid!) && s.checkOut > now);
      const changed: StayRow[] = [];
      const added: StayRow[] = [];
      for (const b of bookings) {
        if (b.checkOut <= now) continue;
        const s = byUid.get(b.uid);
        if (!s) {
          added.push({ id: this.ctx.ids.uuid(), locationId, source: 'ical', externalUid: b.uid, guestName: b.guestName, guestEmail: null, guestPhone: null, checkIn: b.checkIn, checkOut: b.checkOut, status: 'active', codeSentAt: null, createdBy: actorLabel(actor), createdAt: now, updatedAt: now });
        } else if (s.checkIn.getTime() !== b.checkIn.getTime() || s.checkOut.getTime() !== b.checkOut.getTime() || s.guestName !== b.guestName) {
          changed.push({ ...s, guestName: b.guestName, checkIn: b.checkIn, checkOut: b.checkOut, updatedAt: now });
        }
      }
      // The unit after the change must have no overlapping stays; otherwise nothing is written.
      const after = [...current.filter((s) => !gone.includes(s) && !changed.some((c) => c.id === s.id)), ...changed, ...added].sort((a, b) => a.checkIn.getTime() - b.checkIn.getTime());
      for (let i = 1; i < after.length; i++) {
        const a = after[i - 1]!;
        const b = after[i]!;
        if (b.checkIn < a.checkOut) {
          throw new AppError('stay.overlap', `the calendar feed's booking "${b.source === 'ical' ? b.guestName : a.guestName}" (${(b.source === 'ical' ? b : a).checkIn.toISOString()}) overlaps the stay of ${b.source === 'ical' ? a.guestName : b.guestName}; nothing was changed`, [{ path: 'icalUrl', message: 'overlapping stays' }]);
        }
      }
      const revokeFor = [...gone.map((s) => s.id), ...changed.filter((c) => { const o = byUid.get(c.externalUid!)!; return o.checkIn.getTime() !== c.checkIn.getTime() || o.checkOut.getTime() !== c.checkOut.getTime(); }).map((c) => c.id)];
      if (gone.length) await tx.update(stays).set({ status: 'cancelled', updatedAt: now }).where(inArray(stays.id, gone.map((s) => s.id)));
      for (const c of changed) await tx.update(stays).set({ guestName: c.guestName, checkIn: c.checkIn, checkOut: c.checkOut, updatedAt: now }).where(eq(stays.id, c.id));
      if (added.length) await tx.insert(stays).values(added);
      const lockIds = revokeFor.length ? await this.revokeCodes(tx, revokeFor) : [];
      // A moved booking gets new codes for its new times at the next round.
      if (revokeFor.length) await tx.delete(stayCodes).where(and(inArray(stayCodes.stayId, revokeFor.filter((id) => !gone.some((g) => g.id === id)))));
      await tx.update(unitOccupancy).set({ feedCheckedAt: now, feedError: null }).where(eq(unitOccupancy.locationId, locationId));
      Object.assign(result, { added: added.length, updated: changed.length, cancelled: gone.length });
      if (added.length || changed.length || gone.length) {
        await this.ctx.audit.append(tx, { actor, action: 'stay.feed_sync', target: { type: 'location', id: locationId, label: 'calendar feed' }, locationId, details: { ...result, revokedOnLocks: lockIds.length } });
      }
      return lockIds;
    });
    await this.queue(touched, 'calendar feed changed');
    return result;
  }

  private async today(locationId: string, settings: UnitSettings): Promise<TurnoverView | null> {
    const { start, end } = dayIn(this.ctx.clock.now(), settings.timeZone);
    const rows = await this.ctx.db.select().from(stays).where(and(eq(stays.locationId, locationId), eq(stays.status, 'active'), sql`((${stays.checkIn} >= ${start} and ${stays.checkIn} < ${end}) or (${stays.checkOut} >= ${start} and ${stays.checkOut} < ${end}))`));
    if (rows.length === 0) return null;
    const outgoing = rows.filter((s) => s.checkOut >= start && s.checkOut < end).sort((a, b) => b.checkOut.getTime() - a.checkOut.getTime())[0] ?? null;
    const incoming = rows.filter((s) => s.checkIn >= start && s.checkIn < end).sort((a, b) => a.checkIn.getTime() - b.checkIn.getTime())[0] ?? null;
    const [unit] = await this.ctx.db.select({ name: locations.name }).from(locations).where(eq(locations.id, locationId));
    const ids = [outgoing?.id, incoming?.id].filter((x): x is string => !!x);
    const links = await this.ctx.db.select({ link: stayCodes, status: credentials.status }).from(stayCodes).leftJoin(credentials, eq(credentials.id, stayCodes.credentialId)).where(inArray(stayCodes.stayId, ids));
    const stateOf = (stayId: string | undefined, lockId: string) => links.find((l) => l.link.stayId === stayId && l.link.lockId === lockId);
    const lockStates = (await this.unitLocks(locationId)).map((l): TurnoverLockState => {
      const out = stateOf(outgoing?.id, l.id);
      const inc = stateOf(incoming?.id, l.id);
      return {
        lockId: l.id,
        lockName: l.name,
        outgoing: !out ? 'none' : (out.status ?? 'revoked'),
        incoming: !inc ? 'not_yet' : inc.link.error ? 'error' : (inc.status ?? 'removed'),
        error: inc?.link.error ?? null,
      };
    });
    return {
      locationId,
      unitName: unit?.name ?? '',
      outgoing: outgoing ? { id: outgoing.id, guestName: outgoing.guestName, checkOut: outgoing.checkOut } : null,
      incoming: incoming ? { id: incoming.id, guestName: incoming.guestName, checkIn: incoming.checkIn } : null,
      locks: lockStates,
    };
  }

  private async unitResource(locationId: string): Promise<{ locationPath: string }> {
    const r = await locationResource(this.ctx.db, locationId);
    if (r.kind !== 'unit') throw new AppError('stay.wrong_location', `stays belong to a unit; this location is a ${r.kind}`, [{ path: 'locationId', message: 'not a unit' }]);
    return r;
  }

  /** The unit's non-retired locks (the unit's own and those on its doors). */
  private async unitLocks(locationId: string): Promise<UnitLock[]> {
    const rows = await this.ctx.db
      .select({ id: locks.id, name: locks.name, driver: locks.driver, externalId: locks.externalId, caps: lockModels.capabilities })
      .from(locks)
      .innerJoin(lockModels, eq(lockModels.id, locks.modelId))
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(and(sql`${locations.path} like ${`%/${locationId}/%`}`, sql`${locks.serviceState} <> 'retired'`))
      .orderBy(asc(locks.name));
    return rows.map((r) => ({ ...r, caps: capabilitiesFromModel(r.caps) }));
  }

  private async settings(db: Db, locationId: string): Promise<UnitSettings> {
    const [row] = await db.select().from(unitOccupancy).where(eq(unitOccupancy.locationId, locationId));
    return {
      locationId,
      icalUrl: row?.icalUrl ? this.ctx.secrets.decrypt(row.icalUrl, feedContext(locationId)) : null,
      timeZone: row?.timeZone ?? 'UTC',
      checkInTime: row?.checkInTime ?? '15:00',
      checkOutTime: row?.checkOutTime ?? '11:00',
      confirmLeadMinutes: row?.confirmLeadMinutes ?? 120,
      feedCheckedAt: row?.feedCheckedAt ?? null,
      feedError: row?.feedError ?? null,
    };
  }

  private async ensureSettings(tx: Db, locationId: string): Promise<void> {
    await tx.insert(unitOccupancy).values({ locationId, updatedAt: this.ctx.clock.now() }).onConflictDoNothing();
  }

  /** Serializes changes to one unit's stays (overlap checks, issuing) across processes. */
  private async lockUnit(tx: Db, locationId: string): Promise<void> {
    await this.ensureSettings(tx, locationId);
    await tx.select({ id: unitOccupancy.locationId }).from(unitOccupancy).where(eq(unitOccupancy.locationId, locationId)).for('update');
  }

  private async activeStays(tx: Db, locationId: string): Promise<StayRow[]> {
    return tx.select().from(stays).where(and(eq(stays.locationId, locationId), eq(stays.status, 'active')));
  }

  private async queue(lockIds: string[], reason: string): Promise<void> {
    if (lockIds.length === 0) return;
    const rows = await this.ctx.db.select({ id: locks.id, driver: locks.driver, externalId: locks.externalId }).from(locks).where(inArray(locks.id, lockIds));
    await this.ctx.jobs.enqueue(reconcileRequests(this.ctx.drivers, rows, reason, false));
  }
}

/**
 * Fetches a feed under the outbound policy (public addresses only, redirects re-checked, the checked
 * address pinned), 15 s and 2 MB at most. Failures are `feed.unreachable` in our own words: never
 * the body, which may be another server's answer.
 */
async function fetchFeed(policy: OutboundPolicy, url: string): Promise<string> {
  let res;
  try {
    res = await outboundFetch(policy, 'ical', url, { headers: { accept: 'text/calendar' }, timeoutMs: 15_000, maxBytes: FEED_MAX_BYTES, maxRedirects: 3 });
  } catch (e) {
    if (e instanceof OutboundError && e.reason === 'too_large') throw new AppError('feed.invalid', 'the calendar feed is larger than 2 MB', [{ path: 'icalUrl', message: 'too large' }]);
    if (e instanceof OutboundError && (e.reason === 'refused' || e.reason === 'invalid_url')) throw new AppError('validation.failed', `the calendar feed URL is refused: ${e.message}`, [{ path: 'icalUrl', message: e.message }]);
    const why = e instanceof OutboundError ? e.message : 'could not be reached';
    throw new AppError('feed.unreachable', `the calendar feed ${why}`, [{ path: 'icalUrl', message: 'unreachable' }]);
  }
  if (res.status < 200 || res.status >= 300) throw new AppError('feed.unreachable', `the calendar feed answered HTTP ${res.status}`, [{ path: 'icalUrl', message: `HTTP ${res.status}` }]);
  return res.body.toString('utf8');
}

function feedContext(locationId: string): string {
  return `unit-feed:${locationId}`;
}

/** A feed URL as shown to readers: its origin only. */
function maskUrl(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '…';
  }
}

function guestMessage(stay: StayRow, unitName: string, code: string, timeZone: string): string {
  const fmt = (d: Date) => d.toLocaleString('en-GB', { timeZone, dateStyle: 'full', timeStyle: 'short' });
  return [
    `Hello ${stay.guestName},`,
    '',
    `Your door code for ${unitName} is: ${code}`,
    '',
    `It works from ${fmt(stay.checkIn)} until ${fmt(stay.checkOut)} (${timeZone}) on every door of the unit.`,
    'Please keep it to yourself.',
  ].join('\n');
}

function presentStay(r: StayRow): Stay {
  return { id: r.id, locationId: r.locationId, source: r.source, guestName: r.guestName, guestEmail: r.guestEmail, guestPhone: r.guestPhone, checkIn: r.checkIn, checkOut: r.checkOut, status: r.status, codeSentAt: r.codeSentAt };
}

export type { CredentialRow };
