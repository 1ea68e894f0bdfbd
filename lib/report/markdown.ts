import type { DiffReport, Difference } from '../diff/types.js';
import { byCause, filterLines, hexRows, location, sameBytesNote, value } from './common.js';

/** Places per finding group and detail sections before "and N more": a pull-request comment stays readable. */
const MAX_LOCATIONS = 10;
const MAX_DETAILS = 100;

/** Text inside a table cell or inline code: pipes and newlines would break the table, backticks the code span. */
export function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').replace(/`/g, 'ˋ');
}

export function fence(body: string, lang = ''): string {
  // A fence longer than any backtick run inside, so no content can close it early.
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${body.replace(/\n$/, '')}\n${f}`;
}

function title(node: Difference): string {
  return node.source1 === node.source2 || node.source2 === '(absent)' ? node.source1 : node.source1 === '(absent)' ? node.source2 : `${node.source1} → ${node.source2}`;
}

/**
 * GitHub-flavoured Markdown (for pull-request comments and job summaries): the verdict, a table per cause with
 * why and fix, what was refused, then each differing member as a collapsible section with its diff.
 */
export function renderMarkdown(report: DiffReport): string {
  const out: string[] = [`# krepro diff: \`${cell(report.source1)}\` vs \`${cell(report.source2)}\``, ''];
  const s = report.summary;
  if (report.identical) {
    out.push('**Identical.**', '', ...filterLines(report).flatMap((line) => [`> ${cell(line)}`, '']));
    return `${out.join('\n')}\n`;
  }
  const same = sameBytesNote(report);
  out.push(`**Different:** ${s.findings} finding${s.findings === 1 ? '' : 's'}, ${s.causes.length} cause${s.causes.length === 1 ? '' : 's'}${s.refused ? `, ${s.refused} refused` : ''}${s.excluded ? `, ${s.excluded} members excluded` : ''}${same ? ` (${cell(same)})` : ''}.`, '');
  for (const line of filterLines(report)) out.push(`> ${cell(line)}`, '');
  out.push('## Causes and fixes', '');
  for (const c of byCause(report)) {
    out.push(`### ${c.title} (${c.count})`, '', `${c.why}.`, '', `**Fix:** ${c.fix}`, '', '| field | left | right | where |', '|---|---|---|---|');
    for (const g of c.groups) {
      const places = g.locations.length > MAX_LOCATIONS ? `${g.locations.slice(0, MAX_LOCATIONS).join(', ')} and ${g.locations.length - MAX_LOCATIONS} more` : g.locations.join(', ');
      out.push(`| ${cell(g.field)} | \`${cell(value(g.left))}\` | \`${cell(value(g.right))}\` | ${cell(places)}${g.note ? `<br>*${cell(g.note)}*` : ''} |`);
    }
    out.push('');
  }
  if (report.refused.length) {
    out.push('## Refused or not followed', '', '| kind | side | where | detail |', '|---|---|---|---|');
    for (const r of report.refused) out.push(`| ${r.kind} | ${r.side} | \`${cell(location(r.path))}\` | ${cell(r.detail)} |`);
    out.push('');
  }
  if (report.tree) {
    out.push('## Layer by layer', '');
    let shown = 0;
    let hidden = 0;
    const walk = (node: Difference, depth: number) => {
      const body = node.unified_diff !== undefined || (node.ranges?.length ?? 0) > 0 || node.comments.length > 0 || node.findings.length > 0;
      if (body && shown >= MAX_DETAILS) hidden++;
      else if (body) {
        shown++;
        out.push(`<details${depth < 2 ? ' open' : ''}><summary><code>${title(node).replace(/[&<>]/g, (ch) => `&#${ch.charCodeAt(0)};`)}</code> (${node.kind})</summary>`, '');
        for (const c of node.comments) out.push(`- ${cell(c)}`);
        for (const f of node.findings) out.push(`- **${f.cause}** ${cell(f.field)}: \`${cell(value(f.left))}\` → \`${cell(value(f.right))}\`${f.note ? ` (${cell(f.note)})` : ''}`);
        if (node.unified_diff !== undefined) out.push('', fence(node.unified_diff, 'diff'));
        for (const r of node.ranges ?? []) out.push('', `@0x${r.offset.toString(16)}, ${r.length} bytes:`, '', fence([...hexRows(r, 'left').map((l) => `- ${l}`), ...hexRows(r, 'right').map((l) => `+ ${l}`)].join('\n'), 'diff'));
        out.push('', '</details>', '');
      }
      for (const child of node.details) walk(child, depth + 1);
    };
    walk(report.tree, 0);
    if (hidden) out.push(`${hidden} more sections are not shown here; the JSON report has them all.`, '');
  }
  out.push(`<sub>krepro ${report.kreproVersion} · ${report.schema}</sub>`);
  return `${out.join('\n')}\n`;
}
