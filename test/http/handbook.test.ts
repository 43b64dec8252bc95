/**
 * The handbook over HTTP: roles decide who reads, edits, verifies and reveals; bad input is a 400
 * naming the field; secrets appear only in a reveal's answer, never in lists, search, errors or logs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { asSession, expectError, fieldPaths, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

interface Summary {
  id: string;
  modelId: string;
  modelNumber: string;
  revision: number;
  status: string;
}
interface Entry extends Summary {
  content: { title: string; steps: { kind: string; text: string }[] };
  secrets: { id: string; masked: string }[];
}

describe('handbook HTTP API', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  let tech: Session;
  let auditor: Session;
  let entry: Entry;

  before(async () => {
    env = await testApp({ demo: true });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.createUser('tech@example.test', 'technician', 'technician password 1');
    await env.createUser('auditor@example.test', 'auditor', 'auditor password 1');
    tech = await signIn(app, 'tech@example.test', 'technician password 1');
    auditor = await signIn(app, 'auditor@example.test', 'auditor password 1');
    const list = await injectAs(app, asSession(owner), { method: 'GET', url: '/api/handbook/entries' });
    assert.equal(list.statusCode, 200, list.body);
    const kp80 = list.json<{ items: Summary[] }>().items.find((e) => e.modelNumber === 'KP-80C')!;
    entry = (await injectAs(app, asSession(owner), { method: 'GET', url: `/api/handbook/entries/${kp80.id}` })).json<Entry>();
  });
  after(() => env.close());

  it('needs a session, and lists the starter catalogue to any reader', async () => {
    expectError(await app.inject({ method: 'GET', url: '/api/handbook/entries' }), 401, 'auth.unauthenticated');
    const res = await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/handbook/entries?manufacturer=Keystone%20Demo' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json<{ items: Summary[] }>().items.map((e) => e.modelNumber), ['KP-50', 'KP-80C']);
  });

  it('saves a revision (owner), refuses a technician (403) and a stale revision (409)', async () => {
    const content = { ...entry.content, title: 'KP-80C factory reset' };
    expectError(await injectAs(app, asSession(tech), { method: 'PUT', url: `/api/handbook/entries/${entry.id}`, payload: { content, reason: 'edit', expectedRevision: 1 } }), 403, 'auth.forbidden');
    const ok = await injectAs(app, asSession(owner), { method: 'PUT', url: `/api/handbook/entries/${entry.id}`, payload: { content, reason: 'checked the manual', expectedRevision: 1 } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json<Entry>().revision, 2);
    expectError(await injectAs(app, asSession(owner), { method: 'PUT', url: `/api/handbook/entries/${entry.id}`, payload: { content, reason: 'again', expectedRevision: 1 } }), 409, 'handbook.revision_conflict');
    const diff = await injectAs(app, asSession(auditor), { method: 'GET', url: `/api/handbook/entries/${entry.id}/diff?from=1&to=2` });
    assert.equal(diff.statusCode, 200, diff.body);
    assert.deepEqual(diff.json<{ fields: { field: string }[] }>().fields.map((f) => f.field), ['title']);
  });

  it('bad input is a 400 naming the field', async () => {
    const err = expectError(
      await injectAs(app, asSession(owner), {
        method: 'PUT',
        url: `/api/handbook/entries/${entry.id}`,
        payload: { content: { ...entry.content, steps: [{ kind: 'hold', text: 'Hold' }] }, reason: 'x', expectedRevision: 2 },
      }),
      400,
      'validation.failed',
    );
    assert.ok(fieldPaths(err).includes('content.steps.0.seconds'), JSON.stringify(err));
    assert.ok(fieldPaths(err).includes('reason'), JSON.stringify(err));
    const after = (await injectAs(app, asSession(owner), { method: 'GET', url: `/api/handbook/entries/${entry.id}` })).json<Entry>();
    assert.equal(after.revision, 2, 'nothing was written');
  });

  it('a technician verifies; an auditor may not; stale list and TOC answer', async () => {
    expectError(await injectAs(app, asSession(auditor), { method: 'POST', url: `/api/handbook/entries/${entry.id}/verify`, payload: {} }), 403, 'auth.forbidden');
    const res = await injectAs(app, asSession(tech), { method: 'POST', url: `/api/handbook/entries/${entry.id}/verify`, payload: { revision: 2 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<Entry>().status, 'current');
    const stale = (await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/handbook/stale' })).json<{ items: Summary[] }>().items;
    assert.equal(stale.length, 8, 'every other demo entry was never verified');
    assert.ok(!stale.some((s) => s.id === entry.id));
    const toc = await injectAs(app, asSession(auditor), { method: 'GET', url: '/api/handbook/toc' });
    assert.equal(toc.statusCode, 200, toc.body);
    assert.equal(toc.json<{ manufacturers: unknown[] }>().manufacturers.length, 5);
  });

  it('secrets: masked in every answer but a reveal; an auditor gets 403; reveals are recorded', async () => {
    const add = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/handbook/entries/${entry.id}/secrets`, payload: { kind: 'master_code', label: 'Master', value: '90817263' } });
    assert.equal(add.statusCode, 201, add.body);
    const secretId = add.json<{ id: string }>().id;
    const views = await Promise.all(
      ['/api/handbook/entries', `/api/handbook/entries/${entry.id}`, '/api/handbook/search?q=90817263', '/api/handbook/search?q=KP-80C', '/api/handbook/toc', `/api/handbook/entries/${entry.id}/revisions`].map((url) =>
        injectAs(app, asSession(owner), { method: 'GET', url }),
      ),
    );
    for (const v of views) {
      assert.equal(v.statusCode, 200, v.body);
      assert.ok(!v.body.includes('90817263'), `no secret in ${v.body.slice(0, 80)}`);
    }
    const denied = await injectAs(app, asSession(auditor), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'curious' } });
    expectError(denied, 403, 'auth.forbidden');
    // A technician reveals only with a grant for this entry (an approved access request).
    expectError(await injectAs(app, asSession(tech), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'no grant yet' } }), 403, 'auth.forbidden');
    await env.grantReveal('tech@example.test', entry.id);
    const noReason = await injectAs(app, asSession(tech), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: {} });
    expectError(noReason, 400, 'validation.failed');
    assert.ok(!noReason.body.includes('90817263'));
    const shown = await injectAs(app, asSession(tech), { method: 'POST', url: `/api/handbook/secrets/${secretId}/reveal`, payload: { reason: 'reset of the records room keypad' } });
    assert.equal(shown.statusCode, 200, shown.body);
    assert.equal(shown.json<{ value: string }>().value, '90817263');
    assert.equal(shown.headers['cache-control'], 'no-store');
    const log = (await injectAs(app, asSession(auditor), { method: 'GET', url: `/api/handbook/entries/${entry.id}/reveals` })).json<{ items: { actorLabel: string; reason: string }[] }>().items;
    assert.deepEqual(
      log.map((r) => [r.actorLabel, r.reason]),
      [['tech@example.test', 'reset of the records room keypad']],
    );
  });

  it('search tolerates a model-number typo; keys rotate for owners only; the routes are documented', async () => {
    const hits = (await injectAs(app, asSession(tech), { method: 'GET', url: '/api/handbook/search?q=DB220' })).json<{ items: Summary[] }>().items;
    assert.equal(hits[0]?.modelNumber, 'DB-220W');
    expectError(await injectAs(app, asSession(tech), { method: 'POST', url: '/api/keys/rotate' }), 403, 'auth.forbidden');
    const rot = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/keys/rotate' });
    assert.equal(rot.statusCode, 200, rot.body);
    assert.equal(rot.json<{ masterVersion: number }>().masterVersion, 2);
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    for (const p of ['/api/handbook/entries', '/api/handbook/entries/{id}/diff', '/api/handbook/secrets/{id}/reveal', '/api/handbook/toc', '/api/keys/rotate', '/api/locks/{id}/handbook']) assert.ok(doc.paths[p], p);
  });
});
