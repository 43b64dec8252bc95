/**
 * Second factors in a real browser, as a person uses them: the owner reveals a handbook secret and is
 * asked to confirm it's them first (password: no factor yet), enrols an authenticator app on the
 * Security page (the code is computed with otplib from the key the page shows, as the app would) and
 * a passkey (Chromium's virtual authenticator through the DevTools protocol: ctap2, internal
 * transport, resident keys, user verification), then signs in with each, on a phone-sized screen for
 * the authenticator app, and once with a recovery code. The page is served as http://localhost
 * (WebAuthn refuses an IP address as relying party). Every wait is bounded.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSync } from 'otplib';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { choosePassword, expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { RunningServer } from '../../src/server/serve.js';

const OWNER = 'owner@lockwarden.local';
const PASSWORD = 'correct horse battery staple';

describe('second factors in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
  let desk: Page;
  let phoneContext: BrowserContext;
  let phone: Page;
  let base = '';
  let totpSecret = '';
  let recoveryCodes: string[] = [];
  const lines: string[] = [];

  before(async () => {
    // localhost is pinned to the server's address in Chromium: no lookup leaves the machine, and never ::1.
    e2e = await startE2E('2fa', { chromiumArgs: ['--host-resolver-rules=MAP localhost 127.0.0.1'], onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    base = server.url.replace('127.0.0.1', 'localhost');
    desk = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    phone = await phoneContext.newPage();
  });

  after(async () => {
    await e2e?.close();
  });

  const signInWithPassword = async (page: Page) => {
    await page.goto(`${base}/signin`);
    await page.getByLabel('Email').fill(OWNER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Second step' }).waitFor({ timeout: WAIT });
  };
  const signOut = async (page: Page) => {
    await page.goto(`${base}/locks`);
    const menu = page.getByRole('button', { name: 'Navigation' });
    if (await menu.isVisible()) await menu.click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: WAIT });
  };

  it('asks "Confirm it\'s you" before revealing a handbook secret, and reveals it after', async () => {
    assert.ok(server.oneTimeUrl, `no one-time link printed:\n${lines.join('\n')}`);
    await choosePassword(desk, server.oneTimeUrl.replace('127.0.0.1', 'localhost'), PASSWORD);
    await desk.getByTestId('lock-table').waitFor({ timeout: WAIT });
    await desk.getByTestId('lock-row').first().getByRole('link').first().click();
    await desk.getByTestId('reset-procedure').click();
    await desk.getByTestId('steps').waitFor({ timeout: WAIT });
    await desk.getByRole('button', { name: 'Add secret' }).click();
    const add = desk.getByRole('dialog');
    await add.getByLabel(/^Label/).fill('front desk keypad');
    await add.getByLabel(/^Value/).fill('864209');
    await add.getByRole('button', { name: 'Save secret' }).click();
    const row = desk.getByTestId('secret-row');
    await expectText(row, /front desk keypad/, 'the new secret');

    await row.getByRole('button', { name: 'Reveal' }).click();
    const reason = desk.getByRole('dialog').filter({ has: desk.getByLabel(/^Reason/) });
    await reason.getByLabel(/^Reason/).fill('factory reset of the front desk keypad');
    await reason.getByRole('button', { name: 'Reveal' }).click();
    const confirm = desk.getByRole('dialog', { name: "Confirm it's you" });
    await confirm.waitFor({ timeout: WAIT });
    assert.equal(await desk.getByTestId('revealed-value').count(), 0, 'nothing is revealed before the confirmation');
    await confirm.getByLabel('Your password').fill('not my password');
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await expectText(confirm, /password is wrong/, 'a wrong password is refused in the dialog');
    await confirm.getByLabel('Your password').fill(PASSWORD);
    await desk.screenshot({ path: path.join(SHOTS, 'step-up-dialog.png') });
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    // The dialog retried the reveal by itself once the server accepted the password.
    await expectText(desk.getByTestId('revealed-value'), /^864209$/, 'the revealed value after the step-up');
    await desk.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  });

  it('enrols an authenticator app with the key the page shows, and shows recovery codes once', async () => {
    await desk.goto(`${base}/security`);
    await desk.getByRole('heading', { name: 'Security' }).waitFor({ timeout: WAIT });
    await desk.getByRole('button', { name: 'Add an authenticator app' }).click();
    const secret = desk.getByTestId('totp-secret');
    await secret.waitFor({ timeout: WAIT });
    totpSecret = (await secret.innerText()).trim();
    assert.match(totpSecret, /^[A-Z2-7]{32}$/);
    await desk.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor({ timeout: WAIT });
    await desk.screenshot({ path: path.join(SHOTS, 'security-totp.png'), fullPage: true });
    await desk.getByLabel('Code the app shows').fill(generateSync({ secret: totpSecret }));
    await desk.getByRole('button', { name: 'Turn on' }).click();
    const codes = desk.getByTestId('recovery-codes');
    await codes.waitFor({ timeout: WAIT });
    recoveryCodes = (await codes.locator('code').allInnerTexts()).map((c) => c.trim());
    assert.equal(recoveryCodes.length, 10);
    await desk.screenshot({ path: path.join(SHOTS, 'security-recovery-codes.png'), fullPage: true });
    await desk.getByRole('button', { name: 'I saved them' }).click();
    await expectText(desk.getByRole('table'), /Authenticator app/, 'the new factor in the list');
    await expectText(desk.locator('body'), /10 recovery codes left/, 'the recovery codes count');
    assert.ok(!(await desk.locator('body').innerText()).includes(recoveryCodes[0]!), 'the codes are not shown again');
  });

  it('enrols a passkey through Chromium’s virtual authenticator', async () => {
    const cdp = await desk.context().newCDPSession(desk);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await desk.getByLabel('Passkey name').fill('Laptop passkey');
    await desk.getByRole('button', { name: 'Add a passkey or security key' }).click();
    await expectText(desk.getByRole('table'), /Laptop passkey/, 'the passkey in the list');
    await desk.screenshot({ path: path.join(SHOTS, 'security-factors.png'), fullPage: true });
  });

  it('signs in on a phone with the authenticator app', async () => {
    await signInWithPassword(phone);
    await phone.screenshot({ path: path.join(SHOTS, 'second-step-phone.png'), fullPage: true });
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the second step fits the phone (${width} px wide)`);
    // The code of the next 30 s step (a phone clock a little ahead is accepted): the current step's
    // code was spent on the enrolment and would be refused as a replay.
    const wrong = generateSync({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 300 });
    await phone.getByLabel('Code from your authenticator app').fill(wrong);
    await phone.getByRole('button', { name: 'Continue' }).click();
    await expectText(phone.getByRole('alert'), /wrong or was already used/, 'a wrong code is refused');
    await phone.getByLabel('Code from your authenticator app').fill(generateSync({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await phone.getByRole('button', { name: 'Continue' }).click();
    await phone.getByTestId('lock-table').waitFor({ timeout: WAIT });
  });

  it('signs in with the passkey', async () => {
    await signOut(desk);
    await signInWithPassword(desk);
    await desk.getByRole('button', { name: 'Use a passkey or security key' }).click();
    await desk.getByTestId('lock-table').waitFor({ timeout: WAIT });
    await desk.screenshot({ path: path.join(SHOTS, 'signed-in-passkey.png') });
  });

  it('recovers with a recovery code on the phone, once', async () => {
    // Another phone (a fresh browser): the lost one is gone.
    const fresh = async () => (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
    phone = await fresh();
    await signInWithPassword(phone);
    await phone.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await phone.getByLabel('Recovery code').fill(recoveryCodes[0]!);
    await phone.screenshot({ path: path.join(SHOTS, 'recovery-code-phone.png'), fullPage: true });
    await phone.getByRole('button', { name: 'Continue' }).click();
    await phone.getByTestId('lock-table').waitFor({ timeout: WAIT });
    await phone.goto(`${base}/security`);
    await expectText(phone.locator('body'), /9 recovery codes left/, 'one code is spent');
    phone = await fresh();
    await signInWithPassword(phone);
    await phone.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await phone.getByLabel('Recovery code').fill(recoveryCodes[0]!);
    await phone.getByRole('button', { name: 'Continue' }).click();
    await expectText(phone.getByRole('alert'), /wrong or was already used/, 'a used recovery code is refused');
  });
});
