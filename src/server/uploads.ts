/**
 * What the raw-file upload routes share (handbook attachments, reset-case photos): the body is the
 * file itself, its name in `x-filename` (URI-encoded); the server decides the type from the bytes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

export const UploadHeaders = z.object({ 'x-filename': z.string().max(1000).optional() }).passthrough();

/** The file name as sent (URI-decoded when it decodes). */
export function decodeFilename(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `attachment; filename="..."; filename*=UTF-8''...`: an ASCII fallback and the real name. */
export function disposition(kind: 'inline' | 'attachment', filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** Takes every content type as raw bytes up to `maxBytes`: only for a plugin context of upload routes. */
export function acceptRawBodies(app: FastifyInstance, maxBytes: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));
}
