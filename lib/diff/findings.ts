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
  'fs-metadata': {
    title: 'file-system metadata of the copies',
    why: "the files' modification times on disk differ: the copies were written, copied or extracted at different times; the bytes are not affected",
    fix: 'nothing to change in the build when the files themselves are compared (release directories): compare contents alone with --exclude-metadata. A directory that is packed later needs its packer to fix mtimes (tar --mtime=@$SOURCE_DATE_EPOCH, krepro package)',
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
  rename: {
    title: 'renamed members',
    why: 'a member has another name on each side but similar content: a version, hash or date in its file name changed',
    fix: 'derive versioned names from the source (git describe, SOURCE_DATE_EPOCH), never from the build time or machine; if the rename is intended, ignore this',
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
    fix: 'pin the encoder and level: krepro package (gzip format 2: the pinned libdeflate WebAssembly module; --encoder 1 for releases made with format 1), or one fixed gzip/pigz binary and level everywhere',
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

/** A cause of the catalogue CAUSES: `mtime`, `gzip-level`, `build-id`, `go-buildid`… */
export type CauseId = keyof typeof CAUSES;

export function finding(cause: CauseId, path: Location, layer: Finding['layer'], field: string, left: string | null, right: string | null, note?: string): Finding {
  return { cause, path, layer, field, left, right, ...(note === undefined ? {} : { note }) };
}

// Recognizers for strings that reveal a cause. Shared by the text, JSON, binary and ELF comparators.
const ISO_DATE = /\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?: ?(Z|[+-]\d{2}:?\d{2}|UTC|GMT)\b)?/g;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** ctime (`Mon Jan  2 15:04:05 UTC 2006`, date(1)'s default) and RFC 2822 (`Mon, 02 Jan 2006 15:04:05 +0000`). */
const CTIME_DATE = /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +(?:(\d{1,2}) +)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?:(\d{1,2}) +)?(?:(\d{4}) +)?(\d{2}):(\d{2}):(\d{2})(?: +([A-Z]{2,5}|[+-]\d{4}))?(?: +(\d{4}))?/g;
/** Absolute paths of the kinds builds leak: temporary and build directories, homes, GOPATH/GOROOT. */
const BUILD_PATH = /(?:^|[^\w.~-])(\/(?:tmp|var\/tmp|home|root|build|builds|workspace|workdir|src|go\/src|go\/pkg|usr\/local\/go|usr\/lib\/go[\w.-]*|Users|opt|private|__w|github\/workspace)\/[\w.+@~/-]+)/g;
const HEX_DIGEST = /\b[0-9a-f]{40,128}\b|\bsha(?:256|384|512)-[A-Za-z0-9+/]{40,}={0,2}/g;
const HOST = /\b(?:host(?:name)?|node|machine|built on|build host|builder)\s*[:=]?\s*["']?([A-Za-z0-9][\w.-]{1,62})/gi;

/** A cause a recognizer found in a changed string, with the two tokens that show it. */
export interface TokenClass {
  cause: CauseId;
  field: string;
  left: string;
  right: string;
  note?: string;
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

/** Zone names date(1) and Go print that have one offset; others (IST, CST in China) are ambiguous and left out. */
const ZONES: Record<string, number> = { Z: 0, UTC: 0, GMT: 0, UT: 0, EST: -300, EDT: -240, CDT: -300, MST: -420, MDT: -360, PST: -480, PDT: -420, CET: 60, CEST: 120, EET: 120, EEST: 180, WET: 0, WEST: 60, JST: 540, KST: 540, AEST: 600, AEDT: 660, NZST: 720, NZDT: 780 };

interface ParsedDate {
  /** the printed wall-clock time, read as if it were UTC, in ms */
  wall: number;
  /** minutes east of UTC when the text says (an offset or a known zone name) */
  offset?: number;
  zone?: string;
}

function zoneOffset(zone: string | undefined): number | undefined {
  if (zone === undefined) return undefined;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : ZONES[zone];
}

/** Reads a date found by ISO_DATE or CTIME_DATE without the process's time zone (the library never consults it). */
export function parseDate(text: string): ParsedDate | undefined {
  ISO_DATE.lastIndex = 0;
  CTIME_DATE.lastIndex = 0;
  const iso = new RegExp(ISO_DATE.source).exec(text);
  if (iso && iso.index === 0) {
    const [, y, mo, d, h, mi, se, frac, zone] = iso;
    const wall = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +se!, frac ? Math.round(Number(frac) * 1000) : 0);
    const offset = zoneOffset(zone);
    return { wall, ...(offset !== undefined ? { offset } : {}), ...(zone ? { zone } : {}) };
  }
  const ct = new RegExp(CTIME_DATE.source).exec(text);
  if (!ct || ct.index !== 0) return undefined;
  const [, day1, mon, day2, year1, h, mi, se, zone, year2] = ct;
  const year = year1 ?? year2;
  const day = day1 ?? day2;
  // Without a year the two dates are still comparable as this year's, which is all a difference needs.
  const wall = Date.UTC(year ? +year : 2000, MONTHS.indexOf(mon!), day ? +day : 1, +h!, +mi!, +se!);
  const offset = zoneOffset(zone);
  return { wall, ...(offset !== undefined ? { offset } : {}), ...(zone ? { zone } : {}) };
}

const QUARTER_HOUR = 15 * 60_000;
const MAX_ZONE_SHIFT = 14 * 3600_000;

function span(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / 60_000);
  if (minutes < 60 * 48) return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
  return `${Math.round(minutes / 1440)} days`;
}

/**
 * Two renderings of a date: a time-zone difference when they are the same instant with different offsets, or
 * when the printed times are a whole number of quarter hours apart within ±14 h (the same clock read in two
 * zones, whose offsets are multiples of 15 minutes); otherwise a clock difference (the build ran at another time).
 */
export function classifyDates(left: string, right: string): TokenClass {
  const a = parseDate(left);
  const b = parseDate(right);
  const base = { field: 'embedded date', left, right };
  if (!a || !b) return { cause: 'timestamp', ...base };
  if (a.offset !== undefined && b.offset !== undefined && a.offset !== b.offset && a.wall - a.offset * 60_000 === b.wall - b.offset * 60_000) {
    return { cause: 'timezone', ...base, note: `the same instant printed in two time zones (${a.zone} and ${b.zone})` };
  }
  const delta = b.wall - a.wall;
  if (delta !== 0 && Math.abs(delta) <= MAX_ZONE_SHIFT && delta % QUARTER_HOUR === 0) {
    return { cause: 'timezone', ...base, note: `${span(delta)} apart, a whole number of quarter hours: the same clock printed in two time zones` };
  }
  return { cause: 'timestamp', ...base, note: `${span(delta)} apart: the clock of each build` };
}

/** The first pair at the same position in two token lists that differs. */
function firstChange(a: string[], b: string[]): [string, string] | undefined {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return [a[i]!, b[i]!];
  return undefined;
}

/**
 * Every cause a recognizer sees in how `left` became `right` (a line, a byte window, a JSON value): dates, build
 * paths, digests, host names. A line holding both a build path and a date gives both. Empty: krepro has no rule.
 */
export function classifyChanges(left: string, right: string): TokenClass[] {
  const out: TokenClass[] = [];
  const dl = datesIn(left);
  const dr = datesIn(right);
  const seen = new Set<string>();
  for (let i = 0; i < Math.min(dl.length, dr.length); i++) {
    if (dl[i] === dr[i]) continue;
    const c = classifyDates(dl[i]!, dr[i]!);
    if (!seen.has(c.cause)) out.push(c);
    seen.add(c.cause);
  }
  const pl = buildPathsIn(left);
  const pr = buildPathsIn(right);
  if ((pl.length || pr.length) && pl.join() !== pr.join()) {
    const [a, b] = firstChange(pl, pr) ?? [pl[0] ?? '', pr[0] ?? ''];
    out.push({ cause: 'build-path', field: 'embedded path', left: a, right: b });
  }
  const hl = allMatches(HEX_DIGEST, left);
  const hr = allMatches(HEX_DIGEST, right);
  const digest = firstChange(hl, hr);
  if (digest) out.push({ cause: 'derived-digest', field: 'digest', left: digest[0], right: digest[1] });
  const host = firstChange(allMatches(HOST, left, 1), allMatches(HOST, right, 1));
  if (host && !out.length) out.push({ cause: 'hostname', field: 'host name', left: host[0], right: host[1] });
  return out;
}

/** A recognized change as a finding at `path` (its note, if any, after the caller's). */
export function tokenFinding(c: TokenClass, path: Location, note?: string): Finding {
  const notes = [note, c.note].filter((n): n is string => !!n);
  return finding(c.cause, path, 'content', c.field, c.left, c.right, notes.length ? notes.join('; ') : undefined);
}

/** Printable text of a byte window (latin1), for recognizers and for people; other bytes become '.'. */
export function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  return s;
}
