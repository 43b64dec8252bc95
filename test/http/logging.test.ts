import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApp, LOG_REDACT } from '../../src/server/app.js';
import { testServices, type TestEnv } from '../helpers/db.js';

describe('logs never carry secrets', () => {
  let env: TestEnv;
  let app: FastifyInstance;
  const lines: string[] = [];
  const password = 'a long enough password 1';

  before(async () => {
    env = await testServices();
    await env.services.auth.createUser({ kind: 'system', name: 'bootstrap' }, { email: 'log@example.test', displayName: 'L', role: 'owner', password });
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    app = await createApp({ services: env.services, logger: { level: 'trace', redact: { paths: LOG_REDACT, censor: '[redacted]' }, stream } });
    app.get('/api/boom', async () => {
      throw new Error('database exploded at row 7');
    });
  });
  after(async () => {
    await app.close();
    await env.close();
  });

  it('redacts cookies, bearer tokens and passwords, and hides internal errors from clients', async () => {
    const signIn = await app.inject({ method: 'POST', url: '/api/auth/sign-in', payload: { email: 'log@example.test', password } });
    assert.equal(signIn.statusCode, 200);
    const cookie = signIn.cookies.find((c) => c.name === 'lw_session')!.value;
    const { csrfToken } = signIn.json<{ csrfToken: string }>();
    // Making a token is a step-up act: the session confirms with its password first (which must not be logged either).
    const confirmed = await app.inject({ method: 'POST', url: '/api/auth/step-up', cookies: { lw_session: cookie }, headers: { 'x-csrf-token': csrfToken }, payload: { method: 'password', password } });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    const created = await app.inject({ method: 'POST', url: '/api/tokens', cookies: { lw_session: cookie }, headers: { 'x-csrf-token': csrfToken }, payload: { name: 'ci' } });
    assert.equal(created.statusCode, 201, created.body);
    const { secret } = created.json<{ secret: string }>();
    const boom = await app.inject({ method: 'GET', url: '/api/boom', headers: { authorization: `Bearer ${secret}` } });
    assert.equal(boom.statusCode, 500);
    const body = boom.json<{ error: { code: string; message: string; requestId: string } }>();
    assert.equal(body.error.code, 'internal');
    assert.doesNotMatch(boom.body, /exploded|at row|\.ts:/, 'no internals in the response');
    const log = lines.join('');
    assert.match(log, /database exploded/, 'the error is logged for operators');
    assert.match(log, new RegExp(body.error.requestId), 'with the request id the client was given');
    for (const s of [password, cookie, csrfToken, secret]) assert.ok(!log.includes(s), `secret leaked into the log: ${s.slice(0, 6)}...`);
  });
});
