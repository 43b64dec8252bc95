/**
 * Builds the HTTP server: validation and serialization from zod schemas, the OpenAPI document, auth,
 * metrics, error mapping, the API routes and the built web UI. Creating an app does not listen.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, validationError } from '../domain/errors.js';
import { badTextFields } from '../domain/text.js';
import { issueFields } from '../domain/validation.js';
import type { Services } from '../services/index.js';
import { demoLoaded } from '../services/demo-fleet.js';
import { ping } from '../store/database.js';
import { auditClientScope } from '../services/audit-log.js';
import { actorOf, registerAuth } from './auth.js';
import { ssoRoutes } from './routes/sso-routes.js';
import { HTTP_STATUS } from './errors.js';
import { registerMetrics } from './metrics.js';
import { registerSecurityHeaders, SPA_CSP } from './security-headers.js';
import { ThrottledError } from '../domain/throttle.js';
import { authRoutes } from './routes/auth-routes.js';
import { inventoryRoutes } from './routes/inventory-routes.js';
import { credentialRoutes } from './routes/credential-routes.js';
import { handbookRoutes } from './routes/handbook-routes.js';
import { sheetRoutes } from './routes/sheet-routes.js';
import { attachmentRoutes } from './routes/attachment-routes.js';
import { simulatorRoutes } from './routes/simulator-routes.js';
import { practiceRoutes } from './routes/practice-routes.js';
import { accessRoutes } from './routes/access-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { backupRoutes } from './routes/backup-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { secondFactorRoutes } from './routes/second-factor-routes.js';
import { alertRoutes } from './routes/alert-routes.js';
import { turnoverRoutes } from './routes/turnover-routes.js';
import { integrationRoutes } from './routes/integration-routes.js';
import { resetCaseRoutes } from './routes/reset-case-routes.js';
import { resetPhotoRoutes } from './routes/reset-photo-routes.js';
import { dashboardRoutes } from './routes/dashboard-routes.js';
import type { SimFleet } from '../drivers/simulator/index.js';

export interface AppOptions {
  services: Services;
  /** Folder holding the built web UI (index.html); the UI is not served when absent. */
  webDir?: string | undefined;
  /** pino options, or false for no logs (tests). */
  logger?: FastifyServerOptions['logger'];
  /** Mark cookies Secure (behind HTTPS). */
  secureCookies?: boolean;
  version?: string;
  /** The in-process simulator, for the demo's "act at the door" routes. */
  fleet?: SimFleet | null;
}

/** Fields that never reach a log line. */
export const LOG_REDACT = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.code',
  '*.value',
  '*.pin_code',
];

/** Marks every route registered in this (encapsulated) context as reachable without signing in. */
function markRoutesPublic(ctx: FastifyInstance): void {
  ctx.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), public: true };
  });
}

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * Fastify's own schema compilers (ajv and fast-json-stringify, about 250 modules), loaded the first
 * time a route needs them rather than when the app is built: every route here validates and serializes
 * with zod (set below), so a server normally never loads them, and its start is that much shorter.
 */
function lazyDefaultCompilers(): CompilersFactory {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  // Each is made once per app, as Fastify makes it (it caches compilers by the shared schemas).
  const lazy = <F>(load: () => F): F => {
    let loaded: F | undefined;
    return ((...args: unknown[]) => ((loaded ??= load()) as (...a: unknown[]) => unknown)(...args)) as F;
  };
  return {
    buildValidator: lazy(() => (fromFastify('@fastify/ajv-compiler') as () => Required<CompilersFactory>['buildValidator'])()),
    buildSerializer: lazy(() => (fromFastify('@fastify/fast-json-stringify-compiler') as () => Required<CompilersFactory>['buildSerializer'])()),
  };
}

/** Creates the Fastify app with every route registered. */
export async function createApp(opts: AppOptions): Promise<FastifyInstance> {
  const logger = opts.logger === undefined ? false : opts.logger === true ? { redact: { paths: LOG_REDACT, censor: '[redacted]' } } : opts.logger;
  const app = Fastify({
    logger,
    genReqId: () => randomUUID(),
    trustProxy: process.env.LOCKWARDEN_TRUST_PROXY === '1',
    bodyLimit: 1024 * 1024,
    schemaController: { compilersFactory: lazyDefaultCompilers() },
    // The router's own refusals (a path id past 100 characters, a malformed URL) in the documented error form.
    frameworkErrors: (err, req, reply) => {
      const tooLong = (err as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH';
      const message = tooLong ? 'a path parameter is longer than 100 characters; no id is that long' : 'the URL cannot be read (bad percent-encoding)';
      void (reply as unknown as FastifyReply).code(400).send({ error: { code: 'validation.failed', message, fields: [{ path: 'url', message }], requestId: req.id } });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((err, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const fields = err.validation.flatMap((v) =>
        issueFields((v.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.'), v.keyword, (v.params as { keys?: unknown } | undefined)?.keys, v.message ?? 'invalid'),
      );
      const where = err.validationContext === 'body' ? '' : `${err.validationContext}: `;
      return reply.code(400).send({ error: { code: 'validation.failed', message: `Invalid input: ${fields.map((f) => `${where}${f.path || '(whole)'}: ${f.message}`).join('; ')}`, fields, requestId: req.id } });
    }
    if (err instanceof AppError) {
      if (err instanceof ThrottledError && err.retryAfterSeconds !== null) void reply.header('retry-after', String(err.retryAfterSeconds));
      return reply.code(HTTP_STATUS[err.code]).send({ error: { code: err.code, message: err.message, ...(err.fields.length ? { fields: err.fields } : {}), requestId: req.id } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, wrong content type, body too large): safe to name.
      return reply.code(status).send({ error: { code: 'validation.failed', message: (err as Error).message, requestId: req.id } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'internal', message: `internal error; quote request id ${req.id}`, requestId: req.id } });
  });

  // Text no database column can hold (NUL, unpaired surrogates) is refused by field before any route
  // schema: in the JSON body, the query string and the path.
  app.addHook('preValidation', (req, _reply, done) => {
    const bad = [
      ...badTextFields(req.params, 'params'),
      ...badTextFields(req.query, 'query'),
      ...(Buffer.isBuffer(req.body) || typeof req.body !== 'object' ? [] : badTextFields(req.body)),
    ];
    done(bad.length ? validationError(bad) : undefined);
  });

  // Every request runs with its client (address, user agent) in scope, for the audit entries it writes.
  app.addHook('onRequest', (req, _reply, done) => {
    const ua = req.headers['user-agent'];
    auditClientScope.run({ ip: req.ip, userAgent: typeof ua === 'string' ? ua : undefined }, done);
  });

  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'lockwarden API', version: opts.version ?? '0.0.0', description: 'Smart lock inventory, reset handbook and controlled resets.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'lw_session' },
          token: { type: 'http', scheme: 'bearer', description: 'API token (lwt_...) from the Tokens page or `lockwarden tokens create`' },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // The docs page and the UI's static files hold no data and the sign-in page needs them: public.
  await app.register(async (docs) => {
    markRoutesPublic(docs);
    await docs.register(fastifySwaggerUi, { routePrefix: '/api/docs', uiConfig: { docExpansion: 'list' } });
  });

  registerAuth(app, opts.services);
  const metrics = registerMetrics(app);

  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await ping(opts.services.ctx.db);
      return { status: 'ok', engine: opts.services.ctx.engine };
    } catch {
      return reply.code(503).send({ status: 'unavailable', engine: opts.services.ctx.engine });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  app.get('/api/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      api.get('/meta', { schema: { tags: ['meta'], response: { 200: z.object({ demo: z.boolean(), version: z.string(), engine: z.string() }) } } }, async (req) => {
        actorOf(req);
        return { demo: await demoLoaded(opts.services.ctx), version: opts.version ?? '0.0.0', engine: opts.services.ctx.engine };
      });
      await api.register(authRoutes(opts.services, { secureCookies: opts.secureCookies ?? false }));
      await api.register(inventoryRoutes(opts.services));
      await api.register(credentialRoutes(opts.services));
      await api.register(handbookRoutes(opts.services));
      await api.register(sheetRoutes(opts.services));
      await api.register(attachmentRoutes(opts.services));
      await api.register(accessRoutes(opts.services));
      await api.register(auditRoutes(opts.services));
      await api.register(backupRoutes(opts.services));
      await api.register(sessionRoutes(opts.services));
      await api.register(secondFactorRoutes(opts.services));
      await api.register(ssoRoutes(opts.services, { secureCookies: opts.secureCookies ?? false }));
      await api.register(alertRoutes(opts.services));
      await api.register(integrationRoutes(opts.services));
      await api.register(resetCaseRoutes(opts.services));
      await api.register(turnoverRoutes(opts.services));
      await api.register(resetPhotoRoutes(opts.services));
      await api.register(dashboardRoutes(opts.services));
      await api.register(practiceRoutes(opts.services));
      if (opts.fleet) await api.register(simulatorRoutes(opts.services, opts.fleet));
    },
    { prefix: '/api' },
  );

  const webDir = opts.webDir;
  const hasWeb = webDir !== undefined && existsSync(path.join(webDir, 'index.html'));
  if (hasWeb) {
    await app.register(async (web) => {
      markRoutesPublic(web);
      await web.register(fastifyStatic, { root: webDir, wildcard: false, index: false, prefix: '/' });
    });
  }
  const indexHtml = hasWeb ? readFileSync(path.join(webDir, 'index.html'), 'utf8') : null;
  app.setNotFoundHandler((req, reply) => {
    if (req.method === 'GET' && indexHtml && !req.url.startsWith('/api/') && !req.url.startsWith('/metrics')) {
      return reply.header('content-security-policy', SPA_CSP).type('text/html').send(indexHtml);
    }
    return reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, requestId: req.id } });
  });
  registerSecurityHeaders(app, { secureCookies: opts.secureCookies ?? false });
  return app;
}
