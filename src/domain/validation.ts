import type { z } from 'zod';
import { validationError } from './errors.js';
import { badTextFields } from './text.js';

/** Parses `input` with `schema`, or throws an AppError that names every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  // Text no database column can hold (NUL, unpaired surrogates) is refused by name before the schema.
  const bad = badTextFields(input);
  if (bad.length) throw validationError(bad);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationError(
    result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  );
}
