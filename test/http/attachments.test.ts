/**
 * Handbook attachments over HTTP: the type comes from the bytes (a renamed program is 415 and nothing
 * is stored), 5 MB is 413, readers may view but not add (403); originals come back byte for byte
 * (images without their EXIF/GPS), thumbnails are 320 px WebP, additions and removals are recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { asSession, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';
import { hasGps, jpeg, jpegRotated, jpegWithGps, png, tinyPdf, webp } from '../helpers/images.js';

interface Attachment {
  id: string;
  step: number | null;
  caption: string;
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  width: number | null;
  height: number | null;
  hasThumbnail: boolean;
  createdBy: string;
}

describe('handbook attachments HTTP API', () => {
  let env: HttpEnv;
  let app: FastifyInstance;
  let owner: Session;
  let tech: Session;
  let auditor: Session;
  let entryId: string;
  let otherEntryId: string;

  const base = () => `/api/handbook/entries/${entryId}/attachments`;
  const upload = (s: Session, bytes: Buffer, filename: string, type: string, query = '', id = entryId) =>
    injectAs(app, asSession(s), { method: 'POST', url: `/api/handbook/entries/${id}/attachments${query}`, headers: { 'content-type': type, 'x-filename': encodeURIComponent(filename) }, payload: bytes });
  const list = async (s: Session = owner, id = entryId) => {
    const res = await injectAs(app, asSession(s), { method: 'GET', url: `/api/handbook/entries/${id}/attachments` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ items: Attachment[] }>().items;
  };

  before(async () => {
    env = await testApp({ demo: true });
    app = env.app;
    owner = await signIn(app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.createUser('tech@example.test', 'technician', 'technician password 1');
    await env.createUser('auditor@example.test', 'auditor', 'auditor password 1');
    tech = await signIn(app, 'tech@example.test', 'technician password 1');
    auditor = await signIn(app, 'auditor@example.test', 'auditor password 1');
    const entries = (await injectAs(app, asSession(owner), { method: 'GET', url: '/api/handbook/entries' })).json<{ items: { id: string; modelNumber: string }[] }>().items;
    entryId = entries.find((e) => e.modelNumber === 'KP-80C')!.id;
    otherEntryId = entries.find((e) => e.modelNumber === 'KP-50')!.id;
  });
  after(() => env.close());

  it('stores a PNG tied to a step and gives it back byte for byte, with safe headers and a 320 px thumbnail', async () => {
    const bytes = await png(800, 600);
    const res = await upload(owner, bytes, 'wiring diagram.png', 'image/png', '?caption=Back%20plate%20wiring&step=2');
    assert.equal(res.statusCode, 201, res.body);
    const a = res.json<Attachment>();
    assert.deepEqual([a.mediaType, a.step, a.caption, a.filename, a.size, a.width, a.height, a.hasThumbnail], ['image/png', 2, 'Back plate wiring', 'wiring diagram.png', bytes.length, 800, 600, true]);

    const got = await injectAs(app, asSession(auditor), { method: 'GET', url: `${base()}/${a.id}` });
    assert.equal(got.statusCode, 200);
    assert.ok(got.rawPayload.equals(bytes), 'the original comes back byte for byte');
    assert.equal(got.headers['content-type'], 'image/png');
    assert.equal(got.headers['x-content-type-options'], 'nosniff');
    assert.match(String(got.headers['cache-control']), /^private/);
    assert.match(String(got.headers['content-disposition']), /^inline; filename="wiring diagram.png"/);

    const thumb = await injectAs(app, asSession(auditor), { method: 'GET', url: `${base()}/${a.id}/thumbnail` });
    assert.equal(thumb.statusCode, 200);
    assert.equal(thumb.headers['content-type'], 'image/webp');
    const tm = await sharp(thumb.rawPayload).metadata();
    assert.deepEqual([tm.format, tm.width, tm.height], ['webp', 320, 240]);
  });

  it('strips GPS and camera EXIF from a JPEG without touching its pixels, and from the thumbnail', async () => {
    const bytes = await jpegWithGps();
    assert.ok(hasGps((await sharp(bytes).metadata()).exif), 'the test photo carries GPS');
    const res = await upload(owner, bytes, 'on site.jpg', 'image/jpeg');
    assert.equal(res.statusCode, 201, res.body);
    const a = res.json<Attachment>();
    const got = (await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}` })).rawPayload;
    const m = await sharp(got).metadata();
    assert.equal(m.exif, undefined, 'no EXIF left');
    assert.equal(got.includes(Buffer.from('SiteCam')), false);
    assert.ok(got.length < bytes.length);
    assert.equal(a.size, got.length);
    // Lossless: the decoded pixels are identical.
    const [p1, p2] = await Promise.all([sharp(bytes).raw().toBuffer(), sharp(got).raw().toBuffer()]);
    assert.ok(p1.equals(p2), 'same pixels');
    const thumb = (await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}/thumbnail` })).rawPayload;
    assert.equal((await sharp(thumb).metadata()).exif, undefined);
  });

  it('turns a JPEG upright by its EXIF orientation; a plain JPEG and a WebP come back unchanged', async () => {
    const rotated = (await upload(owner, await jpegRotated(), 'sideways.jpg', 'image/jpeg')).json<Attachment>();
    assert.deepEqual([rotated.width, rotated.height], [600, 800]);
    const got = (await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${rotated.id}` })).rawPayload;
    const m = await sharp(got).metadata();
    assert.deepEqual([m.width, m.height, m.orientation ?? 1], [600, 800, 1]);
    // Orientation 6 turns the red left half to the top.
    const top = await sharp(got).extract({ left: 300, top: 10, width: 1, height: 1 }).raw().toBuffer();
    assert.ok(top[0]! > 150 && top[2]! < 100, `top is red, got ${[...top].join(',')}`);

    for (const [bytes, type, name] of [[await jpeg(), 'image/jpeg', 'plain.jpg'], [await webp(), 'image/webp', 'plain.webp']] as const) {
      const a = (await upload(owner, bytes, name, type)).json<Attachment>();
      const back = (await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}` })).rawPayload;
      assert.ok(back.equals(bytes), `${name} byte for byte`);
    }
  });

  it('stores a PDF as is, as a download, without a thumbnail', async () => {
    const pdf = tinyPdf();
    const a = (await upload(owner, pdf, 'Manuel d’installation.pdf', 'application/octet-stream', '?caption=Manual')).json<Attachment>();
    assert.deepEqual([a.mediaType, a.hasThumbnail, a.width], ['application/pdf', false, null]);
    const got = await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}` });
    assert.ok(got.rawPayload.equals(pdf));
    assert.equal(got.headers['content-type'], 'application/pdf');
    assert.match(String(got.headers['content-disposition']), /^attachment; filename="Manuel d_installation.pdf"; filename\*=UTF-8''Manuel%20d%E2%80%99installation.pdf$/);
    expectError(await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}/thumbnail` }), 404, 'handbook.attachment_not_found');
  });

  it('refuses a renamed program (415, naming it) and stores nothing', async () => {
    const before = (await list()).length;
    const exe = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(2000, 7)]);
    const err = expectError(await upload(owner, exe, 'lock-photo.png', 'image/png'), 415, 'handbook.attachment_type');
    assert.match(err.message, /"lock-photo\.png" is a Windows program \(\.exe\) although it was sent as image\/png/);
    expectError(await upload(owner, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.svg', 'image/svg+xml'), 415, 'handbook.attachment_type');
    // A PNG signature on garbage is caught by decoding.
    expectError(await upload(owner, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100)]), 'broken.png', 'image/png'), 415, 'handbook.attachment_type');
    assert.equal((await list()).length, before);
  });

  it('refuses a file over 5 MB (413) and a bad step (400)', async () => {
    const big = Buffer.concat([tinyPdf(), Buffer.alloc(5 * 1024 * 1024)]);
    const err = expectError(await upload(owner, big, 'huge.pdf', 'application/pdf'), 413, 'handbook.attachment_too_large');
    assert.match(err.message, /at most 5\.0 MB/);
    const e400 = expectError(await upload(owner, tinyPdf(), 'a.pdf', 'application/pdf', '?step=99'), 400, 'validation.failed');
    assert.deepEqual(e400.fields?.map((f) => f.path), ['step']);
    expectError(await upload(owner, tinyPdf(), 'a.pdf', 'application/pdf', '?step=0'), 400, 'validation.failed');
    expectError(await upload(owner, Buffer.alloc(0), 'a.pdf', 'application/pdf'), 400, 'validation.failed');
  });

  it('lets readers view but not add or remove (403); needs a session and CSRF', async () => {
    const pdf = tinyPdf();
    expectError(await upload(auditor, pdf, 'a.pdf', 'application/pdf'), 403, 'auth.forbidden');
    expectError(await upload(tech, pdf, 'a.pdf', 'application/pdf'), 403, 'auth.forbidden');
    expectError(await app.inject({ method: 'POST', url: base(), headers: { 'content-type': 'application/pdf' }, payload: pdf }), 401, 'auth.unauthenticated');
    expectError(await injectAs(app, asSession(owner, false), { method: 'POST', url: base(), headers: { 'content-type': 'application/pdf' }, payload: pdf }), 403, 'auth.csrf');
    const items = await list(auditor);
    assert.ok(items.length >= 5);
    expectError(await injectAs(app, asSession(tech), { method: 'DELETE', url: `${base()}/${items[0]!.id}` }), 403, 'auth.forbidden');
  });

  it('records who added and removed what; a removed attachment is gone', async () => {
    const a = (await upload(owner, tinyPdf('gone'), 'old.pdf', 'application/pdf')).json<Attachment>();
    const del = await injectAs(app, asSession(owner), { method: 'DELETE', url: `${base()}/${a.id}` });
    assert.equal(del.statusCode, 204, del.body);
    expectError(await injectAs(app, asSession(owner), { method: 'GET', url: `${base()}/${a.id}` }), 404, 'handbook.attachment_not_found');
    expectError(await injectAs(app, asSession(owner), { method: 'DELETE', url: `${base()}/${a.id}` }), 404, 'handbook.attachment_not_found');
    const hist = (await injectAs(app, asSession(auditor), { method: 'GET', url: `${base()}/history` })).json<{ items: { attachmentId: string; action: string; actorLabel: string }[] }>().items;
    const mine = hist.filter((h) => h.attachmentId === a.id);
    assert.deepEqual(mine.map((h) => h.action).sort(), ['added', 'removed']);
    assert.ok(mine.every((h) => h.actorLabel.length > 0));
    // Not a revision: the entry's revision number did not move.
    const entry = (await injectAs(app, asSession(owner), { method: 'GET', url: `/api/handbook/entries/${entryId}` })).json<{ revision: number }>();
    assert.equal(entry.revision, 1);
  });

  it('allows 20 attachments per entry (409 for the 21st) and documents the routes in OpenAPI', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await upload(owner, tinyPdf(`p${i}`), `p${i}.pdf`, 'application/pdf', '', otherEntryId)).statusCode, 201);
    expectError(await upload(owner, tinyPdf(), 'one too many.pdf', 'application/pdf', '', otherEntryId), 409, 'handbook.attachment_limit');
    assert.equal((await list(owner, otherEntryId)).length, 20);
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    for (const p of ['/api/handbook/entries/{id}/attachments', '/api/handbook/entries/{id}/attachments/{aid}', '/api/handbook/entries/{id}/attachments/{aid}/thumbnail']) assert.ok(doc.paths[p], p);
    assert.ok(doc.paths['/api/handbook/entries/{id}/attachments']!.post);
  });
});
