/**
 * One archive member as planned: only what may vary per member. Archive-wide constants (mtime, owner) live in
 * ArchivePolicy, so a determinism bug shows up as a field that should not be here.
 */
export type Entry = { path: string; /** the source's own mtime (s), used only with ArchivePolicy.clamp */ mtime: number } & (
  | { type: 'directory' }
  | { type: 'file'; mode: 0o755 | 0o644; size: number; source: FileSource }
  | { type: 'symlink'; target: string }
  | { type: 'hardlink'; target: string; mode: 0o755 | 0o644 }
);

/** Where a file's bytes come from, with what was seen when planning, so a change while packing is caught. */
export interface FileSource {
  /** The file on disk. */
  path: string;
  /** Size in bytes when planned; packing fails if it changed. */
  size: number;
  /** Modification time in milliseconds when planned; packing fails if it changed. */
  mtimeMs: number;
  /** Inode number when planned; packing fails if another file took its place. */
  ino: number;
}

/** What every member of an archive shares, so no member can differ in it: the mtime written. */
export interface ArchivePolicy {
  /** Every member's mtime, in seconds since the epoch (SOURCE_DATE_EPOCH). */
  mtime: number;
  /** With clamp, members keep their own mtime when it is older than `mtime` (GNU tar --clamp-mtime). */
  clamp?: boolean;
}


/** Directories end in "/" so readers (and the sort order) see them as GNU tar writes them. */
export function memberName(entry: Entry): string {
  return entry.type === 'directory' ? `${entry.path}/` : entry.path;
}

export function normalizedMode(statMode: number): 0o755 | 0o644 {
  return statMode & 0o111 ? 0o755 : 0o644;
}
