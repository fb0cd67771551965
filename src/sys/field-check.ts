// Checking the fields of a file nin reads back (a checkpoint's meta.json and weight manifests, a metrics log, a
// config): each failure is one NinError line naming the file, the key, the value found and what it must be.
import { NinError } from './errors';

/** "a whole number from 1 to 10000", "a number above 0 and at most 10000": the CLI's words for a range. */
export function describeRange(kind: 'integer' | 'real', min: number, max: number, minExclusive = false): string {
  if (max >= Number.MAX_VALUE) return `a finite ${kind === 'integer' ? 'whole ' : ''}number of at least ${min}`;
  if (kind === 'integer') return `a whole number from ${min} to ${max}`;
  return minExclusive ? `a number above ${min} and at most ${max}` : `a number from ${min} to ${max}`;
}

/** A value as it appears in the file, shortened so the error stays one readable line. */
export function shown(value: unknown): string {
  let text: string;
  try {
    if (value === undefined) text = 'missing';
    else if (typeof value === 'number' && !Number.isFinite(value))
      text = String(value); // JSON would say null
    else text = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep or cyclic to print (parseJson refuses such files; this is the last guard).
    text = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : typeof value;
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Field checks for the other files nin reads back: each throws one line naming the file and key. */
export class FieldChecker {
  constructor(
    readonly file: string,
    readonly fix: string,
  ) {}

  fail(key: string, value: unknown, expected: string): never {
    throw new NinError(`${this.file}: ${key} is ${shown(value)}; it must be ${expected}; ${this.fix}`);
  }

  object(key: string, value: unknown): Record<string, unknown> {
    if (!isPlainObject(value)) this.fail(key, value, 'an object');
    return value;
  }

  integer(key: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
      this.fail(key, value, describeRange('integer', min, max));
    return value;
  }

  real(key: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
      this.fail(key, value, describeRange('real', min, max));
    return value;
  }

  string(key: string, value: unknown): string {
    if (typeof value !== 'string' || value === '') this.fail(key, value, 'a non-empty string');
    return value;
  }

  choice<T extends string>(key: string, value: unknown, choices: readonly T[]): T {
    if (typeof value !== 'string' || !choices.includes(value as T))
      this.fail(key, value, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`);
    return value as T;
  }

  array(key: string, value: unknown, maxLength: number): unknown[] {
    if (!Array.isArray(value) || value.length > maxLength) this.fail(key, value, `a list of at most ${maxLength} entries`);
    return value;
  }
}
