import type { z } from 'zod';
import { validationError, type FieldError } from './errors.js';
import { badTextFields } from './text.js';

/** Parses `input` with `schema`, or throws an AppError that names every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  // Text no database column can hold (NUL, unpaired surrogates) is refused by name before the schema.
  const bad = badTextFields(input);
  if (bad.length) throw validationError(bad);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationError(
    result.error.issues.flatMap((i) => issueFields(i.path.map(String).join('.'), i.code, 'keys' in i ? i.keys : undefined, i.message)),
  );
}

/**
 * The fields one schema issue is about. An unknown field is named itself (`path.key`, "unknown
 * field"), not as its parent object saying `Unrecognized key`: the person sees which field to drop.
 */
export function issueFields(path: string, code: string | undefined, keys: unknown, message: string): FieldError[] {
  if (code === 'unrecognized_keys' && Array.isArray(keys) && keys.length > 0) {
    return keys.map((k) => ({ path: path ? `${path}.${String(k)}` : String(k), message: 'unknown field: this request does not take it' }));
  }
  return [{ path, message }];
}
