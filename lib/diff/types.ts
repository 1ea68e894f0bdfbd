import type { CauseId } from './findings.js';

/** Where a finding or refusal is: the outer file first, then one member name per archive level. */
export type Location = string[];

/** Which input: the first (left) or the second (right). */
export type Side = 'left' | 'right';

/**
 * One explained difference: what (field, left, right), where, and a cause from the catalogue in findings.ts.
 * `left`/`right` are rendered for people (dates in ISO 8601, modes in octal); null means absent on that side.
 */
export interface Finding {
  /** Why it differs: an entry of CAUSES, with its fix. */
  cause: CauseId;
  /** Where. */
  path: Location;
  /** Which layer differs: the file itself, its gzip framing, a tar header, or the content. */
  layer: 'file' | 'gzip' | 'tar' | 'content';
  /** What differs, e.g. `mtime`, `mode`, `gzip level`, a JSON key or an ELF section. */
  field: string;
  /** The first input's value, for people; null when absent there. */
  left: string | null;
  /** The second input's value, for people; null when absent there. */
  right: string | null;
  /** More about this finding, when there is more to say. */
  note?: string;
  /** Where in the member; only with DiffOptions.every (verify's attribution compares findings of several builds by it). */
  at?: Span;
}

/**
 * Where a finding is inside its member, in the left (first) input's coordinates: lines (1-based) or bytes
 * (0-based), both ends inclusive. A pure insertion has `end = start - 1` (it sits before line `start`).
 */
export interface Span {
  /** What start, end and total count: lines of text or bytes. */
  unit: 'line' | 'byte';
  /** First line (1-based) or byte (0-based) of the span. */
  start: number;
  /** Last line or byte of the span, inclusive. */
  end: number;
  /** A changed line's changed characters, [from, to) of the left line in UTF-16 code units; absent for bytes and whole lines. */
  columns?: [number, number];
  /** The member's length on the left, in lines or bytes. */
  total: number;
}

/** Something krepro would not read, follow or trust, so the comparison below that point is incomplete. */
export interface Refusal {
  /** Which input it was found in. */
  side: Side | 'both';
  /** Where. */
  path: Location;
  /** What was refused: an unsafe name or link, a loop, a lie about a size, damage, or a limit of DiffLimits. */
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
  /** What was refused and why, with the values involved. */
  detail: string;
}

/** A differing byte range of two members, with printable context (binary and ELF comparators). */
export interface ByteRange {
  /** Where the range starts, in bytes from the start of the member. */
  offset: number;
  /** Its length in bytes. */
  length: number;
  /** hex of the context window on each side; the range starts at `contextBefore` bytes into it */
  left: string;
  /** Hex of the second input's context window. */
  right: string;
  /** Bytes of context before the range in each window. */
  contextBefore: number;
}

/**
 * diffoscope's Difference node, keeping its field names (source1, source2, comments, unified_diff, details): a
 * tree that holds differences only. Findings are attached to the node where they were found.
 */
export interface Difference {
  /** The first input's name at this node. */
  source1: string;
  /** The second input's name at this node. */
  source2: string;
  /** What was compared at this node. */
  kind: 'directory' | 'file' | 'gzip' | 'tar' | 'image' | 'member' | 'elf' | 'section' | 'json' | 'text' | 'binary';
  /** Notes about this node for people (as diffoscope writes them). */
  comments: string[];
  /** The explained differences found at this node. */
  findings: Finding[];
  /** A unified diff of the two sides as text, when both are text. */
  unified_diff?: string;
  /** Differing byte ranges with context, for binary content. */
  ranges?: ByteRange[];
  /** The nodes below this one that differ. */
  details: Difference[];
}

/** Bounds that keep a hostile or huge input from taking unbounded memory, time or disk. */
export interface DiffLimits {
  /** Inflated bytes of one gzip stream. Default 16 GiB. */
  maxInflatedBytes: number;
  /** Inflated bytes of all gzip streams of one comparison (first reading of each only). Default 64 GiB. */
  maxTotalInflatedBytes: number;
  /** Inflated/compressed ratio of one stream, checked once it has inflated `inflateRatioFloor` bytes. Default 200. */
  maxInflateRatio: number;
  /** Inflated bytes of a stream before its ratio is checked. Default 64 MiB. */
  inflateRatioFloor: number;
  /** Members (or directory entries) per archive. Default 250000. */
  maxMembers: number;
  /** Nested archives (a tar.gz inside a tar.gz is depth 2). Default 4. */
  maxDepth: number;
  /** Bytes of a pax extended header or GNU long name. Default 1 MiB. */
  maxHeaderBytes: number;
  /** Bytes per side for a line diff; larger text is compared as binary. Default 4 MiB. */
  maxTextBytes: number;
  /** Lines of one member's unified diff; the rest is cut with a note. Default 4000. */
  maxDiffLines: number;
  /** Member pairs whose contents are read a second time and explained; the others are reported by digest. Default 500. */
  maxContentDiffs: number;
  /** Differing byte ranges kept with context per pair (all are counted). Default 16. */
  maxRanges: number;
  /** Inflated bytes re-encoded per encoder candidate to name a gzip encoder. Default 4 MiB. */
  fingerprintBytes: number;
  /** With DiffOptions.every: findings kept per member; past it the rest is one finding spanning it that says how many. Default 2000. */
  maxLocated: number;
}

/** diff's bounds when DiffOptions.limits leaves one out. */
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

/** How diff compares. */
export interface DiffOptions {
  /** Bounds on memory, time and report size; each one left out is DEFAULT_LIMITS'. */
  limits?: Partial<DiffLimits>;
  /** GNU gzip executable, tried as an encoder candidate at levels 1-9. Default: not tried. */
  gnuGzip?: string;
  /** Globs of member and entry paths to leave out, at any nesting level (diffoscope's --exclude). Default: none. */
  exclude?: readonly string[];
  /** Do not compare directory entries' mode, owner and mtime (diffoscope's --exclude-directory-metadata). Default false. */
  excludeMetadata?: boolean;
  /**
   * One finding per differing line, token run, byte run, section and key, each with its span (`at`), instead of
   * one per kind of change: what verify's attribution needs to tell noise from a cause in the same file. Bounded by
   * `limits.maxLocated` per member (the last finding then spans the rest and says how many it stands for). Default false.
   */
  every?: boolean;
  /** Names shown for the two inputs, e.g. the paths as a user typed them. Default: the paths given. */
  labels?: [string, string];
  /** Cut the report's tree once its JSON would pass this many bytes, with a note where; the summary keeps every count. Default: no cut. */
  maxReportSize?: number;
  /** Aborts the comparison. */
  signal?: AbortSignal;
}

/** The diff report's `schema` (schemas/diff-report.schema.json). */
export const DIFF_REPORT_SCHEMA = 'https://krepro.dev/schemas/diff-report/v1';

/** What diff found, as JSON-ready data: a tree of differences with findings, and what was refused. */
export interface DiffReport {
  /** Always DIFF_REPORT_SCHEMA. */
  schema: typeof DIFF_REPORT_SCHEMA;
  /** The krepro version that compared. */
  kreproVersion: string;
  /** The first input, as labelled. */
  source1: string;
  /** The second input, as labelled. */
  source2: string;
  /** The inputs are the same bytes (and trees): nothing else in the report. */
  identical: boolean;
  /** Counts over the whole comparison, including what maxReportSize cut. */
  summary: {
    /** Findings in all. */
    findings: number;
    /** Refusals in all. */
    refused: number;
    /** Findings per cause, most frequent first. */
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
  /** What was not read, followed or trusted: the comparison is incomplete below each. */
  refused: Refusal[];
  /** The differences, as a tree from the inputs down; null when identical. */
  tree: Difference | null;
}
