/**
 * Attachments through the service on each engine: bytes survive the bytea round trip exactly, a refused
 * file leaves no row and no event, the policy decides who adds, and events record who added and removed.
 */
import assert from 'node:assert/strict';
import { roleActor } from '../helpers/actors.js';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { handbookAttachmentEvents, handbookAttachments } from '../../src/store/schema.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';
import { hasGps, jpegWithGps, png, tinyPdf } from '../helpers/images.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const AUDITOR: Actor = roleActor('auditor', { userId: '00000000-0000-4000-8000-000000000002', email: 'audit@example.test' });

for (const engine of ENGINES) {
  describe(`handbook attachments (${engine})`, () => {
    let env: TestEnv;
    let entryId: string;
    const count = async (t: typeof handbookAttachments | typeof handbookAttachmentEvents) => Number((await env.database.db.select({ n: sql<number>`count(*)::int` }).from(t))[0]!.n);

    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
      entryId = (await env.services.handbook.list(SYSTEM)).find((e) => e.modelNumber === 'KP-80C')!.id;
    });
    after(() => env.close());

    it('round-trips every byte of a PDF and a PNG, and strips GPS from a JPEG and its thumbnail', async () => {
      const a = env.services.attachments;
      // Every byte value, so an encoding slip (text, escaping) shows.
      const pdf = Buffer.concat([tinyPdf(), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
      const image = await png(640, 480);
      const p = await a.add(SYSTEM, entryId, { bytes: pdf, filename: 'manual.pdf' });
      const i = await a.add(SYSTEM, entryId, { bytes: image, filename: 'diagram.png', meta: { step: '1', caption: 'wiring' } });
      assert.ok((await a.file(SYSTEM, entryId, p.id, 'original')).bytes.equals(pdf));
      assert.ok((await a.file(SYSTEM, entryId, i.id, 'original')).bytes.equals(image));
      const t = await a.file(AUDITOR, entryId, i.id, 'thumbnail');
      assert.deepEqual([t.mediaType, (await sharp(t.bytes).metadata()).width], ['image/webp', 320]);

      const photo = await jpegWithGps();
      assert.ok(hasGps((await sharp(photo).metadata()).exif));
      const j = await a.add(SYSTEM, entryId, { bytes: photo, filename: 'site.jpg' });
      const stored = await a.file(SYSTEM, entryId, j.id, 'original');
      assert.equal((await sharp(stored.bytes).metadata()).exif, undefined);
      assert.equal(j.sha256.length, 64);
      // Step-bound first; the others by upload time (the test clock gives both the same instant, so by name here).
      const listed = (await a.list(AUDITOR, entryId)).map((x) => [x.filename, x.step] as const);
      assert.deepEqual(listed[0], ['diagram.png', 1]);
      assert.deepEqual([...listed.slice(1)].sort(), [['manual.pdf', null], ['site.jpg', null]]);
    });

    it('stores nothing for a refused file or a reader, and records additions and removals', async () => {
      const a = env.services.attachments;
      const rows = await count(handbookAttachments);
      const events = await count(handbookAttachmentEvents);
      for (const [who, bytes, code] of [
        [SYSTEM, Buffer.from('MZ\x90\0not really a picture', 'latin1'), 'handbook.attachment_type'],
        [AUDITOR, tinyPdf(), 'auth.forbidden'],
      ] as const) {
        await assert.rejects(a.add(who, entryId, { bytes, filename: 'x.png' }), (e) => isAppError(e, code));
      }
      assert.equal(await count(handbookAttachments), rows);
      assert.equal(await count(handbookAttachmentEvents), events);

      const added = await a.add(SYSTEM, entryId, { bytes: tinyPdf(), filename: 'temp.pdf' });
      await assert.rejects(a.remove(AUDITOR, entryId, added.id), (e) => isAppError(e, 'auth.forbidden'));
      await a.remove(SYSTEM, entryId, added.id);
      const hist = (await a.history(AUDITOR, entryId)).filter((h) => h.attachmentId === added.id);
      assert.deepEqual(hist.map((h) => [h.action, h.filename, h.actorLabel.length > 0]).sort(), [['added', 'temp.pdf', true], ['removed', 'temp.pdf', true]]);
      await assert.rejects(a.file(SYSTEM, entryId, added.id, 'original'), (e) => isAppError(e, 'handbook.attachment_not_found'));
    });
  });
}
