/**
 * Resets of demo locks in a real browser, through the UI only: the physical world is played on the
 * simulated lock's own virtual front panel, as a person would (see test/unit/e2e-no-back-doors).
 * (a) A compromise reset of a full-erase lock at the door on a phone: the owner opens the case and
 * follows the recommendation, a second admin approves (the opener cannot), the technician follows
 * the procedure (a timed hold kept by the server survives a reload), holds the panel's reset button
 * (too short first, then long enough), enrolls the lock again with the code on its label, checks
 * (a photo of the latch as evidence), rebuilds, and the owner closes and signs; the signed record
 * downloads as a PDF, linked from the lock and the audit log. (b) A remote reset of a local-only
 * lock on a phone, with the cloud account unbound from the case. A third case is cancelled with a
 * reason, and the dashboard counts them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { choosePassword, expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import type { RunningServer } from '../../src/server/serve.js';
import { jpegWithGps } from '../helpers/images.js';
import { readPdf } from '../helpers/pdf.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

async function assertEventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + WAIT;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: not within ${WAIT / 1000} s`);
}

describe('resets in a browser, through the UI and the lock’s virtual panel', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
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

  /** Holds the panel's reset button for `seconds` of real time, as a finger on the lock would. */
  const holdResetButton = async (page: Page, seconds: number) => {
    const button = page.getByTestId('sim-reset-button');
    await button.scrollIntoViewIfNeeded();
    const box = (await button.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await page.mouse.up();
  };

  /** Opens the case from the lock's page with a reason and follows the recommendation. */
  const openCase = async (page: Page, lockId: string, reason: string) => {
    await page.goto(`${server.url}/locks/${lockId}`);
    await page.getByTestId('reset-case').click();
    await page.getByTestId('reason').click();
    await page.getByRole('option', { name: reason }).click();
    await page.getByRole('button', { name: 'Open the case' }).click();
    await page.getByTestId('follow').click();
    await state(page, /Preflight/);
  };

  /** Ticks the preflight's boxes (each turns checked when the server recorded it) and reads the battery from the lock. */
  const preflight = async (page: Page) => {
    for (const label of ['Ownership confirmed', 'Physical access arranged', 'Inside a maintenance window, no emergency', 'Occupants notified', 'Monitoring service notified']) {
      await page.getByRole('checkbox', { name: label }).click();
      await page.waitForFunction((l) => document.querySelector<HTMLInputElement>(`input[aria-label="${l}"]`)?.checked === true, label, { timeout: WAIT });
    }
    await page.getByRole('button', { name: 'Read from the lock' }).click();
    await expectText(page.getByTestId('reset-case'), /read from the lock: 100%/, 'the battery read from the lock');
  };

  /** Fits fresh batteries from the lock page's simulated-lock card, as a technician would before a reset. */
  const freshBatteries = async (page: Page, lockId: string) => {
    await page.goto(`${server.url}/locks/${lockId}`);
    const card = page.getByTestId('simulated-lock-card');
    await card.getByRole('button', { name: 'Open the compartment' }).click();
    await card.getByRole('button', { name: 'Fit fresh batteries' }).click();
    await expectText(card.getByTestId('sim-battery'), /charge 100 %/, 'fresh batteries');
    await card.getByRole('button', { name: 'Close the compartment' }).click();
  };

  /** Reads the setup code off the panel's label and enrolls the lock again from the case. */
  const reenroll = async (page: Page) => {
    const setupCode = (await page.getByTestId('sim-setup-code').innerText()).trim();
    await page.getByTestId('enroll-code').fill('0000-000-0000');
    await page.getByTestId('reenroll-start').click();
    await expectText(page.getByTestId('reenroll-error'), /label/, 'a wrong code refused in words');
    await page.getByTestId('enroll-code').fill(setupCode);
    await page.getByTestId('reenroll-start').click();
    await page.getByTestId('reenrolled').waitFor({ timeout: WAIT });
    await expectText(page.getByTestId('check-admin_enrollment_accepted'), /passed/, 'the new enrollment accepted');
  };

  /** Passes every manual check still open; each disappears when recorded. */
  const passManualChecks = async (page: Page) => {
    for (let i = 0; i < 6; i++) {
      const pass = page.getByRole('button', { name: 'Pass', exact: true });
      if ((await pass.count()) === 0) break;
      const before = await pass.count();
      await pass.first().click();
      await assertEventually(async () => (await pass.count()) < before, 'the check recorded');
    }
  };

  before(async () => {
    e2e = await startE2E('reset', { onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    const services = server.runtime.services;
    // Finding the demo lock and the people is setup; the journey itself is the UI's.
    lock = (await services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'DB-100' && l.serviceState === 'in_service')!;
    code = (await services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest Ada' })).code;
    await services.auth.createUser(SYSTEM, { email: 'second@example.test', displayName: 'Second Admin', role: 'admin', password: 'second admin password' });
    await services.auth.createUser(SYSTEM, { email: 'tech@example.test', displayName: 'Tess Technician', role: 'technician', password: 'technician password 1' });
    owner = await newPage({ width: 1280, height: 900 });
    second = await newPage({ width: 1280, height: 900 });
    tech = await newPage({ width: 390, height: 844 });
  });

  after(async () => {
    await e2e?.close();
  });

  it('(a) the owner sees the guest’s PIN reach the lock, fits fresh batteries on the panel, opens a compromise case and ticks off preflight', async () => {
    assert.ok(server.oneTimeUrl, lines.join('\n'));
    await choosePassword(owner, server.oneTimeUrl, 'owner password is long');
    await owner.goto(`${server.url}/locks/${lock.id}`);
    await owner.locator('[data-testid^="slot-row-"][data-state="in_sync"]').first().waitFor({ timeout: WAIT });
    await freshBatteries(owner, lock.id);
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
    await preflight(owner);
    assert.equal(await owner.getByRole('button', { name: 'Approve as the second person' }).count(), 0, 'the opener is not offered approval');
    assert.equal(await owner.getByRole('button', { name: 'Preflight complete' }).isDisabled(), true);
  });

  it('(a) a second admin approves; the owner completes preflight and takes the snapshot', async () => {
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
    // The lock page agrees with the case: the case owns the lock now.
    await owner.goto(`${server.url}/locks/${lock.id}`);
    await owner.getByTestId('reset-owns-lock').waitFor({ timeout: WAIT });
    assert.equal(await owner.getByRole('button', { name: 'Read now' }).count(), 0, 'no read that would never land');
  });

  it('(a) the technician follows the procedure on a phone: a timed hold kept by the server survives a reload', async () => {
    await signInAs(tech, 'tech@example.test', 'technician password 1');
    await tech.goto(caseUrl);
    await tech.getByTestId('at-the-door').waitFor({ timeout: WAIT });
    await tech.screenshot({ path: path.join(SHOTS, 'reset-at-the-door.png'), fullPage: true });
    let reloaded = false;
    for (let i = 0; i < 12; i++) {
      const step = tech.getByTestId('procedure-step');
      if ((await step.count()) === 0) break;
      const text = await step.innerText();
      const [, n, total] = /Step (\d+) of (\d+)/.exec(text)!.map(Number);
      if (/· Hold/.test(text)) {
        assert.equal(await tech.getByTestId('tick').isDisabled(), true, 'no tick before the hold is timed');
        const start = tech.getByTestId('start-timer');
        const seconds = Number(/start the (\d+) s timer/.exec(await start.innerText())![1]);
        await start.click();
        await expectText(tech.getByTestId('timer'), /^\d+$/, 'the timer runs');
        await new Promise((r) => setTimeout(r, 3000));
        if (!reloaded) {
          // A reload does not restart the hold: the server kept when it started.
          await tech.reload();
          reloaded = true;
          await tech.getByTestId('timer').waitFor({ timeout: WAIT });
          const left = Number(await tech.getByTestId('timer').innerText());
          assert.ok(left <= seconds - 2, `the timer carried on after the reload (${left} s left of ${seconds})`);
          assert.equal(await tech.getByTestId('start-timer').count(), 0, 'no new start after the reload');
          await tech.screenshot({ path: path.join(SHOTS, 'reset-hold-timer.png') });
        }
        await expectText(tech.getByTestId('timer'), /^0$/, 'the timer run out');
      }
      await tech.getByTestId('tick').click();
      if (n! < total!) await expectText(tech.getByTestId('procedure-step'), new RegExp(`Step ${n! + 1} of`), 'the next step');
      else await tech.getByTestId('confirm-reset').waitFor({ timeout: WAIT });
    }
    assert.ok(reloaded, 'the procedure had a timed hold');
  });

  it('(a) the technician’s hands on the virtual panel: a hold too short is refused, a long one resets the lock', async () => {
    const panel = tech.getByTestId('sim-panel');
    await panel.waitFor({ timeout: WAIT });
    await holdResetButton(tech, 2);
    await expectText(tech.getByTestId('sim-outcome'), /too short|not long enough|longer/i, 'a hold too short');
    assert.notEqual(await tech.getByTestId('sim-indicator').getAttribute('data-state'), 'setup_mode');
    await holdResetButton(tech, 13);
    await assertEventually(async () => (await tech.getByTestId('sim-indicator').getAttribute('data-state')) === 'setup_mode', 'the panel shows setup mode');
    await tech.screenshot({ path: path.join(SHOTS, 'reset-panel-setup-mode.png'), fullPage: true });
    await tech.getByTestId('confirm-reset').click();
    await state(tech, /Verification/);
    await expectText(tech.getByTestId('check-setup_mode'), /passed/, 'setup mode read from the lock');
  });

  it('(a) verification: the lock is enrolled again with its label’s code, then checked by the driver and by hand', async () => {
    await reenroll(tech);
    for (const check of ['prior_pins_gone', 'prior_controllers_refused']) await expectText(tech.getByTestId(`check-${check}`), /passed/, check);
    await expectText(tech.getByTestId('locked-out'), /Guest Ada/, 'who is locked out during verification');
    assert.equal((await tech.getByTestId('locked-out').innerText()).includes(code), false);
    // A photo of the latch as the evidence of its check: taken on the phone, uploaded, shown as a thumbnail.
    const chooser = tech.waitForEvent('filechooser', { timeout: WAIT });
    await tech.getByTestId('photo-latch_and_door').click();
    await (await chooser).setFiles({ name: 'latch.jpg', mimeType: 'image/jpeg', buffer: await jpegWithGps() });
    await tech.getByTestId('evidence-latch_and_door').waitFor({ timeout: WAIT });
    await passManualChecks(tech);
    await expectText(tech.getByTestId('check-latch_and_door'), /passed/, 'the latch check');
    await tech.getByTestId('photo-thumbnail').first().waitFor({ timeout: WAIT });
    assert.equal(await tech.getByTestId('photo-thumbnail').first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), true, 'the thumbnail loads');
    await tech.screenshot({ path: path.join(SHOTS, 'reset-verification.png'), fullPage: true });
    await tech.getByRole('button', { name: 'Verification complete' }).click();
    await state(tech, /Rebuild/);
    await expectText(tech.getByTestId('locked-out'), /Guest Ada/, 'who is locked out');
    await tech.getByRole('button', { name: 'Restore on the lock' }).click();
    await tech.getByRole('button', { name: 'Rebuild complete' }).click();
    await state(tech, /Close-out/);
  });

  it('(a) the owner closes the case, the signed record verifies, and the lock page shows the guest’s PIN back on the lock', async () => {
    await owner.goto(caseUrl);
    await owner.getByTestId('close').click();
    await expectText(owner.getByTestId('closed'), /reset verified/, 'the outcome');
    const id = caseUrl.split('/').pop()!;
    const rec = await owner.evaluate(async (u) => (await fetch(u)).json() as Promise<{ verified: boolean }>, `/api/reset-cases/${id}/record`);
    assert.equal(rec.verified, true);
    assert.equal(JSON.stringify(rec).includes(code), false);
    await owner.screenshot({ path: path.join(SHOTS, 'reset-closed.png'), fullPage: true });
    await owner.goto(`${server.url}/locks/${lock.id}`);
    const row = owner.locator('[data-testid^="slot-row-"]').filter({ hasText: 'Guest Ada' });
    await assertEventually(async () => {
      await owner.reload();
      await row.first().waitFor({ timeout: WAIT });
      return (await row.first().getAttribute('data-state')) === 'in_sync';
    }, 'the restored PIN read back from the lock');
  });

  it('(a) the close-out PDF downloads from the case page, names every step and actor, and is linked from the lock and the audit log', async () => {
    const id = caseUrl.split('/').pop()!;
    await owner.goto(caseUrl);
    const rec = await owner.evaluate(async (u) => (await fetch(u)).json() as Promise<{ record: { steps: { command: string; actor: string }[]; case: { verification: { latch_and_door: { evidence: string[] } } } } }>, `/api/reset-cases/${id}/record`);
    assert.equal(rec.record.case.verification.latch_and_door.evidence.length, 1, 'the photo is the latch check\'s evidence');
    assert.ok(rec.record.steps.some((s) => s.command === 'reenroll'), 'the re-enrollment is on the record');
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

  it('(b) a remote reset of a local-only lock on a phone: the cloud account is unbound from the case, the lock enrolled again, the case closed', async () => {
    const remote = (await server.runtime.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'CB-2 Pro' && l.serviceState === 'in_service')!;
    const phone = await newPage({ width: 390, height: 844 });
    await signInAs(phone, 'second@example.test', 'second admin password');
    await freshBatteries(phone, remote.id);
    await openCase(phone, remote.id, 'Ownership transfer');
    await preflight(phone);
    await phone.getByRole('button', { name: 'Preflight complete' }).click();
    await state(phone, /Snapshot/);
    await phone.getByRole('button', { name: 'Take the snapshot' }).click();
    await state(phone, /Account side/);
    await phone.screenshot({ path: path.join(SHOTS, 'reset-remote-account-side.png'), fullPage: true });
    await phone.getByTestId('unbind-cloud').click();
    await state(phone, /Reset at the door/);
    await phone.getByRole('button', { name: 'Reset remotely instead' }).click();
    await state(phone, /Verification/);
    await expectText(phone.getByTestId('check-setup_mode'), /passed/, 'setup mode after the remote reset');
    await reenroll(phone);
    await expectText(phone.getByTestId('check-cloud_unbound'), /passed/, 'the cloud binding gone');
    await passManualChecks(phone);
    await phone.screenshot({ path: path.join(SHOTS, 'reset-remote-verification.png'), fullPage: true });
    await phone.getByRole('button', { name: 'Verification complete' }).click();
    await state(phone, /Rebuild/);
    await phone.getByRole('button', { name: 'Rebuild complete' }).click();
    await state(phone, /Close-out/);
    await phone.getByTestId('close').click();
    await expectText(phone.getByTestId('closed'), /reset verified/, 'the outcome');
  });

  it('a third case is cancelled with a reason while nothing destructive has happened', async () => {
    const other = (await server.runtime.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.id !== lock.id && l.serviceState === 'in_service' && l.driver === 'simulator')!;
    await openCase(owner, other.id, 'Stuck in a pairing loop');
    await owner.getByTestId('cancel-case').click();
    assert.equal(await owner.getByTestId('confirm-cancel').isDisabled(), true, 'no cancel without a reason');
    await owner.getByLabel('Why the case is cancelled').fill('the app re-paired after a restart');
    await owner.getByTestId('confirm-cancel').click();
    await state(owner, /Cancelled/);
    await expectText(owner.getByTestId('closed'), /cancelled/, 'the outcome');
    assert.equal(await owner.getByTestId('cancel-case').count(), 0, 'a finished case offers no cancel');
  });

  it('the dashboard counts the cases, with its charts, and offers a reset to try', async () => {
    await owner.goto(`${server.url}/dashboard`);
    await expectText(owner.getByTestId('dash-reasons'), /Credential compromise 1/, 'the compromise reset in the weekly figures');
    await expectText(owner.getByTestId('dash-reasons'), /Stuck in a pairing loop 1/, 'the cancelled case in the weekly figures');
    await expectText(owner.getByTestId('dash-open-total'), /^0 open$/, 'no case left open');
    await expectText(owner.getByTestId('dash-turnovers'), /No turnovers due today/, 'the turnovers panel');
    assert.ok((await owner.locator('[data-testid="dashboard"] .recharts-surface').count()) >= 2, 'both charts drawn');
    await owner.getByTestId('try-a-reset').waitFor({ timeout: WAIT });
    await owner.screenshot({ path: path.join(SHOTS, 'dashboard.png'), fullPage: true });
  });
});
