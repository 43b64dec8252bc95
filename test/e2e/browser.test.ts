/**
 * The first five minutes of a new user, in a real browser: start lockwarden on an empty data folder,
 * follow the printed one-time link, choose a password, filter the demo lock list, open a lock, sign
 * out and back in. Drives Debian's Chromium through playwright-core; screenshots go to test-output/e2e.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { SHOTS, SKIP_WITHOUT_BROWSER, startE2E, type E2E } from './harness.js';
import type { RunningServer } from '../../src/server/serve.js';

describe('web UI in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const lines: string[] = [];
  const password = 'correct horse battery staple';

  before(async () => {
    // The first start of a new user: a truly empty data folder.
    e2e = await startE2E('first-start', { fresh: true, onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  });

  after(async () => {
    await e2e?.close();
  });

  it('signs in with the printed one-time link and sets a password', async () => {
    const link = lines.map((l) => l.trim()).find((l) => l.includes('/signin/one-time#'));
    assert.ok(link, `no one-time link printed:\n${lines.join('\n')}`);
    assert.equal(link, server.oneTimeUrl);
    await page.goto(link);
    await page.getByLabel(/^New password/).fill(password);
    await page.getByLabel(/^Repeat password/).fill('not the same password');
    await page.getByRole('button', { name: 'Save password' }).click();
    await page.getByText('the two passwords differ').waitFor();
    await page.getByLabel(/^New password/).fill('short');
    await page.getByLabel(/^Repeat password/).fill('short');
    await page.getByRole('button', { name: 'Save password' }).click();
    await page.getByText(/at least 12 characters/).last().waitFor();
    await page.getByLabel(/^New password/).fill(password);
    await page.getByLabel(/^Repeat password/).fill(password);
    await page.screenshot({ path: path.join(SHOTS, '01-choose-password.png') });
    await page.getByRole('button', { name: 'Save password' }).click();
    await page.getByTestId('lock-table').waitFor();
    await page.getByText(/demo fleet/i).first().waitFor();
    assert.doesNotMatch(page.url(), /#/, 'the one-time token is gone from the address bar');
  });

  it('signs out and back in with the new password', async () => {
    await page.getByRole('button', { name: /sign out/i }).click();
    await page.getByLabel('Email').waitFor();
    await page.getByLabel(/^Password/).fill('wrong password here');
    await page.getByLabel('Email').fill('owner@lockwarden.local');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/email or password is wrong/i).waitFor();
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('lock-table').waitFor();
  });

  it('filters the lock list by family and opens a lock', async () => {
    await page.goto(`${server.url}/locks`);
    const rows = page.getByTestId('lock-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 25, 'first page of the 40 demo locks');
    await page.getByPlaceholder('All families').click();
    await page.getByRole('option', { name: 'Biometric' }).click();
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="lock-row"]').length === 3);
    const names = await rows.allInnerTexts();
    assert.ok(names.every((n) => /FP-300/.test(n)), names.join('\n'));
    assert.match(page.url(), /family=biometric/);
    await page.screenshot({ path: path.join(SHOTS, '02-lock-list-biometric.png'), fullPage: true });

    const first = rows.first().getByRole('link').first();
    const name = (await first.innerText()).trim();
    await first.click();
    await page.getByRole('heading', { level: 1, name }).waitFor();
    await page.getByText('FP-300').first().waitFor();
    await page.screenshot({ path: path.join(SHOTS, '03-lock-detail.png'), fullPage: true });
  });

  it('shows the location tree with both demo sites', async () => {
    await page.goto(`${server.url}/locations`);
    const tree = page.getByTestId('location-tree');
    await tree.waitFor();
    await tree.getByText('Harbour View Apartments').waitFor();
    await tree.getByText('Northgate Offices').waitFor();
    await page.screenshot({ path: path.join(SHOTS, '04-locations.png'), fullPage: true });
  });
});
