/**
 * The rules a lock puts on its codes and code names, as its driver declares them in
 * `DriverCapabilities.pin` (lengths, forbidden digits and prefixes, named rules, name length).
 * Pure: one answer for "may this lock take this code and name?" that validation, the PIN generator
 * and drivers share, so a code the lock would refuse is refused before anything is sent.
 */
import type { DriverCapabilities, PinRule } from '../drivers/contract.js';

/** A sentence per named rule, as a person reads it after "this lock …". */
const RULE_SENTENCES: Record<PinRule, string> = {
  no_three_consecutive_digits: 'refuses codes with three consecutive digits in a row (such as 123 or 987)',
  no_ascending_or_descending_sequence: 'refuses codes that are one ascending or descending run of digits',
  at_least_three_unique_digits: 'needs at least three different digits in a code',
};

/** The lengths a lock takes, smallest first. */
export function allowedPinLengths(caps: DriverCapabilities): number[] {
  const { minLength, maxLength, lengths } = caps.pin;
  if (lengths && lengths.length > 0) return [...new Set(lengths)].filter((n) => n >= minLength && n <= maxLength).sort((a, b) => a - b);
  const out: number[] = [];
  for (let n = minLength; n <= maxLength; n++) out.push(n);
  return out;
}

/** The digits a lock's codes may contain. */
export function allowedPinDigits(caps: DriverCapabilities): string[] {
  const forbidden = new Set(caps.pin.forbiddenDigits ?? []);
  return '0123456789'.split('').filter((d) => !forbidden.has(d));
}

/** "4 or 6", "4, 6 or 8", "4-8": the allowed lengths in words. */
function lengthsInWords(lengths: number[]): string {
  if (lengths.length === 0) return 'no';
  const contiguous = lengths.every((n, i) => i === 0 || n === lengths[i - 1]! + 1);
  if (contiguous && lengths.length > 2) return `${lengths[0]}-${lengths[lengths.length - 1]}`;
  if (lengths.length === 1) return String(lengths[0]);
  return `${lengths.slice(0, -1).join(', ')} or ${lengths[lengths.length - 1]}`;
}

function listInWords(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function breaksRule(rule: PinRule, code: string): boolean {
  const d = [...code].map(Number);
  switch (rule) {
    case 'no_three_consecutive_digits':
      for (let i = 2; i < d.length; i++) {
        const a = d[i - 1]! - d[i - 2]!;
        if ((a === 1 || a === -1) && d[i]! - d[i - 1]! === a) return true;
      }
      return false;
    case 'no_ascending_or_descending_sequence': {
      if (d.length < 2) return false;
      const step = d[1]! - d[0]!;
      return (step === 1 || step === -1) && d.every((x, i) => i === 0 || x - d[i - 1]! === step);
    }
    case 'at_least_three_unique_digits':
      return new Set(d).size < 3;
  }
}

/**
 * Why this lock cannot take `code`, as a sentence naming the rule broken ("this lock takes codes of
 * 4 or 6 digits"), or null when it can. Checks the lock's own rules only, not lockwarden's
 * guessability rules (`weakness`).
 */
export function pinCodeRuleBroken(code: string, caps: DriverCapabilities): string | null {
  if (caps.pin.slots === 0) return 'this lock takes no PIN codes';
  if (!/^\d+$/.test(code)) return 'this lock takes codes of digits only';
  const lengths = allowedPinLengths(caps);
  if (!lengths.includes(code.length)) return `this lock takes codes of ${lengthsInWords(lengths)} digits`;
  const forbidden = (caps.pin.forbiddenDigits ?? []).filter((x) => code.includes(x));
  if (forbidden.length > 0) return `this lock refuses the digit${caps.pin.forbiddenDigits!.length > 1 ? 's' : ''} ${listInWords(caps.pin.forbiddenDigits!)} in a code`;
  const prefix = (caps.pin.forbiddenPrefixes ?? []).find((p) => p !== '' && code.startsWith(p));
  if (prefix !== undefined) return `this lock refuses codes that start with ${prefix}`;
  for (const rule of caps.pin.rules ?? []) if (breaksRule(rule, code)) return `this lock ${RULE_SENTENCES[rule]}`;
  return null;
}

/** Why this lock cannot keep `name` as a code's name, as a sentence, or null when it can. */
export function pinNameRuleBroken(name: string, caps: DriverCapabilities): string | null {
  const max = caps.pin.nameMaxLength;
  if (max !== undefined && [...name].length > max) return `this lock keeps names of at most ${max} characters for a code`;
  return null;
}

/**
 * Why this lock cannot take this code with this name, as one sentence naming the rule broken, or
 * null when it can. `name` null: the code alone is checked.
 */
export function pinRuleBroken(code: string, name: string | null, caps: DriverCapabilities): string | null {
  return pinCodeRuleBroken(code, caps) ?? (name === null ? null : pinNameRuleBroken(name, caps));
}

/**
 * The length a generated code gets: the one asked for, else 6 where allowed, else the allowed
 * length nearest above 6, else the longest allowed. Null when the lock allows no length at all.
 */
export function generatedPinLength(caps: DriverCapabilities, asked?: number): number | null {
  if (asked !== undefined) return asked;
  const lengths = allowedPinLengths(caps);
  if (lengths.length === 0) return null;
  return lengths.find((n) => n >= 6) ?? lengths[lengths.length - 1]!;
}
