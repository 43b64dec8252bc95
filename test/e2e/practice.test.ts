/**
 * A practice run in a real browser at phone size, through the UI only: a technician opens the DB-100
 * handbook entry from a lock, practises on a virtual twin, releases the reset button too early (the
 * panel says so), then holds it for the model's 12 s (real time: the server times the hold), sees
 * setup mode, finishes, and the entry lists the run as passed with the early release noted. The lock
 * page's own panel is photographed too, on a phone and on a desktop.
 */
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expectText, SHOTS, SKIP_WITHOUT_BROWSER, startE2E, WAIT, type E2E } from './harness.js';
import type { Actor } from '../../src/domain/identity.js';
import type { Lock } from '../../src/domain/locks.js';
import type { RunningServer } from '../../src/server/serve.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** Holds the panel's reset button down with the pointer for `ms` of real time. */
async function holdReset(page: Page, ms: number): Promise<void> {
  const button = page.getByTestId('sim-reset-button');
  await button.scrollIntoViewIfNeeded();
  const box = (await button.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await expectText(button, /Holding/, 'the button shows it is held');
  await new Promise((r) => setTimeout(r, ms));
  await page.mouse.up();
}

describe('a practice run in a browser', { skip: SKIP_WITHOUT_BROWSER }, () => {
  let e2e: E2E;
  let server: RunningServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let phone: Page;
  let desk: Page;
  let lock: Lock;

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

  before(async () => {
    e2e = await startE2E('practice');
    server = e2e.server;
    browser = e2e.browser;
    const services = server.runtime.services;
    lock = (await services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'DB-100' && l.serviceState === 'in_service')!;
    await services.auth.createUser(SYSTEM, { email: 'tech@example.test', displayName: 'Tess Technician', role: 'technician', password: 'technician password 1' });
    phone = await newPage({ width: 390, height: 844 });
    desk = await newPage({ width: 1280, height: 900 });
  });

  after(async () => {
    await e2e?.close();
  });

  it('the lock page shows a simulated lock its virtual front panel, on a phone and a desktop', async () => {
    for (const page of [phone, desk]) {
      await signInAs(page, 'tech@example.test', 'technician password 1');
      await page.goto(`${server.url}/locks/${lock.id}`);
      const card = page.getByTestId('simulated-lock-card');
      await expectText(card, /interior reset button under the battery cover/, 'the panel names the model\'s reset button');
      await expectText(card.getByTestId('sim-indicator'), /works normally/, 'the indicator in words');
      await expectText(card.getByTestId('sim-setup-code'), /^\d{4}-\d{3}-\d{4}$/, 'the label shows the setup code');
      await card.scrollIntoViewIfNeeded();
      const size = page.viewportSize()!;
      await page.screenshot({ path: path.join(SHOTS, `lock-panel-${size.width}x${size.height}.png`) });
    }
  });

  it('practises the DB-100 from its handbook entry: too early, then long enough; the run is recorded as passed', async () => {
    await phone.goto(`${server.url}/locks/${lock.id}`);
    await phone.getByTestId('reset-procedure').click();
    await expectText(phone.getByTestId('practice-runs'), /Nobody has practised/, 'no practice yet');
    await phone.getByRole('button', { name: 'Practise on a virtual lock' }).click();
    await phone.waitForURL(/\/practice\//, { timeout: WAIT });
    await expectText(phone.getByTestId('practice-steps'), /Step 1 of/, 'the procedure step by step');

    await holdReset(phone, 2500);
    await expectText(phone.getByTestId('sim-outcome'), /Refused: held too short\. The button was released after \d+(\.\d)? s; this model needs it held for 12 s/, 'the panel says the hold was too short');
    await expectText(phone.getByTestId('sim-indicator'), /Red blinks/, 'the light says refused');
    await phone.screenshot({ path: path.join(SHOTS, 'practice-refused-390x844.png'), fullPage: true });

    await holdReset(phone, 12_600);
    await expectText(phone.getByTestId('sim-indicator'), /setup mode/, 'the twin is in setup mode');
    await phone.screenshot({ path: path.join(SHOTS, 'practice-390x844.png') });
    await phone.screenshot({ path: path.join(SHOTS, 'practice-full-390x844.png'), fullPage: true });

    await phone.getByRole('button', { name: 'Finish the practice run' }).click();
    await expectText(phone.getByTestId('practice-result'), /Passed: the twin reached setup mode; 1 refused attempt \(hold too short\)/, 'the result');
    await phone.getByRole('link', { name: 'Back to the entry' }).click();
    const run = phone.getByTestId('practice-run').first();
    await expectText(run, /passed/, 'the entry lists the run as passed');
    await expectText(run, /hold too short/, 'with the early release noted');
    await expectText(run, /tech@example.test/, 'and who practised');
    await phone.getByTestId('practice-runs').scrollIntoViewIfNeeded();
    await phone.screenshot({ path: path.join(SHOTS, 'practice-recorded-390x844.png') });

    // The practice twin never touched the lock: it is still working normally.
    await phone.goto(`${server.url}/locks/${lock.id}`);
    await expectText(phone.getByTestId('sim-indicator'), /works normally/, 'the real (simulated) lock is untouched');
  });
});
