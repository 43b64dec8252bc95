/**
 * `lockwarden export|import inventory|handbook` as a person runs them: on the data folder with no
 * server, then through the running server with a token. A bad file exits 2, prints every bad row
 * and column, and writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { INVENTORY_COLUMNS } from '../../src/domain/sheets.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { startRuntime } from '../../src/runtime.js';
import { readCsv, writeCsv } from '../../src/sheets/files.js';
import { openEmbedded } from '../../src/store/database.js';
import { CliHarness, type Running } from './harness.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const col = (name: (typeof INVENTORY_COLUMNS)[number]) => INVENTORY_COLUMNS.indexOf(name);

describe('lockwarden export and import', () => {
  let dataDir = '';
  let work = '';
  const cli = new CliHarness(() => CliHarness.baseEnv(dataDir));
  let token = '';

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-sheets-'));
    work = mkdtempSync(path.join(tmpdir(), 'lockwarden-cli-sheets-files-'));
    const database = await openEmbedded(dataDir, { purpose: 'test' });
    try {
      const runtime = await startRuntime({ database, dataDir, simulator: { kind: 'off' }, queue: false, worker: false });
      await loadDemoFleet(runtime.ctx);
      assert.ok(await runtime.services.auth.bootstrapOwner());
      token = (await runtime.services.auth.createApiTokenFor(SYSTEM, 'owner@lockwarden.local', { name: 'sheets cli test', expiresInDays: 1 })).secret;
      await runtime.stop();
    } finally {
      await database.close();
    }
  });
  after(() => {
    cli.killAll();
    for (const d of [dataDir, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('exports CSV and XLSX on the data folder and imports them back with nothing changed', async () => {
    const csv = path.join(work, 'inventory.csv');
    const xlsx = path.join(work, 'handbook.xlsx');
    await cli.ok('export', 'inventory', '--format', 'csv', '--out', csv);
    await cli.ok('export', 'handbook', '--out', xlsx);
    assert.equal(readFileSync(xlsx).readUInt32LE(0), 0x04034b50, 'an XLSX (zip) file');
    assert.equal(readCsv(readFileSync(csv)).rows.length, 40);
    assert.match(await cli.ok('import', 'inventory', csv), /40 row\(s\) — created 0, updated 0, unchanged 40/);
    assert.match(await cli.ok('import', 'handbook', xlsx, '--dry-run'), /dry run, nothing written: would create 0, update 0, unchanged 9/);
  });

  it('a bad file exits 2 with every bad row and column printed, and writes nothing', async () => {
    const t = readCsv(readFileSync(path.join(work, 'inventory.csv')));
    t.rows[1]![col('location')] = 'Nowhere/At all';
    t.rows[4]![col('installed on')] = '31/12/2024';
    t.rows[4]![col('firmware')] = 'should-not-land';
    const bad = path.join(work, 'bad.csv');
    writeFileSync(bad, writeCsv(t));
    const r = await cli.run('import', 'inventory', bad);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /2 problem\(s\) in 2 row\(s\); nothing was imported/);
    assert.match(r.stderr, /row 3, location: no location "Nowhere\/At all"/);
    assert.match(r.stderr, /row 6, installed on: "31\/12\/2024" is not a real date/);
    const json = JSON.parse(await cli.ok('--json', 'locks', 'list', '-q', 'should-not-land')) as { total: number };
    assert.equal(json.total, 0);
  });

  describe('with the server running', () => {
    let server: Running;
    before(async () => {
      server = (await cli.startUntil(['serve', '--port', '0', '--host', '127.0.0.1', '--no-demo'], /listening on (http:\/\/127\.0\.0\.1:\d+)/)).running;
    });
    after(async () => {
      if (server) assert.equal((await server.stop('SIGTERM')).code, 0, server.output());
    });

    it('the same commands work through the API with a token', async () => {
      const out = path.join(work, 'served.xlsx');
      await cli.ok('--token', token, 'export', 'inventory', '--out', out);
      const t = readCsv(readFileSync(path.join(work, 'inventory.csv')));
      t.rows[0]![col('notes')] = 'checked by the import test';
      const edited = path.join(work, 'edited.csv');
      writeFileSync(edited, writeCsv(t));
      assert.match(await cli.ok('--token', token, 'import', 'inventory', edited), /updated 1, unchanged 39/);
      assert.match(await cli.ok('--token', token, 'import', 'inventory', out), /updated 1, unchanged 39/, 'the older XLSX export puts the notes back');
      const r = await cli.run('--token', token, 'import', 'inventory', path.join(work, 'bad.csv'));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /row 3, location: no location/);
    });
  });
});
