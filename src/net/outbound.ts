/**
 * The one policy for every connection the server opens on someone's say-so: iCal feeds, webhooks,
 * the SMTP relay and integration URLs (Z-Wave JS server, Zigbee2MQTT broker, Seam endpoint).
 *
 * A URL's host is resolved (an IP literal in any encoding is read as the address it means: decimal,
 * hex and octal IPv4 such as 0x7f000001, IPv4-mapped IPv6 such as ::ffff:127.0.0.1, [::1]; `localhost`
 * and `*.localhost` are loopback by name) and every address it resolves to is classified with
 * ipaddr.js. Loopback, private (RFC 1918), unique-local IPv6 and CGNAT addresses are refused unless the
 * owner allowed a private network for that kind of target (`LOCKWARDEN_ALLOW_PRIVATE_TARGETS`: meant
 * for integrations and SMTP, whose servers usually sit on the LAN); link-local (cloud metadata
 * 169.254.169.254 lives there), unspecified, multicast, broadcast, reserved and the IPv6 forms that
 * embed an IPv4 address (NAT64, 6to4, Teredo) are refused always.
 *
 * `outboundFetch` then connects to the address it checked (the socket's `lookup` answers with it, so
 * a DNS answer that changes between the check and the connection cannot move the request: DNS
 * rebinding), re-checks every redirect the same way, and bounds the time and the size of the answer.
 * Its errors say what went wrong in our words and never carry the fetched content.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** The kinds of target the server connects to; the owner's private-network allowance is per kind. */
export const OUTBOUND_KINDS = ['ical', 'webhook', 'smtp', 'integration', 'sso'] as const;
export type OutboundKind = (typeof OUTBOUND_KINDS)[number];

/** Turns a host name into its addresses (the system resolver by default; tests inject their own). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** What the server may connect to: which kinds may reach a private network, and how names resolve. */
export interface OutboundPolicy {
  allowPrivate: ReadonlySet<OutboundKind>;
  resolve: Resolver;
  /**
   * Where a checked address is dialled: the address itself in production. Tests map a public test
   * address to a listener on 127.0.0.1 so that redirects can be tried without leaving the machine.
   */
  dial?: (checked: { address: string; family: 4 | 6 }) => { address: string; family: 4 | 6 };
}

/** A connection the policy refuses, or a fetch that failed; the message is ours and safe to show. */
export class OutboundError extends Error {
  override readonly name = 'OutboundError';
  constructor(
    readonly reason: 'refused' | 'unreachable' | 'timeout' | 'too_large' | 'redirects' | 'invalid_url',
    message: string,
  ) {
    super(message);
  }
}

const systemResolver: Resolver = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** A policy: private networks allowed only for the kinds named (none by default). */
export function outboundPolicy(opts: { allowPrivate?: Iterable<OutboundKind>; resolve?: Resolver; dial?: OutboundPolicy['dial'] } = {}): OutboundPolicy {
  return { allowPrivate: new Set(opts.allowPrivate ?? []), resolve: opts.resolve ?? systemResolver, ...(opts.dial ? { dial: opts.dial } : {}) };
}

/** Reads `LOCKWARDEN_ALLOW_PRIVATE_TARGETS` ("integration,smtp"); an unknown kind is an error naming it. */
export function parseAllowPrivate(value: string | undefined): OutboundKind[] {
  const kinds = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = kinds.filter((k) => !(OUTBOUND_KINDS as readonly string[]).includes(k));
  if (bad.length) throw new Error(`LOCKWARDEN_ALLOW_PRIVATE_TARGETS: unknown kind ${bad.join(', ')} (use ${OUTBOUND_KINDS.join(', ')})`);
  return [...new Set(kinds)] as OutboundKind[];
}

/** Ranges the owner may open to a kind of target (the LAN and this machine). */
const PRIVATE_RANGES = new Set(['loopback', 'private', 'uniqueLocal', 'carrierGradeNat']);

/** Words for each refused range, for the messages people read. */
const RANGE_WORDS: Record<string, string> = {
  loopback: 'this machine (loopback)',
  private: 'a private network',
  uniqueLocal: 'a private network (unique-local IPv6)',
  carrierGradeNat: 'a shared carrier network (CGNAT)',
  linkLocal: 'a link-local address (where cloud metadata services answer)',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
};

/** The range of an address that is not plainly public (e.g. `loopback`), or null for a public one. */
export function nonPublicRange(address: string): string | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  const range = addr.range();
  return range === 'unicast' ? null : range;
}

/** The host of a URL as an address or a name: brackets and a trailing dot removed, lower case. */
function bareHost(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.localdomain';
}

/** Throws `refused` when `address` is not allowed for `kind`. */
function checkAddress(policy: OutboundPolicy, kind: OutboundKind, host: string, address: string): void {
  const range = nonPublicRange(address);
  if (range === null) return;
  if (PRIVATE_RANGES.has(range) && policy.allowPrivate.has(kind)) return;
  const what = RANGE_WORDS[range] ?? `a reserved address (${range})`;
  const shown = host === address ? address : `${host} (${address})`;
  const hint = PRIVATE_RANGES.has(range) && (kind === 'integration' || kind === 'smtp' || kind === 'sso') ? `; an owner can allow a private network for ${kind} targets with LOCKWARDEN_ALLOW_PRIVATE_TARGETS` : '';
  throw new OutboundError('refused', `${shown} is ${what}: lockwarden does not connect there for ${KIND_WORDS[kind]}${hint}`);
}

const KIND_WORDS: Record<OutboundKind, string> = { ical: 'a calendar feed', webhook: 'a webhook', smtp: 'email', integration: 'an integration', sso: 'a single sign-on provider' };

/**
 * Checks a URL without resolving names: its host as an IP literal (any encoding) or `localhost`.
 * For the moment a URL is saved; the connection itself is checked again, resolved, by `vetUrl`.
 */
export function checkUrlLiteral(policy: OutboundPolicy, kind: OutboundKind, url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutboundError('invalid_url', 'not a URL');
  }
  const host = bareHost(u);
  if (isLocalhostName(host)) checkAddress(policy, kind, host, '127.0.0.1');
  else if (ipaddr.isValid(host)) checkAddress(policy, kind, host, ipaddr.parse(host).toString());
}

/** A URL's host resolved and checked: the address to connect to (every address it resolved to passed). */
export async function vetHost(policy: OutboundPolicy, kind: OutboundKind, hostname: string): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (!host) throw new OutboundError('invalid_url', 'the URL has no host');
  if (isLocalhostName(host)) checkAddress(policy, kind, host, '127.0.0.1');
  if (ipaddr.isValid(host)) {
    const addr = ipaddr.parse(host);
    const address = addr.toString();
    checkAddress(policy, kind, host, address);
    return { address, family: addr.kind() === 'ipv6' ? 6 : 4 };
  }
  let found: { address: string; family: number }[];
  try {
    found = await policy.resolve(host);
  } catch (e) {
    throw new OutboundError('unreachable', `the name ${host} could not be resolved${(e as { code?: string }).code ? ` (${(e as { code?: string }).code})` : ''}`);
  }
  if (found.length === 0) throw new OutboundError('unreachable', `the name ${host} has no address`);
  // Every answer must pass: a name that also points inside would let a later connection go there.
  for (const f of found) checkAddress(policy, kind, host, ipaddr.parse(f.address).toString());
  const first = found[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** `vetHost` for a URL: its parsed form, the checked address and family. */
export async function vetUrl(policy: OutboundPolicy, kind: OutboundKind, url: string): Promise<{ url: URL; address: string; family: 4 | 6 }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutboundError('invalid_url', 'not a URL');
  }
  return { url: u, ...(await vetHost(policy, kind, u.hostname)) };
}

/** A socket `lookup` that answers every name with the address already checked (no second resolution). */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  }) as unknown as LookupFunction;
}

export interface OutboundRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Largest answer body read; past it the fetch fails with `too_large`. */
  maxBytes: number;
  /** The whole exchange, redirects included. */
  timeoutMs: number;
  /** Redirects followed (each one checked like the first URL); 0 returns a 3xx as it is. */
  maxRedirects?: number;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP(S) exchange under the policy: checked, pinned, redirects re-checked, bounded in time and size. */
export async function outboundFetch(policy: OutboundPolicy, kind: OutboundKind, url: string, req: OutboundRequest): Promise<OutboundResponse> {
  const deadline = AbortSignal.timeout(req.timeoutMs);
  let current = url;
  let method = req.method ?? 'GET';
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const target = await vetUrl(policy, kind, current);
    if (target.url.protocol !== 'http:' && target.url.protocol !== 'https:') throw new OutboundError('invalid_url', 'only http:// and https:// URLs are fetched');
    const dialled = policy.dial ? { url: target.url, ...policy.dial(target) } : target;
    const res = await exchange(dialled, { ...req, method, body }, deadline);
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location && (req.maxRedirects ?? 3) > 0) {
      if (hop >= (req.maxRedirects ?? 3)) throw new OutboundError('redirects', `more than ${req.maxRedirects ?? 3} redirects`);
      try {
        current = new URL(location, target.url).toString();
      } catch {
        throw new OutboundError('invalid_url', 'the server redirected to something that is not a URL');
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    return res;
  }
}

function exchange(target: { url: URL; address: string; family: 4 | 6 }, req: OutboundRequest, deadline: AbortSignal): Promise<OutboundResponse> {
  const { url } = target;
  const lib = url.protocol === 'https:' ? https : http;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise<OutboundResponse>((resolve, reject) => {
    if (deadline.aborted) return reject(new OutboundError('timeout', `no answer in ${Math.round(req.timeoutMs / 1000)} s`));
    const r = lib.request(
      {
        protocol: url.protocol,
        hostname: host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: req.method ?? 'GET',
        headers: { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) },
        lookup: pinnedLookup(target.address, target.family),
        // A fresh connection per exchange: a pooled socket could belong to an address checked for another URL.
        agent: false,
        ...(url.protocol === 'https:' && !ipaddr.isValid(host) ? { servername: host } : {}),
        signal: deadline,
      },
      (res) => {
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > req.maxBytes) {
          res.destroy();
          return reject(new OutboundError('too_large', `the answer is larger than ${formatBytes(req.maxBytes)}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > req.maxBytes) {
            res.destroy();
            reject(new OutboundError('too_large', `the answer is larger than ${formatBytes(req.maxBytes)}`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(networkError(e, req.timeoutMs, deadline)));
      },
    );
    r.on('error', (e) => reject(networkError(e, req.timeoutMs, deadline)));
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

function networkError(e: unknown, timeoutMs: number, deadline: AbortSignal): OutboundError {
  if (e instanceof OutboundError) return e;
  if (deadline.aborted) return new OutboundError('timeout', `no answer in ${Math.round(timeoutMs / 1000)} s`);
  const code = (e as { code?: string }).code;
  return new OutboundError('unreachable', `could not be reached${code ? ` (${code})` : ''}`);
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / 1024 / 1024)} MB` : `${Math.round(n / 1024)} KB`;
}
