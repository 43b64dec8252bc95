import { and, asc, count, desc, eq, sql } from 'drizzle-orm';
import type { Db } from './database.js';
import { handbookAttachmentEvents, handbookAttachments, handbookEntries } from './schema.js';

export type AttachmentRow = typeof handbookAttachments.$inferSelect;
export type AttachmentMetaRow = Omit<AttachmentRow, 'bytes' | 'thumbnail'> & { hasThumbnail: boolean };

const meta = {
  id: handbookAttachments.id,
  entryId: handbookAttachments.entryId,
  step: handbookAttachments.step,
  caption: handbookAttachments.caption,
  filename: handbookAttachments.filename,
  mediaType: handbookAttachments.mediaType,
  size: handbookAttachments.size,
  sha256: handbookAttachments.sha256,
  width: handbookAttachments.width,
  height: handbookAttachments.height,
  createdById: handbookAttachments.createdById,
  createdBy: handbookAttachments.createdBy,
  createdAt: handbookAttachments.createdAt,
  hasThumbnail: sql<boolean>`${handbookAttachments.thumbnail} is not null`,
};

/** Attachments of handbook entries (bytes in the database) and the record of additions and removals. */
export class AttachmentRepository {
  constructor(private readonly db: Db) {}

  /** Locks the entry row until the transaction ends, so concurrent uploads count one after another. */
  async lockEntry(entryId: string): Promise<boolean> {
    const rows = await this.db.select({ id: handbookEntries.id }).from(handbookEntries).where(eq(handbookEntries.id, entryId)).for('update');
    return rows.length === 1;
  }

  async countFor(entryId: string): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(handbookAttachments).where(eq(handbookAttachments.entryId, entryId));
    return Number(row?.n ?? 0);
  }

  /** Metadata only, in step order then upload order; never the bytes. */
  async list(entryId: string): Promise<AttachmentMetaRow[]> {
    return this.db
      .select(meta)
      .from(handbookAttachments)
      .where(eq(handbookAttachments.entryId, entryId))
      .orderBy(sql`${handbookAttachments.step} nulls last`, asc(handbookAttachments.createdAt), asc(handbookAttachments.id));
  }

  async meta(entryId: string, id: string): Promise<AttachmentMetaRow | null> {
    const [row] = await this.db
      .select(meta)
      .from(handbookAttachments)
      .where(and(eq(handbookAttachments.entryId, entryId), eq(handbookAttachments.id, id)));
    return row ?? null;
  }

  /** The stored bytes (`original`) or the thumbnail of one attachment. */
  async bytes(entryId: string, id: string, which: 'original' | 'thumbnail'): Promise<{ meta: AttachmentMetaRow; bytes: Buffer | null } | null> {
    const [row] = await this.db
      .select({ ...meta, bytes: which === 'original' ? handbookAttachments.bytes : handbookAttachments.thumbnail })
      .from(handbookAttachments)
      .where(and(eq(handbookAttachments.entryId, entryId), eq(handbookAttachments.id, id)));
    if (!row) return null;
    const { bytes, ...rest } = row;
    return { meta: rest, bytes };
  }

  async insert(row: typeof handbookAttachments.$inferInsert): Promise<void> {
    await this.db.insert(handbookAttachments).values(row);
  }

  async delete(entryId: string, id: string): Promise<boolean> {
    const rows = await this.db
      .delete(handbookAttachments)
      .where(and(eq(handbookAttachments.entryId, entryId), eq(handbookAttachments.id, id)))
      .returning({ id: handbookAttachments.id });
    return rows.length === 1;
  }

  async insertEvent(row: typeof handbookAttachmentEvents.$inferInsert): Promise<void> {
    await this.db.insert(handbookAttachmentEvents).values(row);
  }

  async events(entryId: string): Promise<(typeof handbookAttachmentEvents.$inferSelect)[]> {
    return this.db.select().from(handbookAttachmentEvents).where(eq(handbookAttachmentEvents.entryId, entryId)).orderBy(desc(handbookAttachmentEvents.at), desc(handbookAttachmentEvents.id));
  }
}
