import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Db } from './database.js';
import { resetCasePhotos } from './schema.js';

export type ResetPhotoRow = typeof resetCasePhotos.$inferSelect;
export type ResetPhotoMetaRow = Omit<ResetPhotoRow, 'bytes' | 'thumbnail'>;

const meta = {
  id: resetCasePhotos.id,
  caseId: resetCasePhotos.caseId,
  caption: resetCasePhotos.caption,
  filename: resetCasePhotos.filename,
  mediaType: resetCasePhotos.mediaType,
  size: resetCasePhotos.size,
  sha256: resetCasePhotos.sha256,
  width: resetCasePhotos.width,
  height: resetCasePhotos.height,
  createdById: resetCasePhotos.createdById,
  createdBy: resetCasePhotos.createdBy,
  createdAt: resetCasePhotos.createdAt,
};

/** Photos kept as evidence of a reset case's checks (bytes in the database). */
export class ResetPhotoRepository {
  constructor(private readonly db: Db) {}

  async insert(row: ResetPhotoRow): Promise<void> {
    await this.db.insert(resetCasePhotos).values(row);
  }

  /** Metadata of a case's photos, in upload order; never the bytes. */
  async list(caseId: string): Promise<ResetPhotoMetaRow[]> {
    return this.db.select(meta).from(resetCasePhotos).where(eq(resetCasePhotos.caseId, caseId)).orderBy(asc(resetCasePhotos.createdAt), asc(resetCasePhotos.id));
  }

  /** Which of `ids` are photos of this case. */
  async existing(caseId: string, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db
      .select({ id: resetCasePhotos.id })
      .from(resetCasePhotos)
      .where(and(eq(resetCasePhotos.caseId, caseId), inArray(resetCasePhotos.id, ids)));
    return new Set(rows.map((r) => r.id));
  }

  /** The stored photo (metadata stripped) or its thumbnail. */
  async bytes(caseId: string, id: string, which: 'original' | 'thumbnail'): Promise<{ meta: ResetPhotoMetaRow; bytes: Buffer } | null> {
    const [row] = await this.db
      .select({ ...meta, bytes: which === 'original' ? resetCasePhotos.bytes : resetCasePhotos.thumbnail })
      .from(resetCasePhotos)
      .where(and(eq(resetCasePhotos.caseId, caseId), eq(resetCasePhotos.id, id)));
    if (!row) return null;
    const { bytes, ...m } = row;
    return { meta: m, bytes };
  }
}
