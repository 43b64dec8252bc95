/**
 * Use cases of the reset handbook: entries per model and per-lock overrides, immutable revisions with
 * computed diffs, verification and staleness, search and the table of contents, the starter
 * catalogue, and secrets under envelope encryption with every reveal recorded.
 */
import { requireStepUp } from '../domain/second-factor.js';
import { and, asc, eq, inArray, isNull, like, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { dataKeyAad, newDataKey, open, seal, sealedVersion, secretAad } from '../crypto/envelope.js';
import { AppError, validationError } from '../domain/errors.js';
import type { Writable } from 'node:stream';
import type { PdfWritten } from '../export/handbook-pdf.js';
import {
  ApplyTemplateSchema,
  diffContents,
  HandbookContentSchema,
  HandbookEntryCreateSchema,
  HandbookExportSchema,
  HandbookFilterSchema,
  HandbookSaveSchema,
  HandbookSearchSchema,
  HandbookVerifySchema,
  normalizeModelNumber,
  SECRET_MASK,
  SecretCreateSchema,
  SecretRevealSchema,
  searchText,
  verificationStatus,
  type ContentDiff,
  type ExportedEntry,
  type HandbookExport,
  type HandbookContent,
  type HandbookEntry,
  type HandbookEntrySummary,
  type MaskedSecret,
  type RevisionMeta,
  type VerificationStatus,
} from '../domain/handbook.js';
import { FAMILY_TEMPLATES } from '../domain/handbook-templates.js';
import { allowedActions, inScope, isAllowed, type Actor } from '../domain/identity.js';
import { LOCK_FAMILIES, type LockFamily } from '../domain/lock-models.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { HandbookRepository, type EntryRow, type SearchEntry } from '../store/handbook-repository.js';
import { LocationRepository } from '../store/location-repository.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { SecretRepository, type DataKeyRow, type SecretRow } from '../store/secret-repository.js';
import { handbookEntries, locations, lockModels, locks } from '../store/schema.js';
import { actorId, actorLabel, authorize, readScope, type ServiceContext } from './context.js';
import { entryReadResource, entryResource, lockResource, visibleRows, writeResource } from './scope.js';
import { pathIn } from '../store/scope-sql.js';
import { takeReveal } from './throttle.js';

/** The scope of the deployment-wide data key (model-level entries belong to no site). */
export const DEPLOYMENT_SCOPE = 'deployment';

export interface SearchHit extends HandbookEntrySummary {
  rank: number;
}

/** A location in the table of contents, with the effective entry of each lock at it. */
export interface TocLocation {
  id: string;
  name: string;
  kind: string;
  locks: { lockId: string; name: string; modelId: string; entryId: string | null; source: 'lock' | 'model' | null; status: VerificationStatus | null }[];
  children: TocLocation[];
}

export interface HandbookToc {
  manufacturers: {
    name: string;
    models: { modelId: string; modelNumber: string; family: string; entries: { id: string; title: string; lockId: string | null; lockName: string | null; status: VerificationStatus; revision: number; generic: boolean }[] }[];
  }[];
  locations: TocLocation[];
}

export interface SecretReveal {
  id: string;
  secretId: string;
  entryId: string;
  secretKind: string;
  actorId: string;
  actorLabel: string;
  reason: string;
  revealedAt: Date;
}

/** Use cases on the reset handbook. */
/** A handbook PDF export that was authorized and gathered, ready to be written. */
export interface PreparedPdf {
  filename: string;
  entries: number;
  secretsIncluded: boolean;
  /** Streams the PDF into `sink` (not ended). */
  write(sink: Writable): Promise<PdfWritten>;
}

export class HandbookService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Entries, filtered by manufacturer, model, lock, site or verification status. Never carries steps or secrets. */
  async list(actor: Actor, filter: unknown = {}): Promise<HandbookEntrySummary[]> {
    const f = parseInput(HandbookFilterSchema, filter ?? {});
    const scope = readScope(actor, 'handbook.read', this.ctx.clock.now());
    const rows = visibleRows(await new HandbookRepository(this.ctx.db).list({ manufacturer: f.manufacturer, modelId: f.modelId, lockId: f.lockId, underLocationId: f.siteId }), scope);
    const items = await this.summaries(this.ctx.db, rows);
    return f.status ? items.filter((e) => e.status === f.status) : items;
  }

  /** One entry with its current content; secrets masked. */
  async get(actor: Actor, id: string): Promise<HandbookEntry> {
    // The entry's row carries its lock's location path: the scope check needs no read of its own.
    const row = await this.requireEntry(this.ctx.db, id);
    authorize(actor, 'handbook.read', entryReadResource({ entryId: id, locationPath: row.entry.lockId ? row.locationPath : null, notFound: () => new AppError('handbook.not_found', `handbook entry ${id} not found`) }));
    return this.load(this.ctx.db, id, row);
  }

  /** The entry that applies to one installed lock: its own override, else its model's entry. */
  async forLock(actor: Actor, lockId: string): Promise<{ lockId: string; source: 'lock' | 'model' | null; entry: HandbookEntry | null }> {
    authorize(actor, 'handbook.read', await lockResource(this.ctx.db, lockId));
    const [lock] = await this.ctx.db.select({ id: locks.id, modelId: locks.modelId }).from(locks).where(eq(locks.id, lockId));
    if (!lock) throw new AppError('lock.not_found', `lock ${lockId} not found`);
    const repo = new HandbookRepository(this.ctx.db);
    const own = await repo.forLock(lockId);
    if (own) return { lockId, source: 'lock', entry: await this.load(this.ctx.db, own.id) };
    const model = await repo.forModel(lock.modelId);
    return { lockId, source: model ? 'model' : null, entry: model ? await this.load(this.ctx.db, model.id) : null };
  }

  /** Writes a new entry for a model (or an override for one lock) as revision 1. */
  async create(actor: Actor, input: unknown, opts: { isDemo?: boolean } = {}): Promise<HandbookEntry> {
    const data = parseInput(HandbookEntryCreateSchema, input);
    // A model's entry is the organisation's; an override is written where its lock is.
    authorize(actor, 'handbook.write', data.lockId ? await lockResource(this.ctx.db, data.lockId) : undefined);
    const id = await inTransaction(this.ctx.db, async (tx) => {
      const model = await new LockModelRepository(tx).byId(data.modelId);
      if (!model) throw new AppError('model.not_found', `model ${data.modelId} not found`, [{ path: 'modelId', message: 'no such model' }]);
      const repo = new HandbookRepository(tx);
      let locationId: string | null = null;
      if (data.lockId) {
        const [lock] = await tx.select({ modelId: locks.modelId, locationId: locks.locationId }).from(locks).where(eq(locks.id, data.lockId));
        if (!lock) throw new AppError('lock.not_found', `lock ${data.lockId} not found`, [{ path: 'lockId', message: 'no such lock' }]);
        if (lock.modelId !== data.modelId) throw new AppError('validation.failed', 'an override must be for a lock of the same model', [{ path: 'lockId', message: 'this lock is of another model' }]);
        if (await repo.forLock(data.lockId)) throw new AppError('handbook.duplicate', 'this lock already has its own handbook entry; edit that one', [{ path: 'lockId', message: 'already has an entry' }]);
        locationId = lock.locationId;
      } else if (await repo.forModel(data.modelId)) {
        throw new AppError('handbook.duplicate', `${model.manufacturer} ${model.modelNumber} already has a handbook entry; edit that one`, [{ path: 'modelId', message: 'already has an entry' }]);
      }
      const now = this.ctx.clock.now();
      const entryId = this.ctx.ids.uuid();
      await repo.insertEntry({
        id: entryId,
        modelId: data.modelId,
        lockId: data.lockId,
        currentRevision: 1,
        ...entryDerivedColumns(model.manufacturer, model.modelNumber, data.content),
        verificationWindowDays: data.verificationWindowDays,
        isDemo: opts.isDemo ?? false,
        createdAt: now,
        updatedAt: now,
      });
      await repo.insertRevision({ entryId, revision: 1, content: data.content, reason: data.reason, authorId: actorId(actor), authorLabel: actorLabel(actor), createdAt: now });
      await this.ctx.audit.append(tx, { actor, action: 'handbook.create', target: { type: 'handbook_entry', id: entryId, label: data.content.title }, locationId, details: { modelId: data.modelId, lockId: data.lockId ?? null, revision: 1, reason: data.reason } });
      return entryId;
    });
    return this.load(this.ctx.db, id);
  }

  /** Saves new content as the next revision; refused when `expectedRevision` is no longer current. */
  async save(actor: Actor, id: string, input: unknown): Promise<HandbookEntry> {
    const data = parseInput(HandbookSaveSchema, input);
    authorize(actor, 'handbook.write', writeResource(await entryResource(this.ctx.db, id)));
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new HandbookRepository(tx);
      const row = await this.requireEntry(tx, id);
      if (row.entry.currentRevision !== data.expectedRevision) throw conflict(data.expectedRevision, row.entry.currentRevision);
      const now = this.ctx.clock.now();
      const next = data.expectedRevision + 1;
      const ok = await repo.advance(id, data.expectedRevision, {
        ...entryDerivedColumns(row.manufacturer, row.modelNumber, data.content),
        ...(data.verificationWindowDays !== undefined ? { verificationWindowDays: data.verificationWindowDays } : {}),
        updatedAt: now,
      });
      if (!ok) throw conflict(data.expectedRevision, data.expectedRevision + 1);
      await repo.insertRevision({ entryId: id, revision: next, content: data.content, reason: data.reason, authorId: actorId(actor), authorLabel: actorLabel(actor), createdAt: now });
      await this.ctx.audit.append(tx, { actor, action: 'handbook.save', target: { type: 'handbook_entry', id, label: data.content.title }, locationId: locationOf(row), details: { revision: next, reason: data.reason } });
    });
    return this.load(this.ctx.db, id);
  }

  /** Every revision of an entry, newest first (who, when, why). */
  async revisions(actor: Actor, id: string): Promise<RevisionMeta[]> {
    authorize(actor, 'handbook.read', entryReadResource(await entryResource(this.ctx.db, id)));
    await this.requireEntry(this.ctx.db, id);
    return new HandbookRepository(this.ctx.db).revisions(id);
  }

  /** One revision with its content, as it was saved. */
  async revision(actor: Actor, id: string, revision: number): Promise<RevisionMeta & { content: HandbookContent }> {
    authorize(actor, 'handbook.read', entryReadResource(await entryResource(this.ctx.db, id)));
    await this.requireEntry(this.ctx.db, id);
    const row = await new HandbookRepository(this.ctx.db).revision(id, revision);
    if (!row) throw new AppError('handbook.revision_not_found', `entry ${id} has no revision ${revision}`);
    const { entryId: _e, ...rest } = row;
    return rest;
  }

  /** What changed between two revisions of an entry, field by field and step by step. */
  async diff(actor: Actor, id: string, from: number, to: number): Promise<ContentDiff> {
    const a = await this.revision(actor, id, from);
    const b = await this.revision(actor, id, to);
    return diffContents(a.content, b.content, from, to);
  }

  /** Records that someone confirmed the entry's current revision against the lock. */
  async verify(actor: Actor, id: string, input: unknown = {}): Promise<HandbookEntry> {
    const data = parseInput(HandbookVerifySchema, input ?? {});
    // Confirming a procedure at the door: a model's entry by anyone who verifies somewhere.
    authorize(actor, 'handbook.verify', entryReadResource(await entryResource(this.ctx.db, id)));
    await inTransaction(this.ctx.db, async (tx) => {
      const row = await this.requireEntry(tx, id);
      const revision = row.entry.currentRevision;
      if (data.revision !== undefined && data.revision !== revision) throw conflict(data.revision, revision);
      const now = this.ctx.clock.now();
      const repo = new HandbookRepository(tx);
      await repo.insertVerification({ id: this.ctx.ids.uuid(), entryId: id, revision, verifiedById: actorId(actor), verifiedBy: actorLabel(actor), verifiedAt: now, note: data.note });
      await repo.update(id, { verifiedAt: now, verifiedBy: actorLabel(actor), verifiedRevision: revision });
      await this.ctx.audit.append(tx, { actor, action: 'handbook.verify', target: { type: 'handbook_entry', id, label: row.entry.title }, locationId: locationOf(row), details: { revision, note: data.note } });
    });
    return this.load(this.ctx.db, id);
  }

  /** What needs re-verification: entries never verified or past their window, oldest first. */
  async needsVerification(actor: Actor): Promise<HandbookEntrySummary[]> {
    const scope = readScope(actor, 'handbook.read', this.ctx.clock.now());
    const rows = visibleRows(await new HandbookRepository(this.ctx.db).list({ needsVerificationAt: this.ctx.clock.now() }), scope);
    const items = await this.summaries(this.ctx.db, rows);
    return items.sort((a, b) => (a.verifiedAt?.getTime() ?? 0) - (b.verifiedAt?.getTime() ?? 0));
  }

  /** Full-text search over model, title and steps, tolerant of typos in model numbers. */
  async search(actor: Actor, input: unknown): Promise<SearchHit[]> {
    const { q, limit } = parseInput(HandbookSearchSchema, input);
    const now = this.ctx.clock.now();
    // Overrides outside the reader's scope are dropped after ranking: a scoped reader may get fewer
    // than a page when other sites' overrides rank high (model entries are everyone's).
    const scope = readScope(actor, 'handbook.read', now);
    const rows = visibleRows(await new HandbookRepository(this.ctx.db).search(q, normalizeModelNumber(q), limit), scope);
    return rows.map((row) => ({ ...summaryOf(row, row.siteId, now), rank: row.rank }));
  }

  /** The table of contents: manufacturer > model > entries, and location > lock > effective entry. */
  async toc(actor: Actor): Promise<HandbookToc> {
    const scope = readScope(actor, 'handbook.read', this.ctx.clock.now());
    const db = this.ctx.db;
    const entries = await this.summaries(db, visibleRows(await new HandbookRepository(db).list(), scope));
    const models = await db.select().from(lockModels).orderBy(asc(lockModels.manufacturer), asc(lockModels.modelNumber));
    const manufacturers = new Map<string, HandbookToc['manufacturers'][number]>();
    for (const m of models) {
      const group = manufacturers.get(m.manufacturer) ?? { name: m.manufacturer, models: [] };
      manufacturers.set(m.manufacturer, group);
      group.models.push({
        modelId: m.id,
        modelNumber: m.modelNumber,
        family: m.family,
        entries: entries
          .filter((e) => e.modelId === m.id)
          .map((e) => ({ id: e.id, title: e.title, lockId: e.lockId, lockName: e.lockName, status: e.status, revision: e.revision, generic: e.generic })),
      });
    }
    const modelEntry = new Map(entries.filter((e) => e.lockId === null).map((e) => [e.modelId, e]));
    const lockEntry = new Map(entries.filter((e) => e.lockId !== null).map((e) => [e.lockId!, e]));
    const allLocations = (await new LocationRepository(db).all()).filter((l) => inScope(scope, l.path));
    const lockRows = await db
      .select({ id: locks.id, name: locks.name, modelId: locks.modelId, locationId: locks.locationId })
      .from(locks)
      .innerJoin(locations, eq(locations.id, locks.locationId))
      .where(and(sql`${locks.serviceState} <> 'retired'`, pathIn(locations.path, scope)))
      .orderBy(asc(locks.name));
    const nodes = new Map<string, TocLocation>(allLocations.map((l) => [l.id, { id: l.id, name: l.name, kind: l.kind, locks: [], children: [] }]));
    for (const l of lockRows) {
      const own = lockEntry.get(l.id);
      const fallback = modelEntry.get(l.modelId);
      const e = own ?? fallback;
      nodes.get(l.locationId)?.locks.push({ lockId: l.id, name: l.name, modelId: l.modelId, entryId: e?.id ?? null, source: own ? 'lock' : fallback ? 'model' : null, status: e?.status ?? null });
    }
    const roots: TocLocation[] = [];
    for (const l of allLocations) {
      const node = nodes.get(l.id)!;
      const parent = l.parentId ? nodes.get(l.parentId) : undefined;
      if (parent) parent.children.push(node);
      else roots.push(node);
    }
    // Locations with no lock anywhere below them add nothing to a handbook's contents.
    const prune = (list: TocLocation[]): TocLocation[] =>
      list.flatMap((n) => {
        n.children = prune(n.children);
        return n.locks.length || n.children.length ? [n] : [];
      });
    return { manufacturers: [...manufacturers.values()], locations: prune(roots) };
  }

  /**
   * Everything a handbook export shows, for `actor`: the whole handbook, a manufacturer's entries, or
   * the effective entries of the locks under a location (each with the locks it applies to there).
   * Secrets stay redacted unless asked for with a reason by someone who may reveal them; then each
   * one is opened and recorded as a reveal in one transaction, before anything is rendered.
   */
  async exportSnapshot(actor: Actor, input: unknown): Promise<HandbookExport> {
    const req = parseInput(HandbookExportSchema, input ?? {});
    const now = this.ctx.clock.now();
    const scope = readScope(actor, 'handbook.read', now);
    // Asking for secrets needs the right to reveal somewhere (a role, or a reveal grant for an entry).
    if (req.includeSecrets && !allowedActions(actor).includes('handbook.reveal')) authorize(actor, 'handbook.reveal', 'anywhere');
    if (req.includeSecrets) requireStepUp(actor, 'handbook.export_secrets', now);
    if (req.includeSecrets) await takeReveal(this.ctx, actor, 'export');
    const db = this.ctx.db;
    const repo = new HandbookRepository(db);
    const allLocations = await new LocationRepository(db).all();
    const names = new Map(allLocations.map((l) => [l.id, l.name]));
    const pathLabel = (path: string | null) =>
      (path ?? '')
        .split('/')
        .filter(Boolean)
        .map((id) => names.get(id) ?? '?')
        .join(' / ');
    const appliesTo = new Map<string, ExportedEntry['appliesTo']>();
    let rows: EntryRow[];
    let scopeLabel: string;
    if (req.scope === 'manufacturer') {
      const [m] = await db.select({ name: lockModels.manufacturer }).from(lockModels).where(sql`lower(${lockModels.manufacturer}) = lower(${req.manufacturer})`).limit(1);
      if (!m) throw validationError([{ path: 'manufacturer', message: `no manufacturer "${req.manufacturer}" in the model catalogue` }]);
      rows = await repo.list({ manufacturer: m.name });
      scopeLabel = `Manufacturer: ${m.name}`;
    } else if (req.scope === 'site') {
      const loc = allLocations.find((l) => l.id === req.locationId);
      if (!loc) throw validationError([{ path: 'locationId', message: `no location ${req.locationId}` }]);
      authorize(actor, 'handbook.read', { locationPath: loc.path });
      const own = alias(handbookEntries, 'own');
      const lockRows = await db
        .select({ id: locks.id, name: locks.name, modelId: locks.modelId, path: locations.path, ownEntry: own.id })
        .from(locks)
        .innerJoin(locations, eq(locations.id, locks.locationId))
        .leftJoin(own, eq(own.lockId, locks.id))
        .where(and(like(locations.path, `${loc.path}%`), sql`${locks.serviceState} <> 'retired'`))
        .orderBy(asc(locations.path), asc(locks.name));
      const modelEntry = new Map(
        (await db.select({ id: handbookEntries.id, modelId: handbookEntries.modelId }).from(handbookEntries).where(isNull(handbookEntries.lockId))).map((e) => [e.modelId, e.id]),
      );
      for (const l of lockRows) {
        const entryId = l.ownEntry ?? modelEntry.get(l.modelId);
        if (!entryId) continue;
        const list = appliesTo.get(entryId) ?? [];
        appliesTo.set(entryId, list);
        list.push({ lockId: l.id, lockName: l.name, location: pathLabel(l.path) });
      }
      rows = appliesTo.size ? await repo.list({ ids: [...appliesTo.keys()] }) : [];
      scopeLabel = `Location: ${pathLabel(loc.path)}`;
    } else {
      rows = await repo.list();
      scopeLabel = 'The whole handbook';
    }
    rows = visibleRows(rows, scope);
    const ids = rows.map((r) => r.entry.id);
    const summaries = await this.summaries(db, rows);
    const revisions = new Map((await repo.currentRevisions(ids)).map((r) => [r.entryId, r]));
    const secretRows = await new SecretRepository(db).secretsOfEntries(ids);
    const values = new Map<string, string>();
    // Only the secrets of entries the exporter may reveal are opened; the rest stay redacted.
    const pathOf = new Map(rows.map((r) => [r.entry.id, r.entry.lockId ? r.locationPath : null]));
    const revealable = secretRows.filter((s) => isAllowed(actor, 'handbook.reveal', { entryId: s.entryId, locationPath: pathOf.get(s.entryId) ?? null }, now));
    if (req.includeSecrets && revealable.length) {
      await inTransaction(db, async (tx) => {
        const secrets = new SecretRepository(tx);
        for (const s of revealable) {
          values.set(s.id, await this.openSecret(tx, s));
          await secrets.insertReveal({ id: this.ctx.ids.uuid(), secretId: s.id, entryId: s.entryId, secretKind: s.kind, actorId: actorId(actor), actorLabel: actorLabel(actor), reason: `PDF export (${scopeLabel}): ${req.reason}`, revealedAt: now });
        }
        const byEntry = new Map(rows.map((r) => [r.entry.id, r]));
        await this.ctx.audit.appendMany(
          tx,
          secretRows.map((s) => ({
            actor,
            action: 'handbook.secret.reveal',
            target: { type: 'handbook_secret', id: s.id, label: `${s.kind}${s.label ? ` (${s.label})` : ''} of ${byEntry.get(s.entryId)?.entry.title ?? s.entryId}` },
            locationId: locationOf(byEntry.get(s.entryId)),
            details: { entryId: s.entryId, kind: s.kind, via: 'pdf_export', scope: scopeLabel, reason: req.reason },
            secrets: { value: values.get(s.id)! },
          })),
        );
      });
    }
    const secretsOf = new Map<string, typeof secretRows>();
    for (const s of secretRows) secretsOf.set(s.entryId, [...(secretsOf.get(s.entryId) ?? []), s]);
    const entries = summaries.map((summary, i): ExportedEntry => {
      const row = rows[i]!;
      const { content, entryId: _e, ...lastRevision } = revisions.get(summary.id)!;
      const mine = secretsOf.get(summary.id) ?? [];
      const overrideOf = row.entry.lockId && row.lockName ? [{ lockId: row.entry.lockId, lockName: row.lockName, location: pathLabel(row.locationPath) }] : [];
      return {
        entry: { ...summary, content, lastRevision, secrets: mine.map(masked) },
        appliesTo: appliesTo.get(summary.id) ?? overrideOf,
        secrets: mine.map((s) => ({ id: s.id, kind: s.kind, label: s.label, value: values.get(s.id) ?? null })),
      };
    });
    return { scope: req.scope, scopeLabel, recipient: actorLabel(actor), exportedAt: this.ctx.clock.now(), secretsIncluded: req.includeSecrets, reason: req.reason ?? null, entries };
  }

  /**
   * Gathers and authorizes an export (reveals recorded, as `exportSnapshot`) and returns what to call
   * the file plus `write`, which streams the PDF into a file or response without building it in memory.
   */
  async preparePdf(actor: Actor, input: unknown): Promise<PreparedPdf> {
    const snapshot = await this.exportSnapshot(actor, input);
    const stamp = snapshot.exportedAt.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
    return {
      filename: `lockwarden-handbook-${snapshot.scope}-${stamp}.pdf`,
      entries: snapshot.entries.length,
      secretsIncluded: snapshot.secretsIncluded,
      // The PDF library (and its fonts) load on first use.
      write: async (sink) => (await import('../export/handbook-pdf.js')).writeHandbookPdf(snapshot, sink),
    };
  }

  /** The export as one PDF buffer, with a file name that says what and when. */
  async exportPdf(actor: Actor, input: unknown): Promise<{ filename: string; pdf: Buffer; entries: number; secretsIncluded: boolean }> {
    const snapshot = await this.exportSnapshot(actor, input);
    const stamp = snapshot.exportedAt.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
    return { filename: `lockwarden-handbook-${snapshot.scope}-${stamp}.pdf`, pdf: await (await import('../export/handbook-pdf.js')).renderHandbookPdf(snapshot), entries: snapshot.entries.length, secretsIncluded: snapshot.secretsIncluded };
  }

  /** The generic procedures by family (the starter catalogue). */
  templates(actor: Actor): { family: LockFamily; content: HandbookContent }[] {
    authorize(actor, 'handbook.read', 'anywhere');
    return LOCK_FAMILIES.map((family) => ({ family, content: FAMILY_TEMPLATES[family] }));
  }

  /**
   * Applies the generic template of a family (the model's own by default) to a model: a new entry, or
   * a new revision of its existing entry (the history keeps what was there).
   */
  async applyTemplate(actor: Actor, input: unknown, opts: { isDemo?: boolean } = {}): Promise<HandbookEntry> {
    const data = parseInput(ApplyTemplateSchema, input);
    authorize(actor, 'handbook.write');
    const model = await new LockModelRepository(this.ctx.db).byId(data.modelId);
    if (!model) throw new AppError('model.not_found', `model ${data.modelId} not found`, [{ path: 'modelId', message: 'no such model' }]);
    const family = (data.family ?? model.family) as LockFamily;
    if (!LOCK_FAMILIES.includes(family)) throw new AppError('handbook.no_template', `no template for family "${family}"`, [{ path: 'family', message: `use one of ${LOCK_FAMILIES.join(', ')}` }]);
    const content = parseInput(HandbookContentSchema, FAMILY_TEMPLATES[family]);
    const existing = await new HandbookRepository(this.ctx.db).forModel(model.id);
    if (existing) return this.save(actor, existing.id, { content, reason: data.reason, expectedRevision: existing.currentRevision });
    return this.create(actor, { modelId: model.id, content, reason: data.reason }, opts);
  }

  /** Adds a secret to an entry, sealed under the data key of the entry's site (or the deployment's). */
  async addSecret(actor: Actor, entryId: string, input: unknown): Promise<MaskedSecret> {
    const data = parseInput(SecretCreateSchema, input);
    authorize(actor, 'handbook.write', writeResource(await entryResource(this.ctx.db, entryId)));
    const id = this.ctx.ids.uuid();
    await inTransaction(this.ctx.db, async (tx) => {
      const row = await this.requireEntry(tx, entryId);
      const scope = await this.scopeOf(tx, row);
      const { dk, key } = await this.dataKey(tx, scope);
      const now = this.ctx.clock.now();
      await new SecretRepository(tx).insertSecret({
        id,
        entryId,
        kind: data.kind,
        label: data.label,
        cipher: seal(key, dk.version, Buffer.from(data.value, 'utf8'), secretAad(id, dk.id, dk.version)),
        dataKeyId: dk.id,
        createdBy: actorLabel(actor),
        createdAt: now,
        updatedAt: now,
      });
      await this.ctx.audit.append(tx, { actor, action: 'handbook.secret.add', target: { type: 'handbook_secret', id, label: `${data.kind}${data.label ? ` (${data.label})` : ''} of ${row.entry.title}` }, locationId: locationOf(row), details: { entryId, kind: data.kind, label: data.label }, secrets: { value: data.value } });
    });
    return masked((await new SecretRepository(this.ctx.db).secretById(id))!);
  }

  async deleteSecret(actor: Actor, secretId: string): Promise<void> {
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecretRepository(tx);
      const secret = await repo.secretById(secretId);
      if (!secret) throw new AppError('handbook.secret_not_found', `secret ${secretId} not found`);
      authorize(actor, 'handbook.write', writeResource(secretHidden(await entryResource(tx, secret.entryId), secretId)));
      const row = await this.requireEntry(tx, secret.entryId);
      await repo.deleteSecret(secretId);
      await this.ctx.audit.append(tx, { actor, action: 'handbook.secret.delete', target: { type: 'handbook_secret', id: secretId, label: `${secret.kind}${secret.label ? ` (${secret.label})` : ''} of ${row.entry.title}` }, locationId: locationOf(row), details: { entryId: secret.entryId, kind: secret.kind } });
    });
  }

  /** Shows one secret's value, for a stated reason; the reveal is recorded (who, when, which, why) first. */
  async reveal(actor: Actor, secretId: string, input: unknown): Promise<{ secret: MaskedSecret; value: string }> {
    const { reason } = parseInput(SecretRevealSchema, input);
    // Authorized and counted before the transaction opens (the throttle counts in its own).
    const found = await new SecretRepository(this.ctx.db).secretById(secretId);
    if (!found) throw new AppError('handbook.secret_not_found', `secret ${secretId} not found`);
    authorize(actor, 'handbook.reveal', secretHidden(await entryResource(this.ctx.db, found.entryId), secretId));
    requireStepUp(actor, 'handbook.secret.reveal', this.ctx.clock.now());
    await takeReveal(this.ctx, actor, 'reveal');
    return inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecretRepository(tx);
      const secret = await repo.secretById(secretId);
      if (!secret) throw new AppError('handbook.secret_not_found', `secret ${secretId} not found`);
      authorize(actor, 'handbook.reveal', secretHidden(await entryResource(tx, secret.entryId), secretId));
      const value = await this.openSecret(tx, secret);
      await repo.insertReveal({
        id: this.ctx.ids.uuid(),
        secretId,
        entryId: secret.entryId,
        secretKind: secret.kind,
        actorId: actorId(actor),
        actorLabel: actorLabel(actor),
        reason,
        revealedAt: this.ctx.clock.now(),
      });
      const entry = await this.requireEntry(tx, secret.entryId);
      await this.ctx.audit.append(tx, { actor, action: 'handbook.secret.reveal', target: { type: 'handbook_secret', id: secretId, label: `${secret.kind}${secret.label ? ` (${secret.label})` : ''} of ${entry.entry.title}` }, locationId: locationOf(entry), details: { entryId: secret.entryId, kind: secret.kind, reason }, secrets: { value } });
      return { secret: masked(secret), value };
    });
  }

  /** The record of reveals of an entry's secrets, newest first. */
  async reveals(actor: Actor, entryId: string): Promise<SecretReveal[]> {
    // Who revealed what is for those who may reveal or change the entry's secrets, and auditors.
    const res = await entryResource(this.ctx.db, entryId);
    if (!isAllowed(actor, 'handbook.reveal', res) && !isAllowed(actor, 'handbook.write', writeResource(res)) && !isAllowed(actor, 'audit.read', writeResource(res))) {
      authorize(actor, 'handbook.reveal', res);
    }
    await this.requireEntry(this.ctx.db, entryId);
    return new SecretRepository(this.ctx.db).reveals({ entryId });
  }

  /**
   * Re-wraps every data key under a new master key version (from the key file; with
   * `LOCKWARDEN_MASTER_KEY`, under the newest version listed there). Secrets are not re-encrypted.
   * Runs in one transaction with the data keys locked, so it is safe while the server serves.
   */
  async rotateKeys(actor: Actor): Promise<{ masterVersion: number; rewrapped: number; origin: string }> {
    authorize(actor, 'keys.rotate');
    requireStepUp(actor, 'keys.rotate', this.ctx.clock.now());
    const ring = this.ctx.masterKeys;
    const target = ring.origin === 'LOCKWARDEN_MASTER_KEY' ? ring.current().version : ring.addVersion();
    const master = ring.byVersion(target)!;
    const rewrapped = await inTransaction(this.ctx.db, async (tx) => {
      const repo = new SecretRepository(tx);
      let n = 0;
      for (const dk of await repo.dataKeysBelow(target)) {
        const key = this.unwrap(dk);
        const wrapped = seal(master, target, key, dataKeyAad(dk.id, dk.scope, target));
        if (await repo.rewrap(dk.id, dk.masterVersion, wrapped, target, this.ctx.clock.now())) n++;
      }
      await this.ctx.audit.append(tx, { actor, action: 'keys.rotate', target: { type: 'master_key', id: String(target), label: `master key version ${target}` }, details: { masterVersion: target, rewrapped: n, origin: ring.origin } });
      return n;
    });
    return { masterVersion: target, rewrapped, origin: ring.origin };
  }

  /** Secrets of a site are sealed under that site's data key; model-level entries under the deployment's. */
  private async scopeOf(db: Db, row: EntryRow): Promise<string> {
    if (!row.locationPath) return DEPLOYMENT_SCOPE;
    const site = await this.siteOf(db, row.locationPath);
    return site ? `site:${site}` : DEPLOYMENT_SCOPE;
  }

  private async siteOf(db: Db, path: string): Promise<string | null> {
    const ids = path.split('/').filter(Boolean);
    if (ids.length === 0) return null;
    const [site] = await db
      .select({ id: locations.id })
      .from(locations)
      .where(and(inArray(locations.id, ids), eq(locations.kind, 'site')));
    return site?.id ?? null;
  }

  /** The data key of `scope`, made (and wrapped under the current master key) on first use. */
  private async dataKey(db: Db, scope: string): Promise<{ dk: DataKeyRow; key: Buffer }> {
    const repo = new SecretRepository(db);
    const existing = await repo.dataKeyByScope(scope);
    if (existing) return { dk: existing, key: this.unwrap(existing) };
    const { version, key: master } = this.ctx.masterKeys.current();
    const id = this.ctx.ids.uuid();
    const key = newDataKey();
    const dk = await repo.insertDataKey({ id, scope, version: 1, wrappedKey: seal(master, version, key, dataKeyAad(id, scope, version)), masterVersion: version, createdAt: this.ctx.clock.now() });
    return { dk, key: dk.id === id ? key : this.unwrap(dk) };
  }

  /** Unwraps a data key; a master version this process has not seen is looked for again (another process rotated). */
  private unwrap(dk: DataKeyRow): Buffer {
    const ring = this.ctx.masterKeys;
    let master = ring.byVersion(dk.masterVersion);
    if (!master) {
      ring.reload();
      master = ring.byVersion(dk.masterVersion);
    }
    if (sealedVersion(dk.wrappedKey) !== dk.masterVersion) throw new AppError('crypto.integrity', 'a data key failed its integrity check');
    return open(dk.wrappedKey, master, dataKeyAad(dk.id, dk.scope, dk.masterVersion));
  }

  private async openSecret(db: Db, secret: SecretRow): Promise<string> {
    const dk = await new SecretRepository(db).dataKeyById(secret.dataKeyId);
    if (!dk) throw new AppError('crypto.key_unavailable', 'the data key of this secret is missing');
    const key = this.unwrap(dk);
    const v = sealedVersion(secret.cipher);
    return open(secret.cipher, v === dk.version ? key : undefined, secretAad(secret.id, dk.id, v)).toString('utf8');
  }

  private async requireEntry(db: Db, id: string): Promise<EntryRow> {
    const row = await new HandbookRepository(db).byId(id);
    if (!row) throw new AppError('handbook.not_found', `handbook entry ${id} not found`);
    return row;
  }

  private async load(db: Db, id: string, read?: EntryRow): Promise<HandbookEntry> {
    const row = read ?? (await this.requireEntry(db, id));
    const [summary] = await this.summaries(db, [row]);
    const rev = await new HandbookRepository(db).revision(id, row.entry.currentRevision);
    const secrets = await new SecretRepository(db).secretsOf(id);
    const { content, entryId: _e, ...lastRevision } = rev!;
    return { ...summary!, content, lastRevision, secrets: secrets.map(masked) };
  }

  private async summaries(db: Db, rows: EntryRow[]): Promise<HandbookEntrySummary[]> {
    const pathIds = new Set(rows.flatMap((r) => (r.locationPath ?? '').split('/').filter(Boolean)));
    const sites = new Set((await new LocationRepository(db).byIds([...pathIds])).filter((l) => l.kind === 'site').map((l) => l.id));
    const now = this.ctx.clock.now();
    return rows.map((row) => summaryOf(row, (row.locationPath ?? '').split('/').find((id) => sites.has(id)) ?? null, now));
  }
}

/**
 * The entry's columns that follow from its content: kept in step on every save. Exported so bulk
 * loaders (the search benchmark) write exactly what the service writes.
 */
export function entryDerivedColumns(manufacturer: string, modelNumber: string, content: HandbookContent) {
  return { title: content.title, generic: content.generic, searchText: searchText(manufacturer, modelNumber, content), modelKey: normalizeModelNumber(modelNumber) };
}

/** The location an entry belongs to: its lock's location for an override, none for a model's entry. */
function locationOf(row: EntryRow | undefined): string | null {
  return row?.locationPath?.split('/').filter(Boolean).pop() ?? null;
}

function masked(s: SecretRow): MaskedSecret {
  return { id: s.id, kind: s.kind, label: s.label, masked: SECRET_MASK, createdBy: s.createdBy, createdAt: s.createdAt, updatedAt: s.updatedAt };
}

function conflict(expected: number, current: number): AppError {
  return new AppError('handbook.revision_conflict', `this entry is at revision ${current}, not ${expected}: someone saved since you opened it; reload, compare and try again`, [
    { path: 'expectedRevision', message: `the entry is at revision ${current}` },
  ]);
}

/** An entry as list views show it, its site already known. */
function summaryOf({ entry: e, manufacturer, modelNumber, family, lockName }: Pick<EntryRow, 'manufacturer' | 'modelNumber' | 'family' | 'lockName'> & { entry: SearchEntry }, siteId: string | null, now: Date): HandbookEntrySummary {
  const v = verificationStatus(e.verifiedAt, e.verificationWindowDays, now);
  return {
    id: e.id,
    modelId: e.modelId,
    manufacturer,
    modelNumber,
    family,
    lockId: e.lockId,
    lockName,
    siteId,
    title: e.title,
    generic: e.generic,
    revision: e.currentRevision,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    verificationWindowDays: e.verificationWindowDays,
    verifiedAt: e.verifiedAt,
    verifiedBy: e.verifiedBy,
    verifiedRevision: e.verifiedRevision,
    status: v.status,
    dueAt: v.dueAt,
  };
}

/** An entry resource that, to a reader outside its place, answers as an unknown secret id would. */
function secretHidden<R extends { locationPath: string | null }>(r: R, secretId: string): R & { notFound: () => AppError } {
  return { ...r, notFound: () => new AppError('handbook.secret_not_found', `secret ${secretId} not found`) };
}
