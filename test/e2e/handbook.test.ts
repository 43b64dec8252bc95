/**
 * The handbook in a real browser, on a fresh server with the demo fleet: from the home page a
 * technician reaches a demo lock's reset procedure in at most three clicks (counted), edits a step
 * with a reason, compares the two revisions and sees the change highlighted, marks the entry
 * verified, and keeps a master code that is shown masked and revealed once, with a reason that the
 * reveal record then shows. Drives Debian's Chromium through playwright-core; every wait is bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { choosePassword, expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { RunningServer } from '../../src/server/serve.js';
import { jpegWithGps } from '../helpers/images.js';
import { readPdf } from '../helpers/pdf.js';

describe('the handbook in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const lines: string[] = [];
  const password = 'correct horse battery staple';
  let entryUrl = '';
  let startRevision = 0;
  const newText = 'Press and hold the interior reset button with a straightened paperclip';

  before(async () => {
    e2e = await startE2E('hb', { onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+/);
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, acceptDownloads: true });
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await e2e?.close();
  });

  it('signs in and reaches a demo lock’s reset procedure in at most three clicks from the home page', async () => {
    assert.ok(server.oneTimeUrl, `no one-time link printed:\n${lines.join('\n')}`);
    await choosePassword(page, server.oneTimeUrl, password);
    await page.getByTestId('lock-table').waitFor({ timeout: WAIT });

    await page.goto(`${server.url}/`);
    let clicks = 0;
    const firstLock = page.getByTestId('lock-row').first().getByRole('link').first();
    await firstLock.waitFor({ timeout: WAIT });
    const lockName = (await firstLock.innerText()).trim();
    await firstLock.click();
    clicks++;
    await page.getByRole('heading', { level: 1, name: lockName }).waitFor({ timeout: WAIT });
    const procedure = page.getByTestId('reset-procedure');
    await procedure.waitFor({ timeout: WAIT });
    await procedure.click();
    clicks++;
    await page.getByTestId('steps').waitFor({ timeout: WAIT });
    assert.ok(clicks <= 3, `took ${clicks} clicks`);
    assert.match(page.url(), /\/handbook\/entries\/[0-9a-f-]{36}$/);
    entryUrl = page.url();
    // The starter catalogue is the generic procedure of the family, never verified yet.
    await page.getByTestId('generic-notice').waitFor({ timeout: WAIT });
    await expectText(page.getByTestId('generic-notice'), /manufacturer's instructions/, 'the generic-template notice');
    await expectText(page.getByTestId('entry-header').getByTestId('handbook-status'), /never verified/, 'the status badge');
    assert.ok((await page.getByTestId('step').count()) >= 2, 'numbered steps');
    startRevision = Number(await page.getByTestId('entry-revision').innerText());
    await page.screenshot({ path: path.join(SHOTS, 'handbook-entry.png'), fullPage: true });
  });

  it('edits a step with a reason, and a save without a reason is refused', async () => {
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByTestId('handbook-editor').waitFor({ timeout: WAIT });
    await page.getByLabel('Step 1 text').fill(newText);
    await page.getByRole('button', { name: 'Save revision' }).click();
    await expectText(page.getByTestId('handbook-editor'), /say why/, 'the missing-reason message');
    await page.getByLabel(/^Reason for this change/).fill('the paperclip is what works on site');
    await page.getByRole('button', { name: 'Save revision' }).click();
    await page.getByTestId('steps').waitFor({ timeout: WAIT });
    await expectText(page.getByTestId('entry-revision'), new RegExp(`^${startRevision + 1}$`), 'the new revision number');
    await expectText(page.getByTestId('step').first(), /straightened paperclip/, 'the edited step');
  });

  it('compares the two revisions side by side with the change highlighted', async () => {
    await page.getByRole('link', { name: 'Revisions' }).click();
    await page.getByTestId('revision-table').waitFor({ timeout: WAIT });
    await expectText(page.getByTestId('revision-row').first(), /the paperclip is what works on site/, 'the reason in the revision list');
    await page.getByTestId('diff').waitFor({ timeout: WAIT });
    const added = await page.getByTestId('diff-added').allInnerTexts();
    assert.ok(added.join(' ').includes('paperclip'), `highlighted additions: ${JSON.stringify(added)}`);
    assert.ok((await page.getByTestId('diff-removed').count()) > 0, 'removed words are highlighted on the left');
    await page.screenshot({ path: path.join(SHOTS, 'handbook-diff.png'), fullPage: true });
  });

  it('marks the entry verified', async () => {
    await page.goto(entryUrl);
    await page.getByRole('button', { name: 'Mark verified' }).click();
    await page.getByRole('button', { name: 'Confirm verified' }).click();
    await expectText(page.getByTestId('last-verified'), new RegExp(`at revision ${startRevision + 1}`), 'the verification line');
    await expectText(page.getByTestId('entry-header').getByTestId('handbook-status'), /^verified$/, 'the status badge after verifying');
  });

  it('exports the handbook as a PDF from its front page, with the edited step in it', async () => {
    await page.goto(`${server.url}/handbook`);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId('export-pdf').click()]);
    const file = await download.path();
    assert.ok(file, 'the browser saved the PDF');
    const pdf = await readPdf(readFileSync(file));
    assert.ok(pdf.pages.length > 2, `cover, contents and entries (${pdf.pages.length} pages)`);
    assert.match(pdf.pages.join('\n'), /straightened paperclip/, 'the new revision of the edited entry is in the export');
    assert.ok(pdf.outline.length > 0, 'the PDF has bookmarks');
    await page.goto(entryUrl);
  });

  it('attaches a site photo to step 1: its thumbnail shows in the step and opens full size', async () => {
    await page.goto(entryUrl);
    const form = page.getByTestId('attachment-upload');
    await form.waitFor({ timeout: WAIT });
    await form.locator('input[type=file]').setInputFiles({ name: 'back plate.jpg', mimeType: 'image/jpeg', buffer: await jpegWithGps() });
    await form.getByLabel('Caption').fill('Reset button behind the back plate');
    await form.getByPlaceholder('Whole entry').click();
    await page.getByRole('option', { name: 'Step 1', exact: true }).click();
    await form.getByRole('button', { name: 'Upload' }).click();
    const thumb = page.getByTestId('step').first().getByTestId('attachment-thumbnail');
    await thumb.waitFor({ timeout: WAIT });
    await page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0, await thumb.elementHandle(), { timeout: WAIT });
    assert.equal(await thumb.evaluate((el) => (el as HTMLImageElement).naturalWidth), 320, 'the thumbnail is 320 px wide');
    await expectText(page.getByTestId('step').first().getByTestId('attachment'), /Reset button behind the back plate/, 'the caption under the thumbnail');
    await page.screenshot({ path: path.join(SHOTS, 'handbook-attachment.png'), fullPage: true });
    await thumb.click();
    const full = page.getByTestId('attachment-full');
    await full.waitFor({ timeout: WAIT });
    await page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0, await full.elementHandle(), { timeout: WAIT });
    assert.equal(await full.evaluate((el) => (el as HTMLImageElement).naturalWidth), 800, 'the full image');
    await page.keyboard.press('Escape');
  });

  it('keeps a master code masked and reveals it once with a reason, which the record shows', async () => {
    await page.getByRole('button', { name: 'Add secret' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/^Label/).fill('front desk keypad');
    await dialog.getByLabel(/^Value/).fill('864209');
    await dialog.getByRole('button', { name: 'Save secret' }).click();
    const row = page.getByTestId('secret-row');
    await expectText(row, /front desk keypad/, 'the new secret');
    assert.ok(!(await page.getByTestId('secrets').innerText()).includes('864209'), 'the value is masked');

    await row.getByRole('button', { name: 'Reveal' }).click();
    await page.getByRole('dialog').getByLabel(/^Reason/).fill('factory reset of the front desk keypad');
    await page.getByRole('dialog').getByRole('button', { name: 'Reveal' }).click();
    // A reveal needs a fresh "Confirm it's you"; the dialog then sends the reveal again by itself.
    const confirm = page.getByRole('dialog', { name: "Confirm it's you" });
    await confirm.getByLabel('Your password').fill(password);
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await confirm.waitFor({ state: 'hidden', timeout: WAIT });
    await expectText(page.getByTestId('revealed-value'), /^864209$/, 'the revealed value');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await expectText(page.getByTestId('reveal-row'), /factory reset of the front desk keypad/, 'the reveal record');
    assert.ok(!(await page.locator('body').innerText()).includes('864209'), 'the value is gone once the dialog closed');
  });

  it('explains a stale save: someone else saved while the editor was open', async () => {
    await page.goto(`${entryUrl}/edit`);
    await page.getByTestId('handbook-editor').waitFor({ timeout: WAIT });
    // Another person saves through the API (same session is fine: the base revision is what counts).
    const saved = await page.evaluate(async (url) => {
      const id = url.split('/').pop()!;
      const me = (await (await fetch('/api/auth/me')).json()) as { csrfToken: string };
      const entry = (await (await fetch(`/api/handbook/entries/${id}`)).json()) as { content: unknown; revision: number };
      const res = await fetch(`/api/handbook/entries/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ content: entry.content, reason: 'saved elsewhere first', expectedRevision: entry.revision }),
      });
      return res.status;
    }, entryUrl);
    assert.equal(saved, 200);
    await page.getByLabel('Step 1 text').fill(`${newText}, gently`);
    await page.getByLabel(/^Reason for this change/).fill('my late edit');
    await page.getByRole('button', { name: 'Save revision' }).click();
    await expectText(page.getByTestId('conflict'), /Your changes were not saved/, 'the conflict message');
  });
});
