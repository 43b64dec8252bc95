import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, SHEET_CONTENT_TYPES, SHEET_FORMATS, SHEET_KINDS, type SheetFormat } from '../../domain/sheets.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { actorOf } from '../auth.js';

const ImportReportOut = z.object({
  kind: z.enum(SHEET_KINDS),
  dryRun: z.boolean(),
  rows: z.number(),
  created: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  revisions: z.number(),
  actor: z.string(),
});
const ImportQuery = z
  .object({
    dryRun: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
    format: z.enum(SHEET_FORMATS).optional(),
  })
  .strict();

/** Content types an import accepts, and the format each one means (octet-stream: decided by the file's signature). */
const IMPORT_TYPES: Record<string, SheetFormat | undefined> = {
  'text/csv': 'csv',
  [SHEET_CONTENT_TYPES.xlsx]: 'xlsx',
  'application/octet-stream': undefined,
};

/** Spreadsheet export and import of the inventory and the handbook (CSV and XLSX). */
export function sheetRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { sheets } = services;
    const tags = ['spreadsheets'];
    // Files arrive as the raw request body with their content type; 10 MB at most.
    app.addContentTypeParser(Object.keys(IMPORT_TYPES), { parseAs: 'buffer', bodyLimit: MAX_IMPORT_BYTES }, (_req, body, done) => done(null, body));

    for (const kind of SHEET_KINDS) {
      for (const format of SHEET_FORMATS) {
        app.get(
          `/export/${kind}.${format}`,
          {
            schema: {
              tags,
              summary: `Export the ${kind} as ${format.toUpperCase()}`,
              description:
                kind === 'inventory'
                  ? 'One row per lock not retired: location path, manufacturer, model number, procedure steps and last-verified date of its effective handbook entry, then the other fields. Cells starting with = + - @ are prefixed with an apostrophe in CSV.'
                  : 'One row per handbook entry: model, override lock, revision, steps, estimated minutes, tools, warnings, last verified. Secrets are never exported.',
            },
          },
          async (req, reply) => {
            const file = await sheets.exportFile(actorOf(req), kind, format);
            const stamp = services.ctx.clock.now().toISOString().slice(0, 10);
            return reply
              .type(SHEET_CONTENT_TYPES[format])
              .header('content-disposition', `attachment; filename="lockwarden-${kind}-${stamp}.${format}"`)
              .header('cache-control', 'no-store')
              .send(file);
          },
        );
      }
      app.post(
        `/import/${kind}`,
        {
          schema: {
            tags,
            summary: `Import the ${kind} from CSV or XLSX`,
            description:
              `Send the file as the raw body with content type text/csv or ${SHEET_CONTENT_TYPES.xlsx} (at most ${MAX_IMPORT_BYTES / 1024 / 1024} MB, ${MAX_IMPORT_ROWS} rows). ` +
              'Every row is validated first; if any is bad nothing is written and the 400 answer lists each problem in error.fields as {row, column, message} (row as the sheet shows it, header = row 1). ' +
              'A good file is written in one transaction. ?dryRun=true only validates.',
            querystring: ImportQuery,
            response: { 200: ImportReportOut },
          },
        },
        async (req) => {
          const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
          if (!(type in IMPORT_TYPES) || !Buffer.isBuffer(req.body)) {
            throw new AppError('validation.failed', `send the file as the request body with content type text/csv or ${SHEET_CONTENT_TYPES.xlsx}`, [{ path: 'content-type', message: 'not a spreadsheet' }]);
          }
          return sheets.importFile(actorOf(req), kind, req.body, { format: req.query.format ?? IMPORT_TYPES[type], dryRun: req.query.dryRun });
        },
      );
    }
  };
}
