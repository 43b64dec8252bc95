/**
 * Spreadsheet files to and from a `Table` of text cells: CSV with csv-parse/csv-stringify, XLSX with
 * exceljs. Every cell is text both ways: a CSV cell that a spreadsheet program would run as a formula
 * is written with a leading apostrophe (and read back without it); XLSX cells are written as string
 * cells (never formulas), and a formula met in an uploaded XLSX is read as its text ("=SUM(A1:A2)"),
 * not its value.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import ExcelJS from 'exceljs';
import { AppError, type FieldError } from '../domain/errors.js';
import { escapeCell, MAX_IMPORT_ROWS, unescapeCell, type SheetFormat, type Table } from '../domain/sheets.js';
import { isMainThread, parentPort, Worker, workerData, type ResourceLimits } from 'node:worker_threads';
import { checkZip, XLSX_LIMITS, ZipRefused } from './zip-guard.js';
import { textProblem } from '../domain/text.js';

const BOM = '\uFEFF';

/** Writes a table as CSV (UTF-8 with a BOM so spreadsheet programs pick the encoding, CRLF lines). */
export function writeCsv(t: Table): Buffer {
  const body = stringify([t.headers, ...t.rows].map((r) => r.map(escapeCell)), { record_delimiter: 'windows', quoted_match: /[\n\r]/ });
  return Buffer.from(BOM + body, 'utf8');
}

/** Reads a CSV (comma, semicolon or tab separated; a BOM is skipped) into a table. */
export function readCsv(buf: Buffer): Table {
  let text = buf.toString('utf8');
  if (text.includes('\uFFFD')) throw fileError('the CSV is not UTF-8 text; save it as "CSV UTF-8"');
  if (text.startsWith(BOM)) text = text.slice(1);
  const firstLine = text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : undefined);
  const delimiter = [',', ';', '\t'].sort((a, b) => firstLine.split(b).length - firstLine.split(a).length)[0]!;
  let records: string[][];
  try {
    const parsed: unknown = parse(text, { delimiter, relax_column_count: true, skip_empty_lines: false, bom: true, to_line: MAX_IMPORT_ROWS + 2 });
    records = parsed as string[][];
  } catch (e) {
    throw fileError(`the CSV cannot be read: ${(e as Error).message}`);
  }
  return toTable(records.map((r) => r.map(unescapeCell)));
}

/** Writes a table as an XLSX workbook with one sheet: a bold, frozen header row and text cells. */
export async function writeXlsx(t: Table, sheetName: string): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'lockwarden';
  const ws = wb.addWorksheet(sheetName, { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.addRow(t.headers).font = { bold: true };
  for (const r of t.rows) ws.addRow(r);
  ws.columns.forEach((c, i) => {
    const longest = Math.max(t.headers[i]?.length ?? 0, ...t.rows.slice(0, 200).map((r) => Math.min(60, Math.max(...(r[i] ?? '').split('\n').map((l) => l.length)))));
    c.width = Math.max(10, longest + 2);
    c.alignment = { wrapText: true, vertical: 'top' };
  });
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Longest an XLSX parse may take in its worker before it is stopped. */
const XLSX_PARSE_MS = 60_000;
/** The parse worker's heap: what exceljs may use for one workbook (a bound, not a target). */
const XLSX_WORKER_HEAP_MB = 384;
const WORKER_ROLE = 'lockwarden-xlsx-read';

/**
 * Reads the first sheet of an XLSX workbook into a table of text cells: the archive is checked first
 * (`checkZip`: entry count, sizes, ratios, inflated bytes counted), then exceljs parses it in a worker
 * thread with a bounded heap, so a hostile workbook neither stalls the server nor grows its memory.
 */
export async function readXlsx(buf: Buffer): Promise<Table> {
  try {
    await checkZip(buf, XLSX_LIMITS);
  } catch (e) {
    if (e instanceof ZipRefused) throw new AppError('sheet.file_refused', `the XLSX file is refused: ${e.message}`, [{ path: 'file', message: e.message }]);
    throw e;
  }
  return parseInWorker(buf);
}

function parseInWorker(buf: Buffer): Promise<Table> {
  return new Promise<Table>((resolve, reject) => {
    const worker = startWorker({ role: WORKER_ROLE, bytes: buf }, { maxOldGenerationSizeMb: XLSX_WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => finish(() => reject(new AppError('sheet.file_refused', `the XLSX file took longer than ${XLSX_PARSE_MS / 1000} s to read; refused`, [{ path: 'file', message: 'too slow to read' }]))), XLSX_PARSE_MS);
    worker.on('message', (m: { table?: Table; error?: string; fields?: FieldError[] }) =>
      finish(() => (m.table ? resolve(m.table) : reject(m.fields?.length ? new AppError('validation.failed', m.error ?? 'the XLSX file cannot be read', m.fields) : fileError(m.error ?? 'the XLSX file cannot be read')))),
    );
    worker.on('error', (e: Error & { code?: string }) =>
      finish(() => reject(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new AppError('sheet.file_refused', `the XLSX file needs more than ${XLSX_WORKER_HEAP_MB} MB to read; refused`, [{ path: 'file', message: 'too large to read' }]) : e)),
    );
    worker.on('exit', (code) => finish(() => reject(new Error(`the XLSX reader stopped (${code})`))));
  });
}

/** This module as a worker thread (from source under tsx, the worker registers tsx first). */
function startWorker(data: unknown, resourceLimits: ResourceLimits): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(self), { workerData: data, resourceLimits });
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`, { eval: true, workerData: data, resourceLimits });
}

/** The parse itself (in the worker): the first sheet as text cells, the row limit checked. */
async function parseXlsx(buf: Buffer): Promise<Table> {
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.load(buf as unknown as ArrayBuffer);
  } catch (e) {
    throw fileError(`the XLSX file cannot be read: ${(e as Error).message}`);
  }
  const ws = wb.worksheets[0];
  if (!ws) throw fileError('the workbook has no sheet');
  if (ws.rowCount > MAX_IMPORT_ROWS + 1) throw fileError(`the sheet has ${ws.rowCount - 1} rows; one import takes at most ${MAX_IMPORT_ROWS}`);
  const records: string[][] = [];
  for (let r = 1; r <= ws.rowCount; r++) {
    const row = ws.getRow(r);
    const cells: string[] = [];
    for (let c = 1; c <= row.cellCount; c++) cells.push(cellText(row.getCell(c).value));
    records.push(cells);
  }
  return toTable(records);
}

/** Any exceljs cell value as the text a person sees; formulas as their formula text, never run. */
function cellText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  if (typeof v === 'object') {
    if ('formula' in v && typeof v.formula === 'string') return `=${v.formula}`;
    if ('sharedFormula' in v && typeof v.sharedFormula === 'string') return `=${v.sharedFormula}`;
    if ('richText' in v && Array.isArray(v.richText)) return v.richText.map((p) => p.text).join('');
    if ('text' in v && typeof v.text === 'string') return v.text;
    if ('error' in v) return String(v.error);
  }
  return JSON.stringify(v);
}

function toTable(records: string[][]): Table {
  // Cells no database column can hold (NUL, unpaired surrogates): refused by row and column.
  const bad: { path: string; message: string; row: number; column: string }[] = [];
  records.forEach((r, i) =>
    r.forEach((cell, c) => {
      const problem = bad.length < 20 ? textProblem(cell) : null;
      if (problem) bad.push({ path: `row ${i + 1}, ${records[0]?.[c] ?? `column ${c + 1}`}`, message: problem, row: i + 1, column: records[0]?.[c] ?? `column ${c + 1}` });
    }),
  );
  if (bad.length) throw new AppError('validation.failed', `the file has ${bad.length} cell(s) with characters no text may hold; nothing was imported`, bad);
  const [headers = [], ...rows] = records;
  if (rows.length > MAX_IMPORT_ROWS) throw fileError(`the file has more than ${MAX_IMPORT_ROWS} rows; import it in parts`);
  return { headers: headers.map((h) => h.trim()), rows };
}

function fileError(message: string): AppError {
  return new AppError('validation.failed', message, [{ path: 'file', message }]);
}

/** Reads a file by its format; XLSX is recognised by its zip signature whatever the caller said. */
export async function readTable(buf: Buffer, format?: SheetFormat): Promise<Table> {
  const isZip = buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50;
  if (format === 'xlsx' || (format === undefined && isZip)) {
    if (!isZip) throw fileError('this is not an XLSX file (no zip signature)');
    return readXlsx(buf);
  }
  if (isZip) throw fileError('this looks like an XLSX file, not CSV; send it as XLSX');
  return readCsv(buf);
}

export async function writeTable(t: Table, format: SheetFormat, sheetName: string): Promise<Buffer> {
  return format === 'xlsx' ? writeXlsx(t, sheetName) : writeCsv(t);
}

export { formatOfName } from '../domain/sheets.js';

// Started as a worker by `parseInWorker`: parse the bytes handed over, answer with the table or the error's message.
if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE && parentPort) {
  const port = parentPort;
  const bytes = Buffer.from((workerData as { bytes: Uint8Array }).bytes);
  parseXlsx(bytes).then(
    (table) => port.postMessage({ table }),
    (e: unknown) => port.postMessage(e instanceof AppError ? { error: e.message, fields: e.fields } : { error: `the XLSX file cannot be read: ${(e as Error).message}` }),
  );
}
