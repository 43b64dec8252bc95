/** Attachment rules without I/O: the type from the first bytes, the messages a refused file gets, file names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ATTACHMENT_LIMITS, checkUpload, cleanFilename, sniffType } from '../../src/domain/attachments.js';
import { isAppError } from '../../src/domain/errors.js';
import { stripContainer } from '../../src/media/images.js';
import { jpeg, png, tinyPdf, webp } from '../helpers/images.js';

describe('attachment rules', () => {
  it('tells PNG, JPEG, WebP and PDF from their bytes, whatever they are called', async () => {
    assert.equal(sniffType(await png(10, 10)), 'image/png');
    assert.equal(sniffType(await jpeg(10, 10)), 'image/jpeg');
    assert.equal(sniffType(await webp(10, 10)), 'image/webp');
    assert.equal(sniffType(tinyPdf()), 'application/pdf');
    assert.equal(sniffType(Buffer.from('GIF89a')), null);
    assert.equal(sniffType(Buffer.from('RIFF\0\0\0\0WAVE')), null);
  });

  it('refuses other files naming what they are, and sizes over the limit', () => {
    const refuse = (bytes: Buffer, declared?: string) => {
      try {
        checkUpload(bytes, 'photo.jpg', declared);
      } catch (e) {
        assert.ok(isAppError(e));
        return `${e.code}: ${e.message}`;
      }
      assert.fail('accepted');
    };
    assert.match(refuse(Buffer.from('MZ....'), 'image/jpeg'), /^handbook\.attachment_type: "photo\.jpg" is a Windows program \(\.exe\) although it was sent as image\/jpeg/);
    assert.match(refuse(Buffer.from('PK\x03\x04....', 'latin1')), /a ZIP archive/);
    assert.match(refuse(Buffer.from('<svg/>')), /text or HTML\/SVG/);
    assert.match(refuse(Buffer.alloc(ATTACHMENT_LIMITS.maxBytes + 1)), /^handbook\.attachment_too_large: the file is 5\.0 MB/);
    assert.match(refuse(Buffer.alloc(0)), /^validation\.failed/);
  });

  it('keeps a file name without its path or control characters, or makes one', () => {
    assert.equal(cleanFilename('C:\\Users\\me\\evil"\r\nname.png', 'image/png'), 'evilname.png');
    assert.equal(cleanFilename('../../etc/passwd', 'application/pdf'), 'passwd');
    assert.equal(cleanFilename(undefined, 'image/jpeg'), 'attachment.jpg');
  });

  it('strips text chunks from a PNG and leaves the pixels bit for bit', async () => {
    const tagged = await sharp(await png(40, 30)).png().withMetadata().withExif({ IFD0: { Artist: 'someone' } }).toBuffer();
    assert.ok((await sharp(tagged).metadata()).exif);
    const clean = stripContainer(tagged, 'image/png');
    assert.equal((await sharp(clean).metadata()).exif, undefined);
    assert.equal(clean.includes(Buffer.from('someone')), false);
    assert.ok((await sharp(tagged).raw().toBuffer()).equals(await sharp(clean).raw().toBuffer()));
  });
});
