/**
 * Least privilege in a real browser, on a fresh server with the demo fleet: the owner invites a
 * manager for one site from the People page; a technician of that site cannot reveal an entry's
 * secret, asks for access with a justification, and cannot approve their own request; the manager
 * (signing in through the invitation link) approves it from the inbox; the technician then reveals
 * the secret, and the reveal is on the record and in the audit log, which verifies. Debian's Chromium through playwright-core; every wait
 * is bounded.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { choosePassword, expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { Actor } from '../../src/domain/identity.js';
import type { RunningServer } from '../../src/server/serve.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const SECRET = 'RC-7731-0042';


describe('access requests in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let owner: Page;
  let tech: Page;
  let manager: Page;
  let inviteLink = '';
  let entryUrl = '';
  const lines: string[] = [];

  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    return page;
  };

  before(async () => {
    e2e = await startE2E('access', { onLine: (l) => lines.push(l) });
    server = e2e.server;
    browser = e2e.browser;
    // The site's own procedure for its cash safe, with the reset card number kept as a secret.
    const services = server.runtime.services;
    const site = (await services.locations.list(SYSTEM)).find((l) => l.name === 'Northgate Offices')!;
    const lock = (await services.locks.list(SYSTEM, { q: 'Finance cash safe' })).items[0]!;
    const model = (await services.handbook.forLock(SYSTEM, lock.id)).entry!;
    const override = await services.handbook.create(SYSTEM, { modelId: lock.modelId, lockId: lock.id, content: { ...model.content, title: 'Finance cash safe: site procedure', generic: false }, reason: 'site copy' });
    await services.handbook.addSecret(SYSTEM, override.id, { kind: 'reset_card_number', label: 'Reset card', value: SECRET });
    await services.auth.createUser(SYSTEM, { email: 'tech@example.test', displayName: 'Theo Technician', role: 'technician', locationId: site.id, password: 'technician password 1' });
    entryUrl = `${server.url}/handbook/entries/${override.id}`;
    owner = await newPage();
    tech = await newPage();
    manager = await newPage();
  });

  after(async () => {
    await e2e?.close();
  });

  it('the owner invites a manager for one site and gets a one-time link', async () => {
    assert.ok(server.oneTimeUrl, lines.join('\n'));
    await choosePassword(owner, server.oneTimeUrl, 'owner password is long');
    await owner.getByRole('link', { name: 'People and access' }).click();
    await owner.getByTestId('grant-table').waitFor({ timeout: WAIT });
    const invite = owner.locator('form').filter({ has: owner.getByRole('button', { name: 'Invite' }) });
    await invite.getByLabel('Email').fill('maya@example.test');
    await invite.getByLabel('Name').fill('Maya Manager');
    await invite.getByRole('combobox', { name: 'Role' }).click();
    await owner.getByRole('option', { name: 'Manager' }).click();
    await invite.getByRole('combobox', { name: 'Where' }).click();
    await invite.getByRole('combobox', { name: 'Where' }).fill('Northgate Offices');
    await owner.getByRole('option', { name: 'Northgate Offices', exact: true }).click();
    await invite.getByRole('button', { name: 'Invite' }).click();
    const link = owner.getByTestId('invite-link');
    await link.waitFor({ timeout: WAIT });
    inviteLink = (await link.innerText()).trim();
    assert.match(inviteLink, /\/signin\/one-time#/);
    await expectText(owner.getByTestId('grant-row'), /Maya Manager.*Manager on Northgate Offices/s, 'the new grant in the list');
  });

  it('a technician cannot reveal, and asks for access with a justification', async () => {
    await tech.goto(`${server.url}/signin`);
    await tech.getByLabel('Email').fill('tech@example.test');
    await tech.getByLabel(/^Password/).fill('technician password 1');
    await tech.getByRole('button', { name: 'Sign in' }).click();
    await tech.getByTestId('user-email').waitFor({ timeout: WAIT });
    // Only their site's locks are listed.
    await tech.getByTestId('lock-table').waitFor({ timeout: WAIT });
    const places = await tech.getByTestId('lock-row').allInnerTexts();
    assert.ok(places.length > 0 && places.every((t) => !t.includes('Harbour View')), places.join(' | '));
    await tech.goto(entryUrl);
    await tech.getByTestId('secrets').waitFor({ timeout: WAIT });
    assert.equal(await tech.getByRole('button', { name: 'Reveal' }).count(), 0, 'no reveal button without the right');
    await tech.getByTestId('request-reveal').click();
    await expectText(tech.getByTestId('request-entry'), /Finance cash safe: site procedure/, 'the entry asked for');
    await tech.getByTestId('justification').fill('Factory reset of the finance cash safe after the tenant moved out');
    await tech.getByTestId('send-request').click();
    await tech.getByTestId('requests-mine').waitFor({ timeout: WAIT });
    await expectText(tech.getByTestId('request-state'), /pending/, 'the request state');
    // Nobody decides their own request: it is not in the technician's inbox.
    await tech.getByTestId('tab-inbox').click();
    await expectText(tech.getByRole('tabpanel'), /Nothing waiting for your decision/, 'the technician’s empty inbox');
  });

  it('the manager signs in through the invitation and approves the request', async () => {
    await choosePassword(manager, inviteLink, 'manager password is long');
    await manager.getByRole('link', { name: 'Access requests' }).click();
    await manager.getByTestId('tab-inbox').click();
    const row = manager.getByTestId('requests-inbox').getByTestId('request-row');
    await expectText(row, /tech@example\.test.*Finance cash safe/s, 'the request in the manager’s inbox');
    await row.first().getByTestId('decide').click();
    await manager.getByLabel('Your reason').fill('scheduled turnover, ticket 4411');
    await manager.getByTestId('approve').click();
    await expectText(manager.getByRole('tabpanel'), /Nothing waiting for your decision/, 'the inbox after approving');
    await manager.screenshot({ path: path.join(SHOTS, 'access-approved.png'), fullPage: true });
  });

  it('the technician now reveals the secret, and the reveal is on the record', async () => {
    await tech.goto(`${server.url}/access`);
    await tech.getByTestId('tab-mine').click();
    await expectText(tech.getByTestId('request-state'), /approved/, 'the approved request');
    await tech.goto(entryUrl);
    await tech.getByRole('button', { name: 'Reveal' }).click();
    await tech.getByLabel('Reason').fill('resetting the cash safe now');
    await tech.getByRole('button', { name: 'Reveal', exact: true }).last().click();
    // A reveal needs a fresh "Confirm it's you"; the dialog then sends the reveal again by itself.
    const confirm = tech.getByRole('dialog', { name: "Confirm it's you" });
    await confirm.getByLabel('Your password').fill('technician password 1');
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await confirm.waitFor({ state: 'hidden', timeout: WAIT });
    await expectText(tech.getByTestId('revealed-value'), new RegExp(SECRET), 'the revealed value');
    await tech.keyboard.press('Escape');
    await expectText(tech.getByTestId('reveal-row'), /tech@example\.test.*resetting the cash safe now/s, 'the reveal record');
    await tech.screenshot({ path: path.join(SHOTS, 'access-revealed.png'), fullPage: true });
  });

  it('the audit log shows the request, the approval and the reveal, and verifies', async () => {
    await owner.goto(`${server.url}/audit`);
    const table = owner.getByTestId('audit-table');
    for (const action of ['access.request', 'access.request.approve', 'handbook.secret.reveal']) {
      const row = table.locator(`tr[data-action="${action}"]`).first();
      await row.waitFor({ timeout: WAIT });
      const text = await row.innerText();
      assert.match(text, action === 'access.request.approve' ? /maya@example\.test/ : /tech@example\.test/, `${action}: ${text}`);
    }
    assert.match(await table.locator('tr[data-action="handbook.secret.reveal"]').first().innerText(), /resetting the cash safe now/);
    assert.ok(!(await table.innerText()).includes(SECRET), 'the secret is not on the page');
    await owner.getByRole('button', { name: /checkpoint/i }).first().click();
    await expectText(owner.getByTestId('audit-verify-badge'), /verified up to checkpoint #\d+/i, 'the verification badge');
    await owner.screenshot({ path: path.join(SHOTS, 'access-audit.png'), fullPage: true });
  });
});
