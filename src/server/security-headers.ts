/**
 * Security headers on every response (OWASP ASVS 5.0 V3.4, OWASP Secure Headers Project): the SPA's
 * content security policy for HTML (scripts only from this origin, no inline script), a deny-all
 * policy for everything else, no sniffing, no framing, no referrer, no powerful browser features,
 * an isolated browsing context, same-origin resources only, HSTS behind HTTPS, and no caching of
 * API answers (they carry inventory data and, on a reveal, secrets).
 */
import type { FastifyInstance } from 'fastify';

/**
 * The web UI: Vite emits `<script type="module" src=...>` and stylesheet links, no inline script.
 * Styles stay 'unsafe-inline' because Mantine sets style attributes and injects CSS variables at run
 * time; inline style cannot run code.
 */
export const SPA_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/** Anything that is not HTML (JSON, CSV, PDF, images) has no business running or loading anything. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
export const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), bluetooth=(), serial=(), hid=(), interest-cohort=()';
/** Two years, subdomains included: the value hstspreload.org asks for. */
export const HSTS = 'max-age=63072000; includeSubDomains';

/** Adds the headers in an onSend hook; a route that set its own CSP or cache-control keeps it. */
export function registerSecurityHeaders(app: FastifyInstance, opts: { secureCookies: boolean }): void {
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('permissions-policy', PERMISSIONS_POLICY);
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (opts.secureCookies) reply.header('strict-transport-security', HSTS);
    if (!reply.hasHeader('content-security-policy')) {
      const type = String(reply.getHeader('content-type') ?? '');
      reply.header('content-security-policy', type.startsWith('text/html') ? SPA_CSP : API_CSP);
    }
    if ((req.url.startsWith('/api/') || req.url === '/metrics') && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
