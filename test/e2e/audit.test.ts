/**
 * The audit log page in a real browser: an auditor signs in, opens "Audit log" from the navigation,
 * sees their own sign-in and a PIN reveal (code only as an HMAC), filters by action, and the
 * verification badge says the chain is verified up to the signed checkpoint.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PACKAGE_ROOT, serveConfig } from '../../src/config.js';
import type { Actor } from '../../src/domain/identity.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.LOCKWARDEN_REQUIRE_BROWSER === '1') {
  throw new Error(`LOCKWARDEN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: install Debian's chromium`);
}
const shots = path.join(PACKAGE_ROOT, 'test-output', 'e2e');
const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('audit log page in a browser', { skip: haveBrowser ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  let code = '';
  const password = 'correct horse battery staple';

  before(async () => {
    mkdirSync(shots, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), 'lw-e2e-audit-'));
    server = await startServer({ ...serveConfig({ port: 0, data: dataDir }), logLevel: 'silent' }, () => undefined);
    const { services } = server.runtime;
    await services.auth.createUser(SYSTEM, { email: 'auditor@example.test', displayName: 'Auditor', role: 'auditor', password });
    const owner = (await services.auth.listUsers(SYSTEM)).find((u) => u.roles.some((r) => r.role === 'owner'))!;
    // The owner's session as it is right after confirming it's them (a reveal needs a fresh step-up).
    const ownerActor: Actor = {
      kind: 'user',
      userId: owner.id,
      email: owner.email,
      via: 'session',
      grants: [{ kind: 'role', id: 'owner', role: 'owner', locationId: null, locationPath: null, expiresAt: null }],
      assurance: { kind: 'session', stepUpAt: new Date() },
    };
    const lock = (await services.locks.list(SYSTEM, { limit: 500 })).items.find((l) => l.family === 'keypad_entry')!;
    const added = await services.credentials.addPin(ownerActor, lock.id, { holder: 'Browser Canary', schedule: { kind: 'always' } });
    code = added.code;
    await services.credentials.reveal(ownerActor, added.credential.id, { reason: 'tenant at the door' });
    await server.runtime.ctx.audit.checkpoint();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the sign-in and the reveal, filters, and the verified badge', async () => {
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Email').fill('auditor@example.test');
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Audit log' }).click();
    const table = page.getByTestId('audit-table');
    await table.locator('tr[data-action="auth.sign_in"]').first().waitFor();
    const reveal = table.locator('tr[data-action="credential.reveal"]');
    await reveal.waitFor();
    assert.match(await reveal.innerText(), /tenant at the door/);
    assert.match(await reveal.innerText(), /code \(HMAC\)/);
    assert.ok(!(await table.innerText()).includes(code), 'the PIN is not on the page');
    const badge = page.getByTestId('audit-verify-badge');
    await badge.waitFor();
    assert.match(await badge.innerText(), /verified up to checkpoint #\d+/i);
    await page.screenshot({ path: path.join(shots, 'audit-01-log.png') });

    await page.getByLabel('Action').fill('credential.');
    await page.getByRole('button', { name: 'Filter' }).click();
    await table.locator('tr[data-action="auth.sign_in"]').waitFor({ state: 'detached' });
    assert.ok((await table.locator('tbody tr').count()) >= 2);
    for (const a of await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')))) assert.match(String(a), /^credential\./);
  });
});
