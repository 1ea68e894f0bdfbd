import { CAUSES, type CauseId } from '../diff/findings.js';
import type { ByteRange, DiffReport, Finding, Location } from '../diff/types.js';
import { allFindings } from '../diff/difference.js';

/** Findings that say the same thing (cause, field, left, right) in many places, shown once with the places. */
export interface FindingGroup {
  field: string;
  left: string | null;
  right: string | null;
  note?: string;
  locations: string[];
}

export interface CauseSection {
  cause: CauseId;
  title: string;
  why: string;
  fix: string;
  count: number;
  groups: FindingGroup[];
}

export function location(path: Location): string {
  return path.length ? path.join(' › ') : '(top level)';
}

/** Findings grouped by cause (most frequent first, as in the summary), then by identical field/left/right. */
export function byCause(report: DiffReport): CauseSection[] {
  const findings = allFindings(report.tree);
  return report.summary.causes.map(({ cause, count }) => {
    const groups = new Map<string, FindingGroup>();
    for (const f of findings.filter((x: Finding) => x.cause === cause)) {
      const k = JSON.stringify([f.field, f.left, f.right, f.note ?? '']);
      const g = groups.get(k);
      if (g) g.locations.push(location(f.path));
      else groups.set(k, { field: f.field, left: f.left, right: f.right, ...(f.note === undefined ? {} : { note: f.note }), locations: [location(f.path)] });
    }
    return { cause, ...CAUSES[cause], count, groups: [...groups.values()] };
  });
}

export function value(v: string | null): string {
  return v === null ? '(absent)' : v === '' ? '(empty)' : v;
}

/** hexdump -C style rows of a range's window at its real offsets, from one row of context before the range. */
export function hexRows(r: ByteRange, side: 'left' | 'right', maxRows = 6): string[] {
  const skip = Math.max(0, r.contextBefore - 16);
  const bytes = Buffer.from(side === 'left' ? r.left : r.right, 'hex').subarray(skip);
  const start = r.offset - r.contextBefore + skip;
  const rows: string[] = [];
  for (let i = 0; i < bytes.length && rows.length < maxRows; i += 16) {
    const chunk = bytes.subarray(i, i + 16);
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    rows.push(`${(start + i).toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${text}|`);
  }
  return rows;
}

/**
 * What the verdict adds when the only differences are the copies' on-disk metadata (two copies of one release
 * written at different times): every file's bytes are the same, which the count of findings alone would hide.
 */
export function sameBytesNote(report: DiffReport): string | undefined {
  const causes = report.summary.causes;
  if (report.identical || report.summary.refused || causes.length !== 1 || causes[0]!.cause !== 'fs-metadata') return undefined;
  return "every file holds the same bytes: only the copies' file-system metadata differs";
}

/** What the comparison left out (--exclude, --exclude-metadata) or cut (--max-report-size), said up front. */
export function filterLines(report: DiffReport): string[] {
  const out: string[] = [];
  const o = report.options;
  if (o?.exclude.length || report.summary.excluded) out.push(`excluded: ${report.summary.excluded ?? 0} members matching ${o?.exclude.join(', ') ?? '(not recorded)'}`);
  if (o?.excludeMetadata) out.push('directory entries compared without metadata (mode, owner, mtime)');
  const cut = report.summary.cut;
  if (cut) out.push(`report cut at ${cut.maxReportSize} bytes: ${cut.nodes} sections with ${cut.findings} findings not shown (counted above)`);
  return out;
}
