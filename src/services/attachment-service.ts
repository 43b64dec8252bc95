/**
 * Attachments of handbook entries: photos, diagrams and manufacturer PDFs stored in the database with
 * the entry. The type is told from the content; images are stored without their metadata (GPS) and
 * upright, with a thumbnail. Adding and removing are recorded (who, when); attachments are not part of
 * revisions.
 */
import { createHash } from 'node:crypto';
import {
  ATTACHMENT_LIMITS,
  AttachmentMetaSchema,
  checkUpload,
  cleanFilename,
  isImageType,
  type AttachmentEvent,
  type AttachmentInfo,
  type AttachmentType,
} from '../domain/attachments.js';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction } from '../store/database.js';
import { AttachmentRepository, type AttachmentMetaRow } from '../store/attachment-repository.js';
import { HandbookRepository } from '../store/handbook-repository.js';
import { actorId, actorLabel, authorize, type ServiceContext } from './context.js';
import { entryReadResource, entryResource, writeResource } from './scope.js';

export interface AttachmentUpload {
  bytes: Buffer;
  filename?: string | undefined;
  /** The content type the client declared; informative only, the content decides. */
  declaredType?: string | undefined;
  /** `caption` and `step`, as strings or numbers. */
  meta?: unknown;
}

export interface AttachmentFile {
  info: AttachmentInfo;
  bytes: Buffer;
  mediaType: string;
}

export class AttachmentService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Checks, cleans and stores one file on an entry. */
  async add(actor: Actor, entryId: string, upload: AttachmentUpload): Promise<AttachmentInfo> {
    const m = parseInput(AttachmentMetaSchema, upload.meta ?? {});
    authorize(actor, 'handbook.write', writeResource(await entryResource(this.ctx.db, entryId)));
    const type = checkUpload(upload.bytes, upload.filename ?? 'the file', upload.declaredType);
    const filename = cleanFilename(upload.filename, type);
    await this.requireEntry(entryId, m.step);
    // Image work happens before the transaction: it is the slow part and needs no rows.
    const image = isImageType(type) ? await (await import('../media/images.js')).prepareImage(upload.bytes, type, filename) : null;
    const bytes = image?.bytes ?? upload.bytes;
    const id = this.ctx.ids.uuid();
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new AttachmentRepository(tx);
      if (!(await repo.lockEntry(entryId))) throw new AppError('handbook.not_found', `handbook entry ${entryId} not found`);
      const n = await repo.countFor(entryId);
      if (n >= ATTACHMENT_LIMITS.perEntry) {
        throw new AppError('handbook.attachment_limit', `this entry already has ${n} attachments, the most it may have; remove one first`, [{ path: 'file', message: 'too many attachments' }]);
      }
      const now = this.ctx.clock.now();
      await repo.insert({
        id,
        entryId,
        step: m.step ?? null,
        caption: m.caption,
        filename,
        mediaType: type,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        width: image?.width ?? null,
        height: image?.height ?? null,
        bytes,
        thumbnail: image?.thumbnail ?? null,
        createdById: actorId(actor),
        createdBy: actorLabel(actor),
        createdAt: now,
      });
      await repo.insertEvent({ id: this.ctx.ids.uuid(), entryId, attachmentId: id, action: 'added', filename, step: m.step ?? null, actorId: actorId(actor), actorLabel: actorLabel(actor), at: now });
      const entry = await new HandbookRepository(tx).byId(entryId);
      await this.ctx.audit.append(tx, { actor, action: 'handbook.attachment.add', target: { type: 'handbook_attachment', id, label: `${filename} on ${entry?.entry.title ?? entryId}` }, locationId: entryLocation(entry), details: { entryId, filename, mediaType: type, size: bytes.length, step: m.step ?? null } });
    });
    const row = await new AttachmentRepository(this.ctx.db).meta(entryId, id);
    return info(row!);
  }

  /** Metadata of an entry's attachments, step by step. */
  async list(actor: Actor, entryId: string): Promise<AttachmentInfo[]> {
    authorize(actor, 'handbook.read', entryReadResource(await entryResource(this.ctx.db, entryId)));
    await this.requireEntry(entryId);
    return (await new AttachmentRepository(this.ctx.db).list(entryId)).map(info);
  }

  /** The stored file (for images: metadata stripped), or its thumbnail. */
  async file(actor: Actor, entryId: string, id: string, which: 'original' | 'thumbnail'): Promise<AttachmentFile> {
    authorize(actor, 'handbook.read', entryReadResource(await entryResource(this.ctx.db, entryId)));
    const got = await new AttachmentRepository(this.ctx.db).bytes(entryId, id, which);
    if (!got) throw new AppError('handbook.attachment_not_found', `attachment ${id} not found on this entry`);
    if (!got.bytes) throw new AppError('handbook.attachment_not_found', `attachment ${id} is a ${got.meta.mediaType} and has no thumbnail`);
    return { info: info(got.meta), bytes: got.bytes, mediaType: which === 'thumbnail' ? 'image/webp' : got.meta.mediaType };
  }

  /** Removes an attachment and records who did. */
  async remove(actor: Actor, entryId: string, id: string): Promise<void> {
    authorize(actor, 'handbook.write', writeResource(await entryResource(this.ctx.db, entryId)));
    await inTransaction(this.ctx.db, async (tx) => {
      const repo = new AttachmentRepository(tx);
      const row = await repo.meta(entryId, id);
      if (!row || !(await repo.delete(entryId, id))) throw new AppError('handbook.attachment_not_found', `attachment ${id} not found on this entry`);
      await repo.insertEvent({ id: this.ctx.ids.uuid(), entryId, attachmentId: id, action: 'removed', filename: row.filename, step: row.step, actorId: actorId(actor), actorLabel: actorLabel(actor), at: this.ctx.clock.now() });
      const entry = await new HandbookRepository(tx).byId(entryId);
      await this.ctx.audit.append(tx, { actor, action: 'handbook.attachment.remove', target: { type: 'handbook_attachment', id, label: `${row.filename} on ${entry?.entry.title ?? entryId}` }, locationId: entryLocation(entry), details: { entryId, filename: row.filename } });
    });
  }

  /** Who added and removed which attachment, newest first. */
  async history(actor: Actor, entryId: string): Promise<AttachmentEvent[]> {
    authorize(actor, 'handbook.read', entryReadResource(await entryResource(this.ctx.db, entryId)));
    await this.requireEntry(entryId);
    return (await new AttachmentRepository(this.ctx.db).events(entryId)).map((e) => ({ id: e.id, attachmentId: e.attachmentId, action: e.action, filename: e.filename, step: e.step, actorLabel: e.actorLabel, at: e.at }));
  }

  /** The entry must exist; a step must be one of its current revision's steps. */
  private async requireEntry(entryId: string, step?: number): Promise<void> {
    const repo = new HandbookRepository(this.ctx.db);
    const row = await repo.byId(entryId);
    if (!row) throw new AppError('handbook.not_found', `handbook entry ${entryId} not found`);
    if (step !== undefined) {
      const rev = await repo.revision(entryId, row.entry.currentRevision);
      const steps = rev?.content.steps.length ?? 0;
      if (step > steps) throw new AppError('validation.failed', `Invalid input: step: this entry has ${steps} steps`, [{ path: 'step', message: `this entry has ${steps} steps` }]);
    }
  }
}

/** The location of an entry (its lock's, for an override). */
function entryLocation(row: { locationPath: string | null } | null): string | null {
  return row?.locationPath?.split('/').filter(Boolean).pop() ?? null;
}

function info(r: AttachmentMetaRow): AttachmentInfo {
  return {
    id: r.id,
    entryId: r.entryId,
    step: r.step,
    caption: r.caption,
    filename: r.filename,
    mediaType: r.mediaType as AttachmentType,
    size: r.size,
    sha256: r.sha256,
    width: r.width,
    height: r.height,
    hasThumbnail: r.hasThumbnail,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
  };
}
