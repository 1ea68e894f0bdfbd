import type { Pack } from 'tar-stream';
import type { ArchivePolicy, Entry } from './entry.js';
import { memberName } from './entry.js';

/** Largest size the 11-digit octal ustar field holds; beyond it the size goes into a pax record. */
const USTAR_MAX_SIZE = 0o77777777777;
/** tar-stream writes mtime with `| 0`, an int32: refuse what would wrap rather than write a wrong date. */
export const MAX_MTIME = 2 ** 31 - 1;

export type TarHeader = Parameters<Pack['entry']>[0];

export const OWNER = { uid: 0, gid: 0, uname: 'root', gname: 'root' } as const;

/** Every header field is set here, so no tar-stream default (the current time, 0644 symlinks) reaches the bytes. */
export function tarHeader(entry: Entry, policy: ArchivePolicy): TarHeader {
  const mtime = new Date(memberMtime(entry, policy) * 1000);
  const common = { name: memberName(entry), mtime, ...OWNER };
  switch (entry.type) {
    case 'directory':
      return { ...common, type: 'directory', mode: 0o755, size: 0 };
    case 'file':
      return {
        ...common,
        type: 'file',
        mode: entry.mode,
        size: entry.size,
        ...(entry.size > USTAR_MAX_SIZE ? { pax: { size: String(entry.size) } } : {}),
      };
    case 'symlink':
      return { ...common, type: 'symlink', mode: 0o777, size: 0, linkname: entry.target };
    case 'hardlink':
      return { ...common, type: 'link', mode: entry.mode, size: 0, linkname: entry.target };
  }
}

function memberMtime(entry: Entry, policy: ArchivePolicy): number {
  return policy.clamp ? Math.min(entry.mtime, policy.mtime) : policy.mtime;
}
