/**
 * `lockwarden export inventory|handbook` and `lockwarden import inventory|handbook <file>`: the
 * spreadsheet round trip, locally on the data folder or through the server with a token. A bad file
 * exits 2 with every bad row and column printed, and nothing is written.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { AppError } from '../domain/errors.js';
import { MAX_IMPORT_BYTES, SHEET_FORMATS, SHEET_KINDS, type ImportReport, type SheetFormat, type SheetKind } from '../domain/sheets.js';
import { formatOfName } from '../domain/sheets.js';
import { print, withClient } from './shared.js';

function kindArg(raw: string): SheetKind {
  if (!(SHEET_KINDS as readonly string[]).includes(raw)) throw new InvalidArgumentError(`use ${SHEET_KINDS.join(' or ')}`);
  return raw as SheetKind;
}
function formatArg(raw: string): SheetFormat {
  const v = raw.toLowerCase();
  if (!(SHEET_FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`use ${SHEET_FORMATS.join(' or ')}`);
  return v as SheetFormat;
}

export function reportLine(r: ImportReport): string {
  const verb = r.dryRun ? 'dry run, nothing written: would create' : 'created';
  return `${r.kind}: ${r.rows} row(s) — ${verb} ${r.created}, ${r.dryRun ? 'update' : 'updated'} ${r.updated}, unchanged ${r.unchanged}; handbook revisions ${r.revisions}`;
}

export function addSheetCommands(program: Command): void {
  program
    .command('export')
    .description('export the inventory or the handbook as a spreadsheet (CSV or XLSX)')
    .argument('<what>', 'inventory or handbook', kindArg)
    .option('--format <format>', 'csv or xlsx (default: from --out, else csv)', formatArg)
    .option('--out <file>', 'write to this file (default: standard output, CSV only)')
    .action(async (kind: SheetKind, f: { format?: SheetFormat; out?: string }, cmd: Command) =>
      withClient(cmd, async (client) => {
        const format = f.format ?? (f.out ? formatOfName(f.out) : undefined) ?? 'csv';
        if (!f.out && format === 'xlsx') throw new AppError('validation.failed', 'an XLSX export needs --out <file>', [{ path: 'out', message: 'required for xlsx' }]);
        const file = await client.exportSheet(kind, format);
        if (f.out) {
          writeFileSync(f.out, file, { mode: 0o600 });
          process.stderr.write(`wrote ${f.out} (${format}, ${file.length} bytes)\n`);
        } else process.stdout.write(file);
      }),
    );
  program
    .command('import')
    .description('import the inventory or the handbook from a CSV or XLSX file: every row is checked first; one bad row and nothing is written')
    .argument('<what>', 'inventory or handbook', kindArg)
    .argument('<file>', 'the .csv or .xlsx file')
    .option('--format <format>', 'csv or xlsx (default: from the file name, else from its content)', formatArg)
    .option('--dry-run', 'only check the file; write nothing')
    .action(async (kind: SheetKind, path: string, f: { format?: SheetFormat; dryRun?: boolean }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        let size: number;
        try {
          size = statSync(path).size;
        } catch {
          throw new AppError('validation.failed', `cannot read ${path}`, [{ path: 'file', message: 'not found' }]);
        }
        if (size > MAX_IMPORT_BYTES) throw new AppError('validation.failed', `${path} is ${size} bytes; an import takes at most ${MAX_IMPORT_BYTES}`, [{ path: 'file', message: 'too large' }]);
        const report = await client.importSheet(kind, readFileSync(path), { format: f.format ?? formatOfName(path), dryRun: f.dryRun ?? false });
        print(g.json ? JSON.stringify(report, null, 2) : reportLine(report));
      }),
    );
}
