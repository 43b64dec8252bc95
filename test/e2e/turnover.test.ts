/**
 * A turnover in a real browser, on a fresh server with the demo fleet and an in-process simulator:
 * open Unit A101 from the location tree, add the outgoing and the incoming guest's stays by hand and a
 * later booking through an iCal feed served on 127.0.0.1; the turnover job (run by the test on the
 * server's clock, which the test moves: nothing sleeps for time to pass) issues and revokes codes on
 * both locks of the unit through the worker, the incoming guest's email reaches an SMTP server on
 * 127.0.0.1 with the code, and a lock kept offline (a simulator fault) raises "turnover not
 * confirmed" on its page. Drives Debian's Chromium through playwright-core; every wait is bounded.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { PACKAGE_ROOT, serveConfig } from '../../src/config.js';
import { fixedClock } from '../../src/domain/clock.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { smtpPeer, type SmtpPeer } from '../helpers/smtp.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.LOCKWARDEN_REQUIRE_BROWSER === '1') {
  throw new Error(`LOCKWARDEN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: install Debian's chromium`);
}
const shots = path.join(PACKAGE_ROOT, 'test-output', 'e2e');
const WAIT = 20_000;
const H = 3600_000;

async function expectText(locator: Locator, re: RegExp, what: string): Promise<void> {
  try {
    await locator.filter({ hasText: re }).first().waitFor({ timeout: WAIT });
  } catch {
    const seen = await locator
      .first()
      .innerText({ timeout: 500 })
      .catch(() => '<not on the page>');
    assert.fail(`${what}: expected ${re} within ${WAIT / 1000} s, last saw "${seen}"`);
  }
}

async function eventually<T>(what: string, check: () => Promise<T> | T): Promise<NonNullable<T>> {
  const deadline = Date.now() + WAIT;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: not within ${WAIT / 1000} s (last: ${JSON.stringify(last)})`);
}

describe('a turnover in a browser', { skip: haveBrowser ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  let smtp: SmtpPeer | undefined;
  let feedServer: Server;
  let feedUrl = '';
  const lines: string[] = [];
  // Today 09:00 UTC on the server's clock; the browser works in UTC too.
  const start = new Date(`${new Date().toISOString().slice(0, 10)}T09:00:00Z`);
  const clock = fixedClock(start);
  const at = (h: number) => new Date(start.getTime() + h * H);
  /** A datetime-local value (the page is in UTC). */
  const local = (d: Date) => d.toISOString().slice(0, 16);
  const ymd = (d: Date) => d.toISOString().slice(0, 10).replaceAll('-', '');
  let unitId = '';
  const locks: Record<'front' | 'patio', { id: string; externalId: string }> = {} as never;

  const fleet = () => server.runtime.fleet!;
  const codesOn = (externalId: string) => fleet().get(externalId).pins.map((p) => p.code);
  const tick = async () => {
    const r = await server.runtime.services.turnovers.tick();
    assert.deepEqual(r.errors, []);
    return r;
  };

  before(async () => {
    mkdirSync(shots, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), 'lw-e2e-turnover-'));
    smtp = await smtpPeer();
    // The booking platform's calendar: one booking five days out (all-day dates, as Airbnb publishes them).
    const feed = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//Feed//EN', 'BEGIN:VEVENT', 'UID:booking-1@test', `DTSTART;VALUE=DATE:${ymd(at(5 * 24))}`, `DTEND;VALUE=DATE:${ymd(at(8 * 24))}`, 'SUMMARY:Fiona Feed', 'END:VEVENT', 'END:VCALENDAR'].join('\r\n');
    feedServer = createServer((req, res) => res.writeHead(req.url === '/a101.ics' ? 200 : 404, { 'content-type': 'text/calendar' }).end(req.url === '/a101.ics' ? feed : ''));
    await new Promise<void>((r) => feedServer.listen(0, '127.0.0.1', r));
    feedUrl = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}/a101.ics`;

    server = await startServer(
      { ...serveConfig({ port: 0, data: dataDir }), simulatorUrl: undefined, logLevel: 'silent', smtpUrl: smtp.url, mailFrom: 'lockwarden@example.test', allowPrivateTargets: ['ical', 'smtp'] },
      (l) => lines.push(l),
      // The test runs the turnover job itself on its clock; the outbox delivers as it would in production.
      { clock, turnoverSeconds: 0, outboxSeconds: 1 },
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, timezoneId: 'UTC' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.close();
    await new Promise<void>((r) => (feedServer ? feedServer.close(() => r()) : r()));
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens Unit A101 from the location tree and adds stays by hand and through its calendar feed', async () => {
    assert.ok(server.oneTimeUrl, `no one-time link printed:\n${lines.join('\n')}`);
    await page.goto(server.oneTimeUrl);
    await page.getByLabel(/^New password/).fill('correct horse battery staple');
    await page.getByLabel(/^Repeat password/).fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Save password' }).click();
    await page.getByTestId('lock-table').waitFor({ timeout: WAIT });

    await page.goto(`${server.url}/locations`);
    const tree = page.getByTestId('location-tree');
    for (const name of ['Building A', 'Floor 1', 'Unit A101']) await tree.getByText(name, { exact: true }).first().click();
    await page.getByRole('link', { name: 'Occupancy and turnovers' }).click();
    await page.getByRole('heading', { name: 'Occupancy and turnovers' }).waitFor({ timeout: WAIT });
    unitId = page.url().split('/units/')[1]!.split('/')[0]!;
    const all = await server.runtime.services.locks.list({ kind: 'system', name: 'local-cli' }, { locationId: unitId });
    for (const l of all.items) locks[l.name.includes('patio') ? 'patio' : 'front'] = { id: l.id, externalId: l.externalId! };
    assert.ok(locks.front && locks.patio, 'Unit A101 has a front door and a patio door');

    // A stay that ends before it starts is refused on its field, and nothing is added.
    const addStay = async (name: string, email: string, from: Date, until: Date) => {
      await page.getByLabel('Guest name').fill(name);
      await page.getByLabel(/^Guest email/).fill(email);
      await page.getByLabel('Check-in').fill(local(from));
      await page.getByLabel('Check-out').fill(local(until));
      await page.getByRole('button', { name: 'Add stay' }).click();
    };
    await addStay('Backwards', '', at(10), at(5));
    await expectText(page.locator('body'), /ends before it starts/, 'a backwards stay is refused');
    // The outgoing guest has been here two days and leaves at 11:00.
    await addStay('Olivia Outgoing', '', at(-44), at(2));
    await expectText(page.getByTestId('stays'), /Olivia Outgoing/, 'the outgoing stay in the list');

    // Its code goes onto both locks (the job runs on the server's clock), and both confirm.
    assert.equal((await tick()).issued, 2);
    await eventually('the outgoing code confirmed on both locks', async () => {
      const t = (await server.runtime.services.turnovers.dueToday({ kind: 'system', name: 'local-cli' }, unitId))!;
      return t.locks.every((l) => l.outgoing === 'confirmed');
    });

    // The incoming guest arrives at 15:00; the patio door has dropped off its network.
    await addStay('Ivan Incoming', 'ivan@example.test', at(6), at(74));
    await expectText(page.getByTestId('stays'), /Ivan Incoming/, 'the incoming stay in the list');
    // An overlapping stay is refused naming the clash.
    await addStay('Clash', '', at(1), at(8));
    await expectText(page.locator('body'), /overlaps the stay of/, 'an overlapping stay is refused');

    await page.getByLabel('Feed URL').fill(feedUrl);
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expectText(page.locator('body'), /Occupancy settings saved/, 'the feed URL saved');
    await page.getByRole('button', { name: 'Read feed now' }).click();
    await expectText(page.getByTestId('stays'), /Fiona Feed.*calendar feed/, 'the booking from the feed in the list');
    await page.screenshot({ path: path.join(shots, '60-occupancy.png'), fullPage: true });
  });

  it("revokes the outgoing guest's code and issues the incoming guest's on every lock; the guest gets the code by email", async () => {
    fleet().setOnline(locks.patio.externalId, false);
    assert.equal((await tick()).issued, 2, 'the incoming code on both locks (72 h ahead, as window PINs)');
    const mail = await eventually('the guest email at the SMTP server', () => smtp!.mails.find((m) => m.to === 'ivan@example.test'));
    const code = /door code for Unit A101 is: (\d+)/.exec(mail.text)?.[1];
    assert.ok(code, 'the email carries the code');
    await eventually('the incoming code on the front door', () => codesOn(locks.front.externalId).includes(code));
    assert.ok(!codesOn(locks.patio.externalId).includes(code), 'the offline patio door does not have it');

    // 11:00: the outgoing guest checks out.
    const outgoing = codesOn(locks.front.externalId).filter((c) => c !== code);
    assert.equal(outgoing.length, 1);
    clock.advance(2 * H);
    assert.equal((await tick()).revoked, 2);
    await eventually('the outgoing code gone from the front door', () => !codesOn(locks.front.externalId).includes(outgoing[0]!));
    const row = page.getByTestId(`turnover-lock-${locks.front.id}`);
    await expectText(row, /removed.*confirmed/, 'the front door: outgoing removed, incoming confirmed');
    await page.getByTestId('turnovers-today').screenshot({ path: path.join(shots, '61-turnover-today.png') });
  });

  it('a lock that has not confirmed the incoming code two hours before arrival raises an alert on its page', async () => {
    clock.advance(2 * H + 60_000); // 13:01, two hours before 15:00
    assert.equal((await tick()).alerts, 1);
    await page.goto(`${server.url}/locks/${locks.patio.id}`);
    await expectText(page.getByTestId('lock-alerts'), /not confirmed on this lock.*Ivan Incoming/s, 'the turnover alert on the patio door');
    await page.getByTestId('lock-alerts').screenshot({ path: path.join(shots, '62-turnover-alert.png') });

    // The dashboard's "turnovers due today" shows the unit with one lock of two ready and one failed.
    await page.goto(`${server.url}/dashboard`);
    await expectText(page.getByTestId('dash-turnover-Unit A101'), /Olivia Outgoing.*Ivan Incoming.*1 of 2/s, 'the unit on the dashboard');

    // Back online, a read puts the code on the patio door too.
    fleet().setOnline(locks.patio.externalId, true);
    await server.runtime.services.credentials.refresh({ kind: 'system', name: 'local-cli' }, locks.patio.id);
    const code = /door code for Unit A101 is: (\d+)/.exec(smtp!.mails.find((m) => m.to === 'ivan@example.test')!.text)![1]!;
    await eventually('the incoming code on the patio door once it is back', () => codesOn(locks.patio.externalId).includes(code));
  });
});
