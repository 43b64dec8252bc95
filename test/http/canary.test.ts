/**
 * The canary test (issue 5): unique secret values are seeded into a real server (started on
 * 127.0.0.1 on a free port, logging at debug into a buffer) — a password, a PIN code, a handbook
 * master code, an API token, a one-time sign-in token, the session and device cookies, the secret
 * key and the master key given by environment — then many routes are exercised, error paths that
 * carry a canary in their input included, and exports by people who may not reveal. No canary may
 * appear in any log line, any error body or any unauthorised export. Authorised reveals are the only
 * answers allowed to hold one, and they are not scanned.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ExcelJS from 'exceljs';
import { LocalClient } from '../../src/cli/client.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { CliHarness, type Running } from '../cli/harness.js';
import { readPdf } from '../helpers/pdf.js';

const SYSTEM = { kind: 'system', name: 'bootstrap' } as const;
const tag = randomBytes(6).toString('hex');
const CANARY = {
  password: `Canary-Password-${tag}`,
  techPassword: `Canary-TechPass-${tag}`,
  master: `CANARY-MASTER-${tag}`,
  pin: '',
  apiToken: '',
  oneTime: '',
  session: '',
  csrf: '',
  device: '',
  secretKey: randomBytes(32).toString('base64'),
  masterKey: randomBytes(32).toString('base64'),
};
/** A PIN nobody else could produce by chance: 8 random digits, first not 0, no run of three. */
function canaryPin(length: number): string {
  for (;;) {
    const d = Array.from({ length }, (_, i) => (i === 0 ? 1 + randomInt(9) : randomInt(10))).join('');
    if (!/(\d)\1\1|012|123|234|345|456|567|678|789/.test(d)) return d;
  }
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  bytes: Buffer;
}

describe('canaries never leak into logs, error bodies or unauthorised exports', { timeout: 240_000 }, () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lw-canary-'));
  const env = (): NodeJS.ProcessEnv => ({ ...CliHarness.baseEnv(dataDir), LOG_LEVEL: 'debug', LOCKWARDEN_SECRET_KEY: CANARY.secretKey, LOCKWARDEN_MASTER_KEY: CANARY.masterKey });
  const cli = new CliHarness(env);
  let server: Running;
  let base = '';
  /** Bodies that must hold no canary: every error answer, and the exports of people who may not reveal. */
  const scanned: { what: string; text: string }[] = [];
  const sessions: Record<string, { cookie: string; csrf: string }> = {};
  let auditorToken = '';

  async function call(method: string, url: string, opts: { as?: string; bearer?: string; json?: unknown; body?: Buffer | string; type?: string; scan?: boolean } = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    const s = opts.as ? sessions[opts.as] : undefined;
    if (s) headers.cookie = s.cookie;
    if (s && method !== 'GET') headers['x-csrf-token'] = s.csrf;
    if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
    let body: string | Buffer | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      headers['content-type'] = opts.type ?? 'application/octet-stream';
      body = opts.body;
    }
    const res = await fetch(`${base}${url}`, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body: typeof body === 'string' ? body : new Uint8Array(body) }) });
    const bytes = Buffer.from(await res.arrayBuffer());
    const answer = { status: res.status, headers: res.headers, text: bytes.toString('utf8'), bytes };
    if (res.status >= 400 || opts.scan) scanned.push({ what: `${method} ${url} -> ${res.status}`, text: answer.text });
    return answer;
  }

  async function signIn(name: string, email: string, password: string): Promise<void> {
    const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    assert.equal(res.status, 200, await res.clone().text());
    const cookies = res.headers.getSetCookie();
    const cookie = cookies.find((c) => c.startsWith('lw_session='))!.split(';')[0]!;
    const device = cookies.find((c) => c.startsWith('lw_device='))!.split(';')[0]!.slice('lw_device='.length);
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    sessions[name] = { cookie, csrf: csrfToken };
    // Confirm it's them (with the password: no second factor here), as a person does before a reveal or a new token.
    const confirmed = await call('POST', '/api/auth/step-up', { as: name, json: { method: 'password', password } });
    assert.equal(confirmed.status, 200, confirmed.text);
    if (name === 'owner') {
      CANARY.session = cookie.slice('lw_session='.length);
      CANARY.csrf = csrfToken;
      CANARY.device = device;
    }
  }

  before(async () => {
    // Seed on the folder before the server owns it: demo fleet, accounts, a one-time token.
    process.env.LOCKWARDEN_SECRET_KEY = CANARY.secretKey;
    process.env.LOCKWARDEN_MASTER_KEY = CANARY.masterKey;
    const local = await LocalClient.open(dataDir);
    try {
      await loadDemoFleet(local.services.ctx);
      const { auth } = local.services;
      await auth.createUser(SYSTEM, { email: 'owner@canary.test', displayName: 'Owner', role: 'owner', password: CANARY.password });
      await auth.createUser(SYSTEM, { email: 'tech@canary.test', displayName: 'Tech', role: 'manager', password: CANARY.techPassword });
      await auth.createUser(SYSTEM, { email: 'auditor@canary.test', displayName: 'Auditor', role: 'auditor', password: 'auditor password 12' });
      await auth.createUser(SYSTEM, { email: 'fresh@canary.test', displayName: 'Fresh', role: 'technician' });
      CANARY.oneTime = await auth.issueOneTimeToken(SYSTEM, 'fresh@canary.test');
      auditorToken = (await auth.createApiTokenFor(SYSTEM, 'auditor@canary.test', { name: 'audit' })).secret;
    } finally {
      await local.close();
      delete process.env.LOCKWARDEN_SECRET_KEY;
      delete process.env.LOCKWARDEN_MASTER_KEY;
    }
    const started = await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    server = started.running;
    base = started.match[1]!;
  });
  after(async () => {
    await server?.stop();
    cli.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exercises the routes, error paths included', async () => {
    await signIn('owner', 'owner@canary.test', CANARY.password);
    await signIn('tech', 'tech@canary.test', CANARY.techPassword);
    await signIn('auditor', 'auditor@canary.test', 'auditor password 12');

    // Sign-in error paths carrying the password (or a variant of it).
    await call('POST', '/api/auth/sign-in', { json: { email: 'owner@canary.test', password: `${CANARY.password}-wrong` } });
    await call('POST', '/api/auth/sign-in', { json: { email: 'not an email', password: CANARY.password } });
    await call('POST', '/api/auth/sign-in', { json: { email: 'owner@canary.test', password: CANARY.password, extra: CANARY.password } });
    await call('POST', '/api/auth/sign-in', { body: `{"email":"owner@canary.test","password":"${CANARY.password}"`, type: 'application/json' });
    await call('POST', '/api/auth/password', { as: 'owner', json: { currentPassword: `${CANARY.password}x`, newPassword: `${CANARY.password}-next` } });
    await call('POST', '/api/auth/password', { as: 'owner', json: { currentPassword: CANARY.password, newPassword: 'short' } });
    // "Confirm it's you" with a wrong password, and with the password in a field that does not exist.
    await call('POST', '/api/auth/step-up', { as: 'owner', json: { method: 'password', password: `${CANARY.password}-wrong` } });
    await call('POST', '/api/auth/step-up', { as: 'owner', json: { method: 'totp', code: CANARY.password } });
    // The one-time token: spent once, then refused; a malformed one too.
    const once = await call('POST', '/api/auth/one-time', { json: { token: CANARY.oneTime } });
    assert.equal(once.status, 200, once.text);
    await call('POST', '/api/auth/one-time', { json: { token: CANARY.oneTime } });
    await call('POST', '/api/auth/one-time', { json: { token: `${CANARY.oneTime}!`.repeat(20) } });

    // An API token: created, used, and a wrong variant refused.
    const created = await call('POST', '/api/tokens', { as: 'owner', json: { name: 'canary' } });
    CANARY.apiToken = (JSON.parse(created.text) as { secret: string }).secret;
    assert.equal((await call('GET', '/api/locks?limit=5', { bearer: CANARY.apiToken })).status, 200);
    await call('GET', '/api/locks', { bearer: `${CANARY.apiToken}x` });
    await call('GET', '/api/locks', { bearer: CANARY.apiToken.replace('lwt_', 'lwx_') });
    await call('POST', '/api/locks', { bearer: auditorToken, json: { name: CANARY.apiToken } });

    // A PIN with a canary code, on the first demo lock that takes one.
    const locks = (JSON.parse((await call('GET', '/api/locks?limit=100', { as: 'owner' })).text) as { items: { id: string }[] }).items;
    let lockId = '';
    let credentialId = '';
    for (const l of locks) {
      for (const length of [8, 6]) {
        const pin = canaryPin(length);
        const res = await call('POST', `/api/locks/${l.id}/pins`, { as: 'owner', json: { holder: 'Canary guest', code: pin } });
        if (res.status === 201) {
          CANARY.pin = pin;
          lockId = l.id;
          credentialId = (JSON.parse(res.text) as { credential: { id: string } }).credential.id;
          break;
        }
      }
      if (CANARY.pin) break;
    }
    assert.ok(CANARY.pin, 'a demo lock took the canary PIN');
    // Error paths carrying the PIN: duplicate, malformed, strict-object extras, someone not allowed.
    await call('POST', `/api/locks/${lockId}/pins`, { as: 'owner', json: { holder: 'Twin', code: CANARY.pin } });
    await call('POST', `/api/locks/${lockId}/pins`, { as: 'owner', json: { holder: 'Bad', code: `${CANARY.pin}x` } });
    await call('POST', `/api/locks/${lockId}/pins`, { as: 'owner', json: { holder: 'Bad', code: CANARY.pin, pin: CANARY.pin } });
    await call('POST', `/api/locks/${lockId}/pins`, { as: 'auditor', json: { holder: 'Nope', code: CANARY.pin } });
    await call('PATCH', `/api/credentials/${credentialId}`, { as: 'owner', json: { code: `${CANARY.pin}${CANARY.pin}${CANARY.pin}` } });
    // Reveals: malformed, forbidden, unknown; then the authorised one (not scanned).
    await call('POST', `/api/credentials/${credentialId}/reveal`, { as: 'owner', json: { reason: 'x' } });
    await call('POST', `/api/credentials/${credentialId}/reveal`, { as: 'owner', json: { reason: 'valid reason', code: CANARY.pin } });
    await call('POST', `/api/credentials/${credentialId}/reveal`, { as: 'auditor', json: { reason: 'curious auditor' } });
    await call('POST', `/api/credentials/${credentialId}/reveal`, { as: 'tech', json: { reason: 'curious technician' } });
    await call('POST', '/api/credentials/00000000-0000-4000-8000-000000000000/reveal', { as: 'owner', json: { reason: 'no such pin' } });
    const revealed = await call('POST', `/api/credentials/${credentialId}/reveal`, { as: 'owner', json: { reason: 'give it to the guest' } });
    assert.equal((JSON.parse(revealed.text) as { code: string }).code, CANARY.pin);
    for (const url of [`/api/locks/${lockId}/credentials`, `/api/locks/${lockId}`, '/api/bulk']) await call('GET', url, { as: 'auditor', scan: true });

    // A handbook master code.
    const entries = (JSON.parse((await call('GET', '/api/handbook/entries', { as: 'owner' })).text) as { items: { id: string }[] }).items;
    const entryId = entries[0]!.id;
    const secret = await call('POST', `/api/handbook/entries/${entryId}/secrets`, { as: 'owner', json: { kind: 'master_code', label: 'Master', value: CANARY.master } });
    assert.equal(secret.status, 201, secret.text);
    const secretId = (JSON.parse(secret.text) as { id: string }).id;
    await call('POST', `/api/handbook/entries/${entryId}/secrets`, { as: 'owner', json: { kind: 'nonsense', value: CANARY.master } });
    await call('POST', `/api/handbook/entries/${entryId}/secrets`, { as: 'auditor', json: { kind: 'master_code', value: CANARY.master } });
    await call('POST', `/api/handbook/entries/${entryId}/secrets`, { as: 'owner', json: { kind: 'master_code', value: CANARY.master.repeat(400) } });
    await call('POST', `/api/handbook/secrets/${secretId}/reveal`, { as: 'auditor', json: { reason: 'curious auditor' } });
    await call('POST', `/api/handbook/secrets/${secretId}/reveal`, { as: 'tech', json: {} });
    await call('POST', `/api/handbook/secrets/${secretId}/reveal`, { as: 'tech', json: { reason: 'ok reason', value: CANARY.master } });
    const shown = await call('POST', `/api/handbook/secrets/${secretId}/reveal`, { as: 'tech', json: { reason: 'reset at the door' } });
    assert.equal((JSON.parse(shown.text) as { value: string }).value, CANARY.master);
    for (const url of [`/api/handbook/entries/${entryId}`, `/api/handbook/entries/${entryId}/secrets`, `/api/handbook/entries/${entryId}/reveals`, `/api/handbook/search?q=${encodeURIComponent('master')}`, '/api/handbook/toc']) {
      await call('GET', url, { as: 'auditor', scan: true });
    }

    // Exports by someone who may not reveal: CSV, XLSX, PDF; and the PDF with secrets refused.
    for (const kind of ['inventory', 'handbook']) {
      await call('GET', `/api/export/${kind}.csv`, { as: 'auditor', scan: true });
      const xlsx = await call('GET', `/api/export/${kind}.xlsx`, { as: 'auditor' });
      assert.equal(xlsx.status, 200);
      const book = new ExcelJS.Workbook();
      await book.xlsx.load(xlsx.bytes as unknown as ArrayBuffer);
      const cells: string[] = [];
      book.eachSheet((ws) => ws.eachRow((row) => row.eachCell((c) => void cells.push(String(c.text)))));
      scanned.push({ what: `xlsx ${kind} (auditor)`, text: cells.join('\n') });
    }
    const pdf = await call('GET', '/api/handbook/export.pdf', { as: 'auditor' });
    assert.equal(pdf.status, 200);
    scanned.push({ what: 'handbook PDF (auditor)', text: (await readPdf(pdf.bytes)).pages.join('\n') });
    await call('GET', `/api/handbook/export.pdf?includeSecrets=true&reason=${encodeURIComponent('auditor wants them')}`, { as: 'auditor' });
    const techPdf = await call('GET', '/api/handbook/export.pdf', { as: 'tech' });
    scanned.push({ what: 'handbook PDF without secrets (tech)', text: (await readPdf(techPdf.bytes)).pages.join('\n') });

    // An import whose file carries secret-looking values, in a row with an error.
    const csv = (await call('GET', '/api/export/inventory.csv', { as: 'owner' })).text.split('\n');
    const header = csv[0]!.split(',');
    const notes = header.findIndex((h) => /notes/i.test(h));
    const cells = csv[1]!.split(',');
    cells[0] = 'Nowhere / At all';
    if (notes >= 0) cells[notes] = `master ${CANARY.master} pin ${CANARY.pin}`;
    else cells.push(CANARY.master);
    const bad = await call('POST', '/api/import/inventory', { as: 'owner', body: [csv[0], cells.join(',')].join('\n'), type: 'text/csv' });
    assert.equal(bad.status, 400, bad.text);
    await call('POST', '/api/import/inventory', { as: 'owner', body: `PK\u0003\u0004${CANARY.master}`, type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });

    // Sign out everywhere and an owner ending a user's sessions; old cookies then refused.
    await call('POST', '/api/auth/sign-out-everywhere', { as: 'tech' });
    await call('GET', '/api/auth/me', { as: 'tech' });
    await call('POST', '/api/users/00000000-0000-4000-8000-000000000000/sessions/revoke', { as: 'owner' });
    // A body far too large, with the canary inside.
    await call('POST', '/api/auth/sign-in', { body: JSON.stringify({ email: 'a@b.c', password: CANARY.password.repeat(60_000) }), type: 'application/json' });
  });

  it('finds no canary in any log line, error body or unauthorised export', async () => {
    // Let the last log lines reach the buffer.
    await new Promise((r) => setTimeout(r, 300));
    const log = server.output();
    assert.ok(log.includes('"msg":"incoming request"') && log.includes('/api/handbook/secrets/'), 'the request log lines were captured');
    assert.ok(scanned.length > 40, `${scanned.length} bodies scanned`);
    const forms = (v: string) => [v, Buffer.from(v).toString('base64'), ...(/^[A-Za-z0-9+/]+=*$/.test(v) && v.length >= 40 ? [Buffer.from(v, 'base64').toString('hex'), Buffer.from(v, 'base64').toString('base64url')] : [])];
    const leaks: string[] = [];
    for (const [name, value] of Object.entries(CANARY)) {
      assert.ok(value.length >= 6, `canary ${name} was seeded`);
      for (const form of forms(value)) {
        if (log.includes(form)) leaks.push(`${name} in the server log: ...${log.slice(Math.max(0, log.indexOf(form) - 200), log.indexOf(form) + 40)}...`);
        for (const b of scanned) if (b.text.includes(form)) leaks.push(`${name} in ${b.what}: ${b.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});
