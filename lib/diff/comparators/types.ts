import type { ContentKind } from '../read/archive.js';
import type { Source } from '../source.js';
import type { DiffLimits, Difference, Location } from '../types.js';

export interface ContentContext {
  path: Location;
  limits: DiffLimits;
  /** sizes from pass 1, when known */
  sizes: [number, number];
  /** DiffOptions.every: one finding per differing place, each with its span */
  every: boolean;
  /** compares two nested archives (the archive comparator recurses through this) */
  nested(left: Source, right: Source, path: Location): Promise<Difference | null>;
}

/**
 * One format, diffoscope-style: a recognizer over the two sides' kinds and a comparison that returns a Difference
 * (never null: it is called only when the bytes differ). Listed most specific first in comparators/index.ts.
 */
export interface ContentComparator {
  name: string;
  recognizes(left: ContentKind, right: ContentKind, ctx: ContentContext): boolean;
  compare(left: Source, right: Source, ctx: ContentContext): Promise<Difference>;
}
