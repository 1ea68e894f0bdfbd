import type { CauseId } from './findings.js';

/** Where a finding or refusal is: the outer file first, then one member name per archive level. */
export type Location = string[];

export type Side = 'left' | 'right';

/**
 * One explained difference: what (field, left, right), where, and a cause from the catalogue in findings.ts.
 * `left`/`right` are rendered for people (dates in ISO 8601, modes in octal); null means absent on that side.
 */
export interface Finding {
  cause: CauseId;
  path: Location;
  layer: 'file' | 'gzip' | 'tar' | 'content';
  field: string;
  left: string | null;
  right: string | null;
  note?: string;
  /** where in the member, with `every` (verify's attribution compares findings of several builds by it) */
  at?: Span;
}

/**
 * Where a finding is inside its member, in the left (first) input's coordinates: lines (1-based) or bytes
 * (0-based), both ends inclusive. A pure insertion has `end = start - 1` (it sits before line `start`).
 */
export interface Span {
  unit: 'line' | 'byte';
  start: number;
  end: number;
  /** a changed line's changed characters, [from, to) of the left line */
  columns?: [number, number];
  /** the member's length on the left in these units */
  total: number;
}

/** Something krepro would not read, follow or trust, so the comparison below that point is incomplete. */
export interface Refusal {
  side: Side | 'both';
  path: Location;
  kind:
    | 'unsafe-name'
    | 'unsafe-link'
    | 'symlink-loop'
    | 'declared-size'
    | 'truncated'
    | 'corrupt'
    | 'inflate-limit'
    | 'member-limit'
    | 'header-limit'
    | 'depth-limit'
    | 'content-limit';
  detail: string;
}

/** A differing byte range of two members, with printable context (binary and ELF comparators). */
export interface ByteRange {
  offset: number;
  length: number;
  /** hex of the context window on each side; the range starts at `contextBefore` bytes into it */
  left: string;
  right: string;
  contextBefore: number;
}

/**
 * diffoscope's Difference node, keeping its field names (source1, source2, comments, unified_diff, details): a
 * tree that holds differences only. Findings are attached to the node where they were found.
 */
export interface Difference {
  source1: string;
  source2: string;
  kind: 'directory' | 'file' | 'gzip' | 'tar' | 'image' | 'member' | 'elf' | 'section' | 'json' | 'text' | 'binary';
  comments: string[];
  findings: Finding[];
  unified_diff?: string;
  ranges?: ByteRange[];
  details: Difference[];
}

/** Bounds that keep a hostile or huge input from taking unbounded memory, time or disk. */
export interface DiffLimits {
  /** inflated bytes of one gzip stream */
  maxInflatedBytes: number;
  /** inflated bytes of all gzip streams of one comparison (first reading of each only) */
  maxTotalInflatedBytes: number;
  /** inflated/compressed ratio of one stream, checked once it has inflated `inflateRatioFloor` bytes */
  maxInflateRatio: number;
  inflateRatioFloor: number;
  /** members (or directory entries) per archive */
  maxMembers: number;
  /** nested archives (a tar.gz inside a tar.gz is depth 2) */
  maxDepth: number;
  /** a pax extended header or GNU long name */
  maxHeaderBytes: number;
  /** per side, for a line diff; larger text is compared as binary */
  maxTextBytes: number;
  /** lines of one member's unified diff; the rest is cut with a note */
  maxDiffLines: number;
  /** member pairs whose contents are read a second time and explained; the others are reported by digest */
  maxContentDiffs: number;
  /** differing byte ranges kept with context per pair (all are counted) */
  maxRanges: number;
  /** inflated bytes re-encoded per encoder candidate to name a gzip encoder */
  fingerprintBytes: number;
  /** with `every`: findings kept per member; past it the rest is one finding spanning it that says how many */
  maxLocated: number;
}

export const DEFAULT_LIMITS: DiffLimits = {
  maxInflatedBytes: 16 * 2 ** 30,
  maxTotalInflatedBytes: 64 * 2 ** 30,
  maxInflateRatio: 200,
  inflateRatioFloor: 64 * 2 ** 20,
  maxMembers: 250_000,
  maxDepth: 4,
  maxHeaderBytes: 1 << 20,
  maxTextBytes: 4 << 20,
  maxDiffLines: 4000,
  maxContentDiffs: 500,
  maxRanges: 16,
  fingerprintBytes: 4 << 20,
  maxLocated: 2000,
};

export interface DiffOptions {
  limits?: Partial<DiffLimits>;
  /** GNU gzip executable, tried as an encoder candidate at levels 1–9; omitted: not tried */
  gnuGzip?: string;
  /**
   * @deprecated Two files of any kind are always compared (ELF, text, JSON, gzip of anything, bytes); accepted
   * so that callers written for archives-only diffs keep compiling.
   */
  anyFile?: boolean;
  /** globs of member and entry paths to leave out, at any nesting level (diffoscope's --exclude) */
  exclude?: readonly string[];
  /** do not compare directory entries' mode, owner and mtime (diffoscope's --exclude-directory-metadata) */
  excludeMetadata?: boolean;
  /**
   * One finding per differing line, token run, byte run, section and key, each with its span (`at`), instead of
   * one per kind of change: what verify's attribution needs to tell noise from a cause in the same file. Bounded by
   * `limits.maxLocated` per member (the last finding then spans the rest and says how many it stands for).
   */
  every?: boolean;
  /** names shown for the two inputs (default: the paths given), e.g. the paths as a user typed them */
  labels?: [string, string];
  /** cut the report's tree once its JSON would pass this many bytes, with a note where; the summary keeps every count */
  maxReportSize?: number;
  signal?: AbortSignal;
}

export const DIFF_REPORT_SCHEMA = 'https://krepro.dev/schemas/diff-report/v1';

export interface DiffReport {
  schema: typeof DIFF_REPORT_SCHEMA;
  kreproVersion: string;
  source1: string;
  source2: string;
  identical: boolean;
  summary: {
    findings: number;
    refused: number;
    causes: { cause: CauseId; count: number }[];
    /** members and directory entries left out by `exclude`, counting both sides */
    excluded?: number;
    /** what --max-report-size cut from the tree (the counts above include it) */
    cut?: { nodes: number; findings: number; maxReportSize: number };
  };
  /** filters that shaped this report, so a re-rendered report says what it left out */
  options?: { exclude: string[]; excludeMetadata: boolean };
  /** the catalogue entries of the causes that occur */
  causes: Partial<Record<CauseId, { title: string; why: string; fix: string }>>;
  refused: Refusal[];
  tree: Difference | null;
}
