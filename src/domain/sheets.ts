/**
 * Spreadsheet round trip (brief, capability 1; seed 004: "a spreadsheet with columns for location,
 * manufacturer, model number, procedure steps, and last-verified date"). Pure rules shared by CSV and
 * XLSX: the columns of each sheet, procedure steps as numbered plain text and back, how cells that a
 * spreadsheet program would run as formulas are written, and the per-row error a bad file reports.
 */
import { RESOURCE_TIERS, STEP_KINDS, StepSchema, type KeyContact, type Resource, type Step, type StepKind } from './handbook.js';

/** A sheet as files carry it: a header row and rows of text cells (every cell a string). */
export interface Table {
  headers: string[];
  rows: string[][];
}

export const SHEET_FORMATS = ['csv', 'xlsx'] as const;
export type SheetFormat = (typeof SHEET_FORMATS)[number];
export const SHEET_KINDS = ['inventory', 'handbook'] as const;
export type SheetKind = (typeof SHEET_KINDS)[number];

export const SHEET_CONTENT_TYPES: Record<SheetFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** Most rows one import takes (a larger fleet imports in parts); keeps memory and one transaction bounded. */
export const MAX_IMPORT_ROWS = 20_000;
/** Largest file an import accepts. */
export const MAX_IMPORT_BYTES = 10 * 1024 * 1024;
/** Errors listed in full; beyond this the report says how many more there were. */
export const MAX_LISTED_ERRORS = 500;

/**
 * Inventory columns, in export order. The first five are seed 004's; `procedure steps` and
 * `last verified` come from the lock's effective handbook entry (its own override, else its model's).
 */
export const INVENTORY_COLUMNS = [
  'id',
  'location',
  'name',
  'manufacturer',
  'model number',
  'procedure steps',
  'last verified',
  'serial',
  'firmware',
  'installed on',
  'driver',
  'external id',
  'credential storage',
  'mechanical override',
  'battery %',
  'service state',
  'notes',
] as const;
export type InventoryColumn = (typeof INVENTORY_COLUMNS)[number];
export const INVENTORY_REQUIRED: InventoryColumn[] = ['location', 'name', 'manufacturer', 'model number'];

/** Handbook columns: one row per entry (a model's, or an override for one lock). Secrets never appear. */
export const HANDBOOK_COLUMNS = [
  'id',
  'manufacturer',
  'model number',
  'lock id',
  'lock',
  'title',
  'revision',
  'procedure steps',
  'estimated minutes',
  'tools',
  'warnings',
  'summary',
  'resources',
  'contacts',
  'last verified',
  'verified by',
  'generic',
] as const;
export type HandbookColumn = (typeof HANDBOOK_COLUMNS)[number];
export const HANDBOOK_REQUIRED: HandbookColumn[] = ['manufacturer', 'model number', 'procedure steps'];

/** Where a row of a file is wrong: the row number a spreadsheet program shows (header = 1) and the column header. */
export interface SheetRowError {
  row: number;
  column: string;
  message: string;
}

/** What an import did (or, on a dry run, would do). */
export interface ImportReport {
  kind: SheetKind;
  dryRun: boolean;
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Handbook revisions written (a changed step list is a new revision with reason "import"). */
  revisions: number;
  actor: string;
}

/** Path separator of the location column: "Harbour View Apartments/Building A/Floor 1/Unit A101". */
export const LOCATION_SEPARATOR = '/';

// --- cells that spreadsheet programs would run --------------------------------------------------

/**
 * A text cell starting with one of these is taken as a formula by spreadsheet programs opening a CSV
 * (CSV injection, OWASP): on export such a cell is written with a leading apostrophe, which programs
 * show as text; on import that apostrophe is taken off again.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function escapeCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

export function unescapeCell(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value;
}

// --- procedure steps as numbered plain text ------------------------------------------------------

const KIND_TAGS: Record<StepKind, string> = { press: 'press', hold: 'hold', sequence: 'sequence', wait_indicator: 'wait', verify: 'verify', other: 'other' };
const TAG_KINDS = new Map<string, StepKind>(Object.entries(KIND_TAGS).map(([k, t]) => [t, k as StepKind]));

/** "[hold 10s]", "[sequence: * 1 2 3 #]", "[wait 30s]", "[press]". */
function stepTag(s: Step): string {
  const tag = KIND_TAGS[s.kind];
  if (s.kind === 'sequence') return `[${tag}: ${s.sequence ?? ''}]`;
  return s.seconds !== undefined ? `[${tag} ${s.seconds}s]` : `[${tag}]`;
}

/**
 * Steps as people write them in a cell: one numbered line per step, the kind in brackets. A step's
 * text that runs over several lines continues on unnumbered lines.
 *   1. [hold 10s] Hold the interior button until the light flashes
 *   2. [sequence: 1 2 3] Enter the sequence
 */
export function formatSteps(steps: Step[]): string {
  return steps.map((s, i) => `${i + 1}. ${stepTag(s)} ${s.text}`).join('\n');
}

const STEP_LINE = /^\s*(\d+)[.)]\s+(?:\[([^\]]*)\]\s*)?(.*)$/;
const TAG = /^\s*([a-z_]+)(?:\s+(\d+)\s*s(?:ec(?:onds?)?)?)?\s*(?::\s*(.*))?$/i;

/** Parses a steps cell back into steps, or says what is wrong with it (one message per problem). */
export function parseSteps(cell: string): { steps: Step[]; errors: string[] } {
  const lines = cell.replace(/\r\n?/g, '\n').split('\n');
  const raw: { n: number; tag: string | undefined; text: string }[] = [];
  const errors: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const m = STEP_LINE.exec(line);
    if (m) raw.push({ n: Number(m[1]), tag: m[2], text: m[3] ?? '' });
    else if (raw.length) raw[raw.length - 1]!.text += `\n${line}`;
    else errors.push(`line ${i + 1} should start with a step number ("1. [press] Press the reset button")`);
  }
  if (raw.length === 0 && errors.length === 0) errors.push('add at least one numbered step ("1. [press] Press the reset button")');
  const steps: Step[] = [];
  raw.forEach((r, i) => {
    if (r.n !== i + 1) errors.push(`steps must be numbered 1, 2, 3 in order: step ${i + 1} is numbered ${r.n}`);
    let kind: StepKind = 'other';
    let seconds: number | undefined;
    let sequence: string | undefined;
    if (r.tag !== undefined) {
      const t = TAG.exec(r.tag);
      const word = t?.[1]?.toLowerCase() ?? '';
      const k = TAG_KINDS.get(word) ?? ((STEP_KINDS as readonly string[]).includes(word) ? (word as StepKind) : undefined);
      if (!t || !k) {
        errors.push(`step ${i + 1}: unknown kind "[${r.tag}]"; use [press], [hold 10s], [sequence: 1 2 3], [wait 30s], [wait], [verify] or [other]`);
        return;
      }
      kind = k;
      if (t[2] !== undefined) seconds = Number(t[2]);
      if (t[3] !== undefined && t[3].trim()) sequence = t[3].trim();
    }
    const step = { kind, text: r.text.trim(), ...(seconds !== undefined ? { seconds } : {}), ...(sequence !== undefined ? { sequence } : {}) };
    const parsed = StepSchema.safeParse(step);
    if (parsed.success) steps.push(parsed.data);
    else for (const issue of parsed.error.issues) errors.push(`step ${i + 1}: ${issue.message}`);
  });
  return { steps, errors };
}

// --- small cell readers --------------------------------------------------------------------------

/** A calendar date as YYYY-MM-DD that exists (no 30 February). */
export function isRealDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}

/** yes/no cells: true, false, yes, no, 1, 0 (any case); empty is `null`; anything else `undefined`. */
export function parseYesNo(s: string): boolean | null | undefined {
  const v = s.trim().toLowerCase();
  if (v === '') return null;
  if (['true', 'yes', 'y', '1'].includes(v)) return true;
  if (['false', 'no', 'n', '0'].includes(v)) return false;
  return undefined;
}

/** Splits a location path cell into names ("A / B/C" -> ["A", "B", "C"]). */
export function locationParts(cell: string): string[] {
  return cell
    .split(LOCATION_SEPARATOR)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Lines of a multi-value cell (tools, warnings): one value per line, blank lines ignored. */
export function cellLines(cell: string): string[] {
  return cell
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Maps a file's header row to known columns: case and spaces do not matter; an unknown or repeated
 * header is an error (a typo would otherwise silently drop a column), and so is a missing required one.
 */
export function mapHeaders<C extends string>(headers: string[], known: readonly C[], required: readonly C[]): { index: Map<C, number>; errors: SheetRowError[] } {
  const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');
  const index = new Map<C, number>();
  const errors: SheetRowError[] = [];
  headers.forEach((h, i) => {
    const n = norm(h);
    if (!n) return;
    const col = known.find((k) => k === n);
    if (!col) errors.push({ row: 1, column: h, message: `unknown column "${h}"; the columns are: ${known.join(', ')}` });
    else if (index.has(col)) errors.push({ row: 1, column: h, message: `column "${h}" appears twice` });
    else index.set(col, i);
  });
  for (const r of required) if (!index.has(r)) errors.push({ row: 1, column: r, message: `the column "${r}" is required` });
  return { index, errors };
}

// --- resources and contacts: one per line, parts after the first named ---------------------------

/*
 * A resource per line: "tier: label | url: https://… | phone: … | hours: …"; a contact per line:
 * "name | role: … | phone: … | email: …". Parts other than the first are named, so a blank one is
 * simply left out and their order does not matter. A "|" or "\" inside a value is written "\|" or
 * "\\", so export then import gives the same values back.
 */
const escapePart = (v: string) => v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');

function splitParts(line: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\' && i + 1 < line.length) cur += line[++i];
    else if (ch === '|') {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  parts.push(cur.trim());
  return parts;
}

function namedParts<K extends string>(parts: string[], names: readonly K[], line: string, errors: string[]): Partial<Record<K, string>> | null {
  const out: Partial<Record<K, string>> = {};
  for (const part of parts) {
    if (!part) continue;
    const m = /^([a-z]+)\s*:\s*(.*)$/i.exec(part);
    const name = m?.[1]?.toLowerCase() as K | undefined;
    if (!m || !name || !names.includes(name)) {
      errors.push(`"${line}": "${part}" should start with one of ${names.map((n) => `${n}:`).join(', ')}`);
      return null;
    }
    if (out[name] !== undefined) {
      errors.push(`"${line}": ${name} is given twice`);
      return null;
    }
    if (m[2]!.trim()) out[name] = m[2]!.trim();
  }
  return out;
}

export function formatResources(list: Resource[]): string {
  return list
    .map((r) => [`${r.tier}: ${escapePart(r.label)}`, r.url && `url: ${escapePart(r.url)}`, r.phone && `phone: ${escapePart(r.phone)}`, r.hours && `hours: ${escapePart(r.hours)}`].filter(Boolean).join(' | '))
    .join('\n');
}

/** Reads a resources cell; each item is still checked by the entry's schema afterwards. */
export function parseResources(cell: string): { items: Record<string, string>[]; errors: string[] } {
  const items: Record<string, string>[] = [];
  const errors: string[] = [];
  for (const line of cellLines(cell)) {
    const [first = '', ...rest] = splitParts(line);
    const m = /^([a-z]+)\s*:\s*(.+)$/i.exec(first);
    const tier = m?.[1]?.toLowerCase();
    if (!m || !tier || !(RESOURCE_TIERS as readonly string[]).includes(tier)) {
      errors.push(`"${line}": start with the tier (${RESOURCE_TIERS.join(', ')}), a colon and the label, e.g. "support: Helpline | phone: +1 555 0100 | hours: Mon-Fri 9-17"`);
      continue;
    }
    const named = namedParts(rest, ['url', 'phone', 'hours'] as const, line, errors);
    if (named) items.push({ tier, label: m[2]!.trim(), ...named });
  }
  return { items, errors };
}

export function formatContacts(list: KeyContact[]): string {
  return list
    .map((c) => [escapePart(c.name), c.role && `role: ${escapePart(c.role)}`, c.phone && `phone: ${escapePart(c.phone)}`, c.email && `email: ${escapePart(c.email)}`].filter(Boolean).join(' | '))
    .join('\n');
}

/** Reads a contacts cell; each item is still checked by the entry's schema afterwards. */
export function parseContacts(cell: string): { items: Record<string, string>[]; errors: string[] } {
  const items: Record<string, string>[] = [];
  const errors: string[] = [];
  for (const line of cellLines(cell)) {
    const [name = '', ...rest] = splitParts(line);
    if (!name) {
      errors.push(`"${line}": start with the contact's name, e.g. "Dana Reyes | role: site manager | phone: +1 555 0100"`);
      continue;
    }
    const named = namedParts(rest, ['role', 'phone', 'email'] as const, line, errors);
    if (named) items.push({ name, ...named });
  }
  return { items, errors };
}

/** The format a file name's extension says (".csv", ".xlsx"), if any. */
export function formatOfName(name: string): SheetFormat | undefined {
  const m = /\.(csv|xlsx)$/i.exec(name);
  return m ? (m[1]!.toLowerCase() as SheetFormat) : undefined;
}
