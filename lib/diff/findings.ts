import type { Finding, Location } from './types.js';

/**
 * The cause catalogue: every finding names one of these, so a report says why bytes differ and what to change,
 * not only where. Titles are short labels; `why` explains the mechanism; `fix` is the change that removes it.
 */
export const CAUSES = {
  timestamp: {
    title: 'timestamps',
    why: 'a build or pack step recorded the time it ran (file mtimes, embedded build dates)',
    fix: 'set SOURCE_DATE_EPOCH (e.g. git show -s --format=%ct HEAD) and use it for every date: tar --mtime=@$SOURCE_DATE_EPOCH, build-date ldflags; krepro package does this',
  },
  timezone: {
    title: 'time zone',
    why: 'the same instant was written in different local time zones',
    fix: 'build with TZ=UTC and format dates in UTC (date -u, Go time.UTC)',
  },
  'build-path': {
    title: 'build paths',
    why: 'absolute paths of the build directory, home or temporary directory were compiled into the output',
    fix: 'Go: go build -trimpath; C/C++: -ffile-prefix-map=$PWD=. (GCC ≥ 8, Clang ≥ 10); or build in the same fixed directory',
  },
  'go-build-id': {
    title: 'Go build ID',
    why: "Go's build ID hashes the inputs of the link, including paths and flags, so any other difference changes it too",
    fix: 'link with -ldflags=-buildid= (as the Kubernetes-like build does), and fix the other differences in this binary',
  },
  'build-id': {
    title: 'ELF build ID',
    why: 'the GNU build-id note is a hash of the linked output, so it changes whenever anything else in the binary does',
    fix: 'fix the other differences in this binary (or link with --build-id=none)',
  },
  hostname: {
    title: 'host name',
    why: 'the name of the build machine was embedded',
    fix: 'do not embed the host name, or build in a container with a fixed --hostname',
  },
  locale: {
    title: 'locale (collation)',
    why: 'the same lines in another order: a sort or listing followed the locale or directory order',
    fix: 'sort with LC_ALL=C (byte order) and set LANG/LC_ALL=C.UTF-8 for the build',
  },
  umask: {
    title: 'umask',
    why: 'group/other write bits differ: the files were created under different umasks (022 vs 002)',
    fix: 'normalize modes when packing: tar --mode=go=rX,u+rw,a-s, or krepro package (0755/0644 by the execute bit)',
  },
  mode: {
    title: 'file modes',
    why: 'permission bits other than the umask ones differ (execute bit, setuid, sticky)',
    fix: 'set modes explicitly in the build (install -m 0755/0644) and normalize them when packing',
  },
  owner: {
    title: 'owner',
    why: 'the numeric owner or the user/group names of the builder were recorded',
    fix: 'tar --owner=0 --group=0 --numeric-owner, or krepro package (0/0 root/root)',
  },
  order: {
    title: 'member order',
    why: 'members are in a different order: the packer followed directory listing order, which varies between file systems and runs',
    fix: 'sort members by byte order: tar --sort=name with LC_ALL=C, or krepro package',
  },
  hardlink: {
    title: 'hard links',
    why: 'which path carries the data and which is a link depends on traversal order',
    fix: 'walk in sorted order so the first path of an inode holds the data (krepro package does), or copy instead of linking',
  },
  'file-set': {
    title: 'members added or removed',
    why: 'one side contains files the other does not: different build inputs, targets, or stray files in the staging tree',
    fix: 'build from a clean checkout with the same targets (make clean, git status clean) and stage explicitly',
  },
  'link-target': {
    title: 'symlink targets',
    why: 'a symbolic link points elsewhere on each side',
    fix: 'create links with relative, fixed targets in the build scripts',
  },
  type: {
    title: 'member types',
    why: 'the same path is a different kind of file on each side',
    fix: 'check the staging step: a path is created differently in the two builds',
  },
  'pax-time': {
    title: 'pax atime/ctime records',
    why: 'pax-format tar recorded access and change times, which differ on every run',
    fix: "tar --format=posix --pax-option=delete=atime,delete=ctime, or krepro package (no atime/ctime)",
  },
  xattrs: {
    title: 'extended attributes',
    why: 'extended attributes (SELinux labels, capabilities) of the build host were archived',
    fix: 'tar --no-xattrs --no-selinux --no-acls, or allow-list the few that matter',
  },
  'tar-format': {
    title: 'tar format',
    why: 'a different tar format or writer encoded the same member (ustar, GNU, pax records)',
    fix: 'use one tar writer and format everywhere (tar --format=gnu or posix; krepro package)',
  },
  'gzip-header': {
    title: 'gzip header',
    why: 'the gzip header carries the input file name and its mtime (FNAME, MTIME) when not told otherwise',
    fix: 'gzip -n (or pipe into gzip, which writes MTIME 0), or krepro package (FLG 0, MTIME 0)',
  },
  'gzip-os': {
    title: 'gzip OS byte',
    why: 'the gzip header records the operating system of the compressor (3 Unix, 19 macOS, 11 Windows)',
    fix: 'compress on one OS, or pin the byte: krepro package always writes 3',
  },
  encoder: {
    title: 'deflate encoder',
    why: 'the same bytes were compressed by a different deflate implementation or level; their outputs differ although both are valid',
    fix: 'pin the encoder and level: krepro package (Chromium zlib as pako 3.0.3 computes it, 128 KiB blocks), or one fixed gzip/pigz binary and level everywhere',
  },
  'derived-digest': {
    title: 'checksums of differing files',
    why: 'these are digests of other outputs that differ, so they differ as a consequence',
    fix: 'fix the differences in the files they describe',
  },
  content: {
    title: 'unexplained content',
    why: 'the bytes differ in a way krepro has no rule for; the diff below shows where',
    fix: 'read the diff; rebuild twice on one machine to tell non-determinism in the build from different inputs',
  },
} as const satisfies Record<string, { title: string; why: string; fix: string }>;

export type CauseId = keyof typeof CAUSES;

export function finding(cause: CauseId, path: Location, layer: Finding['layer'], field: string, left: string | null, right: string | null, note?: string): Finding {
  return { cause, path, layer, field, left, right, ...(note === undefined ? {} : { note }) };
}

// Recognizers for strings that reveal a cause. Shared by the text, binary and ELF comparators.
const ISO_DATE = /\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?/g;
const CTIME_DATE = /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +(?:\d{1,2} +)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?:\d{1,2} +)?\d{2}:\d{2}:\d{2}(?: +[A-Z]{2,5})?(?: +\d{4})?/g;
/** Absolute paths of the kinds builds leak: temporary and build directories, homes, GOPATH/GOROOT. */
const BUILD_PATH = /(?:^|[^\w.~-])(\/(?:tmp|var\/tmp|home|root|build|builds|workspace|workdir|src|go\/src|go\/pkg|usr\/local\/go|usr\/lib\/go[\w.-]*|Users|opt|private|__w|github\/workspace)\/[\w.+@~/-]+)/g;
const HEX_DIGEST = /\b[0-9a-f]{40,128}\b|\bsha(?:256|384|512)-[A-Za-z0-9+/]{40,}={0,2}/g;
const HOST = /\b(?:host(?:name)?|node|machine|built on|build host|builder)\s*[:=]?\s*["']?([A-Za-z0-9][\w.-]{1,62})/gi;

export interface TokenClass {
  cause: CauseId;
  field: string;
}

function allMatches(re: RegExp, text: string, group = 0): string[] {
  re.lastIndex = 0;
  return [...text.matchAll(re)].map((m) => m[group] ?? m[0]);
}

export function datesIn(text: string): string[] {
  return [...allMatches(ISO_DATE, text), ...allMatches(CTIME_DATE, text)];
}

export function buildPathsIn(text: string): string[] {
  return allMatches(BUILD_PATH, text, 1);
}

/** Strips what varies within the same cause (the digits of a temp dir), so a set difference pairs real changes. */
export function pathShape(p: string): string {
  return p.replace(/\d+/g, '#');
}

/** Same instant in two zones, or two renderings whole hours apart: a TZ difference, not a clock one. */
function timezoneShift(a: string, b: string): boolean {
  const zoneA = /(Z|[+-]\d{2}:?\d{2}|\b[A-Z]{3,5})$/.exec(a)?.[1];
  const zoneB = /(Z|[+-]\d{2}:?\d{2}|\b[A-Z]{3,5})$/.exec(b)?.[1];
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  if (Number.isNaN(ta) || Number.isNaN(tb)) return zoneA !== undefined && zoneB !== undefined && zoneA !== zoneB;
  const delta = Math.abs(ta - tb);
  return delta === 0 ? zoneA !== zoneB : delta <= 14 * 3600_000 && delta % 1800_000 === 0 && zoneA !== zoneB;
}

/**
 * Why `left` became `right`, when a recognizer explains it: dates, build paths, digests, host names. Returns
 * undefined for a change krepro cannot explain.
 */
export function classifyChange(left: string, right: string): TokenClass | undefined {
  const dl = datesIn(left);
  const dr = datesIn(right);
  if (dl.length && dr.length && dl.join() !== dr.join()) {
    return timezoneShift(dl[0]!, dr[0]!) ? { cause: 'timezone', field: 'embedded date' } : { cause: 'timestamp', field: 'embedded date' };
  }
  const pl = buildPathsIn(left);
  const pr = buildPathsIn(right);
  if ((pl.length || pr.length) && pl.join() !== pr.join()) return { cause: 'build-path', field: 'embedded path' };
  const hl = allMatches(HEX_DIGEST, left);
  const hr = allMatches(HEX_DIGEST, right);
  if (hl.length && hr.length && hl.join() !== hr.join()) return { cause: 'derived-digest', field: 'digest' };
  const nl = allMatches(HOST, left, 1);
  const nr = allMatches(HOST, right, 1);
  if (nl.length && nr.length && nl.join() !== nr.join()) return { cause: 'hostname', field: 'host name' };
  return undefined;
}

/** Printable text of a byte window (latin1), for recognizers and for people; other bytes become '.'. */
export function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  return s;
}
