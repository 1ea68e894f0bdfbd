import { GZIP_FORMATS } from '../lib/api/package.js';
import { type GzipFormat, KreproError } from '../lib/index.js';
import { quote } from '../lib/quote.js';

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

/** The value of `--encoder`: a gzip format version as krepro-manifest.json's encoder.version names it. */
export function encoderOption(raw: string | undefined): GzipFormat | undefined {
  if (raw === undefined) return undefined;
  const format = GZIP_FORMATS.find((f) => String(f) === raw);
  if (format === undefined) throw new KreproError('E_USAGE', `--encoder must be a gzip format version, ${GZIP_FORMATS.join(' or ')} (krepro-manifest.json's encoder.version; 1 where it has none), got ${quote(raw)}`);
  return format;
}
