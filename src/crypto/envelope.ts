/**
 * Envelope encryption for handbook secrets. A master key (from `LOCKWARDEN_MASTER_KEY` or
 * `<data>/keys/master.json`) wraps one data key per scope (a site, or the whole deployment); data
 * keys encrypt the secrets. Every ciphertext is AES-256-GCM with its owner's id and key version bound
 * as associated data, so a ciphertext moved to another record, or read under another version, fails.
 * Rotating the master key re-wraps the few data keys, never the secrets themselves.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../domain/errors.js';

/** Where master keys come from: versioned, so data keys wrapped under an older one stay readable. */
export interface MasterKeyring {
  /** Where the keys live, for messages ("LOCKWARDEN_MASTER_KEY", a file path, "memory"). */
  readonly origin: string;
  current(): { version: number; key: Buffer };
  byVersion(version: number): Buffer | undefined;
  /**
   * Makes a new master key version current and keeps it (in the key file); refused when the keys
   * come from the environment, which a process cannot change: put the new key there instead.
   */
  addVersion(): number;
  /** Reads the keys again: another process may have rotated. */
  reload(): void;
}

interface KeyFile {
  current: number;
  keys: Record<string, string>;
}

function checkKey(key: Buffer, what: string): Buffer {
  if (key.length !== 32) throw new AppError('crypto.key_unavailable', `${what} must be 32 bytes, base64-encoded`);
  return key;
}

function ringOf(keys: Map<number, Buffer>, origin: string, add: () => number, reload: () => void): MasterKeyring {
  return {
    origin,
    current() {
      const version = Math.max(...keys.keys());
      return { version, key: keys.get(version)! };
    },
    byVersion: (v) => keys.get(v),
    addVersion: add,
    reload,
  };
}

/** Keys held in memory only (tests); `addVersion` makes a fresh random key. */
export function memoryMasterKeyring(first: Buffer): MasterKeyring {
  const keys = new Map([[1, checkKey(first, 'a master key')]]);
  return ringOf(
    keys,
    'memory',
    () => {
      const v = Math.max(...keys.keys()) + 1;
      keys.set(v, randomBytes(32));
      return v;
    },
    () => undefined,
  );
}

/**
 * Parses `LOCKWARDEN_MASTER_KEY`: one base64 key (version 1), or `version:base64` pairs separated by
 * commas (the highest version is current), so a rotation can list the new key beside the old ones.
 */
export function parseMasterKeyEnv(value: string): Map<number, Buffer> {
  const keys = new Map<number, Buffer>();
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const part of parts) {
    const m = /^(\d+):(.+)$/.exec(part);
    const version = m ? Number(m[1]) : 1;
    if (!m && parts.length > 1) throw new AppError('crypto.key_unavailable', 'LOCKWARDEN_MASTER_KEY with several keys needs version:base64 for each');
    keys.set(version, checkKey(Buffer.from(m ? m[2]! : part, 'base64'), 'LOCKWARDEN_MASTER_KEY'));
  }
  if (keys.size === 0) throw new AppError('crypto.key_unavailable', 'LOCKWARDEN_MASTER_KEY is empty');
  return keys;
}

/**
 * The deployment's master keys: `LOCKWARDEN_MASTER_KEY` when set (every process sharing one
 * PostgreSQL must use the same); otherwise `<dataDir>/keys/master.json`, created on first use with
 * mode 0600, to which a rotation adds a version.
 */
export function deploymentMasterKeyring(dataDir: string, env: NodeJS.ProcessEnv = process.env): MasterKeyring {
  const fromEnv = env.LOCKWARDEN_MASTER_KEY;
  if (fromEnv) {
    const keys = parseMasterKeyEnv(fromEnv);
    return ringOf(
      keys,
      'LOCKWARDEN_MASTER_KEY',
      () => {
        throw new AppError(
          'crypto.key_unavailable',
          'master keys come from LOCKWARDEN_MASTER_KEY: add a new key there as "<version>:<base64>" beside the old ones, restart, then rotate again',
        );
      },
      () => undefined,
    );
  }
  const file = path.join(dataDir, 'keys', 'master.json');
  const read = (): Map<number, Buffer> => {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
    return new Map(Object.entries(parsed.keys).map(([v, k]) => [Number(v), checkKey(Buffer.from(k, 'base64'), `master key ${v} in ${file}`)]));
  };
  const write = (keys: Map<number, Buffer>) => {
    const body: KeyFile = { current: Math.max(...keys.keys()), keys: Object.fromEntries([...keys].map(([v, k]) => [String(v), k.toString('base64')])) };
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(body, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
  };
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Created only if absent (a hard link never replaces a file): processes sharing the data folder
    // that start together all end up with the first one's key, never each with its own.
    const key = new Map([[1, randomBytes(32)]]);
    const body: KeyFile = { current: 1, keys: { '1': key.get(1)!.toString('base64') } };
    const tmp = `${file}.${process.pid}.new`;
    writeFileSync(tmp, JSON.stringify(body, null, 2), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  chmodSync(file, 0o600);
  const keys = read();
  const reload = () => {
    for (const [v, k] of read()) keys.set(v, k);
  };
  return ringOf(
    keys,
    file,
    () => {
      reload();
      const v = Math.max(...keys.keys()) + 1;
      keys.set(v, randomBytes(32));
      write(keys);
      return v;
    },
    reload,
  );
}

/** AES-256-GCM: `v1.<version>.<iv>.<ciphertext>.<tag>` (base64url), with `aad` bound. */
export function seal(key: Buffer, version: number, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return ['v1', String(version), iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The key version a sealed value names (to pick the key), or NaN when it is not one of ours. */
export function sealedVersion(sealed: string): number {
  const [tag, v] = sealed.split('.');
  return tag === 'v1' && v && /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

/**
 * Opens what `seal` produced. The caller passes the key for the version the value names and the AAD
 * it expects; a changed byte, another record's AAD or another version's key are all refused.
 */
export function open(sealed: string, key: Buffer | undefined, aad: string): Buffer {
  const [tag, v, iv, ct, auth] = sealed.split('.');
  if (tag !== 'v1' || !v || !iv || ct === undefined || !auth) throw new AppError('crypto.integrity', 'a stored secret is not in a readable form');
  if (!key) throw new AppError('crypto.key_unavailable', `no key of version ${v} is configured`);
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(auth, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
  } catch {
    throw new AppError('crypto.integrity', 'a stored secret failed its integrity check');
  }
}

/** The associated data of a wrapped data key: its id, its scope and the master key version. */
export const dataKeyAad = (dataKeyId: string, scope: string, masterVersion: number) => `lockwarden data-key|${dataKeyId}|${scope}|master:${masterVersion}`;

/** The associated data of a handbook secret: its id and the data key (and version) it is sealed under. */
export const secretAad = (secretId: string, dataKeyId: string, dataKeyVersion: number) => `lockwarden handbook-secret|${secretId}|${dataKeyId}|v${dataKeyVersion}`;

/** A fresh random data key. */
export const newDataKey = (): Buffer => randomBytes(32);
