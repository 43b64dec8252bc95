import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of a high-entropy bearer secret; enough for random tokens (not for passwords). */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Compares two strings in constant time. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
