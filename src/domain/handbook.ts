/**
 * The reset handbook (brief, capability 2; seed 004): one entry per lock model, optionally overridden
 * for one installed lock. An entry's content is structured (numbered steps with a kind, warnings,
 * three tiers of resources, contacts), every save is an immutable revision, and verification has a
 * window after which the entry is stale. Sensitive values live beside the content as secrets, never
 * inside it, so revisions, diffs and search never carry them.
 */
import { diffArrays, diffWords } from 'diff';
import { z } from 'zod';

/** What a step asks of the person at the door. */
export const STEP_KINDS = ['press', 'hold', 'sequence', 'wait_indicator', 'verify', 'other'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const STEP_KIND_LABELS: Record<StepKind, string> = {
  press: 'Press',
  hold: 'Hold',
  sequence: 'Enter a sequence',
  wait_indicator: 'Wait for the indicator',
  verify: 'Verify',
  other: 'Other',
};

export const WARNING_KINDS = ['alarm_may_trigger', 'lock_out_of_service', 'notify_monitoring', 'notify_occupants', 'other'] as const;
export type WarningKind = (typeof WARNING_KINDS)[number];

/** Seed 004's three-tier resource system: manufacturer first, then community, then the support line. */
export const RESOURCE_TIERS = ['manufacturer', 'community', 'support'] as const;
export type ResourceTier = (typeof RESOURCE_TIERS)[number];

export const SECRET_KINDS = ['master_code', 'programming_code', 'installer_code', 'reset_card_number', 'other'] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];

export const SECRET_KIND_LABELS: Record<SecretKind, string> = {
  master_code: 'Master code',
  programming_code: 'Programming code',
  installer_code: 'Installer code',
  reset_card_number: 'Reset card number',
  other: 'Other secret',
};

/** Days an entry stays trusted after it was verified, unless the entry sets its own window. */
export const DEFAULT_VERIFICATION_WINDOW_DAYS = 180;

/** Size limits, so one entry cannot grow without bound (and an export stays printable). */
export const HANDBOOK_LIMITS = { steps: 60, stepText: 1000, list: 30, text: 4000, title: 200 } as const;

const line = (what: string, max = 300) => z.string().trim().min(1, `${what} is required`).max(max, `${what} is at most ${max} characters`);
const optionalLine = (max = 300) => z.string().trim().max(max, `at most ${max} characters`).optional();
const url = z
  .string()
  .trim()
  .max(500)
  .refine((s) => /^https?:\/\/[^\s]+$/i.test(s), 'use an http(s) address');

export const StepSchema = z
  .object({
    kind: z.enum(STEP_KINDS, { error: `choose one of ${STEP_KINDS.join(', ')}` }),
    text: line('step text', HANDBOOK_LIMITS.stepText),
    /** How long to hold, or the longest wait for an indicator. */
    seconds: z.number({ error: 'seconds must be a number' }).int('seconds must be whole').min(1, 'at least 1 second').max(3600, 'at most 3600 seconds').optional(),
    /** What to key in, for a sequence step ("* + master code + #"). */
    sequence: optionalLine(200),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.seconds !== undefined && s.kind !== 'hold' && s.kind !== 'wait_indicator') {
      ctx.addIssue({ code: 'custom', path: ['seconds'], message: 'only hold and wait_indicator steps take seconds' });
    }
    if (s.kind === 'hold' && s.seconds === undefined) ctx.addIssue({ code: 'custom', path: ['seconds'], message: 'say how many seconds to hold' });
    if (s.kind === 'sequence' && !s.sequence) ctx.addIssue({ code: 'custom', path: ['sequence'], message: 'a sequence step needs the sequence to enter' });
    if (s.sequence !== undefined && s.kind !== 'sequence') ctx.addIssue({ code: 'custom', path: ['sequence'], message: 'only sequence steps take a sequence' });
  });
export type Step = z.infer<typeof StepSchema>;

export const WarningSchema = z.object({ kind: z.enum(WARNING_KINDS, { error: `choose one of ${WARNING_KINDS.join(', ')}` }), text: line('warning text', 1000) }).strict();
export type SafetyWarning = z.infer<typeof WarningSchema>;

export const ResourceSchema = z
  .object({
    tier: z.enum(RESOURCE_TIERS, { error: `choose one of ${RESOURCE_TIERS.join(', ')}` }),
    label: line('label', 200),
    url: url.optional(),
    phone: optionalLine(60),
    /** Opening hours of a support line, as people write them ("Mon-Fri 08:00-18:00 CET"). */
    hours: optionalLine(200),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.tier === 'support' && !r.phone && !r.url) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'a support resource needs a phone number or an address' });
    if (r.tier !== 'support' && !r.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'a manufacturer or community resource needs an address' });
  });
export type Resource = z.infer<typeof ResourceSchema>;

export const ContactSchema = z
  .object({ name: line('contact name', 200), role: optionalLine(200), phone: optionalLine(60), email: z.string().trim().email('enter an email address').max(200).optional() })
  .strict();
export type KeyContact = z.infer<typeof ContactSchema>;

const listOf = <T extends z.ZodType>(item: T, what: string, max: number = HANDBOOK_LIMITS.list) => z.array(item).max(max, `at most ${max} ${what}`).default([]);

/** What one revision holds: everything about the procedure except its secrets. */
export const HandbookContentSchema = z
  .object({
    title: line('title', HANDBOOK_LIMITS.title),
    summary: z.string().trim().max(HANDBOOK_LIMITS.text, `summary is at most ${HANDBOOK_LIMITS.text} characters`).default(''),
    steps: z.array(StepSchema).min(1, 'add at least one step').max(HANDBOOK_LIMITS.steps, `at most ${HANDBOOK_LIMITS.steps} steps`),
    estimatedMinutes: z.number({ error: 'estimatedMinutes must be a number' }).int().min(1, 'at least 1 minute').max(1440, 'at most 1440 minutes').nullable().default(null),
    tools: listOf(line('tool', 200), 'tools and materials'),
    warnings: listOf(WarningSchema, 'warnings'),
    resources: listOf(ResourceSchema, 'resources'),
    contacts: listOf(ContactSchema, 'contacts'),
    /** A template by family: to be confirmed against the manufacturer's instructions. */
    generic: z.boolean().default(false),
  })
  .strict();
export type HandbookContent = z.infer<typeof HandbookContentSchema>;

const reason = z.string({ error: 'say why (reason is required)' }).trim().min(3, 'say why (at least 3 characters)').max(500, 'reason is at most 500 characters');
const windowDays = z.number().int().min(1, 'at least 1 day').max(3650, 'at most 3650 days');

export const HandbookEntryCreateSchema = z
  .object({
    modelId: z.string().uuid('choose a model from the catalogue'),
    /** Set for an override that applies to one installed lock only. */
    lockId: z.string().uuid('choose a lock').nullable().default(null),
    content: HandbookContentSchema,
    reason: reason.default('first version'),
    verificationWindowDays: windowDays.default(DEFAULT_VERIFICATION_WINDOW_DAYS),
  })
  .strict();
export type HandbookEntryCreate = z.infer<typeof HandbookEntryCreateSchema>;

export const HandbookSaveSchema = z
  .object({
    content: HandbookContentSchema,
    reason,
    /** The revision the editor started from; a save based on an older one is a conflict. */
    expectedRevision: z.number({ error: 'expectedRevision is required' }).int().min(1),
    verificationWindowDays: windowDays.optional(),
  })
  .strict();
export type HandbookSave = z.infer<typeof HandbookSaveSchema>;

export const HandbookVerifySchema = z
  .object({ revision: z.number().int().min(1).optional(), note: z.string().trim().max(1000).default('') })
  .strict();

export const HandbookFilterSchema = z
  .object({
    manufacturer: z.string().trim().max(120).optional(),
    modelId: z.string().uuid().optional(),
    lockId: z.string().uuid().optional(),
    siteId: z.string().uuid().optional(),
    status: z.enum(['current', 'stale', 'never_verified']).optional(),
  })
  .strict();
export type HandbookFilter = z.infer<typeof HandbookFilterSchema>;

export const HandbookSearchSchema = z
  .object({ q: z.string().trim().min(1, 'type something to search for').max(200), limit: z.coerce.number().int().min(1).max(100).default(20) })
  .strict();

export const SecretCreateSchema = z
  .object({
    kind: z.enum(SECRET_KINDS, { error: `choose one of ${SECRET_KINDS.join(', ')}` }),
    label: z.string().trim().max(120).default(''),
    value: z.string({ error: 'value is required' }).min(1, 'value is required').max(500, 'value is at most 500 characters'),
  })
  .strict();

export const SecretRevealSchema = z.object({ reason }).strict();

export const ApplyTemplateSchema = z
  .object({ modelId: z.string().uuid('choose a model from the catalogue'), family: z.string().optional(), reason: reason.default('generic template applied') })
  .strict();

/** Where an entry stands against its verification window. */
export type VerificationStatus = 'current' | 'stale' | 'never_verified';

/** Current, stale (window passed since the last verification) or never verified. */
export function verificationStatus(verifiedAt: Date | null, windowDays: number, now: Date): { status: VerificationStatus; dueAt: Date | null } {
  if (!verifiedAt) return { status: 'never_verified', dueAt: null };
  const dueAt = new Date(verifiedAt.getTime() + windowDays * 86_400_000);
  return { status: now.getTime() >= dueAt.getTime() ? 'stale' : 'current', dueAt };
}

/** A secret as lists and entries show it: what it is, never its value. */
export interface MaskedSecret {
  id: string;
  kind: SecretKind;
  label: string;
  masked: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The mask shown in place of every secret value; the same length whatever the value, so it leaks nothing. */
export const SECRET_MASK = '••••••';

export interface RevisionMeta {
  revision: number;
  authorId: string;
  authorLabel: string;
  reason: string;
  createdAt: Date;
}

/** An entry as list views show it: no steps, no secrets. */
export interface HandbookEntrySummary {
  id: string;
  modelId: string;
  manufacturer: string;
  modelNumber: string;
  family: string;
  lockId: string | null;
  lockName: string | null;
  siteId: string | null;
  title: string;
  generic: boolean;
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  verificationWindowDays: number;
  verifiedAt: Date | null;
  verifiedBy: string | null;
  verifiedRevision: number | null;
  status: VerificationStatus;
  dueAt: Date | null;
}

/** An entry opened: its current content, the revision it is at, and its secrets masked. */
export interface HandbookEntry extends HandbookEntrySummary {
  content: HandbookContent;
  lastRevision: RevisionMeta;
  secrets: MaskedSecret[];
}

/** One piece of a text diff: added, removed or kept. */
export interface TextChange {
  value: string;
  added?: boolean;
  removed?: boolean;
}

export interface FieldDiff {
  field: string;
  before: unknown;
  after: unknown;
  /** Word-level changes when both sides are text. */
  text?: TextChange[];
}

export type StepDiff =
  | { op: 'same'; before: number; after: number; step: Step }
  | { op: 'added'; after: number; step: Step }
  | { op: 'removed'; before: number; step: Step }
  | { op: 'changed'; before: number; after: number; from: Step; to: Step; fields: FieldDiff[] };

export interface ContentDiff {
  from: number;
  to: number;
  fields: FieldDiff[];
  steps: StepDiff[];
  /** True when nothing differs. */
  same: boolean;
}

const FIELD_ORDER = ['title', 'summary', 'estimatedMinutes', 'generic', 'tools', 'warnings', 'resources', 'contacts'] as const;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function fieldDiff(field: string, before: unknown, after: unknown): FieldDiff {
  const d: FieldDiff = { field, before, after };
  if (typeof before === 'string' && typeof after === 'string') d.text = diffWords(before, after).map(({ value, added, removed }) => ({ value, ...(added ? { added } : {}), ...(removed ? { removed } : {}) }));
  return d;
}

/**
 * Differences between two revisions' contents: field by field, then step by step (steps matched by
 * longest common subsequence; a removal next to an addition of the same kind is shown as one
 * changed step, with its text diffed word by word). Computed on demand, never stored.
 */
export function diffContents(a: HandbookContent, b: HandbookContent, from: number, to: number): ContentDiff {
  const fields: FieldDiff[] = [];
  for (const f of FIELD_ORDER) if (!same(a[f], b[f])) fields.push(fieldDiff(f, a[f], b[f]));
  const steps: StepDiff[] = [];
  let i = 0;
  let j = 0;
  const parts = diffArrays(a.steps, b.steps, { comparator: (x, y) => same(x, y) });
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const next = parts[p + 1];
    if (part.removed && next?.added) {
      // Pair each added step with the next removed step of the same kind (else the next one), in
      // order; removed steps skipped over are removals, added steps left unpaired are additions.
      const removed = part.value;
      const added = next.value;
      let r = 0;
      added.forEach((to, k) => {
        let m = removed.findIndex((st, idx) => idx >= r && st.kind === to.kind);
        if (m === -1) m = r < removed.length ? r : -1;
        if (m === -1) {
          steps.push({ op: 'added', after: j + k + 1, step: to });
          return;
        }
        for (; r < m; r++) steps.push({ op: 'removed', before: i + r + 1, step: removed[r]! });
        const from = removed[m]!;
        const stepFields = (['kind', 'text', 'seconds', 'sequence'] as const).filter((f) => !same(from[f], to[f])).map((f) => fieldDiff(f, from[f] ?? null, to[f] ?? null));
        steps.push({ op: 'changed', before: i + m + 1, after: j + k + 1, from, to, fields: stepFields });
        r = m + 1;
      });
      for (; r < removed.length; r++) steps.push({ op: 'removed', before: i + r + 1, step: removed[r]! });
      i += part.value.length;
      j += next.value.length;
      p++;
    } else if (part.removed) {
      for (const s of part.value) steps.push({ op: 'removed', before: ++i, step: s });
    } else if (part.added) {
      for (const s of part.value) steps.push({ op: 'added', after: ++j, step: s });
    } else {
      for (const s of part.value) steps.push({ op: 'same', before: ++i, after: ++j, step: s });
    }
  }
  return { from, to, fields, steps, same: fields.length === 0 && steps.every((s) => s.op === 'same') };
}

/** Lower-cased letters and digits only: "DB-220W" and "db 220w" are the same model number. */
export function normalizeModelNumber(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The text a search matches an entry by: its model identity, title, summary and step texts (never secrets). */
export function searchText(manufacturer: string, modelNumber: string, content: HandbookContent): string {
  return [manufacturer, modelNumber, normalizeModelNumber(modelNumber), content.title, content.summary, ...content.steps.map((s) => `${s.text} ${s.sequence ?? ''}`), ...content.tools].join('\n');
}

/** What part of the handbook an export covers. */
export const EXPORT_SCOPES = ['all', 'site', 'manufacturer'] as const;
export type ExportScope = (typeof EXPORT_SCOPES)[number];

// Query strings carry "true"/"false": z.coerce.boolean would read "false" as true.
const flag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])], { error: 'use true or false' })
  .transform((v) => v === true || v === 'true' || v === '1')
  .default(false);

/**
 * An export request: the whole handbook, a location subtree (the effective entries of its locks) or
 * one manufacturer; secrets only when asked for explicitly, with a reason (each is recorded as a reveal).
 */
export const HandbookExportSchema = z
  .object({
    scope: z.enum(EXPORT_SCOPES, { error: `choose one of ${EXPORT_SCOPES.join(', ')}` }).default('all'),
    locationId: z.string().uuid('locationId must be a location id').optional(),
    manufacturer: z.string().trim().min(1, 'manufacturer is empty').max(120).optional(),
    includeSecrets: flag,
    reason: z.string().trim().min(3, 'say why (at least 3 characters)').max(500, 'reason is at most 500 characters').optional(),
  })
  .strict()
  .superRefine((x, ctx) => {
    if (x.scope === 'site' && !x.locationId) ctx.addIssue({ code: 'custom', path: ['locationId'], message: 'a site export needs locationId' });
    if (x.scope !== 'site' && x.locationId) ctx.addIssue({ code: 'custom', path: ['locationId'], message: 'locationId goes with scope=site' });
    if (x.scope === 'manufacturer' && !x.manufacturer) ctx.addIssue({ code: 'custom', path: ['manufacturer'], message: 'a manufacturer export needs manufacturer' });
    if (x.scope !== 'manufacturer' && x.manufacturer) ctx.addIssue({ code: 'custom', path: ['manufacturer'], message: 'manufacturer goes with scope=manufacturer' });
    if (x.includeSecrets && !x.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'say why secrets are included (reason is required with includeSecrets)' });
    if (!x.includeSecrets && x.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'reason goes with includeSecrets=true' });
  });
export type HandbookExportRequest = z.infer<typeof HandbookExportSchema>;

/** A secret as an export carries it: its value only when it was revealed for this export. */
export interface ExportedSecret {
  id: string;
  kind: SecretKind;
  label: string;
  /** Null when redacted. */
  value: string | null;
}

/** One entry of an export, with the locks (and their location) it applies to where that matters. */
export interface ExportedEntry {
  entry: HandbookEntry;
  appliesTo: { lockId: string; lockName: string; location: string }[];
  secrets: ExportedSecret[];
}

/** Everything a handbook document shows, gathered and authorized by the service before rendering. */
export interface HandbookExport {
  scope: ExportScope;
  /** The scope as people read it ("Site: Harbour View Apartments", "Manufacturer: Keystone Demo"). */
  scopeLabel: string;
  recipient: string;
  exportedAt: Date;
  /** Whether secret values are in it (each recorded as a reveal with `reason`). */
  secretsIncluded: boolean;
  reason: string | null;
  entries: ExportedEntry[];
}
