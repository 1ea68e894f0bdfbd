import { KreproError, quote } from '../lib/index.js';

/**
 * The value of a whole-number option such as `--level`, checked against its range; undefined when it was not
 * given. Only plain decimal digits count: `abc`, `1.5`, `0x6`, `1e1` and the empty string are refused by name (the
 * error quotes what was given, so "NaN" never reaches the user).
 */
export function integerOption(name: string, raw: string | undefined, range: { min: number; max?: number }): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < range.min || (range.max !== undefined && value > range.max)) {
    const allowed = range.max === undefined ? `${range.min} or more` : `from ${range.min} to ${range.max}`;
    throw new KreproError('E_USAGE', `--${name} must be a whole number ${allowed}, got ${quote(raw)}`);
  }
  return value;
}

/** gzip's levels, for --level. */
export const GZIP_LEVELS = { min: 1, max: 9 } as const;
