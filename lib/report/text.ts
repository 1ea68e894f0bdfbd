import { visit } from '../diff/difference.js';
import type { DiffReport, Difference } from '../diff/types.js';
import { byCause, filterLines, hexRows, location, sameBytesNote, value } from './common.js';

/** Places listed per finding group, and detail nodes shown, before "and N more": a report stays readable. */
const MAX_LOCATIONS = 5;
const MAX_GROUPS = 12;
const MAX_DETAILS = 50;
const MAX_DIFF_LINES = 60;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The default report: a one-line verdict, then findings grouped by cause with why and fix, then what was refused,
 * then the content details (unified diffs, byte ranges) of the first members.
 */
export function renderText(report: DiffReport): string {
  if (report.identical) return [`${report.source1} and ${report.source2} are identical`, ...filterLines(report)].join('\n') + '\n';
  const out: string[] = [];
  const s = report.summary;
  const same = sameBytesNote(report);
  out.push(`${report.source1} and ${report.source2} differ: ${plural(s.findings, 'finding')}, ${plural(s.causes.length, 'cause')}${s.refused ? `, ${s.refused} refused` : ''}${same ? ` (${same})` : ''}`);
  out.push(...filterLines(report));
  for (const section of byCause(report)) {
    out.push('', `[${section.cause}] ${section.title} (${section.count})`, `  why: ${section.why}`, `  fix: ${section.fix}`);
    for (const g of section.groups.slice(0, MAX_GROUPS)) {
      const places = g.locations.length > MAX_LOCATIONS ? `${g.locations.slice(0, MAX_LOCATIONS).join(', ')} and ${g.locations.length - MAX_LOCATIONS} more` : g.locations.join(', ');
      const change = g.left === null && g.right === null ? '' : `: ${value(g.left)} → ${value(g.right)}`;
      out.push(`  - ${g.field}${change}`, `      in ${places}${g.note ? `; ${g.note}` : ''}`);
    }
    if (section.groups.length > MAX_GROUPS) out.push(`  … and ${section.groups.length - MAX_GROUPS} more kinds of ${section.cause} findings`);
  }
  if (report.refused.length) {
    out.push('', `Refused or not followed (${report.refused.length}):`);
    for (const r of report.refused) out.push(`  - ${r.side}: ${location(r.path)}: ${r.kind}: ${r.detail}`);
  }
  const details = report.tree ? detailLines(report.tree) : [];
  if (details.length) out.push('', 'Details:', ...details);
  return `${out.join('\n')}\n`;
}

function detailLines(tree: Difference): string[] {
  const out: string[] = [];
  let shown = 0;
  let hidden = 0;
  visit(tree, (node, depth) => {
    const hasBody = node.unified_diff !== undefined || (node.ranges?.length ?? 0) > 0 || node.comments.length > 0;
    if (!hasBody) return;
    if (shown >= MAX_DETAILS) {
      hidden++;
      return;
    }
    shown++;
    const pad = '  '.repeat(Math.min(depth, 6) + 1);
    out.push(`${pad}${node.source1 === node.source2 ? node.source1 : `${node.source1} ↔ ${node.source2}`} (${node.kind})`);
    for (const c of node.comments) out.push(`${pad}  ${c}`);
    if (node.unified_diff !== undefined) {
      const lines = node.unified_diff.trimEnd().split('\n');
      out.push(...lines.slice(0, MAX_DIFF_LINES).map((l) => `${pad}  ${l}`));
      if (lines.length > MAX_DIFF_LINES) out.push(`${pad}  … ${lines.length - MAX_DIFF_LINES} more diff lines (--json or --html has them all)`);
    }
    for (const r of (node.ranges ?? []).slice(0, 3)) {
      out.push(`${pad}  @0x${r.offset.toString(16)}, ${r.length} bytes:`);
      out.push(...hexRows(r, 'left', 4).map((l) => `${pad}  - ${l}`), ...hexRows(r, 'right', 4).map((l) => `${pad}  + ${l}`));
    }
  });
  if (hidden) out.push(`  … ${hidden} more detail sections (--json or --html has them all)`);
  return out;
}
