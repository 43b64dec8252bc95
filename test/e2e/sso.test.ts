/**
 * Single sign-on in a real browser, as people use it: the owner sets up the identity provider on the
 * Security page (saving asks "Confirm it's you"), then a person without an account here clicks
 * "Sign in with Example Login", signs in on the provider's own login and consent pages (oidc-provider
 * in-process on 127.0.0.1), and comes back signed in with the role the owner mapped their group to;
 * someone whose email the provider has not verified comes back to a sentence and no account. The app
 * is served as http://localhost and the provider as http://127.0.0.1, two sites, so the round trip is
 * cross-site as with a real provider. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { choosePassword, expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { RunningServer } from '../../src/server/serve.js';
import { startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';

const PASSWORD = 'correct horse battery staple';

describe('single sign-on in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let idp: TestProvider;
  let browser: Browser;
  let desk: Page;
  let base = '';
  const lines: string[] = [];

  before(async () => {
    // The test's provider listens on this machine, as an on-premises provider on a LAN would: the owner allows it.
    // localhost is pinned to the server's address in Chromium: no lookup leaves the machine, and never ::1.
    e2e = await startE2E('sso', { serve: { allowPrivateTargets: ['sso'] }, chromiumArgs: ['--host-resolver-rules=MAP localhost 127.0.0.1'], onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    base = server.url.replace('127.0.0.1', 'localhost');
    idp = await startTestProvider([`${base}/api/auth/sso/callback`]);
    idp.accounts.set('dana', { email: 'dana@example.test', email_verified: true, name: 'Dana Facilities', groups: ['staff', 'facilities'] });
    idp.accounts.set('ursula', { email: 'ursula@example.test', email_verified: false, name: 'Ursula Unverified' });
    desk = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  });

  after(async () => {
    await e2e?.close();
    await idp?.close();
  });

  /** From lockwarden's sign-in page through the provider's own pages, as `login`. */
  const signInAtProvider = async (page: Page, login: string) => {
    await page.goto(`${base}/signin`);
    await page.getByRole('link', { name: 'Sign in with Example Login' }).click();
    // The provider's own login page (oidc-provider's), on its own site.
    const loginField = page.locator('input[name="login"]');
    await loginField.waitFor({ timeout: WAIT });
    assert.equal(new URL(page.url()).origin, idp.issuer, 'the browser is at the provider');
    await loginField.fill(login);
    await page.locator('input[name="password"]').fill('whatever the provider wants');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    // Its consent page: lockwarden asks for openid, email, profile and groups.
    await page.getByRole('button', { name: 'Continue' }).click({ timeout: WAIT });
  };

  it('the owner sets up single sign-on on the Security page, confirming it is them', async () => {
    assert.ok(server.oneTimeUrl, `no one-time link printed:\n${lines.join('\n')}`);
    await choosePassword(desk, server.oneTimeUrl.replace('127.0.0.1', 'localhost'), PASSWORD);
    await desk.getByTestId('lock-table').waitFor({ timeout: WAIT });

    await desk.goto(`${base}/security`);
    const card = desk.getByTestId('sso-settings');
    await card.waitFor({ timeout: WAIT });
    await expectText(card.getByTestId('sso-redirect-url'), new RegExp(`^${base}/api/auth/sso/callback$`), 'the redirect URL to register');
    await card.getByLabel('Turn on single sign-on').check();
    await card.getByLabel(/^Provider name/).fill('Example Login');
    await card.getByLabel(/^Issuer URL/).fill(idp.issuer);
    await card.getByLabel(/^Client ID/).fill(idp.clientId);
    await card.getByLabel(/^Client secret/).fill(idp.clientSecret);
    await card.getByLabel(/self-sign-up/).check();
    await card.getByLabel(/^Group claim/).fill('groups');
    await card.getByRole('button', { name: 'Add a group mapping' }).click();
    await card.getByLabel(/^Group$/).fill('facilities');
    await card.getByRole('combobox', { name: 'Role', exact: true }).click();
    await desk.getByRole('option', { name: 'Manager' }).click();
    await card.getByRole('button', { name: 'Save single sign-on' }).click();

    const confirm = desk.getByRole('dialog', { name: "Confirm it's you" });
    await confirm.waitFor({ timeout: WAIT });
    await confirm.getByLabel('Your password').fill(PASSWORD);
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await expectText(card, /Single sign-on settings saved/, 'the settings saved after the step-up');
    await expectText(card, /A secret is stored/, 'the stored secret acknowledged, not shown');
    await desk.screenshot({ path: path.join(SHOTS, 'sso-settings.png'), fullPage: true });

    await desk.reload();
    await card.waitFor({ timeout: WAIT });
    await expectText(card, /A secret is stored/, 'after a reload');
    assert.equal(await card.getByLabel(/^Client secret/).inputValue(), '', 'the secret field stays empty');
    assert.ok(!(await desk.content()).includes(idp.clientSecret), 'the client secret is nowhere in the page');
  });

  it('a person without an account signs in through the provider and gets the role of their group', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await page.goto(`${base}/signin`);
      await page.getByRole('link', { name: 'Sign in with Example Login' }).waitFor({ timeout: WAIT });
      await page.screenshot({ path: path.join(SHOTS, 'sso-sign-in-button.png') });
      await signInAtProvider(page, 'dana');
      await page.getByTestId('lock-table').waitFor({ timeout: WAIT });
      assert.equal(new URL(page.url()).origin, base, 'back at lockwarden');
      await expectText(page.getByTestId('user-email'), /^dana@example\.test$/, 'signed in as the provider said');
      // No "choose a password" step: this account signs in through the provider.
      assert.equal(await page.getByLabel(/^New password/).count(), 0);
      await page.screenshot({ path: path.join(SHOTS, 'sso-signed-in.png') });
    } finally {
      await context.close();
    }
    // The owner sees the new account with the mapped role on the People page.
    await desk.goto(`${base}/people`);
    await expectText(desk.locator('body'), /dana@example\.test/, 'the new account in People');
    await expectText(desk.getByRole('row').filter({ hasText: 'dana@example.test' }), /Manager/, 'with the Manager role of the facilities group');
  });

  it('someone whose email the provider has not verified gets a sentence and no account', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await signInAtProvider(page, 'ursula');
      const refusal = page.getByTestId('sso-refusal');
      await expectText(refusal, /has not verified your email address/, 'the refusal on the sign-in page');
      assert.doesNotMatch(await refusal.innerText(), /unverified_email|[a-z]+_[a-z]+/, 'a sentence, not a code');
      assert.equal(new URL(page.url()).pathname, '/signin');
      await page.screenshot({ path: path.join(SHOTS, 'sso-refused.png') });
    } finally {
      await context.close();
    }
    await desk.goto(`${base}/people`);
    await expectText(desk.locator('body'), /dana@example\.test/, 'People loaded');
    assert.ok(!(await desk.locator('body').innerText()).includes('ursula@example.test'), 'no account was made');
  });
});
