/**
 * The audit log's cryptography: each entry's SHA-256 hash over a canonical encoding of its fields and
 * the previous entry's hash (a hash chain, as in Certificate Transparency's log, without the Merkle
 * tree), keyed HMACs for secret values (as HashiCorp Vault's audit devices do), and Ed25519 signatures
 * on checkpoints.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AuditCheckpoint, AuditEntry } from '../domain/audit.js';
import { AppError } from '../domain/errors.js';
import type { SecretBox } from './secret-box.js';

/** The `prev_hash` of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted at every level, so equal values encode to equal bytes (jsonb reorders
 * keys). Loops rather than map/filter/join: verification runs this twice per entry.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out += (i === 0 ? '' : ',') + canonicalJson(v === undefined ? null : v);
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return `${out}}`;
}

/** What a value looks like after a round trip through jsonb: dates as ISO strings, undefined dropped. */
export function jsonValue<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}

/** The fields an entry's hash covers: everything but the hash itself. */
export type HashedFields = Omit<AuditEntry, 'hash'>;

/**
 * An entry's hash (hex); `prevHash` links it to the entry before. With `chainKey` (the chain's secret,
 * hex; see `chainKeyOf`) the hash is keyed, as every entry from the head's `keyed_from` on is; without
 * it, the unkeyed hash of entries written before the chain was keyed.
 */
export function entryHash(e: HashedFields, chainKey: string | null = null): string {
  return chainHash({ ...e, at: e.at.toISOString(), details: canonicalJson(e.details), secretMacs: canonicalJson(e.secretMacs) }, chainKey);
}

/**
 * The secret the chain is keyed with: a subkey of the deployment's secret key (`LOCKWARDEN_SECRET_KEY`
 * or `<data>/keys/secret.key`), never stored in the database, as hex. Someone holding the database
 * alone cannot re-hash a changed chain without it.
 */
export function chainKeyOf(secrets: Pick<SecretBox, 'subkey'>): string {
  return secrets.subkey('lockwarden audit chain v2').toString('hex');
}

/**
 * An entry as verification reads it: the time as its ISO string (milliseconds, UTC) and the two
 * JSON fields already in canonical form, so a verifier hashes rows without building Dates.
 */
export type ChainFields = Omit<HashedFields, 'at' | 'details' | 'secretMacs'> & { at: string; details: string; secretMacs: string };

/**
 * The entry hash over fields already encoded; `entryHash` and verification both go through here.
 * Keyed (`chainKey`, hex): SHA-256 over the key followed by the encoding (tagged v2). A secret-prefix
 * hash rather than HMAC because it costs a quarter as much per entry (2.6 against 9.3 µs measured;
 * verification does a million), and the weakness of that construction, length extension, gives
 * nothing here: the verifier re-encodes the stored fields, and a JSON text can never end in SHA-256's
 * padding bytes (0x80, zero bytes, a length), so no extended message is the encoding of any entry.
 */
export function chainHash(e: ChainFields, chainKey: string | null = null): string {
  const encoded = JSON.stringify([
    chainKey ? 'lockwarden-audit-v2' : 'lockwarden-audit-v1',
    e.seq,
    e.at,
    e.actorId,
    e.actorLabel,
    e.action,
    e.outcome,
    e.targetType,
    e.targetId,
    e.targetLabel,
    e.locationId,
    e.clientIp,
    e.userAgent,
    e.details,
    e.secretMacs,
    e.prevHash,
  ]);
  // One-shot hash: a Hash object per entry cost about five times as much (verification does 1M).
  return hash('sha256', chainKey ? chainKey + encoded : encoded, 'hex');
}

/** Keyed HMACs of secret values: equal values give equal MACs, so an auditor holding a value can find it. */
export class AuditMac {
  private readonly key: Buffer;
  constructor(secrets: Pick<SecretBox, 'subkey'>) {
    this.key = secrets.subkey('lockwarden audit hmac v1');
  }

  /** `hmac-sha256:<base64url>` of `value`. */
  mac(value: string): string {
    return `hmac-sha256:${createHmac('sha256', this.key).update(value, 'utf8').digest('base64url')}`;
  }
}

/**
 * The bytes a checkpoint's signature covers. Version 2 (every checkpoint made now) also covers the
 * checkpoint before it and where the keyed chain starts, so neither can be dropped or moved unseen;
 * a version 2 checkpoint stripped to look like version 1 no longer verifies.
 */
export function checkpointMessage(c: Omit<AuditCheckpoint, 'signature'>): Buffer {
  const v1 = `${c.seq}\n${c.hash}\n${c.at.toISOString()}\n${c.keyId}`;
  if (c.prevSeq === null) return Buffer.from(`lockwarden-audit-checkpoint-v1\n${v1}`, 'utf8');
  return Buffer.from(`lockwarden-audit-checkpoint-v2\n${v1}\n${c.prevSeq}\n${c.keyedFrom ?? '-'}`, 'utf8');
}

/** An Ed25519 key pair that signs checkpoints, and its id (first 16 hex of SHA-256 of the public key). */
export class CheckpointSigner {
  readonly publicKey: KeyObject;
  readonly keyId: string;
  readonly publicKeyPem: string;

  constructor(
    private readonly privateKey: KeyObject,
    /** Where the key came from, for messages. */
    readonly origin: string,
  ) {
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new AppError('crypto.key_unavailable', `the audit signing key (${origin}) must be an Ed25519 key`);
    this.publicKey = createPublicKey(privateKey);
    this.publicKeyPem = this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = keyIdOf(this.publicKey);
  }

  /** Signs a checkpoint; the signature is base64url. */
  sign(c: Omit<AuditCheckpoint, 'signature' | 'keyId'>): AuditCheckpoint {
    const unsigned = { ...c, keyId: this.keyId };
    return { ...unsigned, signature: sign(null, checkpointMessage(unsigned), this.privateKey).toString('base64url') };
  }

  /** Signs any document's bytes (a reset case's close-out record); base64url. */
  signBytes(message: Buffer): string {
    return sign(null, message, this.privateKey).toString('base64url');
  }

  /** True when `signature` is this key's over `message`. */
  verifyBytes(message: Buffer, signature: string): boolean {
    try {
      return verify(null, message, this.publicKey, Buffer.from(signature, 'base64url'));
    } catch {
      return false;
    }
  }

  /** True when `c` was signed by this key and is unchanged. */
  verify(c: AuditCheckpoint): boolean {
    if (c.keyId !== this.keyId) return false;
    try {
      return verify(null, checkpointMessage(c), this.publicKey, Buffer.from(c.signature, 'base64url'));
    } catch {
      return false;
    }
  }
}

/** The id of a public key: the first 16 hex digits of the SHA-256 of its DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A fresh signer in memory (tests). */
export function memoryCheckpointSigner(): CheckpointSigner {
  return new CheckpointSigner(generateKeyPairSync('ed25519').privateKey, 'memory');
}

/**
 * The deployment's checkpoint signer: `LOCKWARDEN_AUDIT_SIGNING_KEY` (a PKCS#8 PEM, or its base64)
 * when set — every process sharing one PostgreSQL must use the same; otherwise
 * `<dataDir>/keys/audit-signing.pem`, created on first use with mode 0600.
 */
export function deploymentCheckpointSigner(dataDir: string, env: NodeJS.ProcessEnv = process.env): CheckpointSigner {
  const fromEnv = env.LOCKWARDEN_AUDIT_SIGNING_KEY;
  if (fromEnv) {
    const pem = fromEnv.includes('-----BEGIN') ? fromEnv : Buffer.from(fromEnv, 'base64').toString('utf8');
    try {
      return new CheckpointSigner(createPrivateKey(pem), 'LOCKWARDEN_AUDIT_SIGNING_KEY');
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError('crypto.key_unavailable', 'LOCKWARDEN_AUDIT_SIGNING_KEY must be an Ed25519 private key in PKCS#8 PEM (or that PEM base64-encoded)');
    }
  }
  const file = path.join(dataDir, 'keys', 'audit-signing.pem');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process made it at the same moment: use theirs.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  return new CheckpointSigner(createPrivateKey(readFileSync(file, 'utf8')), file);
}

/**
 * The outside witness checkpoints are also sent to: `LOCKWARDEN_AUDIT_WITNESS`, an append-only file
 * kept somewhere else than the data folder, or an http(s) URL; null when not set.
 */
export function auditWitnessTarget(env: NodeJS.ProcessEnv = process.env): string | null {
  return env.LOCKWARDEN_AUDIT_WITNESS?.trim() || null;
}

/** Where checkpoints are written outside the database: `LOCKWARDEN_AUDIT_CHECKPOINTS` or `<dataDir>/audit/checkpoints.jsonl`. */
export function checkpointsFilePath(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.LOCKWARDEN_AUDIT_CHECKPOINTS || path.join(dataDir, 'audit', 'checkpoints.jsonl'));
}
