import type * as Argon2 from '@node-rs/argon2';

// Algorithm.Argon2id of @node-rs/argon2 (a const enum, which isolated modules cannot import).
const ARGON2ID = 2;

// OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane (~11 ms here).
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

let binding: Promise<typeof Argon2> | undefined;
/** The argon2 binding (a native module), loaded with the first password rather than on every start. */
function argon2(): Promise<typeof Argon2> {
  return (binding ??= import('@node-rs/argon2'));
}

/** Hashes a password with argon2id; the salt and parameters travel inside the PHC string. */
export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password, OPTIONS);
}

/** Checks a password against a stored argon2id hash. A malformed hash counts as a mismatch. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  const { verify } = await argon2();
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** A hash to verify against when the account does not exist, so timing does not reveal which emails exist. */
export function dummyHash(): Promise<string> {
  return (dummy ??= hashPassword('lockwarden-no-such-account'));
}
// Made a few seconds after loading: a server has it before its first sign-in in practice (so the
// first unknown email costs what any other does), and its start does not pay for it.
setTimeout(() => void dummyHash().catch(() => undefined), 5000).unref();
