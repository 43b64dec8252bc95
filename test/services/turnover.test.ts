/**
 * Turnover and the notification outbox, against real peers on 127.0.0.1: an SMTP server
 * (`smtp-server`) receives the guest's email, an HTTP server plays the monitoring webhook and serves
 * the iCal feed, the in-process simulator holds the locks. The clock is fixed and moved by hand;
 * reconcile jobs are run by hand, so every step is exact and nothing sleeps.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { isAppError } from '../../src/domain/errors.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { queryRows } from '../../src/store/database.js';
import { signBody } from '../../src/services/outbox-service.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';
import { roleActor } from '../helpers/actors.js';
import { smtpPeer, type SmtpPeer } from '../helpers/smtp.js';
import { outboundPolicy } from '../../src/net/outbound.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const H = 3600_000;

/** An HTTP server on 127.0.0.1: `/feed.ics` serves `feed.body`; `/hook` records webhook posts and answers `hook.status`. */
async function httpPeer() {
  const feed = { body: '' };
  const hook = { status: 200, posts: [] as { headers: Record<string, string | string[] | undefined>; body: string }[] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/feed.ics') {
        res.writeHead(200, { 'content-type': 'text/calendar' }).end(feed.body);
      } else if (req.url === '/hook') {
        hook.posts.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(hook.status).end();
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, feed, hook, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function ics(events: { uid: string; start: string; end: string; summary?: string }[]): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//Feed//EN'];
  for (const e of events) lines.push('BEGIN:VEVENT', `UID:${e.uid}`, `DTSTART;VALUE=DATE:${e.start}`, `DTEND;VALUE=DATE:${e.end}`, `SUMMARY:${e.summary ?? 'Reserved'}`, 'END:VEVENT');
  lines.push('END:VCALENDAR');
  return lines.join('\r\n');
}

async function rejects(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

for (const engine of ENGINES) {
  describe(`turnover and the notification outbox (${engine})`, () => {
    let env: TestEnv;
    let smtp: SmtpPeer;
    let http: Awaited<ReturnType<typeof httpPeer>>;
    let unit: { id: string; path: string; locks: { id: string; externalId: string }[] };
    let plainUnit: { id: string; lock: { id: string; externalId: string } };
    let hookSecret = '';

    const svc = () => env.services;
    const reconcileAll = async (lockIds: string[]) => {
      for (const id of lockIds) await env.runtime.reconciler.reconcile(id, { read: true });
    };
    const codesOn = (externalId: string) => env.fleet.get(externalId).pins.map((p) => p.code);

    before(async () => {
      smtp = await smtpPeer();
      http = await httpPeer();
      env = await testServices(engine, { runtime: { mail: { smtpUrl: smtp.url, from: 'lockwarden@example.test' }, outbound: outboundPolicy({ allowPrivate: ['ical', 'webhook', 'smtp'] }) } });
      await loadDemoFleet(env.services.ctx);
      const locks = (await svc().locks.list(SYSTEM, { limit: 500 })).items;
      const locs = await svc().locations.list(SYSTEM);
      const find = (name: string) => locs.find((l) => l.name === name && l.kind === 'unit')!;
      const a101 = find('Unit A101');
      unit = { id: a101.id, path: a101.path, locks: locks.filter((l) => l.name.startsWith('Unit A101')).map((l) => ({ id: l.id, externalId: l.externalId! })) };
      assert.equal(unit.locks.length, 2, 'Unit A101 has a front door and a patio door');
      const a102 = find('Unit A102');
      const l102 = locks.find((l) => l.name === 'Unit A102 front door')!;
      plainUnit = { id: a102.id, lock: { id: l102.id, externalId: l102.externalId! } };
      // A keypad that keeps no schedules of its own (the catalogue says so), for the at-arrival path.
      await env.database.db.execute(sql`update lock_models set capabilities = jsonb_set(capabilities, '{schedules}', 'false') where id = ${l102.modelId}`);
      await reconcileAll([...unit.locks.map((l) => l.id), plainUnit.lock.id]);
    });
    after(async () => {
      await env?.close();
      await smtp?.close();
      await http?.close();
    });

    it('endpoints: bad input is refused naming the field, and nothing is written', async () => {
      await rejects(svc().outbox.addEndpoint(SYSTEM, { channel: 'webhook', name: 'x', target: 'ftp://example.test/hook' }), 'validation.failed', /http/);
      await rejects(svc().outbox.addEndpoint(SYSTEM, { channel: 'email', name: 'x', target: 'not-an-address' }), 'validation.failed', /email/);
      await rejects(svc().outbox.addEndpoint(roleActor('manager'), { channel: 'email', name: 'x', target: 'ops@example.test' }), 'auth.forbidden');
      assert.deepEqual(await svc().outbox.endpoints(SYSTEM), []);
      const added = await svc().outbox.addEndpoint(SYSTEM, { channel: 'webhook', name: 'Monitoring', target: `${http.base}/hook`, purpose: 'monitoring' });
      hookSecret = added.secret!;
      assert.ok(hookSecret.length >= 32);
      const [row] = await queryRows<{ secret_sealed: string }>(env.database.db, sql`select secret_sealed from notification_endpoints`);
      assert.ok(!row!.secret_sealed.includes(hookSecret), 'the signing secret is sealed at rest');
    });

    it('stays: overlapping, backwards, or outside a unit are refused; nothing is written', async () => {
      const now = env.clock.now().getTime();
      const at = (h: number) => new Date(now + h * H).toISOString();
      await rejects(svc().turnovers.addStay(SYSTEM, unit.id, { guestName: 'Back', checkIn: at(10), checkOut: at(5) }), 'validation.failed', /ends before it starts/);
      await rejects(svc().turnovers.addStay(SYSTEM, unit.id, { guestName: 'Bad', guestEmail: 'nope', checkIn: at(1), checkOut: at(5) }), 'validation.failed', /email/);
      const building = (await svc().locations.list(SYSTEM)).find((l) => l.name === 'Building A')!;
      await rejects(svc().turnovers.addStay(SYSTEM, building.id, { guestName: 'X', checkIn: at(1), checkOut: at(5) }), 'stay.wrong_location');
      await rejects(svc().turnovers.addStay(roleActor('technician'), unit.id, { guestName: 'X', checkIn: at(1), checkOut: at(5) }), 'auth.forbidden');
      assert.equal((await svc().turnovers.unit(SYSTEM, unit.id)).stays.length, 0);
    });

    it('a turnover: outgoing code revoked at check-out, incoming issued on every lock, code emailed, nothing secret in the audit log', async () => {
      // 09:00. The outgoing guest leaves at 11:00, the incoming one arrives at 15:00.
      const now = env.clock.now().getTime();
      const at = (h: number) => new Date(now + h * H).toISOString();
      const out = await svc().turnovers.addStay(SYSTEM, unit.id, { guestName: 'Olivia Outgoing', checkIn: at(-44), checkOut: at(2) });
      await svc().turnovers.addStay(SYSTEM, unit.id, { guestName: 'Ivan Incoming', guestEmail: 'ivan@example.test', checkIn: at(6), checkOut: at(74) });
      await rejects(svc().turnovers.addStay(SYSTEM, unit.id, { guestName: 'Clash', checkIn: at(1), checkOut: at(8) }), 'stay.overlap', /Olivia Outgoing/);

      const r1 = await svc().turnovers.tick();
      assert.deepEqual(r1.errors, []);
      assert.equal(r1.issued, 4, 'both stays, both locks (window PINs go on 72 h ahead)');
      await reconcileAll(unit.locks.map((l) => l.id));
      const creds = (await Promise.all(unit.locks.map((l) => svc().credentials.forLock(SYSTEM, l.id)))).flatMap((v) => v.credentials);
      const byHolder = (h: string) => creds.filter((c) => c.holder === h);
      assert.equal(byHolder('Ivan Incoming').length, 2);
      assert.ok(byHolder('Ivan Incoming').every((c) => c.status === 'confirmed' && c.schedule.kind === 'window'));
      assert.ok(byHolder('Olivia Outgoing').every((c) => c.status === 'confirmed'));

      // The email goes out through the outbox to the SMTP server, with the code; the stored body is sealed.
      const d = await svc().outbox.deliverDue();
      assert.equal(d.delivered, 1);
      assert.equal(smtp.mails.length, 1);
      assert.equal(smtp.mails[0]!.to, 'ivan@example.test');
      const code = /door code for Unit A101 is: (\d+)/.exec(smtp.mails[0]!.text)?.[1];
      assert.ok(code, 'the email carries the code');
      for (const l of unit.locks) assert.ok(codesOn(l.externalId).includes(code), 'the same code is on every lock of the unit');
      const raw = JSON.stringify(await queryRows(env.database.db, sql`select * from notification_outbox`));
      assert.ok(!raw.includes(code), 'the stored message does not hold the code in clear');
      const msgs = await svc().outbox.messages(SYSTEM);
      assert.equal(msgs[0]!.status, 'delivered');
      assert.equal(msgs[0]!.attempts, 1);

      // 11:00: check-out. The outgoing guest's codes come off every lock.
      const olivia = byHolder('Olivia Outgoing');
      const oliviaCode = await svc().credentials.reveal(SYSTEM, olivia[0]!.id, { reason: 'test reads it' });
      env.clock.advance(2 * H);
      const r2 = await svc().turnovers.tick();
      assert.equal(r2.revoked, 2);
      await reconcileAll(unit.locks.map((l) => l.id));
      for (const l of unit.locks) {
        assert.ok(!codesOn(l.externalId).includes(oliviaCode.code), 'the outgoing code is gone from the lock');
        assert.ok(codesOn(l.externalId).includes(code), 'the incoming code stays');
      }
      const today = await svc().turnovers.dueToday(SYSTEM, unit.id);
      assert.equal(today?.outgoing?.id, out.id);
      assert.deepEqual(today?.locks.map((l) => [l.outgoing, l.incoming]), [['removed', 'confirmed'], ['removed', 'confirmed']]);
      // The dashboard lists the same turnover, to readers of that unit only.
      const dash = await svc().dashboard.get(SYSTEM);
      assert.deepEqual(
        dash.turnoversToday.filter((t) => t.locationId === unit.id).map((t) => [t.outgoing?.id, t.locks.length]),
        [[out.id, 2]],
      );
      const locs = await svc().locations.list(SYSTEM);
      const elsewhere = locs.find((l) => l.kind === 'unit' && l.id !== unit.id && !locs.find((x) => x.id === unit.id)!.path.startsWith(l.path))!;
      assert.deepEqual((await svc().dashboard.get(roleActor('manager', { locationPath: elsewhere.path }))).turnoversToday.filter((t) => t.locationId === unit.id), [], 'not outside the reader’s places');

      // No code in the audit log's readable text.
      const audit = JSON.stringify(await queryRows(env.database.db, sql`select action, details, target_label from audit_log`));
      assert.ok(!audit.includes(code) && !audit.includes(oliviaCode.code), 'no code in the audit text');
      assert.match(audit, /turnover\.issue/);
      assert.match(audit, /turnover\.revoke/);
    });

    it('a lock that has not confirmed the incoming code by the lead time raises an alert and tells the monitoring webhook', async () => {
      const now = env.clock.now().getTime();
      const at = (h: number) => new Date(now + h * H).toISOString();
      // Unit A102's keypad keeps no schedules: its code goes on shortly before the confirmation deadline.
      await svc().turnovers.addStay(SYSTEM, plainUnit.id, { guestName: 'Una Unconfirmed', checkIn: at(5), checkOut: at(30) });
      assert.equal((await svc().turnovers.tick()).issued, 0, 'too early for a lock without schedules');
      env.fleet.setOnline(plainUnit.lock.externalId, false);
      env.clock.advance(2.5 * H + 60_000); // past 15:00 - 2 h - 30 min
      assert.equal((await svc().turnovers.tick()).issued, 1);
      await reconcileAll([plainUnit.lock.id]);
      assert.equal((await svc().alerts.list(SYSTEM, { lockId: plainUnit.lock.id })).length, 0, 'no alert before the deadline');
      env.clock.advance(31 * 60_000);
      const r = await svc().turnovers.tick();
      assert.equal(r.alerts, 1);
      const [alert] = await svc().alerts.list(SYSTEM, { lockId: plainUnit.lock.id });
      assert.equal(alert!.kind, 'turnover_unconfirmed');
      assert.match(alert!.detail, /Una Unconfirmed/);
      assert.equal((await svc().turnovers.tick()).alerts, 0, 'raised once');

      // The webhook fails once (HTTP 500), is retried after its backoff, then delivered, signed.
      http.hook.status = 500;
      await svc().outbox.deliverDue();
      let [m] = await svc().outbox.messages(SYSTEM, { status: 'pending' });
      assert.equal(m!.attempts, 1);
      assert.equal(m!.lastError, 'the webhook answered HTTP 500');
      assert.equal((await svc().outbox.deliverDue()).delivered, 0, 'not due again before its backoff');
      http.hook.status = 204;
      env.clock.advance(31_000);
      assert.equal((await svc().outbox.deliverDue()).delivered, 1);
      [m] = await svc().outbox.messages(SYSTEM, { status: 'delivered' });
      assert.equal(m!.attempts, 2);
      const post = http.hook.posts.at(-1)!;
      assert.equal(post.headers['x-lockwarden-signature'], `sha256=${signBody(hookSecret, post.body)}`);
      assert.match((JSON.parse(post.body) as { subject: string }).subject, /Turnover not confirmed on Unit A102 front door/);
      env.fleet.setOnline(plainUnit.lock.externalId, true);
    });

    it('an iCal feed: bookings become stays in the unit time zone; a malformed or overlapping feed changes nothing; a booking gone cancels its codes', async () => {
      const settings = await svc().turnovers.updateSettings(SYSTEM, plainUnit.id, { icalUrl: `${http.base}/feed.ics`, timeZone: 'Europe/Paris', checkInTime: '16:00', checkOutTime: '10:00' });
      assert.equal(settings.timeZone, 'Europe/Paris');
      assert.equal(settings.icalUrl, `${http.base}/feed.ics`);
      const stored = JSON.stringify(await queryRows(env.database.db, sql`select u.ical_url, a.details from unit_occupancy u, audit_log a where a.action = 'occupancy.settings'`));
      assert.ok(!stored.includes('/feed.ics'), 'the feed URL is sealed at rest and not in the audit text');
      assert.equal((await svc().turnovers.unit(roleActor('technician', { locationPath: (await svc().locations.list(SYSTEM)).find((l) => l.id === plainUnit.id)!.path }), plainUnit.id)).settings.icalUrl, `${http.base}/…`, 'a reader sees only its origin');
      await rejects(svc().turnovers.updateSettings(SYSTEM, plainUnit.id, { icalUrl: 'file:///etc/passwd' }), 'validation.failed', /http/);
      await rejects(svc().turnovers.updateSettings(SYSTEM, plainUnit.id, { timeZone: 'Mars/Olympus' }), 'validation.failed', /time zone/);
      http.feed.body = ics([{ uid: 'b1@test', start: '20260310', end: '20260313', summary: 'Reserved' }]);
      assert.deepEqual(await svc().turnovers.pollFeed(SYSTEM, plainUnit.id), { added: 1, updated: 0, cancelled: 0 });
      const stay = (await svc().turnovers.unit(SYSTEM, plainUnit.id)).stays.find((s) => s.source === 'ical')!;
      assert.equal(stay.checkIn.toISOString(), '2026-03-10T15:00:00.000Z', '16:00 in Paris (UTC+1 in March)');
      assert.equal(stay.checkOut.toISOString(), '2026-03-13T09:00:00.000Z');

      const before = JSON.stringify((await svc().turnovers.unit(SYSTEM, plainUnit.id)).stays);
      http.feed.body = 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20260320\r\nEND:VEVENT\r\nEND:VCALENDAR';
      await rejects(svc().turnovers.pollFeed(SYSTEM, plainUnit.id), 'feed.invalid', /no readable DTEND/);
      http.feed.body = ics([{ uid: 'b1@test', start: '20260310', end: '20260313' }, { uid: 'b2@test', start: '20260312', end: '20260315' }]);
      await rejects(svc().turnovers.pollFeed(SYSTEM, plainUnit.id), 'stay.overlap', /nothing was changed/);
      assert.match((await svc().turnovers.unit(SYSTEM, plainUnit.id)).settings.feedError ?? '', /overlaps/, 'the unit page says why the feed was not applied');
      http.feed.body = 'this is not a calendar';
      await rejects(svc().turnovers.pollFeed(SYSTEM, plainUnit.id), 'feed.invalid');
      assert.equal(JSON.stringify((await svc().turnovers.unit(SYSTEM, plainUnit.id)).stays), before, 'nothing changed');
      assert.match((await svc().turnovers.unit(SYSTEM, plainUnit.id)).settings.feedError ?? '', /not valid iCalendar/);

      // Its code goes on (move to shortly before arrival), then the booking disappears from the feed.
      env.clock.advance(stay.checkIn.getTime() - 2.25 * H - env.clock.now().getTime());
      http.feed.body = ics([{ uid: 'b1@test', start: '20260310', end: '20260313' }]);
      assert.equal((await svc().turnovers.tick()).issued, 1);
      const cred = (await svc().credentials.forLock(SYSTEM, plainUnit.lock.id)).credentials.find((c) => c.holder === 'Reserved')!;
      assert.equal(cred.status, 'pending');
      http.feed.body = ics([]);
      assert.deepEqual(await svc().turnovers.pollFeed(SYSTEM, plainUnit.id), { added: 0, updated: 0, cancelled: 1 });
      const after = (await svc().credentials.forLock(SYSTEM, plainUnit.lock.id)).credentials.find((c) => c.id === cred.id)!;
      assert.equal(after.status, 'removing', "the cancelled booking's pending code is revoked");
    });
    it("a reset case's preflight can send the monitoring notice through the outbox, once per step", async () => {
      const v = await svc().resetCases.open(SYSTEM, { lockId: unit.locks[0]!.id, reason: 'pairing_loop' });
      await svc().resetCases.step(SYSTEM, v.case.id, { idempotencyKey: 'decide-1', command: { type: 'decide', remedy: 'full_reset' } });
      const before = (await svc().outbox.messages(SYSTEM)).length;
      const step = { idempotencyKey: 'notify-1', command: { type: 'preflight_check', check: 'monitoring_notified', passed: true, note: 'sent', notify: true } };
      await svc().resetCases.step(SYSTEM, v.case.id, step);
      await svc().resetCases.step(SYSTEM, v.case.id, step);
      const msgs = await svc().outbox.messages(SYSTEM);
      assert.equal(msgs.length, before + 1, 'one notice, to the one monitoring endpoint, even when the step is repeated');
      assert.equal(msgs[0]!.topic, 'reset.notice');
      assert.equal(msgs[0]!.target, `${http.base}/hook`);
      assert.match(msgs[0]!.subject, /Lock maintenance: Unit A101/);
    });
  });
}
