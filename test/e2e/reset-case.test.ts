/**
 * A compromise reset of a demo lock in a real browser, from triage to the signed close-out: the
 * owner opens the case and follows the recommendation, a second admin approves (the opener cannot),
 * the technician works at the door on a phone-sized screen (one step at a time, the hold timer must
 * run out before the tick; the browser's clock is driven, nothing sleeps), the simulated lock is
 * reset by hand, checked through the driver and by hand (a photo of the latch as evidence), rebuilt,
 * and the owner closes and signs; the signed record downloads as a PDF, linked from the lock and the
 * audit log. A second case is cancelled with a reason, and the dashboard counts both.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { PACKAGE_ROOT, serveConfig } from '../../src/config.js';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { jpegWithGps } from '../helpers/images.js';
import { readPdf } from '../helpers/pdf.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
const shots = path.join(PACKAGE_ROOT, 'test-output', 'e2e');
const WAIT = 20_000;
const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

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

async function assertEventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + WAIT;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: not within ${WAIT / 1000} s`);
}

describe('a compromise reset in a browser', { skip: haveBrowser ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let server: RunningServer;
  let browser: Browser;
  let dataDir: string;
  const contexts: BrowserContext[] = [];
  let owner: Page;
  let second: Page;
  let tech: Page;
  let lock: Lock;
  let caseUrl = '';
  let code = '';
  const lines: string[] = [];

  const newPage = async (viewport: { width: number; height: number }) => {
    const context = await browser.newContext({ viewport, ...(viewport.width < 500 ? { isMobile: true, hasTouch: true } : {}) });
    contexts.push(context);
    return context.newPage();
  };
  const signInAs = async (page: Page, email: string, password: string) => {
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('user-email').waitFor({ timeout: WAIT });
  };
  const state = (page: Page, re: RegExp) => expectText(page.getByTestId('case-state'), re, 'the case state');
  const fleet = () => server.runtime.fleet!;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), 'lw-e2e-reset-'));
    server = await startServer({ ...serveConfig({ port: 0, data: dataDir }), simulatorUrl: undefined, logLevel: 'silent' }, (l) => lines.push(l));
    const services = server.runtime.services;
    lock = (await services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'DB-100' && l.serviceState === 'in_service')!;
    fleet().outOfBand.setBattery(lock.externalId!, 85);
    code = (await services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ada' })).code;
    await server.runtime.reconciler.reconcile(lock.id, { read: true });
    assert.equal(fleet().get(lock.externalId!).pins[0]?.code, code);
    await services.auth.createUser(SYSTEM, { email: 'second@example.test', displayName: 'Second Admin', role: 'admin', password: 'second admin password' });
    await services.auth.createUser(SYSTEM, { email: 'tech@example.test', displayName: 'Tess Technician', role: 'technician', password: 'technician password 1' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    owner = await newPage({ width: 1280, height: 900 });
    second = await newPage({ width: 1280, height: 900 });
    tech = await newPage({ width: 390, height: 844 });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the owner opens a case from the lock and follows the recommendation; preflight is ticked off', async () => {
    assert.ok(server.oneTimeUrl, lines.join('\n'));
    await owner.goto(server.oneTimeUrl);
    await owner.getByLabel(/^New password/).fill('owner password is long');
    await owner.getByLabel(/^Repeat password/).fill('owner password is long');
    await owner.getByRole('button', { name: 'Save password' }).click();
    await owner.getByTestId('user-email').waitFor({ timeout: WAIT });
    await owner.goto(`${server.url}/locks/${lock.id}`);
    await owner.getByTestId('reset-case').click();
    await owner.getByTestId('reason').click();
    await owner.getByRole('option', { name: 'Credential compromise' }).click();
    await owner.getByLabel('What happened').fill('the guest code was posted in a review');
    await owner.getByRole('button', { name: 'Open the case' }).click();
    await expectText(owner.getByTestId('why'), /passwords/, 'why a full reset');
    caseUrl = owner.url();
    await owner.getByTestId('follow').click();
    await state(owner, /Preflight/);
    for (const label of ['Ownership confirmed', 'Physical access arranged', 'Inside a maintenance window, no emergency', 'Occupants notified', 'Monitoring service notified']) {
      const box = owner.getByRole('checkbox', { name: label });
      // The box shows what the server recorded, so it turns checked when the answer arrives.
      await box.click();
      await owner.waitForFunction((l) => document.querySelector<HTMLInputElement>(`input[aria-label="${l}"]`)?.checked === true, label, { timeout: WAIT });
    }
    await owner.getByRole('button', { name: 'Read from the lock' }).click();
    await expectText(owner.getByTestId('reset-case'), /read from the lock: 85%/, 'the battery read from the lock');
    assert.equal(await owner.getByRole('button', { name: 'Approve as the second person' }).count(), 0, 'the opener is not offered approval');
    assert.equal(await owner.getByRole('button', { name: 'Preflight complete' }).isDisabled(), true);
  });

  it('a second admin approves; the owner completes preflight and takes the snapshot', async () => {
    await signInAs(second, 'second@example.test', 'second admin password');
    await second.goto(caseUrl);
    await second.getByRole('button', { name: 'Approve as the second person' }).click();
    await expectText(second.getByTestId('reset-case'), /Approved by/, 'the approval');
    await owner.reload();
    const complete = owner.getByRole('button', { name: 'Preflight complete' });
    await complete.waitFor({ timeout: WAIT });
    if (await complete.isDisabled()) assert.fail(`preflight not complete: ${await owner.getByTestId('reset-case').innerText()}`);
    await complete.click();
    await state(owner, /Snapshot/);
    await owner.getByRole('button', { name: 'Take the snapshot' }).click();
    await state(owner, /Reset at the door/);
  });

  it('the technician follows the procedure on a phone: the hold tick waits for its timer', async () => {
    await tech.clock.install();
    await signInAs(tech, 'tech@example.test', 'technician password 1');
    await tech.goto(caseUrl);
    await tech.getByTestId('at-the-door').waitFor({ timeout: WAIT });
    await tech.screenshot({ path: path.join(shots, 'reset-at-the-door.png'), fullPage: true });
    for (let i = 0; i < 12; i++) {
      const step = tech.getByTestId('procedure-step');
      if ((await step.count()) === 0) break;
      const text = await step.innerText();
      const hold = /Hold/.test(text.split('\n')[0] ?? '');
      const start = tech.getByRole('button', { name: /Start the \d+ s timer/ });
      if (hold) {
        assert.equal(await tech.getByTestId('tick').isDisabled(), true, 'no tick before the hold is timed');
        const seconds = Number(/Start the (\d+) s timer/.exec(await start.innerText())![1]);
        await start.click();
        await tech.clock.fastForward(seconds * 1000 + 500);
        await expectText(tech.getByTestId('timer'), /^0$/, 'the timer run out');
        await tech.screenshot({ path: path.join(shots, 'reset-hold-timer.png') });
      }
      const n = Number(/Step (\d+) of (\d+)/.exec(text)![1]);
      const total = Number(/Step (\d+) of (\d+)/.exec(text)![2]);
      await tech.getByTestId('tick').click();
      if (n < total) await expectText(tech.getByTestId('procedure-step'), new RegExp(`Step ${n + 1} of`), 'the next step');
      else await tech.getByTestId('confirm-reset').waitFor({ timeout: WAIT });
    }
    // The technician's hands on the lock: the model's reset gesture.
    assert.deepEqual(fleet().physical.reset(lock.externalId!, { holdSeconds: 12 }), { ok: true });
    await tech.getByTestId('confirm-reset').click();
    await state(tech, /Verification/);
    await expectText(tech.getByTestId('check-setup_mode'), /passed/, 'setup mode read from the lock');
  });

  it('verification: the driver checks after a new admin enrolls, then the manual and compromise checks', async () => {
    fleet().outOfBand.enrollAdmin(lock.externalId!, 'owner phone');
    fleet().outOfBand.pairLockwarden(lock.externalId!);
    await tech.getByTestId('run-checks').click();
    for (const check of ['prior_pins_gone', 'prior_controllers_refused', 'admin_enrollment_accepted']) await expectText(tech.getByTestId(`check-${check}`), /passed/, check);
    // Who is still locked out until the rebuild: the snapshot's holders by label, never a code.
    await expectText(tech.getByTestId('locked-out'), /Guest Ada/, 'who is locked out during verification');
    assert.equal((await tech.getByTestId('locked-out').innerText()).includes(code), false);
    // A photo of the latch as the evidence of its check: taken on the phone, uploaded, shown as a thumbnail.
    const chooser = tech.waitForEvent('filechooser', { timeout: WAIT });
    await tech.getByTestId('photo-latch_and_door').click();
    await (await chooser).setFiles({ name: 'latch.jpg', mimeType: 'image/jpeg', buffer: await jpegWithGps() });
    await tech.getByTestId('evidence-latch_and_door').waitFor({ timeout: WAIT });
    for (let i = 0; i < 6; i++) {
      const pass = tech.getByRole('button', { name: 'Pass', exact: true });
      if ((await pass.count()) === 0) break;
      const before = await pass.count();
      await pass.first().click();
      await assertEventually(async () => (await pass.count()) < before, 'the check recorded');
    }
    await expectText(tech.getByTestId('check-latch_and_door'), /passed/, 'the latch check');
    await tech.getByTestId('photo-thumbnail').first().waitFor({ timeout: WAIT });
    assert.equal(await tech.getByTestId('photo-thumbnail').first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), true, 'the thumbnail loads');
    await tech.screenshot({ path: path.join(shots, 'reset-verification.png'), fullPage: true });
    await tech.getByRole('button', { name: 'Verification complete' }).click();
    await state(tech, /Rebuild/);
    await expectText(tech.getByTestId('locked-out'), /Guest Ada/, 'who is locked out');
    await tech.getByRole('button', { name: 'Restore on the lock' }).click();
    await tech.getByRole('button', { name: 'Rebuild complete' }).click();
    await state(tech, /Close-out/);
    assert.equal(fleet().get(lock.externalId!).pins[0]?.code, code, 'the guest’s code is back on the lock');
  });

  it('the owner closes the case and the signed record verifies', async () => {
    await owner.goto(caseUrl);
    await owner.getByTestId('close').click();
    await expectText(owner.getByTestId('closed'), /reset verified/, 'the outcome');
    const id = caseUrl.split('/').pop()!;
    const rec = await owner.evaluate(async (u) => (await fetch(u)).json() as Promise<{ verified: boolean }>, `/api/reset-cases/${id}/record`);
    assert.equal(rec.verified, true);
    assert.equal(JSON.stringify(rec).includes(code), false);
    await owner.screenshot({ path: path.join(shots, 'reset-closed.png'), fullPage: true });
  });

  it('the close-out PDF downloads from the case page, names every step and actor, and is linked from the lock and the audit log', async () => {
    const id = caseUrl.split('/').pop()!;
    const rec = await owner.evaluate(async (u) => (await fetch(u)).json() as Promise<{ record: { steps: { command: string; actor: string }[]; case: { verification: { latch_and_door: { evidence: string[] } } } } }>, `/api/reset-cases/${id}/record`);
    assert.equal(rec.record.case.verification.latch_and_door.evidence.length, 1, 'the photo is the latch check\'s evidence');
    const download = owner.waitForEvent('download', { timeout: WAIT });
    await owner.getByTestId('record-pdf').click();
    const file = await (await download).path();
    const text = (await readPdf(readFileSync(file))).pages.join(' ');
    for (const s of rec.record.steps) assert.ok(text.includes(s.command.replace(/_/g, ' ')), `the PDF names the step ${s.command}`);
    for (const who of new Set(rec.record.steps.map((s) => s.actor))) assert.ok(text.includes(who), `the PDF names ${who}`);
    assert.ok(text.includes('latch.jpg'), 'the PDF lists the photo');
    await owner.goto(`${server.url}/locks/${lock.id}`);
    await owner.getByTestId('lock-reset-cases').waitFor({ timeout: WAIT });
    assert.equal(await owner.getByTestId('case-record-pdf').first().getAttribute('href'), `/api/reset-cases/${id}/record.pdf`);
    assert.equal(await owner.getByTestId('case-link').first().getAttribute('href'), `/resets/${id}`);
    await owner.goto(`${server.url}/audit`);
    const closeRow = owner.locator('tr[data-action="reset.close"]');
    await closeRow.first().waitFor({ timeout: WAIT });
    assert.equal(await closeRow.first().getByTestId('audit-record-pdf').getAttribute('href'), `/api/reset-cases/${id}/record.pdf`);
  });

  it('a second case is cancelled with a reason while nothing destructive has happened', async () => {
    const other = (await server.runtime.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.id !== lock.id && l.serviceState === 'in_service' && l.driver === 'simulator')!;
    await owner.goto(`${server.url}/locks/${other.id}`);
    await owner.getByTestId('reset-case').click();
    await owner.getByTestId('reason').click();
    await owner.getByRole('option', { name: 'Stuck in a pairing loop' }).click();
    await owner.getByRole('button', { name: 'Open the case' }).click();
    await owner.getByTestId('follow').click();
    await state(owner, /Preflight/);
    await owner.getByTestId('cancel-case').click();
    assert.equal(await owner.getByTestId('confirm-cancel').isDisabled(), true, 'no cancel without a reason');
    await owner.getByLabel('Why the case is cancelled').fill('the app re-paired after a restart');
    await owner.getByTestId('confirm-cancel').click();
    await state(owner, /Cancelled/);
    await expectText(owner.getByTestId('closed'), /cancelled/, 'the outcome');
    assert.equal(await owner.getByTestId('cancel-case').count(), 0, 'a finished case offers no cancel');
  });

  it('the dashboard counts the closed and the cancelled case, with its charts', async () => {
    await owner.goto(`${server.url}/dashboard`);
    await expectText(owner.getByTestId('dash-reasons'), /Credential compromise 1/, 'the compromise reset in the weekly figures');
    await expectText(owner.getByTestId('dash-reasons'), /Stuck in a pairing loop 1/, 'the cancelled case in the weekly figures');
    await expectText(owner.getByTestId('dash-open-total'), /^0 open$/, 'no case left open');
    await expectText(owner.getByTestId('dash-turnovers'), /No turnovers due today/, 'the turnovers panel');
    assert.ok((await owner.locator('[data-testid="dashboard"] .recharts-surface').count()) >= 2, 'both charts drawn');
    await owner.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });
  });
});
