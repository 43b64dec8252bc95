/**
 * Spreadsheets over HTTP: exports as files with the right type, imports as the raw body (CSV or XLSX),
 * a dry run that writes nothing, a 400 listing every bad row and column, the policy's actions, and
 * the routes in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { count } from 'drizzle-orm';
import { INVENTORY_COLUMNS, SHEET_CONTENT_TYPES } from '../../src/domain/sheets.js';
import { readCsv, writeCsv } from '../../src/sheets/files.js';
import { locks } from '../../src/store/schema.js';
import { asSession, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const col = (name: (typeof INVENTORY_COLUMNS)[number]) => INVENTORY_COLUMNS.indexOf(name);

describe('spreadsheet HTTP API', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  let auditor: Session;
  const lockCount = async () => Number((await env.database.db.select({ n: count() }).from(locks))[0]!.n);

  before(async () => {
    env = await testApp({ demo: true });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.createUser('auditor@example.test', 'auditor', 'auditor password 1');
    auditor = await signIn(app, 'auditor@example.test', 'auditor password 1');
  });
  after(() => env.close());

  it('exports CSV and XLSX files to a reader, and they import back with nothing changed', async () => {
    for (const kind of ['inventory', 'handbook']) {
      for (const format of ['csv', 'xlsx'] as const) {
        const res = await injectAs(app, asSession(auditor), { method: 'GET', url: `/api/export/${kind}.${format}` });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['content-type'], SHEET_CONTENT_TYPES[format]);
        assert.match(String(res.headers['content-disposition']), new RegExp(`attachment; filename="lockwarden-${kind}-\\d{4}-\\d{2}-\\d{2}\\.${format}"`));
        const imp = await injectAs(app, asSession(owner), { method: 'POST', url: `/api/import/${kind}`, headers: { 'content-type': SHEET_CONTENT_TYPES[format] }, payload: res.rawPayload });
        assert.equal(imp.statusCode, 200, imp.body);
        const report = imp.json<{ rows: number; unchanged: number; created: number; updated: number; actor: string }>();
        assert.equal(report.unchanged, report.rows, imp.body);
        assert.equal(report.actor, OWNER_EMAIL);
      }
    }
  });

  it('needs a session; an auditor may export but not import (403, even a dry run)', async () => {
    expectError(await app.inject({ method: 'GET', url: '/api/export/inventory.csv' }), 401, 'auth.unauthenticated');
    const csv = (await injectAs(app, asSession(owner), { method: 'GET', url: '/api/export/inventory.csv' })).rawPayload;
    expectError(await injectAs(app, asSession(auditor), { method: 'POST', url: '/api/import/inventory?dryRun=true', headers: { 'content-type': 'text/csv' }, payload: csv }), 403, 'auth.forbidden');
  });

  it('a dry run validates and writes nothing; the real import adds the row', async () => {
    const t = readCsv((await injectAs(app, asSession(owner), { method: 'GET', url: '/api/export/inventory.csv' })).rawPayload);
    const row = [...t.rows[0]!];
    row[col('id')] = '';
    row[col('external id')] = '';
    row[col('name')] = 'Imported side door';
    const body = writeCsv({ headers: t.headers, rows: [row] });
    const before = await lockCount();
    const dry = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory?dryRun=true', headers: { 'content-type': 'text/csv' }, payload: body });
    assert.equal(dry.statusCode, 200, dry.body);
    assert.deepEqual({ ...dry.json<object>(), actor: undefined }, { kind: 'inventory', dryRun: true, rows: 1, created: 1, updated: 0, unchanged: 0, revisions: 0, actor: undefined });
    assert.equal(await lockCount(), before);
    const real = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory', headers: { 'content-type': 'text/csv; charset=utf-8' }, payload: body });
    assert.equal(real.statusCode, 200, real.body);
    assert.equal(await lockCount(), before + 1);
  });

  it('a bad file is a 400 listing each row and column; nothing is written', async () => {
    const t = readCsv((await injectAs(app, asSession(owner), { method: 'GET', url: '/api/export/inventory.csv' })).rawPayload);
    const rows = t.rows.slice(0, 3).map((r) => [...r]);
    rows[0]![col('driver')] = 'carrier-pigeon';
    rows[2]![col('mechanical override')] = 'maybe';
    rows[2]![col('last verified')] = '2024-13-01';
    const before = await lockCount();
    const err = expectError(
      await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory', headers: { 'content-type': 'text/csv' }, payload: writeCsv({ headers: t.headers, rows }) }),
      400,
      'validation.failed',
    );
    const fields = (err.fields ?? []) as unknown as { row: number; column: string; message: string }[];
    assert.deepEqual(fields.map((f) => [f.row, f.column]), [[2, 'driver'], [4, 'mechanical override'], [4, 'last verified']]);
    assert.match(err.message, /3 problem\(s\) in 2 row\(s\); nothing was imported/);
    assert.equal(await lockCount(), before);
  });

  it('refuses what is not a spreadsheet: JSON, an XLSX sent as CSV and a file over the size limit', async () => {
    expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory', payload: { rows: [] } }), 400, 'validation.failed');
    const xlsx = (await injectAs(app, asSession(owner), { method: 'GET', url: '/api/export/inventory.xlsx' })).rawPayload;
    const e = expectError(await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory', headers: { 'content-type': 'text/csv' }, payload: xlsx }), 400, 'validation.failed');
    assert.match(e.message, /looks like an XLSX file/);
    const big = Buffer.alloc(11 * 1024 * 1024, 0x41);
    const res = await injectAs(app, asSession(owner), { method: 'POST', url: '/api/import/inventory', headers: { 'content-type': 'text/csv' }, payload: big });
    assert.equal(res.statusCode, 413, res.body);
  });

  it('the routes are in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    for (const p of ['/api/export/inventory.csv', '/api/export/inventory.xlsx', '/api/export/handbook.csv', '/api/export/handbook.xlsx', '/api/import/inventory', '/api/import/handbook']) assert.ok(doc.paths[p], p);
  });
});
