/**
 * The notification outbox. A change that should tell someone (a guest's code, a turnover not
 * confirmed, a reset about to happen) writes its messages into `notification_outbox` in its own
 * transaction (`queueMessages`), so a message exists exactly when its change does. Delivery runs
 * afterwards (`deliverDue`, called by the runtime's outbox job): webhooks are an HTTP POST of JSON
 * signed with HMAC-SHA256 under the endpoint's secret, email goes out over SMTP (nodemailer). A
 * failed delivery is retried with doubling delays up to `MAX_DELIVERY_ATTEMPTS`, then marked failed.
 * Bodies are sealed at rest and never written to logs, errors or the audit log.
 */
import { createHmac } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import type { Transporter } from 'nodemailer';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { EndpointCreateSchema } from '../domain/occupancy.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { locations, notificationEndpoints, notificationOutbox, stays } from '../store/schema.js';
import { actorLabel, authorize, outboundOf, refuseTarget, type ServiceContext } from './context.js';
import { checkUrlLiteral, OutboundError, outboundFetch, vetUrl, type OutboundPolicy } from '../net/outbound.js';

/** Attempts before a message is marked failed (the last one about 2 h after the first). */
export const MAX_DELIVERY_ATTEMPTS = 8;
/** How long a claimed message is held by one deliverer before another may try it (a crash mid-send). */
const LEASE_MS = 5 * 60_000;
/** Longest a webhook may take to answer. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/** Delay before attempt `attempt + 1`: 30 s, 1 min, 2 min ... capped at 1 h. */
export function deliveryBackoffMs(attempt: number): number {
  return Math.min(3600_000, 30_000 * 2 ** Math.max(0, attempt - 1));
}

/** One message to one recipient. `body` is plain text and may hold a secret (it is sealed). */
export interface OutboxMessage {
  channel: 'webhook' | 'email';
  target: string;
  topic: string;
  subject: string;
  body: string;
  locationId: string | null;
  endpointId?: string | null;
}

/** A message as people see it in the outbox: never its body. */
export interface OutboxView {
  id: string;
  channel: 'webhook' | 'email';
  target: string;
  topic: string;
  subject: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface EndpointView {
  id: string;
  locationId: string | null;
  channel: 'webhook' | 'email';
  purpose: 'monitoring' | 'occupants';
  name: string;
  target: string;
  createdBy: string;
  createdAt: Date;
}

/** Writes `messages` into the outbox inside `tx` (the transaction of the change that causes them). */
export async function queueMessages(ctx: ServiceContext, tx: Db, messages: OutboxMessage[]): Promise<string[]> {
  if (messages.length === 0) return [];
  const now = ctx.clock.now();
  const rows = messages.map((m) => {
    const id = ctx.ids.uuid();
    return {
      id,
      endpointId: m.endpointId ?? null,
      channel: m.channel,
      target: m.target,
      topic: m.topic,
      subject: m.subject,
      bodySealed: ctx.secrets.encrypt(m.body, bodyContext(id)),
      locationId: m.locationId,
      status: 'pending' as const,
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
    };
  });
  await tx.insert(notificationOutbox).values(rows);
  return rows.map((r) => r.id);
}

/**
 * Messages for every endpoint of `purpose` that covers a place: organisation-wide ones and those on
 * the place or any place above it (`locationPath` is the place's materialized path).
 */
export async function endpointMessages(
  db: Db,
  locationPath: string | null,
  purpose: 'monitoring' | 'occupants',
  content: { topic: string; subject: string; body: string; locationId: string | null },
): Promise<OutboxMessage[]> {
  const ancestors = locationPath ? locationPath.split('/').filter(Boolean) : [];
  const rows = await db
    .select()
    .from(notificationEndpoints)
    .where(and(eq(notificationEndpoints.purpose, purpose), ancestors.length ? or(isNull(notificationEndpoints.locationId), inArray(notificationEndpoints.locationId, ancestors)) : isNull(notificationEndpoints.locationId)));
  return rows.map((e) => ({ channel: e.channel, target: e.target, endpointId: e.id, ...content }));
}

/**
 * A reset case's notice that work on a lock is coming (the preflight's occupants_notified /
 * monitoring_notified with `notify`): to the endpoints of that purpose over the lock's place, and for
 * occupants also to the guests staying now in a unit above the lock. Returns how many were queued.
 */
export async function queueResetNotice(
  ctx: ServiceContext,
  tx: Db,
  about: { lockId: string; lockName: string; locationId: string; caseId: string; reason: string },
  to: 'monitoring' | 'occupants',
): Promise<number> {
  const [place] = await tx.select({ path: locations.path }).from(locations).where(eq(locations.id, about.locationId));
  const path = place?.path ?? null;
  const content = {
    topic: 'reset.notice',
    subject: `Lock maintenance: ${about.lockName}`,
    body:
      to === 'monitoring'
        ? `A controlled factory reset of ${about.lockName} is about to start (case ${about.caseId}, reason: ${about.reason.replaceAll('_', ' ')}). Expect the lock to be disabled, and possibly an alarm, for a while.`
        : `Maintenance on ${about.lockName}: the lock will be reset and may not work for a while. Your access is restored afterwards.`,
    locationId: about.locationId,
  };
  const messages = await endpointMessages(tx, path, to, content);
  if (to === 'occupants' && path) {
    const now = ctx.clock.now();
    const ancestors = path.split('/').filter(Boolean);
    const guests = await tx
      .select({ email: stays.guestEmail })
      .from(stays)
      .where(and(inArray(stays.locationId, ancestors), eq(stays.status, 'active'), lte(stays.checkIn, now), sql`${stays.checkOut} > ${now}`, sql`${stays.guestEmail} is not null`));
    for (const g of guests) messages.push({ channel: 'email', target: g.email!, ...content });
  }
  await queueMessages(ctx, tx, messages);
  return messages.length;
}

function bodyContext(id: string): string {
  return `outbox:${id}`;
}
function endpointContext(id: string): string {
  return `notification-endpoint:${id}`;
}

/** Configures endpoints, shows the outbox, and delivers what is due. */
export class OutboxService {
  private transport: Transporter | null = null;

  constructor(private readonly ctx: ServiceContext) {}

  /** Endpoints of the organisation (owner/admin). */
  async endpoints(actor: Actor): Promise<EndpointView[]> {
    authorize(actor, 'integration.manage');
    const rows = await this.ctx.db.select().from(notificationEndpoints).orderBy(asc(notificationEndpoints.createdAt));
    return rows.map(presentEndpoint);
  }

  /** Adds an endpoint; a webhook's signing secret is generated unless given, and returned once. */
  async addEndpoint(actor: Actor, input: unknown): Promise<{ endpoint: EndpointView; secret: string | null }> {
    const data = parseInput(EndpointCreateSchema, input);
    authorize(actor, 'integration.manage');
    if (data.channel === 'webhook') refuseTarget(() => checkUrlLiteral(outboundOf(this.ctx), 'webhook', data.target), 'target');
    if (data.locationId) {
      const [loc] = await this.ctx.db.select({ id: locations.id }).from(locations).where(eq(locations.id, data.locationId));
      if (!loc) throw new AppError('location.not_found', `location ${data.locationId} not found`, [{ path: 'locationId', message: 'no such location' }]);
    }
    const id = this.ctx.ids.uuid();
    const secret = data.channel === 'webhook' ? (data.secret ?? this.ctx.ids.secret(32)) : null;
    const row = {
      id,
      locationId: data.locationId,
      channel: data.channel,
      purpose: data.purpose,
      name: data.name,
      target: data.target,
      secretSealed: secret ? this.ctx.secrets.encrypt(secret, endpointContext(id)) : null,
      createdBy: actorLabel(actor),
      createdAt: this.ctx.clock.now(),
    };
    await inTransaction(this.ctx.db, async (tx) => {
      await tx.insert(notificationEndpoints).values(row);
      await this.ctx.audit.append(tx, {
        actor,
        action: 'notification.endpoint.add',
        target: { type: 'notification_endpoint', id, label: data.name },
        locationId: data.locationId,
        details: { channel: data.channel, purpose: data.purpose, target: data.target },
        ...(secret ? { secrets: { secret } } : {}),
      });
    });
    return { endpoint: presentEndpoint(row), secret };
  }

  /** Removes an endpoint; messages already queued for it are still delivered to its target. */
  async removeEndpoint(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'integration.manage');
    await inTransaction(this.ctx.db, async (tx) => {
      const [row] = await tx.delete(notificationEndpoints).where(eq(notificationEndpoints.id, id)).returning();
      if (!row) throw new AppError('notification.not_found', `notification endpoint ${id} not found`);
      await this.ctx.audit.append(tx, { actor, action: 'notification.endpoint.remove', target: { type: 'notification_endpoint', id, label: row.name }, locationId: row.locationId, details: { channel: row.channel, target: row.target } });
    });
  }

  /** The newest messages with their delivery state (never their bodies). */
  async messages(actor: Actor, opts: { status?: 'pending' | 'delivered' | 'failed'; limit?: number } = {}): Promise<OutboxView[]> {
    authorize(actor, 'integration.manage');
    const rows = await this.ctx.db
      .select()
      .from(notificationOutbox)
      .where(opts.status ? eq(notificationOutbox.status, opts.status) : undefined)
      .orderBy(desc(notificationOutbox.createdAt))
      .limit(opts.limit ?? 200);
    return rows.map(presentMessage);
  }

  /** Sends a failed message again from zero attempts. */
  async retry(actor: Actor, id: string): Promise<OutboxView> {
    authorize(actor, 'integration.manage');
    return inTransaction(this.ctx.db, async (tx) => {
      const [row] = await tx
        .update(notificationOutbox)
        .set({ status: 'pending', attempts: 0, nextAttemptAt: this.ctx.clock.now() })
        .where(and(eq(notificationOutbox.id, id), eq(notificationOutbox.status, 'failed')))
        .returning();
      if (!row) {
        const [exists] = await tx.select({ id: notificationOutbox.id }).from(notificationOutbox).where(eq(notificationOutbox.id, id));
        if (!exists) throw new AppError('notification.not_found', `message ${id} not found`);
        throw new AppError('credential.wrong_state', 'only a failed message can be sent again');
      }
      await this.ctx.audit.append(tx, { actor, action: 'notification.retry', target: { type: 'notification', id, label: row.subject }, locationId: row.locationId, details: { channel: row.channel, target: row.target, lastError: row.lastError } });
      return presentMessage(row);
    });
  }

  /**
   * Delivers up to `limit` due messages. Each is claimed under `FOR UPDATE SKIP LOCKED` with a lease
   * (so two deliverers never send one message at once, and a crash mid-send retries it after the
   * lease), then sent, then settled. Returns how many were delivered and how many failed this round.
   */
  async deliverDue(limit = 20): Promise<{ delivered: number; failed: number }> {
    const now = this.ctx.clock.now();
    const claimed = await inTransaction(this.ctx.db, async (tx) => {
      const rows = await tx
        .select()
        .from(notificationOutbox)
        .where(and(eq(notificationOutbox.status, 'pending'), lte(notificationOutbox.nextAttemptAt, now)))
        .orderBy(asc(notificationOutbox.nextAttemptAt))
        .limit(limit)
        .for('update', { skipLocked: true });
      if (rows.length) {
        await tx
          .update(notificationOutbox)
          .set({ attempts: sql`${notificationOutbox.attempts} + 1`, nextAttemptAt: new Date(now.getTime() + LEASE_MS) })
          .where(inArray(notificationOutbox.id, rows.map((r) => r.id)));
      }
      return rows.map((r) => ({ ...r, attempts: r.attempts + 1 }));
    });
    let delivered = 0;
    let failed = 0;
    for (const m of claimed) {
      try {
        await this.send(m);
        await this.ctx.db.update(notificationOutbox).set({ status: 'delivered', deliveredAt: this.ctx.clock.now(), lastError: null }).where(eq(notificationOutbox.id, m.id));
        delivered++;
      } catch (e) {
        const error = safeError(e);
        const last = m.attempts >= MAX_DELIVERY_ATTEMPTS;
        await this.ctx.db
          .update(notificationOutbox)
          .set({ status: last ? 'failed' : 'pending', lastError: error, nextAttemptAt: new Date(this.ctx.clock.now().getTime() + deliveryBackoffMs(m.attempts)) })
          .where(eq(notificationOutbox.id, m.id));
        if (last) failed++;
      }
    }
    return { delivered, failed };
  }

  /** Closes the SMTP connection pool. */
  close(): void {
    this.transport?.close();
    this.transport = null;
  }

  private async send(m: typeof notificationOutbox.$inferSelect): Promise<void> {
    const body = this.ctx.secrets.decrypt(m.bodySealed, bodyContext(m.id));
    if (m.channel === 'email') {
      if (!this.ctx.mail) throw new DeliveryError('no SMTP server is configured (LOCKWARDEN_SMTP_URL)');
      // nodemailer (40 modules) is loaded with the first email, not at every start.
      this.transport ??= (await import('nodemailer')).default.createTransport(await smtpOptions(outboundOf(this.ctx), this.ctx.mail.smtpUrl));
      await this.transport.sendMail({ from: this.ctx.mail.from, to: m.target, subject: m.subject, text: body, messageId: `<${m.id}@lockwarden>` });
      return;
    }
    const payload = JSON.stringify({ id: m.id, topic: m.topic, subject: m.subject, text: body, locationId: m.locationId, createdAt: m.createdAt.toISOString() });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'lockwarden-outbox', 'x-lockwarden-message-id': m.id };
    if (m.endpointId) {
      const [e] = await this.ctx.db.select({ secretSealed: notificationEndpoints.secretSealed }).from(notificationEndpoints).where(eq(notificationEndpoints.id, m.endpointId));
      if (e?.secretSealed) headers['x-lockwarden-signature'] = `sha256=${signBody(this.ctx.secrets.decrypt(e.secretSealed, endpointContext(m.endpointId)), payload)}`;
    }
    let res;
    try {
      // No redirects: a webhook is delivered where it was configured, or not at all.
      res = await outboundFetch(outboundOf(this.ctx), 'webhook', m.target, { method: 'POST', headers, body: payload, maxRedirects: 0, timeoutMs: WEBHOOK_TIMEOUT_MS, maxBytes: 64 * 1024 });
    } catch (e) {
      if (e instanceof OutboundError && e.reason === 'too_large') return; // it answered; what it said is not read
      throw new DeliveryError(e instanceof OutboundError ? `the webhook ${e.reason === 'refused' ? 'is refused' : 'could not be reached'}: ${e.message}` : 'the webhook could not be reached');
    }
    if (res.status < 200 || res.status >= 300) throw new DeliveryError(`the webhook answered HTTP ${res.status}`);
  }
}

/**
 * nodemailer options for `smtpUrl` with its host resolved and checked under the outbound policy and
 * the connection pinned to that address (TLS still checks the certificate against the host name).
 */
async function smtpOptions(policy: OutboundPolicy, smtpUrl: string): Promise<Record<string, unknown>> {
  let target;
  try {
    target = await vetUrl(policy, 'smtp', smtpUrl);
  } catch (e) {
    throw new DeliveryError(e instanceof OutboundError ? `the SMTP server is refused: ${e.message}` : 'the SMTP server could not be reached');
  }
  const u = target.url;
  const secure = u.protocol === 'smtps:';
  return {
    host: target.address,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
    tls: { servername: u.hostname.replace(/^\[|\]$/g, '') },
    name: 'lockwarden',
  };
}

/** HMAC-SHA256 of a webhook body under its endpoint's secret, hex (what `x-lockwarden-signature` carries after `sha256=`). */
export function signBody(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

class DeliveryError extends Error {}

/** A delivery failure as stored: our own words, or the SMTP library's reply code and short text, never a body. */
function safeError(e: unknown): string {
  if (e instanceof DeliveryError) return e.message;
  const err = e as { code?: string; responseCode?: number; message?: string };
  const parts = [err.code, err.responseCode ? `SMTP ${err.responseCode}` : null].filter(Boolean);
  return `email not sent${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function presentEndpoint(r: typeof notificationEndpoints.$inferSelect): EndpointView {
  return { id: r.id, locationId: r.locationId, channel: r.channel, purpose: r.purpose, name: r.name, target: r.target, createdBy: r.createdBy, createdAt: r.createdAt };
}

function presentMessage(r: typeof notificationOutbox.$inferSelect): OutboxView {
  return { id: r.id, channel: r.channel, target: r.target, topic: r.topic, subject: r.subject, status: r.status, attempts: r.attempts, lastError: r.lastError, nextAttemptAt: r.nextAttemptAt, createdAt: r.createdAt, deliveredAt: r.deliveredAt };
}
