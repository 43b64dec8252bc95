/**
 * The one harness of the browser suites: `startE2E` starts lockwarden on a data folder of its own
 * (listening on 127.0.0.1, a free port) and Debian's Chromium through playwright-core, and `close`
 * ends both; `expectText`, `eventually` and `shot` are the shared, bounded waits and screenshots.
 * A suite then acts as a person: pages, clicks, and the product's own simulator panel.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { PACKAGE_ROOT, serveConfig, type ServeConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { seedDataFolder } from '../helpers/db.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.LOCKWARDEN_REQUIRE_BROWSER === '1') {
  throw new Error(`LOCKWARDEN_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: install Debian's chromium`);
}
/** The `skip` option of a browser suite's `describe`: skipped, saying why, only where there is no browser. */
export const SKIP_WITHOUT_BROWSER: false | string = haveBrowser ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;

/** Where screenshots go (looked at after a run; not compared). */
export const SHOTS = path.join(PACKAGE_ROOT, 'test-output', 'e2e');
/** Every wait in a browser suite is bounded by this, and says what it waited for. */
export const WAIT = 20_000;

/** A phone (390x844, touch) and a desk (1360x1000) viewport. */
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
export const DESK: BrowserContextOptions = { viewport: { width: 1360, height: 1000 } };

/** Waits for `locator` to hold text matching `re`; fails naming `what` and what it last saw. */
export async function expectText(locator: Locator, re: RegExp, what: string, timeout = WAIT): Promise<void> {
  try {
    await locator.filter({ hasText: re }).first().waitFor({ timeout });
  } catch {
    const seen = await locator
      .first()
      .innerText({ timeout: 500 })
      .catch(() => '<not on the page>');
    assert.fail(`${what}: expected ${re} within ${timeout / 1000} s, last saw "${seen}"`);
  }
}

/** Polls `check` until it returns a truthy value; fails naming `what` and the last value seen. */
export async function eventually<T>(what: string, check: () => Promise<T> | T, timeout = WAIT): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: not within ${timeout / 1000} s (last: ${JSON.stringify(last)})`);
}

/** Saves a screenshot of `page` (or of one element) as `test-output/e2e/<name>.png`. */
export async function shot(target: Page | Locator, name: string, fullPage = false): Promise<void> {
  const file = path.join(SHOTS, `${name}.png`);
  await ('goto' in target ? target.screenshot({ path: file, fullPage }) : target.screenshot({ path: file }));
}

/** Follows a one-time sign-in link (the owner's first start, an invitation) and chooses `password`. */
export async function choosePassword(page: Page, link: string, password: string): Promise<void> {
  await page.goto(link);
  await page.getByLabel(/^New password/).fill(password);
  await page.getByLabel(/^Repeat password/).fill(password);
  await page.getByRole('button', { name: 'Save password' }).click();
  await page.getByTestId('user-email').waitFor({ timeout: WAIT });
}

export interface E2E {
  server: RunningServer;
  browser: Browser;
  dataDir: string;
  /** Every line the server printed (the one-time sign-in link among them). */
  lines: string[];
  /** The server's base URL. */
  url: string;
  /** A page in a new browser context (its own cookies), closed with the harness; dialogs are accepted. */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** A new browser context, closed with the harness. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** Ends the browser and the server and removes the data folder. */
  close(): Promise<void>;
}

export interface E2EOptions {
  /** Settings for the server, over `serveConfig({ port: 0, data })`; the simulator runs in process unless set. */
  serve?: Partial<ServeConfig>;
  /**
   * Start on a truly empty data folder (the first-run journey). Otherwise the folder starts with the
   * migrated, empty embedded database every new folder gets on its first start, made once per run
   * (what start-up then does, the owner, the demo fleet, the one-time link, is done as always).
   */
  fresh?: boolean;
  /** Extra Chromium flags (e.g. `--host-resolver-rules=...`). */
  chromiumArgs?: string[];
  /** The server's test hooks: a clock the test moves, the turnover and outbox rounds. */
  runtime?: Parameters<typeof startServer>[2];
  /** Called with each line the server prints, as it prints it (all are in `lines` too). */
  onLine?: (line: string) => void;
}

/** Starts a server on a data folder of its own and a headless Chromium; `close()` ends both. */
export async function startE2E(name: string, opts: E2EOptions = {}): Promise<E2E> {
  mkdirSync(SHOTS, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), `lw-e2e-${name}-`));
  const lines: string[] = [];
  const contexts: BrowserContext[] = [];
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (!opts.fresh) await seedDataFolder(dataDir);
    server = await startServer({ ...serveConfig({ port: 0, data: dataDir }), simulatorUrl: undefined, logLevel: 'silent', ...opts.serve }, (l) => {
      lines.push(l);
      opts.onLine?.(l);
    }, opts.runtime);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...(opts.chromiumArgs ?? [])],
    });
  } catch (e) {
    await close();
    throw e;
  }
  const b = browser;
  const newContext = async (options: BrowserContextOptions = DESK) => {
    const context = await b.newContext(options);
    contexts.push(context);
    return context;
  };
  return {
    server,
    browser,
    dataDir,
    lines,
    url: server.url,
    newContext,
    newPage: async (options = DESK) => {
      const page = await (await newContext(options)).newPage();
      page.on('dialog', (d) => void d.accept());
      return page;
    },
    close,
  };
}
