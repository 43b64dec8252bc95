/**
 * The turnover and outbox routes over HTTP: bad input is a 400 naming the field and changes nothing,
 * a webhook's signing secret is shown once and never again (nor in the audit log's readable text),
 * and the error body of a refused stay names the clash without echoing anything secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../src/store/database.js';
import { asSession, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

describe('turnover and outbox over HTTP', () => {
  let env: HttpEnv;
  let owner: Session;
  let unitId = '';
  let buildingId = '';
  const call = (method: string, url: string, payload?: unknown) => injectAs(env.app, asSession(owner), { method: method, url, ...(payload === undefined ? {} : { payload: payload as object }) });

  before(async () => {
    env = await testApp({ demo: true });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    const locs = await env.services.locations.list({ kind: 'system', name: 'local-cli' });
    unitId = locs.find((l) => l.name === 'Unit A201' && l.kind === 'unit')!.id;
    buildingId = locs.find((l) => l.name === 'Building A')!.id;
  });
  after(() => env.close());

  it('stays: bad input is a 400 naming the field; an overlap is a 409 naming the other guest; nothing is written', async () => {
    const backwards = await call('POST', `/api/units/${unitId}/stays`, { guestName: 'B', checkIn: '2030-01-05T15:00:00Z', checkOut: '2030-01-02T11:00:00Z' });
    assert.equal(backwards.statusCode, 400);
    assert.deepEqual(backwards.json<{ error: { fields: { path: string }[] } }>().error.fields.map((f) => f.path), ['checkOut']);
    const noZone = await call('POST', `/api/units/${unitId}/stays`, { guestName: 'B', checkIn: '2030-01-02 15:00', checkOut: '2030-01-05T11:00:00Z' });
    assert.equal(noZone.statusCode, 400);
    assert.match(noZone.body, /checkIn/);
    const notUnit = await call('POST', `/api/units/${buildingId}/stays`, { guestName: 'B', checkIn: '2030-01-02T15:00:00Z', checkOut: '2030-01-05T11:00:00Z' });
    assert.equal(notUnit.statusCode, 400);
    assert.equal(notUnit.json<{ error: { code: string } }>().error.code, 'stay.wrong_location');
    const ok = await call('POST', `/api/units/${unitId}/stays`, { guestName: 'Grace', guestEmail: 'grace@example.test', checkIn: '2030-01-02T15:00:00Z', checkOut: '2030-01-05T11:00:00Z' });
    assert.equal(ok.statusCode, 201, ok.body);
    const clash = await call('POST', `/api/units/${unitId}/stays`, { guestName: 'Hal', checkIn: '2030-01-04T15:00:00Z', checkOut: '2030-01-06T11:00:00Z' });
    assert.equal(clash.statusCode, 409);
    assert.match(clash.json<{ error: { message: string } }>().error.message, /overlaps the stay of Grace/);
    const view = (await call('GET', `/api/units/${unitId}/occupancy`)).json<{ stays: { guestName: string }[] }>();
    assert.deepEqual(view.stays.map((s) => s.guestName), ['Grace']);
    const badSettings = await call('PATCH', `/api/units/${unitId}/occupancy`, { icalUrl: 'javascript:alert(1)', timeZone: 'Nowhere/Else' });
    assert.equal(badSettings.statusCode, 400);
    assert.deepEqual(badSettings.json<{ error: { fields: { path: string }[] } }>().error.fields.map((f) => f.path).sort(), ['icalUrl', 'timeZone']);
    const poll = await call('POST', `/api/units/${unitId}/feed/poll`);
    assert.equal(poll.statusCode, 400, 'no feed URL set');
  });

  it('endpoints: bad input is a 400 naming target; a webhook secret is shown once and is not in the audit text', async () => {
    const ftp = await call('POST', '/api/notification-endpoints', { channel: 'webhook', name: 'x', target: 'ftp://example.test/' });
    assert.equal(ftp.statusCode, 400);
    assert.match(ftp.body, /target/);
    const mail = await call('POST', '/api/notification-endpoints', { channel: 'email', name: 'x', target: 'ops at example' });
    assert.equal(mail.statusCode, 400);
    assert.deepEqual((await call('GET', '/api/notification-endpoints')).json<{ items: unknown[] }>().items, []);
    const secret = 'a-very-secret-signing-key-123456';
    const added = await call('POST', '/api/notification-endpoints', { channel: 'webhook', name: 'Alarm company', target: 'https://alarm.example.test/hook', secret });
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(added.json<{ secret: string }>().secret, secret);
    const listed = await call('GET', '/api/notification-endpoints');
    assert.ok(!listed.body.includes(secret), 'the secret is not listed');
    const audit = JSON.stringify(await queryRows(env.database.db, sql`select details, target_label from audit_log`));
    assert.ok(!audit.includes(secret), 'the secret is not in the audit text');
    assert.equal((await call('GET', '/api/outbox?status=lost')).statusCode, 400);
  });
});
