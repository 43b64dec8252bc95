/**
 * Authentication at the edge: every route needs a signed-in user (session cookie + CSRF header for
 * changes) or an API token, unless the route is marked public. Deny by default.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';
import type { Actor, User } from '../domain/identity.js';
import { safeEqual } from '../crypto/tokens.js';
import type { Services } from '../services/index.js';
import { DEVICE_COOKIE_MAX_AGE_S } from '../services/sign-in-throttle.js';
import type { SessionStage } from '../domain/second-factor.js';

export const SESSION_COOKIE = 'lw_session';
/** Marks a browser that signed in to an account before (sign-in throttling; never authenticates). */
export const DEVICE_COOKIE = 'lw_device';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    user: User | null;
    csrfToken: string | null;
    sessionToken: string | null;
    /** The session's stage and stored hash (src/domain/second-factor.ts); null for tokens and anonymous requests. */
    sessionStage: SessionStage | null;
    sessionHash: string | null;
  }
  interface FastifyContextConfig {
    /** Reachable without signing in (health, sign-in, the SPA's files, API docs). */
    public?: boolean;
    /** Also reachable by a session limited to these stages (giving its second factor, enrolling one). */
    stages?: SessionStage[];
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The actor of an authenticated request; routes behind the auth hook always have one. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new AppError('auth.unauthenticated', 'sign in first');
  return req.actor;
}

/** Sets the session cookie: httpOnly, SameSite=Strict, Secure when served over HTTPS. */
export function setSessionCookie(reply: FastifyReply, token: string, secure: boolean): void {
  void reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: 12 * 3600 });
}

/** Sets the device cookie, sent only to the auth routes and kept for 180 days. */
export function setDeviceCookie(reply: FastifyReply, value: string, secure: boolean): void {
  void reply.setCookie(DEVICE_COOKIE, value, { httpOnly: true, sameSite: 'strict', secure, path: '/api/auth', maxAge: DEVICE_COOKIE_MAX_AGE_S });
}

/** Registers the hook that resolves the actor and enforces authentication and CSRF. */
export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('actor', null);
  app.decorateRequest('user', null);
  app.decorateRequest('csrfToken', null);
  app.decorateRequest('sessionToken', null);
  app.decorateRequest('sessionStage', null);
  app.decorateRequest('sessionHash', null);

  // preValidation, not preHandler: anonymous requests are refused before their input is validated.
  app.addHook('preValidation', async (req) => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      const found = await services.auth.authenticateToken(header.slice('Bearer '.length).trim());
      if (!found && !req.routeOptions.config.public) throw new AppError('auth.token_invalid', 'API token is invalid, revoked or expired');
      if (found) {
        req.actor = found.actor;
        req.user = found.user;
        if (found.scope === 'read' && !SAFE_METHODS.has(req.method) && !req.routeOptions.config.public) {
          throw new AppError('auth.forbidden', 'this API token is read-only (scope read): it can only read');
        }
      }
      return;
    }
    const cookie = req.cookies[SESSION_COOKIE];
    if (cookie) {
      const found = await services.auth.authenticateSession(cookie);
      if (found) {
        req.actor = found.actor;
        req.user = found.user;
        req.csrfToken = found.csrfToken;
        req.sessionToken = cookie;
        req.sessionStage = found.stage;
        req.sessionHash = found.tokenHash;
      }
    }
    // Unmatched GETs fall through to the SPA's index.html or a 404; neither reveals data.
    if (req.routeOptions.config.public || req.is404) return;
    if (!req.actor) throw new AppError('auth.unauthenticated', 'sign in first');
    // A session opened with the password alone reaches only what finishes signing in (deny by default).
    if (req.sessionStage && req.sessionStage !== 'full' && !req.routeOptions.config.stages?.includes(req.sessionStage)) {
      throw req.sessionStage === 'second_factor'
        ? new AppError('auth.second_factor_required', 'finish signing in with your second factor first')
        : new AppError('auth.enrolment_required', 'your organisation requires a second factor for your role: set one up before continuing');
    }
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !req.csrfToken || !safeEqual(sent, req.csrfToken)) {
        throw new AppError('auth.csrf', `missing or wrong ${CSRF_HEADER} header`);
      }
    }
  });
}
