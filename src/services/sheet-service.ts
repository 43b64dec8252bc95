/**
 * Spreadsheet import and export of the inventory and the handbook (CSV and XLSX share these rules;
 * `src/sheets/files.ts` turns files into tables of text cells and back).
 *
 * An import validates every row against the whole file and the database before it writes anything;
 * any bad row means nothing is written, and every bad row and column is reported. A good file is
 * written in one transaction. Re-importing an export changes nothing: locks are matched by id (else
 * by location + name), handbook entries by id (else by model, and lock for an override), and only
 * rows that differ are written.
 */
import { isDeepStrictEqual } from 'node:util';
import { AppError } from '../domain/errors.js';
import { HandbookContentSchema, WARNING_KINDS, type HandbookContent, type SafetyWarning, type Step } from '../domain/handbook.js';
import { isAllowed, type Actor } from '../domain/identity.js';
import type { Location } from '../domain/locations.js';
import { CREDENTIAL_STORAGE, type LockModel } from '../domain/lock-models.js';
import { DRIVER_NAMES, EDITABLE_SERVICE_STATES, LockCreateSchema, SERVICE_STATE_LABELS, SERVICE_STATES, type ServiceState } from '../domain/locks.js';
import {
  cellLines,
  formatContacts,
  formatResources,
  formatSteps,
  parseContacts,
  parseResources,
  HANDBOOK_COLUMNS,
  HANDBOOK_REQUIRED,
  INVENTORY_COLUMNS,
  INVENTORY_REQUIRED,
  isRealDate,
  LOCATION_SEPARATOR,
  locationParts,
  mapHeaders,
  MAX_LISTED_ERRORS,
  parseSteps,
  parseYesNo,
  type HandbookColumn,
  type ImportReport,
  type InventoryColumn,
  type SheetFormat,
  type SheetKind,
  type SheetRowError,
  type Table,
} from '../domain/sheets.js';
import { inTransaction, type Db } from '../store/database.js';
import { HandbookRepository, type EntryRow } from '../store/handbook-repository.js';
import { LocationRepository } from '../store/location-repository.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { LockRepository, type LockRow } from '../store/lock-repository.js';
import type { locks as locksTable } from '../store/schema.js';
import { actorLabel, authorize, readScope, type ServiceContext } from './context.js';
import { visibleRows } from './scope.js';
import { HandbookService } from './handbook-service.js';
import { newLockRow } from './lock-service.js';

/** The reason recorded on handbook revisions an import writes. */
export const IMPORT_REASON = 'import';

/** An import refused: every bad row and column, nothing written. */
export function sheetError(kind: SheetKind, errors: SheetRowError[]): AppError {
  const rows = new Set(errors.map((e) => e.row)).size;
  const listed = errors.slice(0, MAX_LISTED_ERRORS);
  const more = errors.length - listed.length;
  return new AppError(
    'validation.failed',
    `the ${kind} sheet has ${errors.length} problem(s) in ${rows} row(s); nothing was imported${more > 0 ? ` (first ${listed.length} listed, ${more} more)` : ''}`,
    listed.map((e) => ({ path: `row ${e.row}, ${e.column}`, message: e.message, row: e.row, column: e.column })),
  );
}

const key = (...parts: string[]) => parts.map((p) => p.toLowerCase()).join('\u0000');
const stepsEqual = (a: Step[], b: Step[]) => isDeepStrictEqual(a, b);
const dateOnly = (d: Date | null) => (d ? d.toISOString().slice(0, 10) : '');

interface Catalogue {
  locations: Location[];
  byId: Map<string, Location>;
  /** Lower-cased path of names from the root -> location. */
  byPath: Map<string, Location>;
  /** Lower-cased path below the root (organisation) -> locations (more than one when ambiguous). */
  byShortPath: Map<string, Location[]>;
  models: Map<string, LockModel>;
  modelsById: Map<string, LockModel>;
}

/** Use cases that move the inventory and handbook in and out of spreadsheets. */
export class SheetService {
  constructor(private readonly ctx: ServiceContext) {}

  // --- export -------------------------------------------------------------------------------------

  /** One row per lock in service (not retired), with its effective handbook entry's steps. */
  async exportInventory(actor: Actor): Promise<Table> {
    const scope = readScope(actor, 'lock.read', this.ctx.clock.now());
    authorize(actor, 'handbook.read', 'anywhere');
    const db = this.ctx.db;
    const cat = await this.catalogue(db);
    const rows = await new LockRepository(db).all({ includeRetired: false, scope });
    const { modelEntry, lockEntry, contents } = await this.entries(db);
    return {
      headers: [...INVENTORY_COLUMNS],
      rows: rows.map(({ lock, manufacturer, modelNumber }) => {
        const e = lockEntry.get(lock.id) ?? modelEntry.get(lock.modelId);
        const content = e ? contents.get(e.entry.id) : undefined;
        const cells: Record<InventoryColumn, string> = {
          id: lock.id,
          location: this.pathOf(cat, lock.locationId),
          name: lock.name,
          manufacturer,
          'model number': modelNumber,
          'procedure steps': content ? formatSteps(content.steps) : '',
          'last verified': dateOnly(e?.entry.verifiedAt ?? null),
          serial: lock.serial,
          firmware: lock.firmware,
          'installed on': lock.installedOn ?? '',
          driver: lock.driver,
          'external id': lock.externalId ?? '',
          'credential storage': lock.credentialStorage,
          'mechanical override': lock.mechanicalOverride ? 'yes' : 'no',
          'battery %': lock.batteryPercent === null ? '' : String(lock.batteryPercent),
          'service state': lock.serviceState,
          notes: lock.notes,
        };
        return INVENTORY_COLUMNS.map((c) => cells[c]);
      }),
    };
  }

  /** One row per handbook entry: model, override target, revision, steps, time, tools, warnings, summary, resources, contacts, verification. Never secrets. */
  async exportHandbook(actor: Actor): Promise<Table> {
    const scope = readScope(actor, 'handbook.read', this.ctx.clock.now());
    const db = this.ctx.db;
    const cat = await this.catalogue(db);
    const rows = visibleRows(await new HandbookRepository(db).list(), scope);
    const contents = await new HandbookRepository(db).currentContents();
    const lockLoc = new Map((await new LockRepository(db).all({ includeRetired: true })).map((l) => [l.lock.id, l.lock.locationId]));
    return {
      headers: [...HANDBOOK_COLUMNS],
      rows: rows.map(({ entry, manufacturer, modelNumber, lockName }) => {
        const c = contents.get(entry.id)!;
        const cells: Record<HandbookColumn, string> = {
          id: entry.id,
          manufacturer,
          'model number': modelNumber,
          'lock id': entry.lockId ?? '',
          lock: entry.lockId ? `${this.pathOf(cat, lockLoc.get(entry.lockId) ?? '')}${LOCATION_SEPARATOR}${lockName ?? ''}` : '',
          title: c.title,
          revision: String(entry.currentRevision),
          'procedure steps': formatSteps(c.steps),
          'estimated minutes': c.estimatedMinutes === null ? '' : String(c.estimatedMinutes),
          tools: c.tools.join('\n'),
          warnings: c.warnings.map((w) => `${w.kind}: ${w.text}`).join('\n'),
          summary: c.summary,
          resources: formatResources(c.resources),
          contacts: formatContacts(c.contacts),
          'last verified': dateOnly(entry.verifiedAt),
          'verified by': entry.verifiedBy ?? '',
          generic: c.generic ? 'yes' : 'no',
        };
        return HANDBOOK_COLUMNS.map((col) => cells[col]);
      }),
    };
  }

  /** An export as a file. */
  async exportFile(actor: Actor, kind: SheetKind, format: SheetFormat): Promise<Buffer> {
    const table = kind === 'inventory' ? await this.exportInventory(actor) : await this.exportHandbook(actor);
    // The spreadsheet library loads on first use: most processes never write a sheet.
    const { writeTable } = await import('../sheets/files.js');
    return writeTable(table, format, kind === 'inventory' ? 'Inventory' : 'Handbook');
  }

  /** Reads a file (CSV or XLSX) and imports it; `format` undefined lets the file's signature decide. */
  async importFile(actor: Actor, kind: SheetKind, file: Buffer, opts: { format?: SheetFormat | undefined; dryRun?: boolean | undefined } = {}): Promise<ImportReport> {
    // Refuse before reading the file: someone who may not import learns nothing from its errors.
    authorize(actor, kind === 'inventory' ? 'lock.write' : 'handbook.write');
    const { readTable } = await import('../sheets/files.js');
    const table = await readTable(file, opts.format);
    return kind === 'inventory' ? this.importInventory(actor, table, opts) : this.importHandbook(actor, table, opts);
  }

  // --- inventory import ---------------------------------------------------------------------------

  /**
   * Imports locks. Models are never created from a sheet (a model's family, capabilities and reset
   * behaviour are not in it): an unknown "manufacturer + model number" is a bad row. `last verified`
   * is read-only (verification is an act with a person behind it); a changed `procedure steps` cell
   * becomes a new revision (reason "import") of the lock's effective entry, or a new model entry.
   */
  async importInventory(actor: Actor, table: Table, opts: { dryRun?: boolean | undefined } = {}): Promise<ImportReport> {
    authorize(actor, 'lock.write');
    const { index, errors } = mapHeaders(table.headers, INVENTORY_COLUMNS, INVENTORY_REQUIRED);
    if (errors.length) throw sheetError('inventory', errors);
    const db = this.ctx.db;
    const cat = await this.catalogue(db);
    const existing = await new LockRepository(db).all({ includeRetired: true });
    const lockById = new Map(existing.map((l) => [l.lock.id, l]));
    const lockByPlace = new Map(existing.map((l) => [key(l.lock.locationId, l.lock.name), l]));
    const external = new Map(existing.filter((l) => l.lock.externalId !== null).map((l) => [key(l.lock.driver, l.lock.externalId!), l.lock.id]));
    const { modelEntry, lockEntry, contents } = await this.entries(db);

    const now = this.ctx.clock.now();
    const creates: (typeof locksTable.$inferInsert)[] = [];
    const updates: { id: string; version: number; patch: Partial<typeof locksTable.$inferInsert> }[] = [];
    /** Step changes by entry key ("entry:<id>" or "model:<id>"), with the row that asked first. */
    const stepChanges = new Map<string, { steps: Step[]; row: number; entryId: string | null; modelId: string }>();
    const stepRows = new Map<string, { steps: Step[]; row: number }>();
    const seenIds = new Map<string, number>();
    const seenPlaces = new Map<string, number>();
    const seenExternal = new Map<string, number>();
    let unchanged = 0;
    let rows = 0;

    table.rows.forEach((cells, i) => {
      const row = i + 2;
      if (cells.every((c) => !c.trim())) return;
      rows++;
      const bad = (column: InventoryColumn, message: string) => errors.push({ row, column, message });
      const get = (c: InventoryColumn): string | undefined => (index.has(c) ? (cells[index.get(c)!] ?? '').trim() : undefined);
      const n0 = errors.length;

      // Where and what.
      const location = this.resolveLocation(cat, get('location') ?? '', (m) => bad('location', m));
      const manufacturer = get('manufacturer') ?? '';
      const modelNumber = get('model number') ?? '';
      let model: LockModel | undefined;
      if (!manufacturer) bad('manufacturer', 'manufacturer is required');
      if (!modelNumber) bad('model number', 'model number is required');
      if (manufacturer && modelNumber) {
        model = cat.models.get(key(manufacturer, modelNumber));
        if (!model) bad('model number', `no model "${manufacturer} ${modelNumber}" in the catalogue; add it first (models are not created from a sheet)`);
      }
      const name = get('name') ?? '';
      if (!name) bad('name', 'name is required');

      // Which lock: by id, else by location + name.
      let current: LockRow | undefined;
      const id = get('id');
      if (id) {
        current = lockById.get(id);
        if (!current) bad('id', `no lock with id ${id}; leave id empty to add a new lock`);
        const dup = seenIds.get(id);
        if (dup) bad('id', `the same lock is also in row ${dup}`);
        seenIds.set(id, row);
      } else if (location && name) {
        current = lockByPlace.get(key(location.id, name));
      }
      if (location && name) {
        const place = key(location.id, name);
        const dup = seenPlaces.get(place);
        if (dup) bad('name', `row ${dup} already has a lock called "${name}" at this location`);
        seenPlaces.set(place, row);
        const other = lockByPlace.get(place);
        if (current && other && other.lock.id !== current.lock.id) bad('name', `another lock at this location is already called "${name}"`);
      }

      // The lock's fields, as the domain schema takes them.
      const input: Record<string, unknown> = {};
      const text = (col: InventoryColumn, field: string) => {
        const v = get(col);
        if (v !== undefined) input[field] = v;
      };
      text('serial', 'serial');
      text('firmware', 'firmware');
      text('notes', 'notes');
      const installed = get('installed on');
      if (installed !== undefined) {
        if (installed && !isRealDate(installed)) bad('installed on', `"${installed}" is not a real date; use YYYY-MM-DD`);
        else input.installedOn = installed || null;
      }
      const driver = get('driver');
      if (driver) {
        if (!(DRIVER_NAMES as readonly string[]).includes(driver.toLowerCase())) bad('driver', `unknown driver "${driver}"; use one of ${DRIVER_NAMES.join(', ')}`);
        else input.driver = driver.toLowerCase();
      }
      const ext = get('external id');
      if (ext !== undefined) input.externalId = ext || null;
      const storage = get('credential storage');
      if (storage) {
        if (!(CREDENTIAL_STORAGE as readonly string[]).includes(storage.toLowerCase())) bad('credential storage', `"${storage}" is not one of ${CREDENTIAL_STORAGE.join(', ')}`);
        else input.credentialStorage = storage.toLowerCase();
      }
      const override = get('mechanical override');
      if (override) {
        const b = parseYesNo(override);
        if (b === undefined) bad('mechanical override', `"${override}" is not yes or no`);
        else if (b !== null) input.mechanicalOverride = b;
      }
      const battery = get('battery %');
      if (battery !== undefined) {
        const v = battery.replace(/%$/, '').trim();
        const n = Number(v);
        if (v === '') input.batteryPercent = null;
        else if (!Number.isInteger(n) || n < 0 || n > 100) bad('battery %', `"${battery}" is not a whole number from 0 to 100`);
        else input.batteryPercent = n;
      }
      let state: ServiceState | undefined;
      const stateCell = get('service state');
      if (stateCell) {
        const v = stateCell.toLowerCase().replace(/\s+/g, '_');
        const found = SERVICE_STATES.find((s) => s === v || SERVICE_STATE_LABELS[s].toLowerCase() === stateCell.toLowerCase());
        if (!found) bad('service state', `"${stateCell}" is not one of ${SERVICE_STATES.join(', ')}`);
        else if (!(EDITABLE_SERVICE_STATES as readonly string[]).includes(found) && current?.lock.serviceState !== found) {
          bad('service state', found === 'retired' ? 'retire a lock with `lockwarden locks retire` (with a reason), not from a sheet' : 'a reset in progress is set by a reset case, not from a sheet');
        } else state = found;
      }
      const verified = get('last verified');
      if (verified && !isRealDate(verified)) bad('last verified', `"${verified}" is not a real date; use YYYY-MM-DD`);

      if (errors.length > n0 || !location || !model) return;

      if (state !== undefined && (EDITABLE_SERVICE_STATES as readonly string[]).includes(state)) input.serviceState = state;
      const full = { name, modelId: model.id, locationId: location.id, ...input };
      const parsed = LockCreateSchema.safeParse(current ? { ...full, driver: input.driver ?? current.lock.driver } : full);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) bad(columnOfField(String(issue.path[0] ?? '')), issue.message);
        return;
      }
      const data = parsed.data;
      const finalDriver = (input.driver as string | undefined) ?? current?.lock.driver ?? data.driver;
      const finalExt = input.externalId !== undefined ? (input.externalId as string | null) : (current?.lock.externalId ?? null);
      if (finalExt !== null) {
        const k = key(finalDriver, finalExt);
        const owner = external.get(k);
        if (owner && owner !== current?.lock.id) bad('external id', `another lock already uses ${finalDriver} id "${finalExt}"`);
        const dup = seenExternal.get(k);
        if (dup) bad('external id', `row ${dup} already uses ${finalDriver} id "${finalExt}"`);
        seenExternal.set(k, row);
      }

      // Steps: a change goes to the effective entry (the lock's own, else its model's, else a new model entry).
      const stepsCell = get('procedure steps');
      if (stepsCell) {
        const { steps, errors: stepErrors } = parseSteps(stepsCell);
        for (const m of stepErrors) bad('procedure steps', m);
        if (!stepErrors.length) {
          const own = current && current.lock.modelId === model.id ? lockEntry.get(current.lock.id) : undefined;
          const eff = own ?? modelEntry.get(model.id);
          // Every row that shares an entry must give the same steps: otherwise which one wins would
          // depend on row order, and importing the sheet again would flip the entry back.
          const k = eff ? `entry:${eff.entry.id}` : `model:${model.id}`;
          const prev = stepRows.get(k);
          if (prev && !stepsEqual(prev.steps, steps)) {
            bad('procedure steps', `row ${prev.row} gives other steps for the same handbook entry (${model.manufacturer} ${model.modelNumber}${own ? `, override for ${current!.lock.name}` : ''}); every lock using that entry must show the same steps, or edit them in the handbook sheet`);
          } else if (!prev) {
            stepRows.set(k, { steps, row });
            const before = eff ? contents.get(eff.entry.id)?.steps : undefined;
            if (!before || !stepsEqual(before, steps)) stepChanges.set(k, { steps, row, entryId: eff?.entry.id ?? null, modelId: model.id });
          }
        }
      }
      if (errors.length > n0) return;

      if (!current) {
        creates.push(newLockRow(this.ctx.ids.uuid(), data, model, now, false));
        return;
      }
      // Only what the sheet has and what differs: a re-imported export writes nothing.
      const l = current.lock;
      const patch: Partial<typeof locksTable.$inferInsert> = {};
      const want: Partial<typeof locksTable.$inferInsert> = { name: data.name, modelId: model.id, locationId: location.id };
      for (const f of ['serial', 'firmware', 'notes', 'installedOn', 'driver', 'externalId', 'credentialStorage', 'mechanicalOverride', 'batteryPercent'] as const) {
        if (input[f] !== undefined) (want as Record<string, unknown>)[f] = data[f];
      }
      if (input.serviceState !== undefined) want.serviceState = data.serviceState;
      for (const [f, v] of Object.entries(want)) if ((l as Record<string, unknown>)[f] !== v) (patch as Record<string, unknown>)[f] = v;
      if (Object.keys(patch).length === 0) {
        unchanged++;
        return;
      }
      if (l.serviceState === 'retired') {
        bad('id', 'this lock is retired; a retired lock cannot be edited');
        return;
      }
      if (patch.batteryPercent !== undefined) patch.batteryReportedAt = now;
      updates.push({ id: l.id, version: l.version, patch: { ...patch, updatedAt: now } });
    });

    if (stepChanges.size && !isAllowed(actor, 'handbook.write')) {
      for (const c of stepChanges.values()) errors.push({ row: c.row, column: 'procedure steps', message: 'changing procedure steps needs permission to edit the handbook' });
    }
    if (errors.length) throw sheetError('inventory', errors);
    const report: ImportReport = { kind: 'inventory', dryRun: opts.dryRun ?? false, rows, created: creates.length, updated: updates.length, unchanged, revisions: stepChanges.size, actor: actorLabel(actor) };
    if (opts.dryRun) return report;

    await inTransaction(db, async (tx) => {
      const repo = new LockRepository(tx);
      await repo.insertMany(creates);
      for (const u of updates) {
        if (!(await repo.updateAtVersion(u.id, u.version, u.patch))) {
          throw new AppError('lock.version_conflict', 'a lock in the sheet was changed by someone else during the import; nothing was imported; try again');
        }
      }
      const handbook = new HandbookService({ ...this.ctx, db: tx });
      for (const c of stepChanges.values()) await this.writeSteps(tx, handbook, actor, c, contents, cat);
      await this.ctx.audit.append(tx, { actor, action: 'import.inventory', target: { type: 'import', id: 'inventory' }, details: { rows, created: creates.length, updated: updates.length, unchanged, revisions: stepChanges.size } });
    });
    const saved = [...creates.map((c) => c.id), ...updates.map((u) => u.id)];
    if (saved.length) await this.ctx.hooks?.locksSaved?.(saved);
    return report;
  }

  private async writeSteps(tx: Db, handbook: HandbookService, actor: Actor, c: { steps: Step[]; entryId: string | null; modelId: string }, contents: Map<string, HandbookContent>, cat: Catalogue) {
    if (c.entryId) {
      const row = await new HandbookRepository(tx).byId(c.entryId);
      const content = contents.get(c.entryId)!;
      await handbook.save(actor, c.entryId, { content: { ...content, steps: c.steps }, reason: IMPORT_REASON, expectedRevision: row!.entry.currentRevision });
    } else {
      const m = cat.modelsById.get(c.modelId)!;
      await handbook.create(actor, { modelId: c.modelId, content: { title: `${m.manufacturer} ${m.modelNumber} reset`, steps: c.steps }, reason: IMPORT_REASON });
    }
  }

  // --- handbook import ----------------------------------------------------------------------------

  /**
   * Imports handbook entries: matched by id, else by model (and `lock id` for an override). Title,
   * summary, steps, estimated minutes, tools, warnings, resources and contacts come from the sheet
   * (columns left out keep their value). A change is a new revision with reason
   * "import"; a `revision` cell older than the entry's current revision is a conflict (someone saved
   * since the export). `last verified`, `verified by` and `lock` are read-only.
   */
  async importHandbook(actor: Actor, table: Table, opts: { dryRun?: boolean | undefined } = {}): Promise<ImportReport> {
    authorize(actor, 'handbook.write');
    const { index, errors } = mapHeaders(table.headers, HANDBOOK_COLUMNS, HANDBOOK_REQUIRED);
    if (errors.length) throw sheetError('handbook', errors);
    const db = this.ctx.db;
    const cat = await this.catalogue(db);
    const all = await new HandbookRepository(db).list();
    const contents = await new HandbookRepository(db).currentContents();
    const byId = new Map(all.map((e) => [e.entry.id, e]));
    const byTarget = new Map(all.map((e) => [key(e.entry.modelId, e.entry.lockId ?? ''), e]));
    const lockModel = new Map((await new LockRepository(db).all({ includeRetired: true })).map((l) => [l.lock.id, l.lock.modelId]));
    const plan: { row: number; entryId: string | null; modelId: string; lockId: string | null; content: HandbookContent; revision: number | null }[] = [];
    const seen = new Map<string, number>();
    let rows = 0;
    let unchanged = 0;

    table.rows.forEach((cells, i) => {
      const row = i + 2;
      if (cells.every((c) => !c.trim())) return;
      rows++;
      const bad = (column: HandbookColumn, message: string) => errors.push({ row, column, message });
      const get = (c: HandbookColumn): string | undefined => (index.has(c) ? (cells[index.get(c)!] ?? '').trim() : undefined);
      const n0 = errors.length;
      const manufacturer = get('manufacturer') ?? '';
      const modelNumber = get('model number') ?? '';
      const model = cat.models.get(key(manufacturer, modelNumber));
      if (!manufacturer) bad('manufacturer', 'manufacturer is required');
      if (!modelNumber) bad('model number', 'model number is required');
      if (manufacturer && modelNumber && !model) bad('model number', `no model "${manufacturer} ${modelNumber}" in the catalogue; add it first`);
      const lockId = get('lock id') || null;
      if (lockId && model) {
        const m = lockModel.get(lockId);
        if (!m) bad('lock id', `no lock with id ${lockId}`);
        else if (m !== model.id) bad('lock id', 'this lock is of another model; an override is for a lock of the entry’s model');
      }
      let existing: EntryRow | undefined;
      const id = get('id');
      if (id) {
        existing = byId.get(id);
        if (!existing) bad('id', `no handbook entry with id ${id}; leave id empty to add an entry`);
        else if (model && (existing.entry.modelId !== model.id || existing.entry.lockId !== lockId)) bad('id', 'this entry is for another model or lock; an entry’s model and lock cannot be changed from a sheet');
      } else if (model) existing = byTarget.get(key(model.id, lockId ?? ''));
      if (model) {
        const t = key(model.id, lockId ?? '');
        const dup = seen.get(t);
        if (dup) bad(lockId ? 'lock id' : 'model number', `row ${dup} is already the entry for this ${lockId ? 'lock' : 'model'}`);
        seen.set(t, row);
      }
      const { steps, errors: stepErrors } = parseSteps(get('procedure steps') ?? '');
      for (const m of stepErrors) bad('procedure steps', m);
      const base: HandbookContent | undefined = existing ? contents.get(existing.entry.id) : undefined;
      const content: Record<string, unknown> = { ...(base ?? { title: model ? `${model.manufacturer} ${model.modelNumber} reset` : 'reset' }), steps };
      const title = get('title');
      if (title) content.title = title;
      else if (title === '' && !base) bad('title', 'title is required for a new entry');
      const minutes = get('estimated minutes');
      if (minutes !== undefined) {
        const n = Number(minutes);
        if (minutes === '') content.estimatedMinutes = null;
        else if (!Number.isInteger(n) || n < 1 || n > 1440) bad('estimated minutes', `"${minutes}" is not a whole number of minutes from 1 to 1440`);
        else content.estimatedMinutes = n;
      }
      const tools = get('tools');
      if (tools !== undefined) content.tools = cellLines(tools);
      const warnings = get('warnings');
      if (warnings !== undefined) {
        const list: SafetyWarning[] = [];
        for (const line of cellLines(warnings)) {
          const m = /^([a-z_]+)\s*:\s*(.+)$/i.exec(line);
          const kind = m?.[1]?.toLowerCase();
          if (!m || !kind || !(WARNING_KINDS as readonly string[]).includes(kind)) bad('warnings', `"${line}": write each warning as "kind: text" with kind one of ${WARNING_KINDS.join(', ')}`);
          else list.push({ kind: kind as SafetyWarning['kind'], text: m[2]!.trim() });
        }
        content.warnings = list;
      }
      const summary = get('summary');
      if (summary !== undefined) content.summary = summary;
      for (const [column, parse] of [
        ['resources', parseResources],
        ['contacts', parseContacts],
      ] as const) {
        const cell = get(column);
        if (cell === undefined) continue;
        const { items, errors: listErrors } = parse(cell);
        for (const m of listErrors) bad(column, m);
        content[column] = items;
      }
      const generic = get('generic');
      if (generic) {
        const b = parseYesNo(generic);
        if (b === undefined || b === null) bad('generic', `"${generic}" is not yes or no`);
        else content.generic = b;
      }
      const verified = get('last verified');
      if (verified && !isRealDate(verified)) bad('last verified', `"${verified}" is not a real date; use YYYY-MM-DD`);
      const revCell = get('revision');
      let revision: number | null = null;
      if (revCell) {
        const n = Number(revCell);
        if (!Number.isInteger(n) || n < 1) bad('revision', `"${revCell}" is not a revision number`);
        else revision = n;
      }
      if (errors.length > n0 || !model) return;
      const parsed = HandbookContentSchema.safeParse(content);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const [field = '', item] = issue.path;
          const which = typeof item === 'number' ? `${ITEM_NAMES[String(field)] ?? 'item'} ${item + 1}: ` : '';
          bad(columnOfContent(String(field)), `${which}${issue.message}`);
        }
        return;
      }
      if (existing && base && isDeepStrictEqual(parsed.data, base)) {
        unchanged++;
        return;
      }
      if (existing && revision !== null && revision !== existing.entry.currentRevision) {
        bad('revision', `the entry is at revision ${existing.entry.currentRevision} now, not ${revision}: someone saved it since this sheet was exported; export again and redo the change`);
        return;
      }
      plan.push({ row, entryId: existing?.entry.id ?? null, modelId: model.id, lockId, content: parsed.data, revision: existing?.entry.currentRevision ?? null });
    });

    if (errors.length) throw sheetError('handbook', errors);
    const created = plan.filter((p) => !p.entryId).length;
    const report: ImportReport = { kind: 'handbook', dryRun: opts.dryRun ?? false, rows, created, updated: plan.length - created, unchanged, revisions: plan.length, actor: actorLabel(actor) };
    if (opts.dryRun) return report;
    await inTransaction(db, async (tx) => {
      const handbook = new HandbookService({ ...this.ctx, db: tx });
      for (const p of plan) {
        if (p.entryId) await handbook.save(actor, p.entryId, { content: p.content, reason: IMPORT_REASON, expectedRevision: p.revision! });
        else await handbook.create(actor, { modelId: p.modelId, lockId: p.lockId, content: p.content, reason: IMPORT_REASON });
      }
      await this.ctx.audit.append(tx, { actor, action: 'import.handbook', target: { type: 'import', id: 'handbook' }, details: { rows, created, updated: plan.length - created, unchanged } });
    });
    return report;
  }

  // --- shared -------------------------------------------------------------------------------------

  private async catalogue(db: Db): Promise<Catalogue> {
    const locations = await new LocationRepository(db).all();
    const byId = new Map(locations.map((l) => [l.id, l]));
    const byPath = new Map<string, Location>();
    const byShortPath = new Map<string, Location[]>();
    for (const l of locations) {
      const names = l.path.split('/').filter(Boolean).map((id) => byId.get(id)?.name ?? '?');
      byPath.set(key(...names), l);
      if (names.length > 1) {
        const short = key(...names.slice(1));
        byShortPath.set(short, [...(byShortPath.get(short) ?? []), l]);
      }
    }
    const models = await new LockModelRepository(db).all();
    return { locations, byId, byPath, byShortPath, models: new Map(models.map((m) => [key(m.manufacturer, m.modelNumber), m])), modelsById: new Map(models.map((m) => [m.id, m])) };
  }

  private pathOf(cat: Catalogue, locationId: string): string {
    const loc = cat.byId.get(locationId);
    if (!loc) return '';
    return loc.path
      .split('/')
      .filter(Boolean)
      .map((id) => cat.byId.get(id)?.name ?? '?')
      .join(LOCATION_SEPARATOR);
  }

  /** A location from its path of names (from the root, or from below the organisation when that is unique). */
  private resolveLocation(cat: Catalogue, cell: string, bad: (message: string) => void): Location | null {
    const parts = locationParts(cell);
    if (parts.length === 0) {
      bad('location is required, as a path of names ("Harbour View Apartments/Building A/Floor 1/Unit A101")');
      return null;
    }
    const k = key(...parts);
    const found = cat.byPath.get(k) ?? (cat.byShortPath.get(k)?.length === 1 ? cat.byShortPath.get(k)![0] : undefined);
    if (found) {
      if (found.kind === 'organisation') {
        bad('a lock is installed at a site or below, not on the organisation');
        return null;
      }
      return found;
    }
    if ((cat.byShortPath.get(k)?.length ?? 0) > 1) {
      bad(`"${cell}" names ${cat.byShortPath.get(k)!.length} places; give the full path from the organisation`);
      return null;
    }
    // Say how far the path matched, so the missing part is obvious.
    let depth = 0;
    for (let n = parts.length - 1; n >= 1; n--) {
      const p = key(...parts.slice(0, n));
      if (cat.byPath.has(p) || cat.byShortPath.get(p)?.length === 1) {
        depth = n;
        break;
      }
    }
    bad(
      depth
        ? `no location "${cell}": "${parts.slice(0, depth).join(LOCATION_SEPARATOR)}" exists but has no "${parts[depth]}" inside; add the location first (locations are not created from a sheet)`
        : `no location "${cell}"; its first part "${parts[0]}" is not a location here`,
    );
    return null;
  }

  private async entries(db: Db) {
    const rows = await new HandbookRepository(db).list();
    const contents = await new HandbookRepository(db).currentContents();
    return {
      modelEntry: new Map(rows.filter((e) => e.entry.lockId === null).map((e) => [e.entry.modelId, e])),
      lockEntry: new Map(rows.filter((e) => e.entry.lockId !== null).map((e) => [e.entry.lockId!, e])),
      contents,
    };
  }
}

const FIELD_COLUMNS: Record<string, InventoryColumn> = {
  name: 'name',
  modelId: 'model number',
  locationId: 'location',
  serial: 'serial',
  firmware: 'firmware',
  installedOn: 'installed on',
  driver: 'driver',
  externalId: 'external id',
  credentialStorage: 'credential storage',
  mechanicalOverride: 'mechanical override',
  batteryPercent: 'battery %',
  serviceState: 'service state',
  notes: 'notes',
};
function columnOfField(field: string): InventoryColumn {
  return FIELD_COLUMNS[field] ?? 'name';
}
const ITEM_NAMES: Record<string, string> = { steps: 'step', tools: 'tool', warnings: 'warning', resources: 'resource', contacts: 'contact' };
function columnOfContent(field: string): HandbookColumn {
  const map: Record<string, HandbookColumn> = {
    title: 'title',
    summary: 'summary',
    steps: 'procedure steps',
    estimatedMinutes: 'estimated minutes',
    tools: 'tools',
    warnings: 'warnings',
    resources: 'resources',
    contacts: 'contacts',
    generic: 'generic',
  };
  return map[field] ?? 'title';
}
