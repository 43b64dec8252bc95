/**
 * `GET /api/handbook/export.pdf`: a PDF attachment that is never cached, 400 naming the bad
 * parameter, 403 for secrets without the right to reveal them, and in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { asSession, expectError, fieldPaths, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';
import { readPdf } from '../helpers/pdf.js';

describe('handbook PDF export over HTTP', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  let auditor: Session;
  let tech: Session;
  let sc10: string;

  before(async () => {
    env = await testApp({ demo: true });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.createUser('auditor@example.test', 'auditor', 'auditor password 1');
    await env.createUser('tech@example.test', 'technician', 'technician password 1');
    auditor = await signIn(app, 'auditor@example.test', 'auditor password 1');
    tech = await signIn(app, 'tech@example.test', 'technician password 1');
    const list = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/handbook/entries?manufacturer=Vaultline%20Demo' });
    sc10 = list.json<{ items: { id: string; modelNumber: string }[] }>().items.find((e) => e.modelNumber === 'SC-10')!.id;
    const s = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/handbook/entries/${sc10}/secrets`, payload: { kind: 'master_code', value: '739104' } });
    assert.equal(s.statusCode, 201, s.body);
  });
  after(() => env.close());

  it('sends a PDF attachment, not cached, with the secrets redacted', async () => {
    expectError(await app.inject({ method: 'GET', url: '/api/handbook/export.pdf' }), 401, 'auth.unauthenticated');
    const res = await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/handbook/export.pdf' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/pdf');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="lockwarden-handbook-all-\d{8}-\d{4}\.pdf"$/);
    assert.equal(res.rawPayload.subarray(0, 5).toString(), '%PDF-');
    const pdf = await readPdf(res.rawPayload);
    const text = pdf.pages.join('\n');
    assert.ok(text.includes('Master code: •••• (redacted)') && !text.includes('739104'));
    assert.ok(pdf.pages.every((p) => p.includes('Prepared for auditor@example.test')));
  });

  it('names the bad parameter (400) and refuses secrets to those who may not reveal them (403)', async () => {
    const bad = async (q: string, field: string) => {
      const err = expectError(await injectAs(app, asSession(owner), { method: 'GET', url: `/api/handbook/export.pdf?${q}` }), 400, 'validation.failed');
      assert.ok(fieldPaths(err).some((p) => p.endsWith(field)), `${field} in ${fieldPaths(err).join(', ')}`);
    };
    await bad('scope=region', 'scope');
    await bad('scope=site', 'locationId');
    await bad('scope=site&locationId=nope', 'locationId');
    await bad('scope=site&locationId=00000000-0000-4000-8000-00000000000f', 'locationId');
    await bad('scope=manufacturer&manufacturer=Nobody', 'manufacturer');
    await bad('includeSecrets=true', 'reason');
    await bad('includeSecrets=perhaps&reason=whatever', 'includeSecrets');
    await bad('color=blue', '');
    expectError(await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/handbook/export.pdf?includeSecrets=true&reason=audit%20copy' }), 403, 'auth.forbidden');
  });

  it('prints secrets for a technician who asks with a reason, and records the reveal', async () => {
    await env.grantReveal('tech@example.test', sc10);
    const res = await injectAs(app, asSession(tech), { method: 'GET', url: '/api/handbook/export.pdf?scope=manufacturer&manufacturer=Vaultline%20Demo&includeSecrets=true&reason=cash%20safe%20reset' });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok((await readPdf(res.rawPayload)).pages.join('\n').includes('Master code: 739104'));
    const reveals = await injectAs(app, asSession(auditor), { method: 'GET', url: `/api/handbook/entries/${sc10}/reveals` });
    const items = reveals.json<{ items: { actorLabel: string; reason: string }[] }>().items;
    assert.equal(items.length, 1);
    assert.equal(items[0]!.actorLabel, 'tech@example.test');
    assert.match(items[0]!.reason, /cash safe reset/);
  });

  it('is in the OpenAPI document with its parameters', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, { get?: { parameters?: { name: string }[] } }> }>();
    const op = doc.paths['/api/handbook/export.pdf']?.get;
    assert.ok(op, Object.keys(doc.paths).join(', '));
    assert.deepEqual(op.parameters?.map((p) => p.name).sort(), ['includeSecrets', 'locationId', 'manufacturer', 'reason', 'scope']);
  });
});
