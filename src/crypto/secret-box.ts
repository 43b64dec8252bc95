/**
 * Encryption of secrets at rest (PIN codes today, handbook secrets later): AES-256-GCM with the
 * record's identity bound as additional data, under a key from one `KeySource`, so the key-management
 * work can replace where keys come from without touching callers. Fingerprints are HMAC-SHA256 under
 * a subkey derived with HKDF, so equal codes can be compared without decrypting.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../domain/errors.js';

/** Where encryption keys come from. Versions let old ciphertext stay readable after a rotation. */
export interface KeySource {
  current(): { version: number; key: Buffer };
  byVersion(version: number): Buffer | undefined;
}

/** A single fixed key (tests, or a key handed over in the environment). */
export function staticKeySource(key: Buffer, version = 1): KeySource {
  if (key.length !== 32) throw new Error('an encryption key must be 32 bytes');
  return { current: () => ({ version, key }), byVersion: (v) => (v === version ? key : undefined) };
}

/**
 * The key for a deployment: `LOCKWARDEN_SECRET_KEY` (base64, 32 bytes) when set, which every process
 * sharing one PostgreSQL must use; otherwise `<dataDir>/keys/secret.key`, created on first use with
 * mode 0600.
 */
export function deploymentKeySource(dataDir: string, env: NodeJS.ProcessEnv = process.env): KeySource {
  const fromEnv = env.LOCKWARDEN_SECRET_KEY;
  if (fromEnv) {
    const key = Buffer.from(fromEnv, 'base64');
    if (key.length !== 32) throw new Error('LOCKWARDEN_SECRET_KEY must be 32 bytes, base64-encoded');
    return staticKeySource(key);
  }
  const file = path.join(dataDir, 'keys', 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process sharing the data folder made it at the same moment: use theirs.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  return staticKeySource(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
}

/** Encrypts, decrypts and fingerprints secrets bound to the record they belong to. */
export class SecretBox {
  private readonly macKey: Buffer;

  constructor(private readonly keys: KeySource) {
    const { key } = keys.current();
    this.macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'lockwarden fingerprint v1', 32));
  }

  /** Ciphertext as `v1.<keyVersion>.<iv>.<ciphertext>.<tag>` (base64url), bound to `context`. */
  encrypt(plaintext: string, context: string): string {
    const { version, key } = this.keys.current();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(`${context}|${version}`));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', String(version), iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Decrypts what `encrypt` produced for the same `context`; anything else is refused. */
  decrypt(sealed: string, context: string): string {
    const [tag, v, iv, ct, auth] = sealed.split('.');
    const key = this.keys.byVersion(Number(v));
    if (tag !== 'v1' || !iv || !ct || !auth || !key) throw new AppError('internal', 'a stored secret cannot be read with the configured key');
    try {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
      d.setAAD(Buffer.from(`${context}|${v}`));
      d.setAuthTag(Buffer.from(auth, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new AppError('internal', 'a stored secret failed its integrity check');
    }
  }

  /** A 32-byte subkey of the current key for another purpose (HKDF-SHA256 with `info`), e.g. the audit log's HMACs. */
  subkey(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys.current().key, Buffer.alloc(0), info, 32));
  }

  /** A keyed fingerprint of `value` within `scope` (e.g. one lock), for equality without decryption. */
  fingerprint(value: string, scope: string): string {
    return createHmac('sha256', this.macKey).update(`${scope}\0${value}`).digest('base64url');
  }
}
