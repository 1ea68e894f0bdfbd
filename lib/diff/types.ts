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
