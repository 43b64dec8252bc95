import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ATTACHMENT_LIMITS } from '../../domain/attachments.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { photoTooLarge, ResetPhotoMetaSchema } from '../../services/reset-photo-service.js';
import { actorOf, SESSION_COOKIE } from '../auth.js';
import { acceptRawBodies, decodeFilename, UploadHeaders } from '../uploads.js';
import { IdParams, items, ResetPhotoOut } from '../schemas.js';

const PhotoParams = z.object({ id: z.string().uuid('not a valid id'), pid: z.string().uuid('not a valid id') });

/**
 * Photos as evidence on reset cases. The upload body is the image itself (the type is read from the
 * bytes), its name in `x-filename` (URI-encoded), a caption in the query. Registered in its own
 * context: its body parser takes every content type as raw bytes, which no other route should.
 */
export function resetPhotoRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const photos = services.resetPhotos;
    const tags = ['reset cases'];
    acceptRawBodies(app, ATTACHMENT_LIMITS.maxBytes);

    app.post(
      '/reset-cases/:id/photos',
      {
        bodyLimit: ATTACHMENT_LIMITS.maxBytes,
        schema: {
          tags,
          summary: 'Add a photo to an open case (evidence for a check)',
          description:
            'The request body is the image (PNG, JPEG or WebP, at most 5 MB; the type is read from the content: anything else is 415, larger is 413). Stored upright without EXIF/GPS metadata, with a thumbnail. Name it by its id in a check\'s `evidence`. Needs reset.perform; refused (409) once the case is closed or cancelled.',
          params: IdParams,
          querystring: ResetPhotoMetaSchema,
          headers: UploadHeaders,
          response: { 201: ResetPhotoOut },
        },
        // Refuse an oversized or anonymous upload from its headers, before reading the body.
        preParsing: async (req) => {
          if (!req.headers.authorization && !req.cookies[SESSION_COOKIE]) throw new AppError('auth.unauthenticated', 'sign in first');
          const length = Number(req.headers['content-length']);
          if (Number.isFinite(length) && length > ATTACHMENT_LIMITS.maxBytes) throw photoTooLarge(length);
        },
      },
      async (req, reply) => {
        const body = req.body;
        if (!Buffer.isBuffer(body) || body.length === 0) throw new AppError('validation.failed', 'send the photo as the request body', [{ path: 'file', message: 'missing' }]);
        const out = await photos.add(actorOf(req), req.params.id, { bytes: body, filename: decodeFilename(req.headers['x-filename']), declaredType: req.headers['content-type'], meta: req.query });
        return reply.code(201).send(out);
      },
    );
    app.get('/reset-cases/:id/photos', { schema: { tags, summary: "A case's photos (metadata only)", params: IdParams, response: { 200: items(ResetPhotoOut) } } }, async (req) => ({
      items: await photos.list(actorOf(req), req.params.id),
    }));
    for (const which of ['original', 'thumbnail'] as const) {
      app.get(
        which === 'original' ? '/reset-cases/:id/photos/:pid' : '/reset-cases/:id/photos/:pid/thumbnail',
        { schema: { tags, summary: which === 'original' ? 'Download a photo (without its metadata)' : "A photo's thumbnail (WebP, 320 px wide)", params: PhotoParams } },
        async (req, reply) => {
          const file = await photos.file(actorOf(req), req.params.id, req.params.pid, which);
          const ascii = file.info.filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
          return reply
            .header('cache-control', 'private, max-age=300')
            .header('content-disposition', `inline; filename="${which === 'thumbnail' ? `thumbnail-${ascii}` : ascii}"`)
            .header('content-security-policy', "default-src 'none'; sandbox")
            .header('etag', `"${file.info.sha256}${which === 'thumbnail' ? '-t' : ''}"`)
            .type(file.mediaType)
            .send(file.bytes);
        },
      );
    }
  };
}
