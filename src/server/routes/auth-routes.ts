import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { allowedActions, organisationActions, ApiTokenCreateSchema, OneTimeSignInSchema, SetPasswordSchema, SignInSchema } from '../../domain/identity.js';
import type { Services } from '../../services/index.js';
import { actorOf, DEVICE_COOKIE, SESSION_COOKIE, setDeviceCookie, setSessionCookie } from '../auth.js';
import { ApiTokenOut, IdParams, items, SessionOut } from '../schemas.js';
import { EndedAccessOut, SignOutEverywhereSchema } from './session-routes.js';

/** Sign-in, sign-out, the current user, password and API tokens. */
export function authRoutes(services: Services, opts: { secureCookies: boolean }): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['auth'];
    const signInDescription =
      'Signs in. When the account has a second factor the session starts at stage `second_factor` (only /auth/second-factor/* and /auth/me work until it is given); when the owner\'s policy requires one the account lacks, at stage `enrolment` (only /auth/security/* until one is enrolled).';
    app.post('/auth/sign-in', { config: { public: true }, schema: { tags, description: signInDescription, body: SignInSchema, response: { 200: SessionOut } } }, async (req, reply) => {
      const s = await services.auth.signIn(req.body, req.ip, req.cookies[DEVICE_COOKIE]);
      setSessionCookie(reply, s.sessionToken, opts.secureCookies);
      setDeviceCookie(reply, s.deviceCookie, opts.secureCookies);
      return { user: s.user, csrfToken: s.csrfToken, allowedActions: s.allowedActions, organisationActions: s.organisationActions, stage: s.stage, secondFactorMethods: await services.secondFactor.methodsOf(s.user.id) };
    });

    app.post('/auth/one-time', { config: { public: true }, schema: { tags, body: OneTimeSignInSchema, response: { 200: SessionOut } } }, async (req, reply) => {
      const s = await services.auth.oneTimeSignIn(req.body);
      setSessionCookie(reply, s.sessionToken, opts.secureCookies);
      setDeviceCookie(reply, s.deviceCookie, opts.secureCookies);
      return { user: s.user, csrfToken: s.csrfToken, allowedActions: s.allowedActions, organisationActions: s.organisationActions, mustSetPassword: !s.user.hasPassword, stage: s.stage, secondFactorMethods: await services.secondFactor.methodsOf(s.user.id) };
    });

    app.get('/auth/me', { config: { stages: ['second_factor', 'enrolment'] }, schema: { tags, response: { 200: SessionOut } } }, async (req) => {
      const actor = actorOf(req);
      const stage = req.sessionStage ?? 'full';
      const limited = stage !== 'full';
      return {
        user: req.user!,
        csrfToken: req.csrfToken ?? '',
        allowedActions: limited ? [] : allowedActions(actor),
        organisationActions: limited ? [] : organisationActions(actor),
        // Someone who signs in through the identity provider needs no password here.
        mustSetPassword: !req.user!.hasPassword && !(await services.sso.signsInWithSso(req.user!.id)),
        stage,
        secondFactorMethods: await services.secondFactor.methodsOf(req.user!.id),
      };
    });

    app.post('/auth/password', { config: { stages: ['enrolment'] }, schema: { tags, body: SetPasswordSchema } }, async (req, reply) => {
      await services.auth.setPassword(actorOf(req), req.body);
      // A new password ends every other session (someone who knew the old one is signed out).
      await services.auth.endOtherSessions(actorOf(req), req.sessionToken);
      return reply.code(204).send();
    });

    app.post('/auth/sign-out', { config: { stages: ['second_factor', 'enrolment'] }, schema: { tags } }, async (req, reply) => {
      if (req.sessionToken) await services.auth.signOut(req.sessionToken);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });

    app.post(
      '/auth/sign-out-everywhere',
      {
        schema: {
          tags,
          description: 'Ends every session of the signed-in user, this one included; with revokeApiTokens also revokes all their API tokens.',
          body: SignOutEverywhereSchema.nullish(),
          response: { 200: EndedAccessOut },
        },
      },
      async (req, reply) => {
        const ended = await services.auth.signOutEverywhere(actorOf(req), req.body ?? {});
        void reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return ended;
      },
    );

    const tokenTags = ['tokens'];
    app.get('/tokens', { schema: { tags: tokenTags, response: { 200: items(ApiTokenOut) } } }, async (req) => ({
      items: await services.auth.listApiTokens(actorOf(req)),
    }));

    app.post('/tokens', { schema: { tags: tokenTags, body: ApiTokenCreateSchema, response: { 201: z.object({ token: ApiTokenOut, secret: z.string() }) } } }, async (req, reply) => {
      return reply.code(201).send(await services.auth.createApiToken(actorOf(req), req.body));
    });

    app.delete('/tokens/:id', { schema: { tags: tokenTags, params: IdParams } }, async (req, reply) => {
      await services.auth.revokeApiToken(actorOf(req), req.params.id);
      return reply.code(204).send();
    });
  };
}
