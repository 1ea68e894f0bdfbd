import { NotArchiveError } from '../read/errors.js';
import type { Difference } from '../types.js';
import { binaryComparator } from './binary.js';
import type { ContentComparator } from './types.js';

/**
 * Nested archives (kubernetes-src.tar.gz inside the server tarball): compared layer by layer through the same
 * path as the outer ones. Too deep, or gzip holding something other than tar: compared as bytes, saying why.
 */
export const archiveComparator: ContentComparator = {
  name: 'archive',
  recognizes: (l, r) => (l === 'gzip' || l === 'tar') && (r === 'gzip' || r === 'tar'),
  async compare(left, right, ctx): Promise<Difference> {
    let why: string;
    try {
      const nested = await ctx.nested(left, right, ctx.path);
      if (nested) return nested;
      why = `nested more than ${ctx.limits.maxDepth} archives deep`;
    } catch (err) {
      if (!(err instanceof NotArchiveError)) throw err;
      why = `${err.source ?? 'one side'} ${err.message}`;
    }
    const bytes = await binaryComparator.compare(left, right, ctx);
    bytes.comments.unshift(`not compared as archives: ${why}; compared as bytes`);
    return bytes;
  },
};
