/**
 * Credentials in a real browser: on a fresh server with the demo fleet, open a simulated deadbolt,
 * add a time-bound PIN and watch it reach the lock ("confirmed"), reveal it with a reason, change the
 * code "at the keypad" through the simulator and watch lockwarden put its code back, then run a bulk
 * change on one unit and follow its progress; a factory reset at the door shows as an alert on the lock
 * page, acknowledged with a note. Drives Debian's Chromium through playwright-core;
 * screenshots go to test-output/e2e. Every wait is bounded (20 s) and says what it waited for.
 */
import { startFakeSeam } from '../drivers/seam-peer.js';
import type { ResetGating } from '../../src/drivers/simulator/lock-spec.js';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { PACKAGE_ROOT, serveConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.LOCKWARDEN_REQUIRE_BROWSER === '1') {
  throw new Error(`LOCKWARDEN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: install Debian's chromium`);
}
const shots = path.join(PACKAGE_ROOT, 'test-output', 'e2e');
const WAIT = 20_000;

/** What this test reads of the in-process simulator (kept structural: the simulator is the driver's business). */
interface SimFleetView {
  log: { externalId: string; op: string; slot?: number; source?: string }[];
  get(externalId: string): { pins: { slot: number; code: string | null }[]; gating: ResetGating; controllers: { id: string; label: string }[] } | undefined;
}

/** Waits until `locator` shows text matching `re`; fails naming `what` and the text last seen. */
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

/** Polls `check` until it returns a truthy value; fails naming `what` and the last value seen. */
async function eventually<T>(what: string, check: () => Promise<T> | T): Promise<NonNullable<T>> {
  const deadline = Date.now() + WAIT;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: not within ${WAIT / 1000} s (last: ${JSON.stringify(last)})`);
}

describe('credentials in a browser', { skip: haveBrowser ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  const lines: string[] = [];
  const password = 'correct horse battery staple';
  // Shared between the steps: the lock, the PIN added to it, its code.
  let lockId = '';
  let externalId = '';
  let slot = 0;
  let code = '';

  const fleet = () => server.runtime.fleet as unknown as SimFleetView | null;
  /** The API as the signed-in page sees it (same session). */
  const apiGet = <T,>(url: string): Promise<T> => page.evaluate(async (u) => (await fetch(u)).json() as Promise<T>, url);

  before(async () => {
    mkdirSync(shots, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), 'lw-e2e-cred-'));
    // The simulator runs in-process so the test can look at the simulated locks themselves.
    // The Seam workspace the test connects is a fake on this machine: the operator allows integrations on a private network, as for a LAN.
    server = await startServer({ ...serveConfig({ port: 0, data: dataDir }), allowPrivateTargets: ['integration'], simulatorUrl: undefined, logLevel: 'silent' }, (l) => lines.push(l));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs in and opens a simulated deadbolt', async () => {
    assert.ok(server.oneTimeUrl, `no one-time link printed:\n${lines.join('\n')}`);
    await page.goto(server.oneTimeUrl);
    await page.getByLabel(/^New password/).fill(password);
    await page.getByLabel(/^Repeat password/).fill(password);
    await page.getByRole('button', { name: 'Save password' }).click();
    await page.getByTestId('lock-table').waitFor({ timeout: WAIT });

    // Unit A101's front door is a DB-100 deadbolt: 30 PIN slots, time-bound and recurring schedules.
    await page.goto(`${server.url}/locks?q=${encodeURIComponent('Unit A101 front door')}`);
    const link = page.getByTestId('lock-row').getByRole('link', { name: 'Unit A101 front door' });
    await link.waitFor({ timeout: WAIT });
    await link.click();
    await page.getByRole('heading', { level: 1, name: 'Unit A101 front door' }).waitFor({ timeout: WAIT });
    lockId = page.url().split('/locks/')[1]!.split(/[?#]/)[0]!;
    const lock = await apiGet<{ driver: string; externalId: string; modelNumber: string }>(`/api/locks/${lockId}`);
    assert.equal(lock.driver, 'simulator');
    assert.equal(lock.modelNumber, 'DB-100');
    externalId = lock.externalId;
    await page.getByTestId('credentials-section').waitFor({ timeout: WAIT });
    await page.getByTestId('simulator-card').waitFor({ timeout: WAIT });
    // "Read now" queues a read of the lock; the page then says when it last heard from it.
    await page.getByRole('button', { name: 'Read now' }).click();
    await expectText(page.getByTestId('last-read'), /Last read from the lock: (?!never)/, 'a read of the lock after "Read now"');
    await expectText(page.getByTestId('device-status'), /online/, 'the device status from that read');
    // A DB-100 can be locked and unlocked remotely.
    await page.getByRole('button', { name: 'Unlock', exact: true }).click();
    await expectText(page.getByTestId('bolt'), /^unlocked$/, 'the bolt after Unlock');
    await page.getByRole('button', { name: 'Lock', exact: true }).click();
    await expectText(page.getByTestId('bolt'), /^locked$/, 'the bolt after Lock');
  });

  it('adds a time-bound PIN and sees it confirmed by the lock', async () => {
    await page.getByRole('button', { name: 'Add PIN' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a PIN' });
    await dialog.waitFor({ timeout: WAIT });
    await dialog.getByLabel(/^Holder/).fill('Guest Ada');
    await dialog.getByRole('radio', { name: 'Time-bound' }).check();
    // From now until a week from now, in the browser's local time (datetime-local inputs).
    // (Scripts run in the page are strings: tsx would wrap inner functions in a helper the page lacks.)
    const [from, until] = await page.evaluate<[string, string]>(`(() => {
      const p = (n) => String(n).padStart(2, '0');
      const local = (d) => d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
      const now = new Date();
      return [local(now), local(new Date(now.getTime() + 7 * 86400000))];
    })()`);
    await dialog.getByLabel(/^From/).fill(from);
    await dialog.getByLabel(/^Until/).fill(until);
    // A weak typed code is refused, the reason shown on the Code input; left empty, a code is generated.
    await dialog.getByLabel(/^Code/).fill('1111');
    await dialog.getByRole('button', { name: 'Add PIN' }).click();
    await expectText(dialog, /weak PIN: one digit repeated/, 'the server refuses a weak code, on the Code input');
    assert.equal(await dialog.getByLabel(/^Code/).getAttribute('aria-invalid'), 'true', 'the Code input is marked invalid');
    await dialog.getByLabel(/^Code/).fill('');
    await page.screenshot({ path: path.join(shots, '10-add-pin.png') });

    const created = page.waitForResponse((r) => r.url().endsWith(`/api/locks/${lockId}/pins`) && r.request().method() === 'POST', { timeout: WAIT });
    await dialog.getByRole('button', { name: 'Add PIN' }).click();
    const res = await created;
    assert.equal(res.status(), 201, await res.text());
    const sent = res.request().postDataJSON() as { schedule: { kind: string; from: string; until: string } };
    assert.equal(sent.schedule.kind, 'window');
    assert.match(sent.schedule.from, /[+-]\d\d:\d\d$|Z$/, 'from is ISO 8601 with an offset');
    assert.equal(Date.parse(sent.schedule.until) - Date.parse(sent.schedule.from), 7 * 86_400_000);
    const body = (await res.json()) as { credential: { slot: number; status: string }; code: string };
    slot = body.credential.slot;
    code = body.code;
    assert.match(code, /^\d{6}$/, 'a generated 6-digit code');

    // The code is shown once, with a clear "note it now".
    const shown = page.getByTestId('new-pin-code');
    await shown.waitFor({ timeout: WAIT });
    assert.equal((await shown.innerText()).trim(), code);
    await page.getByText('Note it now').waitFor();
    await page.screenshot({ path: path.join(shots, '11-new-pin-code.png') });
    await page.getByRole('button', { name: 'I have noted it' }).click();

    const row = page.getByTestId(`slot-row-${slot}`);
    await row.waitFor({ timeout: WAIT });
    await expectText(row, /Guest Ada/, 'the new PIN in its slot');
    await expectText(row, /••••••/, 'the code masked');
    assert.equal(await row.getByText(code).count(), 0, 'the code is not shown in the table');
    await expectText(page.getByTestId(`slot-status-${slot}`), /^confirmed$/, `slot ${slot} confirmed by the lock (the worker applies it through the simulator)`);
    await expectText(page.getByTestId(`slot-state-${slot}`), /In sync/, `slot ${slot} in sync with the lock`);
    assert.equal(fleet()?.get(externalId)?.pins.find((p) => p.slot === slot)?.code, code, 'the simulated lock holds the code');
    await page.getByTestId('credentials-section').screenshot({ path: path.join(shots, '12-pin-confirmed.png') });
  });

  it('reveals the code only with a reason', async () => {
    await page.getByTestId(`slot-row-${slot}`).getByRole('button', { name: 'Reveal' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/^Reason/).fill('ab');
    await dialog.getByRole('button', { name: 'Show code' }).click();
    await expectText(dialog, /say why/, 'a reason of a few words is required');
    await dialog.getByLabel(/^Reason/).fill('guest lost the code');
    await dialog.getByRole('button', { name: 'Show code' }).click();
    // A reveal needs a fresh "Confirm it's you"; the dialog then sends the reveal again by itself.
    const confirm = page.getByRole('dialog', { name: "Confirm it's you" });
    await confirm.getByLabel('Your password').fill(password);
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await confirm.waitFor({ state: 'hidden', timeout: WAIT });
    await expectText(page.getByTestId('revealed-code'), new RegExp(`^${code}$`), 'the revealed code');
    await dialog.getByRole('button', { name: 'Hide code' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: WAIT });
  });

  it('edits the holder of a PIN; the lock gets the new name', async () => {
    await page.getByTestId(`slot-row-${slot}`).getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog', { name: `Edit PIN in slot ${slot}` });
    await dialog.getByLabel(/^Holder/).fill('Ada Lovelace');
    const saved = page.waitForResponse((r) => r.request().method() === 'PATCH', { timeout: WAIT });
    await dialog.getByRole('button', { name: 'Save PIN' }).click();
    const res = await saved;
    assert.equal(res.status(), 200, await res.text());
    assert.deepEqual(Object.keys(res.request().postDataJSON() as object).sort(), ['holder', 'version'], 'only the changed field, with the version');
    await dialog.waitFor({ state: 'hidden', timeout: WAIT });
    await expectText(page.getByTestId(`slot-row-${slot}`), /Ada Lovelace/, 'the new holder');
    await expectText(page.getByTestId(`slot-status-${slot}`), /^confirmed$/, 'the edited PIN confirmed by the lock');
    // The holder is the name the lock shows for the slot: lockwarden writes the new one.
    await eventually('the new name on the simulated lock', () => (fleet()?.get(externalId) as { pins: { slot: number; name?: string }[] } | undefined)?.pins.find((p) => p.slot === slot)?.name === 'Ada Lovelace');
    assert.equal(fleet()?.get(externalId)?.pins.find((p) => p.slot === slot)?.code, code, 'the code is unchanged');
  });

  it('repairs a code changed at the keypad (simulated drift)', async () => {
    const f = fleet();
    assert.ok(f, 'the server runs the simulator in-process');
    const repairsBefore = f.log.filter((e) => e.externalId === externalId && e.op === 'set_pin' && e.slot === slot && e.source === 'driver').length;
    // Record every state the slot's badge shows, since the repair may be quicker than one poll.
    await page.evaluate(`(() => {
      const seen = [];
      window.seenStates = seen;
      const look = () => {
        const t = document.querySelector('[data-testid="slot-state-${slot}"]')?.textContent ?? '';
        if (t && seen[seen.length - 1] !== t) seen.push(t);
      };
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);

    const driftAt = Date.now();
    const drifted = page.waitForResponse((r) => r.url().includes('/api/simulator/') && r.request().method() === 'POST', { timeout: WAIT });
    await page.getByRole('button', { name: 'Change a code at the keypad (simulate drift)' }).click();
    const res = await drifted;
    assert.ok(res.ok(), `the simulator control endpoint answered ${res.status()}: ${await res.text()}`);
    const change = res.request().postDataJSON() as { slot: number; code: string };
    assert.equal(change.slot, slot, 'the first managed PIN slot was changed');
    assert.notEqual(change.code, code);
    await expectText(page.getByTestId('sim-drift-result'), new RegExp(`Slot ${slot} now holds ${change.code}`), 'the simulator card reports the change');
    await page.getByTestId('credentials-section').screenshot({ path: path.join(shots, '13-drift-simulated.png') });

    // The out-of-band change happened on the simulated lock ...
    const keypad = f.log.filter((e) => e.externalId === externalId && e.op === 'set_pin' && e.slot === slot && e.source !== 'driver');
    assert.ok(keypad.length >= 1, `the simulator logged a set of slot ${slot} from outside lockwarden: ${JSON.stringify(f.log.slice(-5))}`);
    // ... lockwarden wrote its code back ...
    await eventually(`lockwarden writes its code back into slot ${slot}`, () => {
      const now = f.log.filter((e) => e.externalId === externalId && e.op === 'set_pin' && e.slot === slot && e.source === 'driver').length;
      return now > repairsBefore && f.get(externalId)?.pins.find((p) => p.slot === slot)?.code === code;
    });
    // ... read the lock again afterwards, and the page shows the slot repaired.
    await eventually('a read of the lock after the drift', async () => {
      const v = await apiGet<{ observation: { readAt: string | null } | null; slots: { slot: number; state: string }[] }>(`/api/locks/${lockId}/credentials`);
      const readAt = v.observation?.readAt ? Date.parse(v.observation.readAt) : 0;
      return readAt >= driftAt - 1000 && v.slots.find((s) => s.slot === slot)?.state === 'in_sync';
    });
    await expectText(page.getByTestId(`slot-state-${slot}`), /In sync/, `slot ${slot} back in sync after the repair`);
    await expectText(page.getByTestId('sim-drift-status'), /put its code back/, 'the simulator card reports the repair');
    await expectText(page.getByTestId(`slot-status-${slot}`), /^confirmed$/, `slot ${slot} confirmed after the repair`);
    const seen = await page.evaluate<string[]>('window.seenStates');
    console.log(`slot ${slot} states seen on the page during the repair: ${seen.join(' -> ') || '(none: repaired between two polls)'}`);
    await page.getByTestId('credentials-section').screenshot({ path: path.join(shots, '14-drift-repaired.png') });
  });

  it('shows codes set outside lockwarden as unmanaged, adopts one and removes another', async () => {
    // Two codes keyed in at the lock in slots lockwarden does not manage (through the simulator control).
    for (const [s, c] of [[20, '660481'], [21, '907316']] as const) {
      const status = await page.evaluate<number>(`(async () => {
        const me = await (await fetch('/api/auth/me')).json();
        const res = await fetch('/api/simulator/locks/${lockId}/drift', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken }, body: JSON.stringify({ slot: ${s}, code: '${c}' }) });
        return res.status;
      })()`);
      assert.equal(status, 200, `the simulator took the code for slot ${s}`);
    }
    await page.getByRole('button', { name: 'Read now' }).click();
    for (const s of [20, 21]) {
      await expectText(page.getByTestId(`slot-state-${s}`), /Unmanaged: set outside lockwarden/, `slot ${s} shown as unmanaged`);
      await page.getByTestId(`slot-row-${s}`).getByRole('button', { name: 'Adopt' }).waitFor({ timeout: WAIT });
    }
    await expectText(page.getByTestId('drift-count'), /2 slots differ from the lock/, 'the drift count');
    await page.getByTestId('credentials-section').screenshot({ path: path.join(shots, '16-unmanaged.png') });

    await page.getByTestId('slot-row-20').getByRole('button', { name: 'Adopt' }).click();
    const adopt = page.getByRole('dialog', { name: 'Adopt the code in slot 20' });
    await adopt.getByLabel(/^Holder/).fill('Front desk');
    await adopt.getByRole('button', { name: 'Adopt' }).click();
    await expectText(page.getByTestId('slot-row-20'), /Front desk/, 'the adopted code under its holder');
    await expectText(page.getByTestId('slot-state-20'), /In sync/, 'the adopted code in sync');
    await expectText(page.getByTestId('slot-status-20'), /^confirmed$/, 'the adopted code confirmed');

    await page.getByTestId('slot-row-21').getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog', { name: 'Remove the unmanaged code in slot 21?' }).getByRole('button', { name: 'Remove from the lock' }).click();
    try {
      await page.getByTestId('slot-row-21').waitFor({ state: 'detached', timeout: WAIT });
    } catch {
      assert.fail(`slot 21 still listed ${WAIT / 1000} s after removing it: ${await page.getByTestId('slot-row-21').innerText()}`);
    }
    await eventually('slot 21 empty on the simulated lock', () => !fleet()?.get(externalId)?.pins.some((p) => p.slot === 21));
    assert.equal(fleet()?.get(externalId)?.pins.find((p) => p.slot === 20)?.code, '660481', 'the adopted code stays on the lock');
    await expectText(page.getByTestId('drift-count'), /lock matches lockwarden/, 'no drift left');
  });

  it('revokes a PIN after confirmation', async () => {
    await page.getByTestId(`slot-row-${slot}`).getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog', { name: 'Revoke the PIN of Ada Lovelace?' }).getByRole('button', { name: 'Revoke PIN' }).click();
    try {
      await page.getByTestId(`slot-row-${slot}`).waitFor({ state: 'detached', timeout: WAIT });
    } catch {
      assert.fail(`slot ${slot} still listed ${WAIT / 1000} s after revoking it: ${await page.getByTestId(`slot-row-${slot}`).innerText()}`);
    }
    await eventually(`slot ${slot} empty on the simulated lock`, () => !fleet()?.get(externalId)?.pins.some((p) => p.slot === slot));
    await page.getByTestId('credentials-section').screenshot({ path: path.join(shots, '17-after-adopt-remove-revoke.png') });
  });

  it('asks the lock for its controllers and removes a phone paired at the lock, never lockwarden itself', async () => {
    // Someone pairs a phone at the lock (on its panel, with the vendor app) since lockwarden last read it: only the lock knows.
    const sim = page.getByTestId('simulated-lock-card');
    await sim.getByTestId('sim-phone-name').fill('Old tenant phone');
    await sim.getByTestId('sim-pair-phone').click();
    await expectText(sim.getByTestId('sim-outcome'), /paired "Old tenant phone"/, 'the phone paired at the lock');
    const card = page.getByTestId('controllers');
    await card.getByRole('button', { name: 'Ask the lock' }).click();
    await expectText(card, /as it answered at/, 'the live list of controllers');
    const row = card.locator('[data-testid^="controller-"]').filter({ hasText: 'Old tenant phone' });
    await expectText(row, /Old tenant phone/, 'the phone paired at the lock');
    await expectText(page.getByTestId('controller-lockwarden'), /this lockwarden/, "lockwarden's own pairing, not removable");
    assert.equal(await page.getByTestId('controller-lockwarden').getByRole('button', { name: 'Remove' }).count(), 0);
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog', { name: 'Unpair Old tenant phone?' }).getByRole('button', { name: 'Remove controller' }).click();
    await eventually('the phone unpaired on the simulated lock', () => !fleet()?.get(externalId)?.controllers.some((c) => c.label === 'Old tenant phone'));
    try {
      await row.waitFor({ state: 'detached', timeout: WAIT });
    } catch {
      assert.fail(`the phone still listed ${WAIT / 1000} s after removing it: ${await row.innerText()}`);
    }
    await card.screenshot({ path: path.join(shots, '18-controllers.png') });
  });

  it('runs a bulk change on one unit and follows its progress', async () => {
    await page.getByRole('link', { name: 'Bulk change' }).click();
    await page.getByRole('heading', { name: 'Bulk change', level: 2 }).waitFor({ timeout: WAIT });
    const location = page.getByRole('combobox', { name: 'Location' });
    await location.click();
    await location.fill('Unit A101');
    await page.getByRole('option', { name: /Unit A101$/ }).click();
    await expectText(page.getByText(/lock\(s\) targeted/), /2 lock\(s\) targeted/, 'the unit has two locks (front door, patio door)');
    await page.getByLabel(/^Holder/).fill('Cleaner Bo');
    await page.getByRole('button', { name: 'Review and apply' }).click();
    const started = page.waitForResponse((r) => r.url().endsWith('/api/bulk') && r.request().method() === 'POST', { timeout: WAIT });
    await page.getByRole('dialog', { name: 'Apply this change?' }).getByRole('button', { name: 'Apply' }).click();
    const res = await started;
    assert.equal(res.status(), 202, await res.text());
    const current = page.getByTestId('bulk-current');
    await expectText(current.getByTestId('bulk-counts'), /of 2$/, 'the bulk change covers two locks');
    await expectText(current.getByTestId('bulk-finished'), /^finished$/, 'the bulk change finishes without failures');
    await expectText(current.getByTestId('bulk-counts'), /^2 done, 0 failed, 0 pending of 2$/, 'both locks done');
    await expectText(page.getByTestId('bulk-recent'), /add PINs for Cleaner Bo on 2 locks/, 'the change in the recent list');
    await page.screenshot({ path: path.join(shots, '15-bulk-finished.png'), fullPage: true });

    // From a filtered lock list, the bulk page targets exactly the locks of that filter.
    await page.goto(`${server.url}/locks?family=biometric`);
    await page.getByRole('link', { name: 'Bulk change these locks' }).click();
    assert.match(page.url(), /\/bulk\?family=biometric/);
    assert.ok(await page.getByRole('radio', { name: "The locks of the lock list's filter" }).isChecked(), 'the filter is the target');
    await expectText(page.getByTestId('bulk-filter-summary'), /^3 lock\(s\) match the filter: .*Finance entry/, 'the three biometric demo locks');

    // The lock page shows the bulk-added PIN.
    await page.goto(`${server.url}/locks/${lockId}`);
    await expectText(page.getByTestId('slot-table'), /Cleaner Bo/, 'the bulk-added PIN on the lock page');
  });
  it('a factory reset at the door shows as an alert on the lock page, acknowledged with a note', async () => {
    // The technician's hands on the lock: the DB-100's reset button held for its 12 s, on the lock page's panel.
    await page.goto(`${server.url}/locks/${lockId}`);
    const button = page.getByTestId('simulated-lock-card').getByTestId('sim-reset-button');
    await button.scrollIntoViewIfNeeded();
    const box = (await button.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await new Promise((r) => setTimeout(r, 12_600));
    await page.mouse.up();
    await eventually('the panel shows setup mode', async () => (await page.getByTestId('sim-indicator').getAttribute('data-state')) === 'setup_mode');
    await page.goto(`${server.url}/locks/${lockId}`);
    const alerts = page.getByTestId('lock-alerts');
    await expectText(alerts, /The lock reported a factory reset/, 'the reset alert on the lock page');
    await expectText(page.getByTestId('lock-history'), /Factory reset reported/, 'the reset in the device history');
    await alerts.getByRole('button', { name: 'Acknowledge' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('What was done').fill('ok');
    await dialog.getByRole('button', { name: 'Acknowledge alert' }).click();
    await expectText(dialog, /at least 3 characters/, 'a note that is too short is refused');
    await dialog.getByLabel('What was done').fill('Reset done by our technician; reset case opened');
    await dialog.getByRole('button', { name: 'Acknowledge alert' }).click();
    await alerts.waitFor({ state: 'detached', timeout: WAIT });
    const all = await apiGet<{ items: { acknowledgedBy: string | null; note: string | null }[] }>(`/api/alerts?lockId=${lockId}&state=all`);
    assert.equal(all.items[0]?.note, 'Reset done by our technician; reset case opened');
  });
  it('connects a Seam workspace, sees its locks and adopts one into a unit', async () => {
    const seam = await startFakeSeam();
    try {
      await page.goto(`${server.url}/integrations`);
      await page.getByRole('button', { name: 'Add integration' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Name').fill('Harbour Seam workspace');
      await dialog.getByLabel('API endpoint').fill(seam.url);
      await dialog.getByRole('button', { name: 'Connect' }).click();
      await expectText(dialog, /the API key is required/, 'a Seam workspace needs its API key');
      await dialog.getByLabel('API key').fill(seam.apiKey);
      await dialog.getByRole('button', { name: 'Connect' }).click();
      const card = page.getByTestId('integration-Harbour Seam workspace');
      await expectText(card.getByTestId('integration-status'), /^running$/, 'the workspace accepted the key');
      await card.getByRole('button', { name: 'Adopt' }).first().click();
      const adopt = page.getByRole('dialog');
      const location = adopt.getByRole('combobox', { name: 'Location' });
      await location.click();
      await location.fill('Unit A101');
      await page.getByRole('option', { name: /Unit A101$/ }).click();
      await adopt.getByLabel('Name in the inventory').fill('Unit A101 side door (Seam)');
      await adopt.getByRole('button', { name: 'Add to the inventory' }).click();
      await card.getByRole('link', { name: 'Open lock' }).first().click();
      await page.getByRole('heading', { name: 'Unit A101 side door (Seam)' }).waitFor({ timeout: WAIT });
      assert.doesNotMatch(await page.content(), new RegExp(seam.apiKey), 'the key is never on a page');
      await page.screenshot({ path: path.join(shots, '18-seam-lock-adopted.png'), fullPage: true });
    } finally {
      await seam.close();
    }
  });
});
