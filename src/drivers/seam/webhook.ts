/**
 * Seam delivers webhooks through Svix, which signs them the Standard Webhooks way: HMAC-SHA256 with
 * the endpoint secret (`whsec_` + base64) over `${id}.${timestamp}.${rawBody}`, sent as
 * `v1,<base64>` entries in `webhook-signature` (or `svix-signature`). A server route can mount
 * `verifySeamWebhook` on the raw body and hand the event to `seamEventToDriverEvents`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a webhook delivery was refused (stable codes; the message never contains the secret). */
export class SeamWebhookError extends Error {
  constructor(
    readonly code: 'webhook.missing_header' | 'webhook.bad_timestamp' | 'webhook.bad_signature' | 'webhook.bad_body' | 'webhook.bad_secret',
    message: string,
  ) {
    super(message);
    this.name = 'SeamWebhookError';
  }
}

/** A Seam event as delivered (only the fields lockwarden reads; the rest is kept). */
export interface SeamEvent {
  event_id: string;
  event_type: string;
  occurred_at?: string;
  created_at?: string;
  device_id?: string;
  access_code_id?: string;
  [key: string]: unknown;
}

/** Accepted clock difference between Svix and us (Standard Webhooks' default). */
const TOLERANCE_S = 5 * 60;

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = headers[name] ?? headers[name.toLowerCase()];
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

/**
 * Checks a delivery's signature and age, then parses it. `rawBody` must be the bytes as received
 * (re-serialised JSON does not verify). Throws `SeamWebhookError` on anything wrong.
 */
export function verifySeamWebhook(secret: string, headers: Headers, rawBody: string | Buffer, now: Date = new Date()): SeamEvent {
  const id = header(headers, 'webhook-id', 'svix-id');
  const timestamp = header(headers, 'webhook-timestamp', 'svix-timestamp');
  const signatures = header(headers, 'webhook-signature', 'svix-signature');
  if (!id || !timestamp || !signatures) throw new SeamWebhookError('webhook.missing_header', 'webhook-id, webhook-timestamp and webhook-signature headers are required');
  const ts = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || Math.abs(now.getTime() / 1000 - ts) > TOLERANCE_S) {
    throw new SeamWebhookError('webhook.bad_timestamp', 'webhook-timestamp is missing, malformed or outside the 5-minute tolerance');
  }
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  if (key.length === 0) throw new SeamWebhookError('webhook.bad_secret', 'the webhook secret is empty or not base64');
  const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  const ok = signatures.split(' ').some((entry) => {
    const [version, sig] = entry.split(',', 2);
    if (version !== 'v1' || !sig) return false;
    const given = Buffer.from(sig, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new SeamWebhookError('webhook.bad_signature', 'no webhook-signature entry matches the body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SeamWebhookError('webhook.bad_body', 'the webhook body is not JSON');
  }
  if (!isSeamEvent(parsed)) throw new SeamWebhookError('webhook.bad_body', 'the webhook body is not a Seam event (event_id and event_type are required)');
  return parsed;
}

/** True for an object with a string `event_id` and `event_type`. */
export function isSeamEvent(v: unknown): v is SeamEvent {
  return typeof v === 'object' && v !== null && typeof (v as SeamEvent).event_id === 'string' && typeof (v as SeamEvent).event_type === 'string';
}
