/**
 * The backup archive's encryption: a passphrase (or the contents of a key file) through scrypt, then
 * AES-256-GCM over the payload in 64 KiB chunks (the STREAM construction of Hoang, Reyhanitabar,
 * Rogaway and Vizár, as age and Tink use it): each chunk's nonce is a random prefix, the chunk's
 * counter and a "last chunk" flag, and every chunk is authenticated with the header as associated
 * data. So a wrong passphrase, a flipped byte, chunks reordered, dropped or cut off at the end are
 * each refused before a byte of them is believed.
 *
 * Layout: MAGIC, u32 header length, header JSON (kdf parameters, salt, nonce prefix, and a key check:
 * an HMAC of the rest of the header under a subkey, which tells a wrong passphrase from a corrupted
 * archive), then frames of u32 ciphertext length + ciphertext + 16-byte tag.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, scrypt as scryptCb, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../domain/errors.js';

const MAGIC = Buffer.from('LOCKWARDEN-BACKUP\n', 'ascii');
const CHUNK = 64 * 1024;
const TAG = 16;
/** scrypt at N = 2^17, r = 8 (128 MiB, ~0.4 s here): OWASP's recommendation for scrypt. */
export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
const MAX_HEADER = 4096;
/** The shortest passphrase accepted when writing an archive. */
export const MIN_PASSPHRASE = 12;

interface ArchiveHeader {
  format: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  noncePrefix: string;
  chunkSize: number;
  check: string;
}

function scrypt(password: BinaryLike, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, 32, opts, (e, key) => (e ? reject(e) : resolve(key))));
}

async function deriveKeys(passphrase: string, h: Pick<ArchiveHeader, 'N' | 'r' | 'p' | 'salt'>): Promise<{ enc: Buffer; check: Buffer }> {
  const master = await scrypt(passphrase.normalize('NFC'), Buffer.from(h.salt, 'base64'), { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 });
  const sub = (info: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
  return { enc: sub('lockwarden backup v1 payload'), check: sub('lockwarden backup v1 key check') };
}

function checkOf(key: Buffer, h: Omit<ArchiveHeader, 'check'>): string {
  return createHmac('sha256', key).update(JSON.stringify([h.format, h.kdf, h.N, h.r, h.p, h.salt, h.noncePrefix, h.chunkSize])).digest('base64');
}

function nonce(prefix: Buffer, counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 7);
  n.writeUInt32BE(counter, 7);
  n[11] = last ? 1 : 0;
  return n;
}

const corrupted = (why: string) => new AppError('backup.corrupted', `the backup archive is damaged or incomplete: ${why}; nothing was restored`);

/** Refuses a passphrase too short to protect an archive that holds the deployment's keys. */
export function checkPassphrase(passphrase: string | undefined): string {
  if (!passphrase || passphrase.length < MIN_PASSPHRASE) {
    throw new AppError('validation.failed', `the backup passphrase must be at least ${MIN_PASSPHRASE} characters`, [{ path: 'passphrase', message: `at least ${MIN_PASSPHRASE} characters` }]);
  }
  return passphrase;
}

/** A stream that encrypts what is written to it into an archive. */
export async function encryptingStream(passphrase: string, kdf: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<Transform> {
  checkPassphrase(passphrase);
  const base = { format: 1 as const, kdf: 'scrypt' as const, ...kdf, salt: randomBytes(16).toString('base64'), noncePrefix: randomBytes(7).toString('base64'), chunkSize: CHUNK };
  const keys = await deriveKeys(passphrase, base);
  const header: ArchiveHeader = { ...base, check: checkOf(keys.check, base) };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const aad = createHash('sha256').update(headerBytes).digest();
  const prefix = Buffer.from(header.noncePrefix, 'base64');
  let pending: Buffer = Buffer.alloc(0);
  let counter = 0;
  let started = false;
  const frame = (plain: Buffer, last: boolean): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', keys.enc, nonce(prefix, counter++, last), { authTagLength: TAG });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, body]);
  };
  const start = (t: Transform) => {
    if (started) return;
    started = true;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(headerBytes.length);
    t.push(Buffer.concat([MAGIC, len, headerBytes]));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      start(this);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      // Keep at least one byte back, so the last chunk is always written by flush with its flag.
      while (pending.length > CHUNK) {
        this.push(frame(pending.subarray(0, CHUNK), false));
        pending = pending.subarray(CHUNK);
      }
      done();
    },
    flush(done: TransformCallback) {
      start(this);
      this.push(frame(pending, true));
      done();
    },
  });
}

/**
 * A stream that decrypts an archive written to it. It fails with `backup.wrong_passphrase` when the
 * key check does not match, and `backup.corrupted` for anything damaged, reordered or cut short; a
 * consumer must treat what it read as unproven until the stream ends without error.
 */
export function decryptingStream(passphrase: string): Transform {
  let buf: Buffer = Buffer.alloc(0);
  let keys: { enc: Buffer } | null = null;
  let aad: Buffer | null = null;
  let prefix: Buffer | null = null;
  let counter = 0;
  let finished = false;

  const readHeader = async (): Promise<boolean> => {
    if (buf.length < MAGIC.length + 4) return false;
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new AppError('backup.corrupted', 'this is not a lockwarden backup archive (its first bytes are wrong); nothing was restored');
    const len = buf.readUInt32BE(MAGIC.length);
    if (len > MAX_HEADER) throw corrupted('its header is too long');
    if (buf.length < MAGIC.length + 4 + len) return false;
    const headerBytes = buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + len);
    let h: ArchiveHeader;
    try {
      h = JSON.parse(headerBytes.toString('utf8')) as ArchiveHeader;
    } catch {
      throw corrupted('its header is not readable');
    }
    if (h.format !== 1 || h.kdf !== 'scrypt' || h.chunkSize !== CHUNK || !Number.isInteger(h.N) || h.N > 2 ** 20 || h.r > 32 || h.p > 4) throw corrupted('its header names parameters this version does not read');
    const derived = await deriveKeys(passphrase, h);
    const expected = Buffer.from(checkOf(derived.check, h), 'base64');
    const got = Buffer.from(h.check, 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new AppError('backup.wrong_passphrase', 'the passphrase does not open this backup archive (or its header was altered); nothing was restored');
    }
    keys = derived;
    aad = createHash('sha256').update(headerBytes).digest();
    prefix = Buffer.from(h.noncePrefix, 'base64');
    buf = buf.subarray(MAGIC.length + 4 + len);
    return true;
  };

  const openFrames = (t: Transform) => {
    for (;;) {
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (len < TAG || len > CHUNK + TAG) throw corrupted('a chunk has an impossible length');
      if (buf.length < 4 + len) return;
      if (finished) throw corrupted('there are bytes after its last chunk');
      const body = buf.subarray(4, 4 + len);
      // A chunk is the last one if it opens with the last flag; a full chunk may be either.
      const tryOpen = (last: boolean): Buffer | null => {
        const d = createDecipheriv('aes-256-gcm', keys!.enc, nonce(prefix!, counter, last), { authTagLength: TAG });
        d.setAAD(aad!);
        d.setAuthTag(body.subarray(len - TAG));
        try {
          return Buffer.concat([d.update(body.subarray(0, len - TAG)), d.final()]);
        } catch {
          return null;
        }
      };
      let plain = tryOpen(false);
      if (!plain) {
        plain = tryOpen(true);
        if (!plain) throw corrupted(`chunk ${counter} does not authenticate`);
        finished = true;
      }
      counter++;
      buf = buf.subarray(4 + len);
      if (plain.length) t.push(plain);
    }
  };

  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const go = async () => {
        if (!keys && !(await readHeader())) return;
        openFrames(this);
      };
      go().then(() => done(), (e: unknown) => done(e as Error));
    },
    flush(done: TransformCallback) {
      try {
        if (!keys) throw corrupted('it ends inside its header');
        if (buf.length) throw corrupted('it ends inside a chunk');
        if (!finished) throw corrupted('its last chunk is missing (the file was cut short)');
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}
