/**
 * The one rule for free text: a NUL character or a lone (unpaired) UTF-16 surrogate is refused
 * wherever text enters (names, PIN holders, token names, justifications, notes, spreadsheet cells,
 * query strings, path ids). PostgreSQL cannot store either in a text column, so without this rule
 * such input surfaced as a 500; with it, a 400 names the field.
 */
import { z } from 'zod';
import type { FieldError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` is not acceptable text, or null when it is. */
export function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(s)) return 'must not contain an unpaired surrogate (malformed Unicode)';
  return null;
}

/** A string schema with the text rule (use instead of `z.string()` for free text). */
export function text(): z.ZodString {
  return z.string().check((ctx) => {
    const problem = textProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });
}

/**
 * Every string in `value` (object keys included) that breaks the text rule, by its dotted path:
 * the check every input takes before its schema (`parseInput`, the HTTP server's hook).
 */
export function badTextFields(value: unknown, path = '', out: FieldError[] = [], depth = 0): FieldError[] {
  if (out.length >= 20 || depth > 32) return out;
  if (typeof value === 'string') {
    const p = textProblem(value);
    if (p) out.push({ path, message: p });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => badTextFields(v, path ? `${path}.${i}` : String(i), out, depth + 1));
  } else if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      const keyProblem = textProblem(k);
      if (keyProblem) out.push({ path: p, message: `field name ${keyProblem}` });
      else badTextFields(v, p, out, depth + 1);
    }
  }
  return out;
}
