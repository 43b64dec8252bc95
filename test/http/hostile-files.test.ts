/**
 * Hostile spreadsheets: a 1.2 MB XLSX that inflates to 327 MB (a zip bomb), the same with headers
 * that lie about its size, and a heavy workbook that is legitimately zipped but too long. Each is
 * refused with a clear 413/400 naming the problem, the server answers /healthz within 1 s all the
 * while, and its memory does not balloon (the growth is printed as a diagnostic).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SHEET_CONTENT_TYPES } from '../../src/domain/sheets.js';
import { writeXlsx } from '../../src/sheets/files.js';
import { asSession, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';
import { xlsxBomb } from '../helpers/zip-bomb.js';

describe('hostile files', () => {
  let env: HttpEnv;
  let owner: Session;

  before(async () => {
    env = await testApp();
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
  });
  after(() => env.close());

  /** Sends `file` as an inventory import while polling /healthz every 50 ms; the answer, each poll's latency, and the RSS peak growth. */
  async function importWhilePolling(file: Buffer): Promise<{ res: Awaited<ReturnType<typeof injectAs>>; latencies: number[]; rssGrowthMb: number }> {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let done = false;
    const latencies: number[] = [];
    const polling = (async () => {
      // Each figure is the wait for an answer since the poll was due: the timer's lag (a blocked event
      // loop fires it late) plus the request itself.
      let due = performance.now();
      while (!done) {
        const h = await env.app.inject({ method: 'GET', url: '/healthz' });
        latencies.push(performance.now() - due);
        assert.equal(h.statusCode, 200);
        peak = Math.max(peak, process.memoryUsage().rss);
        due = performance.now() + 50;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const res = await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/import/inventory?dryRun=true', headers: { 'content-type': SHEET_CONTENT_TYPES.xlsx }, payload: file });
    done = true;
    await polling;
    return { res, latencies, rssGrowthMb: Math.round((peak - rss0) / 1024 / 1024) };
  }

  it('a zip bomb (1.2 MB inflating to 327 MB) is refused with 413 naming the entry, before anything parses it', async (t) => {
    const bomb = await xlsxBomb(326);
    assert.ok(bomb.length < 1.5 * 1024 * 1024, `the bomb is small (${bomb.length} bytes)`);
    const { res, latencies, rssGrowthMb } = await importWhilePolling(bomb);
    assert.equal(res.statusCode, 413, res.body);
    const err = res.json<{ error: { code: string; message: string; fields: { path: string }[] } }>().error;
    assert.equal(err.code, 'sheet.file_refused');
    assert.match(err.message, /xl\/worksheets\/sheet1\.xml inflates to 327 MB; one entry may hold at most 64 MB/);
    assert.deepEqual(err.fields.map((f) => f.path), ['file']);
    assert.ok(Math.max(...latencies) < 1000, `healthz answered within 1 s (max ${Math.round(Math.max(...latencies))} ms)`);
    assert.ok(rssGrowthMb < 150, `RSS grew ${rssGrowthMb} MB`);
    t.diagnostic(`zip bomb: ${res.statusCode}, healthz polls ${latencies.length}, max ${Math.round(Math.max(...latencies))} ms, RSS growth ${rssGrowthMb} MB`);
  });

  it('a bomb whose headers claim 4 KB is stopped by counting the inflated bytes', async (t) => {
    const { res, latencies, rssGrowthMb } = await importWhilePolling(await xlsxBomb(326, { lie: true }));
    assert.equal(res.statusCode, 413, res.body);
    assert.match(res.json<{ error: { message: string } }>().error.message, /sheet1\.xml cannot be read \(too many bytes in the stream/);
    assert.ok(Math.max(...latencies) < 1000);
    assert.ok(rssGrowthMb < 150, `RSS grew ${rssGrowthMb} MB`);
    t.diagnostic(`lying bomb: ${res.statusCode}, healthz max ${Math.round(Math.max(...latencies))} ms, RSS growth ${rssGrowthMb} MB`);
  });

  it('a bomb kept under the size bound but compressed past 150:1 is refused as a zip bomb', async () => {
    const { res } = await importWhilePolling(await xlsxBomb(40));
    assert.equal(res.statusCode, 413, res.body);
    assert.match(res.json<{ error: { message: string } }>().error.message, /compressed \d+ to 1 .* refused as a zip bomb/);
  });

  it('a heavy but honest workbook is parsed off the event loop: /healthz answers within 1 s throughout', async (t) => {
    const rows = Array.from({ length: 25_000 }, () => [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')]);
    const file = await writeXlsx({ headers: ['location', 'name'], rows }, 'inventory');
    const started = performance.now();
    const { res, latencies, rssGrowthMb } = await importWhilePolling(file);
    const ms = Math.round(performance.now() - started);
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json<{ error: { message: string } }>().error.message, /the sheet has 25000 rows; one import takes at most 20000/);
    assert.ok(latencies.length >= 3, `polled during the parse (${latencies.length} polls in ${ms} ms)`);
    assert.ok(Math.max(...latencies) < 1000, `healthz answered within 1 s (max ${Math.round(Math.max(...latencies))} ms)`);
    t.diagnostic(`heavy workbook (${Math.round(file.length / 1024)} KB, 25,000 rows): ${res.statusCode} in ${ms} ms, healthz polls ${latencies.length}, max ${Math.round(Math.max(...latencies))} ms, RSS growth ${rssGrowthMb} MB`);
  });
});
