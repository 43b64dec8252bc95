import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { allowedActions, organisationActions } from '../../domain/identity.js';
import { SecondFactorPolicySchema } from '../../domain/second-factor.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import type { RelyingParty, SessionRef } from '../../services/second-factor-service.js';
import { actorOf } from '../auth.js';
import { IdParams, SecondFactorOut, SessionOut } from '../schemas.js';

/** Any JSON body: a WebAuthn answer or options are checked by the service (and @simplewebauthn). */
const Json = z.record(z.string(), z.unknown());
const EnrolmentOut = z.object({ factor: SecondFactorOut, recoveryCodes: z.array(z.string()).nullable() });
const StepUpOut = z.object({ stepUpAt: z.date(), expiresAt: z.date() });
const PolicyOut = z.object({ requiredForRoles: z.array(z.enum(['owner', 'admin'])) });
const StatusOut = z.object({
  factors: z.array(SecondFactorOut),
  recoveryCodesLeft: z.number().int(),
  requiredByPolicy: z.boolean(),
  stepUpAt: z.date().nullable(),
  stepUpExpiresAt: z.date().nullable(),
});

/**
 * The relying party passkeys are bound to: `LOCKWARDEN_WEBAUTHN_ORIGIN` (e.g. https://locks.example.com)
 * when set, else the origin the browser reached (the browser itself checks that the page's origin is
 * this one, so a look-alike site cannot use the passkeys).
 */
export function relyingParty(req: FastifyRequest, env: NodeJS.ProcessEnv = process.env): RelyingParty {
  const origin = env.LOCKWARDEN_WEBAUTHN_ORIGIN?.replace(/\/$/, '') || `${req.protocol}://${req.host}`;
  return { origin, rpID: new URL(origin).hostname };
}

function sessionOf(req: FastifyRequest): SessionRef {
  if (!req.sessionHash) throw new AppError('auth.forbidden', 'this needs a signed-in browser session, not an API token');
  return { tokenHash: req.sessionHash };
}

/**
 * Second factors: finishing a sign-in with one, "confirm it's you" (step-up), the signed-in user's
 * Security page (enrol an authenticator app or a passkey, recovery codes, remove), the owner's
 * policy, and removing another person's factors.
 */
export function secondFactorRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['second factor'];
    const sf = services.secondFactor;
    const stageOf = (req: FastifyRequest) => req.sessionStage ?? 'full';

    app.post(
      '/auth/second-factor/passkey-options',
      { config: { stages: ['second_factor'] }, schema: { tags, description: 'WebAuthn options to sign in or confirm with a passkey (the challenge is kept with the session).', response: { 200: Json } } },
      async (req) => {
        actorOf(req);
        return sf.passkeyAuthenticationOptions(req.user!.id, sessionOf(req), relyingParty(req)) as unknown as Record<string, unknown>;
      },
    );

    app.post(
      '/auth/second-factor',
      {
        config: { stages: ['second_factor'] },
        schema: {
          tags,
          description: 'Finishes a sign-in with `{method: "totp", code}`, `{method: "recovery", code}` or `{method: "webauthn", response}`. Throttled per account; counts as the session\'s step-up.',
          body: Json,
          response: { 200: SessionOut },
        },
      },
      async (req) => {
        const user = req.user!;
        await sf.completeSignIn(user.id, user.email, sessionOf(req), stageOf(req), relyingParty(req), req.body);
        const found = await services.auth.authenticateSession(req.sessionToken!);
        if (!found) throw new AppError('auth.unauthenticated', 'sign in first');
        return { user: found.user, csrfToken: found.csrfToken, allowedActions: allowedActions(found.actor), organisationActions: organisationActions(found.actor), mustSetPassword: !found.user.hasPassword, stage: found.stage, secondFactorMethods: await sf.methodsOf(user.id) };
      },
    );

    app.post(
      '/auth/step-up',
      {
        schema: {
          tags,
          description:
            "\"Confirm it's you\": a second factor (`totp`, `recovery`, `webauthn`) or, for an account without one, `{method: \"password\", password}`. The session may then do step-up actions for 5 minutes; without it they answer 403 `auth.step_up_required`.",
          body: Json,
          response: { 200: StepUpOut },
        },
      },
      async (req) => sf.stepUp(actorOf(req), sessionOf(req), relyingParty(req), req.body),
    );

    app.post('/auth/step-up/passkey-options', { schema: { tags, description: 'WebAuthn options for a step-up with a passkey.', response: { 200: Json } } }, async (req) =>
      sf.passkeyAuthenticationOptions(req.user!.id, sessionOf(req), relyingParty(req)) as unknown as Record<string, unknown>,
    );

    const enrol = { stages: ['enrolment' as const] };
    app.get('/auth/security', { config: enrol, schema: { tags, description: "The signed-in user's second factors, recovery codes left, the policy's bearing on them, and this session's step-up.", response: { 200: StatusOut } } }, async (req) =>
      sf.status(actorOf(req)),
    );

    app.post(
      '/auth/security/totp',
      { config: enrol, schema: { tags, description: 'Starts enrolling an authenticator app: its secret (shown once), otpauth URI and QR code. Needs a step-up unless the session is limited to enrolment.', response: { 200: z.object({ factorId: z.string(), secret: z.string(), otpauthUri: z.string(), qrSvg: z.string() }) } } },
      async (req) => sf.beginTotp(actorOf(req), stageOf(req)),
    );

    app.post(
      '/auth/security/totp/:id/confirm',
      { config: enrol, schema: { tags, description: "Confirms the app with its current code. The account's first factor returns its recovery codes, once.", params: IdParams, body: Json, response: { 200: EnrolmentOut } } },
      async (req) => sf.confirmTotp(actorOf(req), sessionOf(req), stageOf(req), req.params.id, req.body),
    );

    app.post('/auth/security/passkey-options', { config: enrol, schema: { tags, description: 'WebAuthn registration options for a new passkey or security key.', response: { 200: Json } } }, async (req) =>
      sf.passkeyRegistrationOptions(actorOf(req), sessionOf(req), stageOf(req), relyingParty(req)) as unknown as Record<string, unknown>,
    );

    app.post(
      '/auth/security/passkey',
      { config: enrol, schema: { tags, description: "Registers a passkey from the browser's answer. The account's first factor returns its recovery codes, once.", body: Json, response: { 200: EnrolmentOut } } },
      async (req) => sf.registerPasskey(actorOf(req), sessionOf(req), stageOf(req), relyingParty(req), req.body),
    );

    app.delete('/auth/security/factors/:id', { schema: { tags, description: 'Removes one of your second factors (needs a step-up).', params: IdParams } }, async (req, reply) => {
      await sf.remove(actorOf(req), req.params.id);
      return reply.code(204).send();
    });

    app.post('/auth/security/recovery-codes', { schema: { tags, description: 'New recovery codes (the old ones stop working); needs a step-up.', response: { 200: z.object({ recoveryCodes: z.array(z.string()) }) } } }, async (req) => ({
      recoveryCodes: await sf.regenerateRecoveryCodes(actorOf(req)),
    }));

    app.get('/settings/second-factor-policy', { schema: { tags, description: 'Which roles must sign in with a second factor.', response: { 200: PolicyOut } } }, async () => sf.policy());

    app.put(
      '/settings/second-factor-policy',
      { schema: { tags, description: "Sets which roles (owner, admin) must sign in with a second factor; an organisation-wide owner, after a step-up. Applies from each person's next sign-in.", body: SecondFactorPolicySchema, response: { 200: PolicyOut } } },
      async (req) => sf.setPolicy(actorOf(req), req.body),
    );

    app.post('/users/:id/second-factors/reset', { schema: { tags, description: "Removes every second factor and recovery code of another person and ends their sessions (a lost phone); user.write organisation-wide, after a step-up.", params: IdParams, response: { 200: z.object({ removed: z.number().int() }) } } }, async (req) =>
      sf.resetUser(actorOf(req), req.params.id),
    );
  };
}
