import type { ContentKind } from '../read/archive.js';
import { archiveComparator } from './archive.js';
import { binaryComparator } from './binary.js';
import { elfComparator } from './elf.js';
import { jsonComparator } from './json.js';
import { textComparator } from './text.js';
import type { ContentComparator, ContentContext } from './types.js';

/** Most specific first; binary recognizes anything, so a comparator is always found. */
export const COMPARATORS: readonly ContentComparator[] = [archiveComparator, elfComparator, jsonComparator, textComparator, binaryComparator];

export function comparatorFor(left: ContentKind, right: ContentKind, ctx: ContentContext): ContentComparator {
  return COMPARATORS.find((c) => c.recognizes(left, right, ctx)) ?? binaryComparator;
}
