/**
 * Image handling for handbook attachments, on sharp (libvips): metadata stripped from what is stored
 * (photos taken on site carry GPS), EXIF orientation applied, and a small WebP thumbnail. No database,
 * no policy.
 *
 * Stripping is lossless where it can be: JPEG, PNG and WebP containers are rewritten without their
 * metadata segments, so the pixels are the uploaded ones bit for bit. Only an image whose EXIF says it
 * is rotated is re-encoded (upright), because dropping the tag without turning the pixels would show
 * it sideways.
 */
import sharp, { type Metadata } from 'sharp';
import { AppError } from '../domain/errors.js';
import { ATTACHMENT_LIMITS, type AttachmentType } from '../domain/attachments.js';

export interface PreparedImage {
  bytes: Buffer;
  width: number;
  height: number;
  thumbnail: Buffer;
}

type ImageType = Exclude<AttachmentType, 'application/pdf'>;

const open = (bytes: Buffer) => sharp(bytes, { limitInputPixels: ATTACHMENT_LIMITS.maxPixels, failOn: 'error' });

/** Strips metadata, turns the image upright and makes its thumbnail. Throws 415 for an unreadable image. */
export async function prepareImage(input: Buffer, type: ImageType, filename: string): Promise<PreparedImage> {
  let meta: Metadata;
  try {
    meta = await open(input).metadata();
  } catch (e) {
    const why = e instanceof Error && /pixel limit/i.test(e.message) ? `it is larger than ${ATTACHMENT_LIMITS.maxPixels / 1e6} megapixels` : 'it could not be read';
    throw new AppError('handbook.attachment_type', `"${filename}" starts like a ${type} image but ${why}`, [{ path: 'file', message: 'unreadable image' }]);
  }
  const rotated = (meta.orientation ?? 1) > 1;
  let bytes = rotated ? await reencode(input, type) : stripContainer(input, type);
  let out = await open(bytes).metadata();
  if (out.exif || out.xmp || out.iptc) {
    // Something the container walk did not know about: fall back to a re-encode, which keeps no metadata.
    bytes = await reencode(input, type);
    out = await open(bytes).metadata();
  }
  const thumbnail = await open(bytes)
    .resize({ width: ATTACHMENT_LIMITS.thumbnailWidth, withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
  return { bytes, width: out.width ?? 0, height: out.height ?? 0, thumbnail };
}

async function reencode(input: Buffer, type: ImageType): Promise<Buffer> {
  const img = open(input).rotate().keepIccProfile();
  if (type === 'image/png') return img.png().toBuffer();
  if (type === 'image/webp') return img.webp({ quality: 90 }).toBuffer();
  return img.jpeg({ quality: 92 }).toBuffer();
}

/** The image without its metadata segments; the compressed pixels untouched. */
export function stripContainer(input: Buffer, type: ImageType): Buffer {
  if (type === 'image/jpeg') return stripJpeg(input);
  if (type === 'image/png') return stripPng(input);
  return stripWebp(input);
}

/**
 * JPEG: keeps JFIF (APP0), the ICC profile (APP2 "ICC_PROFILE") and Adobe (APP14), drops every other
 * APPn (EXIF and XMP in APP1, IPTC in APP13, MPF) and comments; stops at the end of the first image, so
 * appended images (MPF previews, which carry their own EXIF) go too.
 */
function stripJpeg(b: Buffer): Buffer {
  const parts: Buffer[] = [b.subarray(0, 2)];
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw unreadable('JPEG');
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    const len = b.readUInt16BE(i + 2);
    const seg = b.subarray(i, i + 2 + len);
    if (marker === 0xda) {
      // Start of scan: from here on entropy-coded data and further tables; copy up to the first EOI.
      const eoi = findEoi(b, i + 2 + len);
      parts.push(b.subarray(i, eoi));
      return Buffer.concat(parts);
    }
    const app = marker >= 0xe0 && marker <= 0xef;
    const keep = !app && marker !== 0xfe ? true : marker === 0xe0 || marker === 0xee || (marker === 0xe2 && seg.subarray(4, 16).toString('latin1') === 'ICC_PROFILE\0');
    if (keep) parts.push(seg);
    i += 2 + len;
  }
  throw unreadable('JPEG');
}

function findEoi(b: Buffer, from: number): number {
  for (let i = from; i + 1 < b.length; i++) {
    // Inside scan data 0xFF is followed by 0x00 (stuffing) or a marker; D9 is the end of the image.
    if (b[i] === 0xff && b[i + 1] === 0xd9) return i + 2;
  }
  return b.length;
}

/** PNG: drops eXIf, tEXt, zTXt, iTXt and tIME chunks. */
function stripPng(b: Buffer): Buffer {
  const drop = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);
  const parts: Buffer[] = [b.subarray(0, 8)];
  let i = 8;
  while (i + 12 <= b.length) {
    const len = b.readUInt32BE(i);
    const kind = b.subarray(i + 4, i + 8).toString('latin1');
    const end = i + 12 + len;
    if (end > b.length) throw unreadable('PNG');
    if (!drop.has(kind)) parts.push(b.subarray(i, end));
    i = end;
    if (kind === 'IEND') return Buffer.concat(parts);
  }
  throw unreadable('PNG');
}

/** WebP: drops the EXIF and XMP chunks and clears their flags in VP8X. */
function stripWebp(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 12;
  while (i + 8 <= b.length) {
    const kind = b.subarray(i, i + 4).toString('latin1');
    const len = b.readUInt32LE(i + 4);
    const end = i + 8 + len + (len % 2);
    if (end > b.length + 1) throw unreadable('WebP');
    if (kind === 'VP8X') {
      const chunk = Buffer.from(b.subarray(i, Math.min(end, b.length)));
      chunk[8] = chunk[8]! & ~(0x08 | 0x04); // EXIF and XMP present flags
      parts.push(chunk);
    } else if (kind !== 'EXIF' && kind !== 'XMP ') {
      parts.push(b.subarray(i, Math.min(end, b.length)));
    }
    i = end;
  }
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(12);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(body.length + 4, 4);
  header.write('WEBP', 8, 'latin1');
  return Buffer.concat([header, body]);
}

function unreadable(kind: string): AppError {
  return new AppError('handbook.attachment_type', `the ${kind} file is damaged and could not be read`, [{ path: 'file', message: 'unreadable image' }]);
}
