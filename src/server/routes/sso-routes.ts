import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GroupRoleSchema, OidcSettingsSchema, SSO_ROLES } from '../../domain/oidc.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { SSO_ATTEMPT_TTL_MS } from '../../services/sso-service.js';
import { actorOf, setDeviceCookie, setSessionCookie } from '../auth.js';

/** The cookie that carries a sign-in attempt (sealed state, nonce and PKCE verifier) to the callback. */
export const SSO_ATTEMPT_COOKIE = 'lw_sso';
const CALLBACK_PATH = '/api/auth/sso/callback';

const SettingsOut = z.object({
  enabled: z.boolean(),
  providerName: z.string(),
  issuerUrl: z.string(),
  clientId: z.string(),
  hasClientSecret: z.boolean(),
  redirectUrl: z.string(),
  selfSignUp: z.object({ enabled: z.boolean(), role: z.enum(SSO_ROLES), locationId: z.string().nullable() }),
  groupClaim: z.string().nullable(),
  groupRoles: z.array(GroupRoleSchema),
  passwordSignInOffForSsoUsers: z.boolean(),
  idpProvidesMfa: z.boolean(),
});

/**
 * This server's address as people reach it: `LOCKWARDEN_PUBLIC_URL` (e.g. https://locks.example.com)
 * when set, else the origin of the request. The redirect URL the IdP sends people back to is built
 * from it, and must be registered at the IdP exactly.
 */
export function publicOrigin(req: FastifyRequest, env: NodeJS.ProcessEnv = process.env): string {
  return env.LOCKWARDEN_PUBLIC_URL?.replace(/\/+$/, '') || `${req.protocol}://${req.host}`;
}

/** The callback URL registered at the IdP. */
export function redirectUrlOf(req: FastifyRequest): string {
  return `${publicOrigin(req)}${CALLBACK_PATH}`;
}

/**
 * Single sign-on: the sign-in page's button (public info, start, callback) and the owner's settings.
 * The callback answers with a redirect to the app (signed in) or to the sign-in page with a reason
 * the page turns into a sentence.
 */
export function ssoRoutes(services: Services, opts: { secureCookies: boolean }): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['single sign-on'];
    const clearAttempt = (reply: FastifyReply) => void reply.clearCookie(SSO_ATTEMPT_COOKIE, { path: '/api/auth/sso' });

    app.get(
      '/auth/sso',
      { config: { public: true }, schema: { tags, description: 'Whether single sign-on is on, and the provider name for the sign-in button.', response: { 200: z.object({ enabled: z.boolean(), providerName: z.string().nullable() }) } } },
      async () => services.sso.publicInfo(),
    );

    app.get(
      '/auth/sso/start',
      { config: { public: true }, schema: { tags, description: 'Sends the browser to the identity provider (authorization code flow with PKCE S256, state and nonce).' } },
      async (req, reply) => {
        try {
          const start = await services.sso.begin(redirectUrlOf(req));
          // Lax, not Strict: the callback arrives as a top-level navigation from the IdP's site.
          void reply.setCookie(SSO_ATTEMPT_COOKIE, start.attempt, { httpOnly: true, sameSite: 'lax', secure: opts.secureCookies, path: '/api/auth/sso', maxAge: SSO_ATTEMPT_TTL_MS / 1000 });
          return reply.redirect(start.url, 303);
        } catch (e) {
          if (e instanceof AppError && (e.code === 'sso.not_configured' || e.code === 'sso.unreachable')) {
            return reply.redirect(`/signin?sso=${e.code === 'sso.not_configured' ? 'not_configured' : 'unreachable'}`, 303);
          }
          throw e;
        }
      },
    );

    app.get(
      '/auth/sso/callback',
      { config: { public: true }, schema: { tags, description: 'Where the identity provider sends the browser back; signs in, or returns to the sign-in page with the reason.' } },
      async (req, reply) => {
        const callbackUrl = new URL(req.url, publicOrigin(req));
        const result = await services.sso.finish(callbackUrl, req.cookies[SSO_ATTEMPT_COOKIE]);
        clearAttempt(reply);
        if (!result.ok) return reply.redirect(`/signin?sso=${result.reason}`, 303);
        setSessionCookie(reply, result.signedIn.sessionToken, opts.secureCookies);
        setDeviceCookie(reply, result.signedIn.deviceCookie, opts.secureCookies);
        return reply.redirect('/locks', 303);
      },
    );

    app.get(
      '/settings/sso',
      { schema: { tags, description: 'The single sign-on settings (never the client secret; `hasClientSecret` says whether one is stored). Organisation-wide owners only.', response: { 200: z.object({ settings: SettingsOut.nullable(), redirectUrl: z.string() }) } } },
      async (req) => ({ settings: await services.sso.settings(actorOf(req), redirectUrlOf(req)), redirectUrl: redirectUrlOf(req) }),
    );

    app.put(
      '/settings/sso',
      {
        schema: {
          tags,
          description: 'Saves the single sign-on settings; `clientSecret` omitted keeps the stored one. Organisation-wide owners only, after "confirm it\'s you" (step-up). When enabled, the issuer must answer OpenID discovery.',
          body: OidcSettingsSchema,
          response: { 200: SettingsOut },
        },
      },
      async (req) => services.sso.setSettings(actorOf(req), req.body, redirectUrlOf(req)),
    );
  };
}
