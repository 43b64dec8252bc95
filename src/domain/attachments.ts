/**
 * Rules for attachments of handbook entries (photos, diagrams, manufacturer PDFs): which types are
 * accepted, how big, how many, and the type of a file told from its first bytes, never from its name
 * or the declared content type alone. No I/O.
 */
import { z } from 'zod';
import { AppError } from './errors.js';
import { HANDBOOK_LIMITS } from './handbook.js';

export const ATTACHMENT_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'application/pdf'] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

export const ATTACHMENT_LIMITS = {
  /** Bytes per file (5 MiB). */
  maxBytes: 5 * 1024 * 1024,
  perEntry: 20,
  caption: 300,
  filename: 200,
  /** Thumbnail width in pixels. */
  thumbnailWidth: 320,
  /** Refuse images larger than this many pixels before decoding them (decompression bombs). */
  maxPixels: 40_000_000,
} as const;

export function isImageType(t: string): t is Exclude<AttachmentType, 'application/pdf'> {
  return t === 'image/png' || t === 'image/jpeg' || t === 'image/webp';
}

/** What the first bytes of `bytes` say it is; null for anything else. */
export function sniffType(bytes: Uint8Array): AttachmentType | null {
  const at = (offset: number, sig: number[]) => sig.every((b, i) => bytes[offset + i] === b);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (at(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  if (at(0, [0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf';
  return null;
}

/** A short name for what a refused file looks like, so the message can say what the problem is. */
function describe(bytes: Uint8Array): string {
  const at = (sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (at([0x4d, 0x5a])) return 'a Windows program (.exe)';
  if (at([0x7f, 0x45, 0x4c, 0x46])) return 'a Linux program (ELF)';
  if (at([0x50, 0x4b, 0x03, 0x04])) return 'a ZIP archive (or an Office document)';
  if (at([0x47, 0x49, 0x46, 0x38])) return 'a GIF image';
  if (bytes.length >= 12 && at([0, 0, 0]) && String.fromCharCode(...bytes.subarray(4, 8)) === 'ftyp') return 'a HEIC/MP4 file';
  if (at([0x3c])) return 'text or HTML/SVG';
  return 'not a recognised file';
}

/**
 * The type of an upload, from its content. Throws `handbook.attachment_type` naming what the file is
 * when it is not a PNG, JPEG, WebP or PDF, and `handbook.attachment_too_large` / `validation.failed`
 * for size.
 */
export function checkUpload(bytes: Uint8Array, filename: string, declared: string | undefined): AttachmentType {
  if (bytes.length === 0) throw new AppError('validation.failed', 'the file is empty', [{ path: 'file', message: 'empty' }]);
  if (bytes.length > ATTACHMENT_LIMITS.maxBytes) throw tooLarge(bytes.length);
  const type = sniffType(bytes);
  if (!type) {
    const claimed = declared && declared !== 'application/octet-stream' ? ` although it was sent as ${declared}` : '';
    throw new AppError(
      'handbook.attachment_type',
      `"${filename}" is ${describe(bytes)}${claimed}; attachments must be PNG, JPEG or WebP images or PDF documents (checked from the file's content, not its name)`,
      [{ path: 'file', message: 'not a PNG, JPEG, WebP or PDF' }],
    );
  }
  return type;
}

export function tooLarge(size: number): AppError {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return new AppError('handbook.attachment_too_large', `the file is ${mb(size)}; an attachment may be at most ${mb(ATTACHMENT_LIMITS.maxBytes)}`, [
    { path: 'file', message: 'too large' },
  ]);
}

/** A file name safe to store and to put in a header: no path, no control characters, bounded. */
export function cleanFilename(name: string | undefined, type: AttachmentType): string {
  const base = (name ?? '')
    .split(/[\\/]/)
    .pop()!
    .replace(/[\p{Cc}"]/gu, '')
    .trim()
    .slice(0, ATTACHMENT_LIMITS.filename);
  const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'application/pdf': 'pdf' }[type];
  return base || `attachment.${ext}`;
}

/** Caption and step sent with an upload (query string of the upload request). */
export const AttachmentMetaSchema = z
  .object({
    caption: z.string().trim().max(ATTACHMENT_LIMITS.caption, `at most ${ATTACHMENT_LIMITS.caption} characters`).default(''),
    step: z.coerce.number().int('a whole step number').min(1, 'steps are numbered from 1').max(HANDBOOK_LIMITS.steps).optional(),
  })
  .strict();
export type AttachmentMeta = z.infer<typeof AttachmentMetaSchema>;

/** An attachment as lists show it: metadata only. */
export interface AttachmentInfo {
  id: string;
  entryId: string;
  step: number | null;
  caption: string;
  filename: string;
  mediaType: AttachmentType;
  size: number;
  sha256: string;
  width: number | null;
  height: number | null;
  hasThumbnail: boolean;
  createdBy: string;
  createdAt: Date;
}

export interface AttachmentEvent {
  id: string;
  attachmentId: string;
  action: 'added' | 'removed';
  filename: string;
  step: number | null;
  actorLabel: string;
  at: Date;
}
