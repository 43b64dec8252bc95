/**
 * Photos as evidence of a reset case's checks (the latch working, the override key turning, the
 * battery compartment): uploaded to the case while it is open, cleaned like handbook attachments
 * (type told from the content, EXIF/GPS stripped, upright, a WebP thumbnail), then named by id in a
 * check's `evidence`. Each upload is audited; photos are listed in the signed close-out record.
 */
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { ATTACHMENT_LIMITS, cleanFilename, isImageType, sniffType } from '../domain/attachments.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { isFinished } from '../domain/reset-case.js';
import { parseInput } from '../domain/validation.js';
import { inTransaction, type Db } from '../store/database.js';
import { ResetCaseRepository } from '../store/reset-case-repository.js';
import { ResetPhotoRepository, type ResetPhotoMetaRow } from '../store/reset-photo-repository.js';
import { locks } from '../store/schema.js';
import { actorId, actorLabel, authorize, type ServiceContext } from './context.js';
import { hideAs, lockResource } from './scope.js';

/** Photos a case may hold. */
export const RESET_PHOTO_LIMIT = 50;

export const ResetPhotoMetaSchema = z
  .object({ caption: z.string().trim().max(ATTACHMENT_LIMITS.caption, `at most ${ATTACHMENT_LIMITS.caption} characters`).default('') })
  .strict();

/** A photo as the case page and the record list it: metadata only. */
export interface ResetPhotoInfo {
  id: string;
  caseId: string;
  caption: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  width: number;
  height: number;
  createdBy: string;
  createdAt: Date;
}

export interface ResetPhotoUpload {
  bytes: Buffer;
  filename?: string | undefined;
  declaredType?: string | undefined;
  /** `caption`, from the query string. */
  meta?: unknown;
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Use cases on the photos of reset cases. */
export class ResetPhotoService {
  constructor(private readonly ctx: ServiceContext) {}

  /**
   * Checks, cleans and stores one photo on an open case. Not an image, too large, unreadable, a
   * finished case or a full case: a clear error, nothing stored.
   */
  async add(actor: Actor, caseId: string, upload: ResetPhotoUpload): Promise<ResetPhotoInfo> {
    const m = parseInput(ResetPhotoMetaSchema, upload.meta ?? {});
    const row = await this.caseRow(caseId);
    authorize(actor, 'reset.perform', hideAs(await lockResource(this.ctx.db, row.lockId), () => notFound(caseId)));
    const name = upload.filename ?? 'the file';
    if (upload.bytes.length === 0) throw new AppError('validation.failed', 'the file is empty', [{ path: 'file', message: 'empty' }]);
    if (upload.bytes.length > ATTACHMENT_LIMITS.maxBytes) throw photoTooLarge(upload.bytes.length);
    const type = sniffType(upload.bytes);
    if (!type || !isImageType(type)) {
      const what = type === 'application/pdf' ? 'a PDF document' : 'not a PNG, JPEG or WebP image';
      throw new AppError('reset.photo_type', `"${name}" is ${what}; evidence photos must be PNG, JPEG or WebP images (checked from the file's content, not its name)`, [
        { path: 'file', message: 'not a PNG, JPEG or WebP image' },
      ]);
    }
    if (isFinished(row.data)) throw finished(row.data.state);
    const filename = cleanFilename(upload.filename, type);
    let image;
    try {
      // sharp loads on first use (the CLI starts without it).
      image = await (await import('../media/images.js')).prepareImage(upload.bytes, type, filename);
    } catch (e) {
      if (isAppError(e, 'handbook.attachment_type')) throw new AppError('reset.photo_type', e.message, [{ path: 'file', message: 'unreadable image' }]);
      throw e;
    }
    const id = this.ctx.ids.uuid();
    await inTransaction(this.ctx.db, async (tx) => {
      // The case row locked: steps and uploads of one case go one at a time.
      const current = await new ResetCaseRepository(tx).lockForStep(caseId);
      if (!current) throw notFound(caseId);
      if (isFinished(current.data)) throw finished(current.data.state);
      const repo = new ResetPhotoRepository(tx);
      const n = (await repo.list(caseId)).length;
      if (n >= RESET_PHOTO_LIMIT) throw new AppError('reset.photo_limit', `this case already has ${n} photos, the most it may have`, [{ path: 'file', message: 'too many photos' }]);
      const now = this.ctx.clock.now();
      await repo.insert({
        id,
        caseId,
        caption: m.caption,
        filename,
        mediaType: type,
        size: image.bytes.length,
        sha256: createHash('sha256').update(image.bytes).digest('hex'),
        width: image.width,
        height: image.height,
        bytes: image.bytes,
        thumbnail: image.thumbnail,
        createdById: actorId(actor),
        createdBy: actorLabel(actor),
        createdAt: now,
      });
      await this.ctx.audit.append(tx, {
        actor,
        action: 'reset.photo.add',
        target: { type: 'reset_case', id: caseId, label: filename },
        locationId: await this.locationOf(tx, current.lockId),
        details: { photoId: id, filename, mediaType: type, size: image.bytes.length },
      });
    });
    return (await this.list(actor, caseId)).find((p) => p.id === id)!;
  }

  /** A case's photos (metadata). */
  async list(actor: Actor, caseId: string): Promise<ResetPhotoInfo[]> {
    const row = await this.caseRow(caseId);
    authorize(actor, 'reset.read', hideAs(await lockResource(this.ctx.db, row.lockId), () => notFound(caseId)));
    return (await new ResetPhotoRepository(this.ctx.db).list(caseId)).map(photoInfo);
  }

  /** The stored photo (metadata stripped) or its WebP thumbnail. */
  async file(actor: Actor, caseId: string, id: string, which: 'original' | 'thumbnail'): Promise<{ info: ResetPhotoInfo; bytes: Buffer; mediaType: string }> {
    const row = await this.caseRow(caseId);
    authorize(actor, 'reset.read', hideAs(await lockResource(this.ctx.db, row.lockId), () => notFound(caseId)));
    const got = await new ResetPhotoRepository(this.ctx.db).bytes(caseId, id, which);
    if (!got) throw new AppError('reset.photo_not_found', `photo ${id} not found on this case`);
    return { info: photoInfo(got.meta), bytes: got.bytes, mediaType: which === 'thumbnail' ? 'image/webp' : got.meta.mediaType };
  }

  private async caseRow(caseId: string) {
    if (!z.string().uuid().safeParse(caseId).success) throw notFound(caseId);
    const row = await new ResetCaseRepository(this.ctx.db).byId(caseId);
    if (!row) throw notFound(caseId);
    return row;
  }

  private async locationOf(tx: Db, lockId: string): Promise<string | null> {
    const [l] = await tx.select({ locationId: locks.locationId }).from(locks).where(eq(locks.id, lockId));
    return l?.locationId ?? null;
  }
}

/** Photo metadata as callers see it. */
export function photoInfo(r: ResetPhotoMetaRow): ResetPhotoInfo {
  return { id: r.id, caseId: r.caseId, caption: r.caption, filename: r.filename, mediaType: r.mediaType, size: r.size, sha256: r.sha256, width: r.width, height: r.height, createdBy: r.createdBy, createdAt: r.createdAt };
}

export function photoTooLarge(size: number): AppError {
  return new AppError('reset.photo_too_large', `the photo is ${mb(size)}; a photo may be at most ${mb(ATTACHMENT_LIMITS.maxBytes)}`, [{ path: 'file', message: 'too large' }]);
}

function finished(state: string): AppError {
  return new AppError('reset.wrong_state', `the case is ${state}: photos are added while a case is open`);
}

function notFound(id: string): AppError {
  return new AppError('reset.not_found', `reset case ${id} not found`);
}
