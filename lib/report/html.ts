import type { DiffReport, Difference } from '../diff/types.js';
import { byCause, filterLines, hexRows, location, sameBytesNote, value } from './common.js';

/** Member sections rendered; a report of 100,000 differing members stays a page a browser opens. */
const MAX_NODES = 2000;
const MAX_LOCATIONS = 20;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d1f24;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.verdict{padding:10px 14px;border-radius:6px;background:#fff3e0;border:1px solid #f0b060;display:inline-block}
.same{background:#e8f5e9;border-color:#7cb77f}
.cause{background:#fff;border:1px solid #ddd;border-left:6px solid #c0392b;border-radius:6px;padding:10px 14px;margin:10px 0}
.cause h3{margin:0 0 4px;font-size:15px} .why{color:#555} .fix{color:#14532d;font-weight:600}
.badge{white-space:nowrap;display:inline-block;min-width:22px;padding:0 6px;border-radius:10px;background:#c0392b;color:#fff;font-size:12px;text-align:center}
table{border-collapse:collapse;margin:6px 0;width:100%} td,th{border:1px solid #e2e2e2;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f1f1f1} .l{background:#fdecea} .r{background:#e8f5e9} code,pre{font:12px/1.35 ui-monospace,monospace}
pre{background:#fff;border:1px solid #e2e2e2;padding:8px;overflow:auto;max-height:420px}
.add{color:#0a6b2b} .del{color:#b42318} .hunk{color:#6b21a8}
details{background:#fff;border:1px solid #e2e2e2;border-radius:6px;margin:6px 0 6px 14px;padding:4px 10px}
summary{cursor:pointer;font-weight:600} .kind{color:#666;font-weight:400;font-size:12px;margin-left:6px}
.comment{color:#444;margin:2px 0} .refused td:first-child{white-space:nowrap}
`;

function findingsTable(node: Difference): string {
  if (!node.findings.length) return '';
  const rows = node.findings
    .map((f) => `<tr><td><span class="badge">${esc(f.cause)}</span></td><td>${esc(f.field)}</td><td class="l"><code>${esc(value(f.left))}</code></td><td class="r"><code>${esc(value(f.right))}</code></td><td>${esc(f.note ?? '')}</td></tr>`)
    .join('');
  return `<table><tr><th>cause</th><th>field</th><th>left</th><th>right</th><th>note</th></tr>${rows}</table>`;
}

function unified(diff: string): string {
  const lines = diff.split('\n').map((l) => {
    const cls = l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '';
    return cls ? `<span class="${cls}">${esc(l)}</span>` : esc(l);
  });
  return `<pre>${lines.join('\n')}</pre>`;
}

function ranges(node: Difference): string {
  return (node.ranges ?? [])
    .map((r) => `<div class="comment">@0x${r.offset.toString(16)}, ${r.length} bytes</div><pre><span class="del">${hexRows(r, 'left').map(esc).join('\n')}</span>\n<span class="add">${hexRows(r, 'right').map(esc).join('\n')}</span></pre>`)
    .join('');
}

function nodeHtml(node: Difference, depth: number, budget: { left: number }): string {
  if (budget.left <= 0) return '';
  budget.left--;
  const title = node.source1 === node.source2 || node.source2 === '(absent)' ? node.source1 : node.source1 === '(absent)' ? node.source2 : `${node.source1} ↔ ${node.source2}`;
  const count = node.findings.length ? ` <span class="badge">${node.findings.length}</span>` : '';
  const body = [
    ...node.comments.map((c) => `<div class="comment">${esc(c)}</div>`),
    findingsTable(node),
    node.unified_diff !== undefined ? unified(node.unified_diff) : '',
    ranges(node),
    ...node.details.map((d) => nodeHtml(d, depth + 1, budget)),
  ].join('');
  // Layers (gzip, tar, directory) open; each member collapsed, so a big archive reads as a list.
  const open = node.kind === 'member' || node.kind === 'file' ? '' : ' open';
  return `<details${open} data-kind="${node.kind}"><summary>${esc(title)}<span class="kind">${node.kind}</span>${count}</summary>${body}</details>`;
}

/** A self-contained page (inline CSS, no script, no external resource): causes first, then collapsible members. */
export function renderHtml(report: DiffReport): string {
  const s = report.summary;
  const same = sameBytesNote(report);
  const verdict = report.identical
    ? `<div class="verdict same">identical</div>`
    : `<div class="verdict">${s.findings} finding${s.findings === 1 ? '' : 's'}, ${s.causes.length} cause${s.causes.length === 1 ? '' : 's'}${s.refused ? `, ${s.refused} refused` : ''}${same ? ` (${esc(same)})` : ''}</div>`;
  const causes = byCause(report)
    .map((c) => {
      const rows = c.groups
        .map((g) => {
          const places = g.locations.length > MAX_LOCATIONS ? `${g.locations.slice(0, MAX_LOCATIONS).join(', ')} and ${g.locations.length - MAX_LOCATIONS} more` : g.locations.join(', ');
          return `<tr><td>${esc(g.field)}</td><td class="l"><code>${esc(value(g.left))}</code></td><td class="r"><code>${esc(value(g.right))}</code></td><td>${esc(places)}${g.note ? `<br><i>${esc(g.note)}</i>` : ''}</td></tr>`;
        })
        .join('');
      return `<section class="cause" id="cause-${esc(c.cause)}"><h3>${esc(c.title)} <span class="badge">${c.count}</span></h3><div class="why">${esc(c.why)}</div><div class="fix">fix: ${esc(c.fix)}</div><table><tr><th>field</th><th>left</th><th>right</th><th>where</th></tr>${rows}</table></section>`;
    })
    .join('');
  const refused = report.refused.length
    ? `<h2>Refused or not followed</h2><table class="refused"><tr><th>kind</th><th>side</th><th>where</th><th>detail</th></tr>${report.refused.map((r) => `<tr><td>${esc(r.kind)}</td><td>${r.side}</td><td><code>${esc(location(r.path))}</code></td><td>${esc(r.detail)}</td></tr>`).join('')}</table>`
    : '';
  const budget = { left: MAX_NODES };
  const tree = report.tree ? `<h2>Layer by layer</h2>${nodeHtml(report.tree, 0, budget)}${budget.left <= 0 ? `<p>Only the first ${MAX_NODES} sections are shown; the JSON report has all.</p>` : ''}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>krepro diff: ${esc(report.source1)} vs ${esc(report.source2)}</title>
<style>${STYLE}</style></head>
<body><h1>krepro diff</h1><p><code>${esc(report.source1)}</code> vs <code>${esc(report.source2)}</code></p>${verdict}
${filterLines(report).map((l) => `<p class="comment">${esc(l)}</p>`).join('')}
${causes ? `<h2>Causes and fixes</h2>${causes}` : ''}${refused}${tree}
<p class="comment">krepro ${esc(report.kreproVersion)} · ${esc(report.schema)}</p></body></html>
`;
}
