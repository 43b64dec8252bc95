import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ATTACHMENT_LIMITS, AttachmentMetaSchema, tooLarge } from '../../domain/attachments.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { actorOf, SESSION_COOKIE } from '../auth.js';
import { acceptRawBodies, decodeFilename, disposition, UploadHeaders } from '../uploads.js';
import { AttachmentEventOut, AttachmentOut, IdParams, items } from '../schemas.js';

const AttachmentParams = z.object({ id: z.string().uuid('not a valid id'), aid: z.string().uuid('not a valid id') });


/**
 * Attachments of handbook entries. The upload body is the file itself (any content type; the server
 * decides the type from the bytes), with the file name in `x-filename` (URI-encoded) and caption and
 * step in the query string. Registered in its own context: its body parser takes every content type
 * as raw bytes, which no other route should.
 */
export function attachmentRoutes(services: Services): FastifyPluginAsyncZod {
  return async (app) => {
    const { attachments } = services;
    const tags = ['handbook'];
    acceptRawBodies(app, ATTACHMENT_LIMITS.maxBytes);

    app.post(
      '/handbook/entries/:id/attachments',
      {
        bodyLimit: ATTACHMENT_LIMITS.maxBytes,
        schema: {
          tags,
          summary: 'Attach a photo, diagram or PDF to an entry',
          description:
            'The request body is the file (PNG, JPEG, WebP or PDF, at most 5 MB; the type is read from the content, a renamed file is 415). Send its name in `x-filename` (URI-encoded) and optionally `caption` and `step` in the query. At most 20 per entry (409). Images are stored upright without EXIF/GPS metadata. Needs handbook.write.',
          params: IdParams,
          querystring: AttachmentMetaSchema,
          headers: UploadHeaders,
          response: { 201: AttachmentOut },
        },
        // Refuse an oversized or anonymous upload from its headers, before reading the body.
        preParsing: async (req) => {
          if (!req.headers.authorization && !req.cookies[SESSION_COOKIE]) throw new AppError('auth.unauthenticated', 'sign in first');
          const length = Number(req.headers['content-length']);
          if (Number.isFinite(length) && length > ATTACHMENT_LIMITS.maxBytes) throw tooLarge(length);
        },
      },
      async (req, reply) => {
        const body = req.body;
        if (!Buffer.isBuffer(body) || body.length === 0) throw new AppError('validation.failed', 'send the file as the request body', [{ path: 'file', message: 'missing' }]);
        const out = await attachments.add(actorOf(req), req.params.id, {
          bytes: body,
          filename: decodeFilename(req.headers['x-filename']),
          declaredType: req.headers['content-type'],
          meta: req.query,
        });
        return reply.code(201).send(out);
      },
    );
    app.get('/handbook/entries/:id/attachments', { schema: { tags, summary: "An entry's attachments (metadata only)", params: IdParams, response: { 200: items(AttachmentOut) } } }, async (req) => ({
      items: await attachments.list(actorOf(req), req.params.id),
    }));
    app.get('/handbook/entries/:id/attachments/history', { schema: { tags, summary: 'Who added and removed attachments, newest first', params: IdParams, response: { 200: items(AttachmentEventOut) } } }, async (req) => ({
      items: await attachments.history(actorOf(req), req.params.id),
    }));
    for (const which of ['original', 'thumbnail'] as const) {
      app.get(
        which === 'original' ? '/handbook/entries/:id/attachments/:aid' : '/handbook/entries/:id/attachments/:aid/thumbnail',
        {
          schema: {
            tags,
            summary: which === 'original' ? 'Download an attachment (images without their metadata)' : "An image attachment's thumbnail (WebP, 320 px wide)",
            params: AttachmentParams,
          },
        },
        async (req, reply) => {
          const file = await attachments.file(actorOf(req), req.params.id, req.params.aid, which);
          const name = which === 'original' ? file.info.filename : `${file.info.filename.replace(/\.[^.]*$/, '')}-thumbnail.webp`;
          return reply
            .header('cache-control', 'private, max-age=300')
            .header('content-disposition', disposition(file.mediaType.startsWith('image/') ? 'inline' : 'attachment', name))
            .header('content-security-policy', "default-src 'none'; sandbox")
            .header('etag', `"${file.info.sha256}${which === 'thumbnail' ? '-t' : ''}"`)
            .type(file.mediaType)
            .send(file.bytes);
        },
      );
    }
    app.delete('/handbook/entries/:id/attachments/:aid', { schema: { tags, summary: 'Remove an attachment (recorded)', params: AttachmentParams } }, async (req, reply) => {
      await attachments.remove(actorOf(req), req.params.id, req.params.aid);
      return reply.code(204).send();
    });
  };
}
