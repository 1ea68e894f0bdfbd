import type { CheckedFile, CheckResult } from '../check/check.js';
import { visible } from '../quote.js';
import { cell } from './markdown.js';

/** What is wrong with one file, in one line per list that disagrees (or why it was not read). */
function problems(f: CheckedFile): string[] {
  const sources = [...new Set(f.expectations.map((e) => e.source))].join(', ');
  if (f.verdict === 'missing') return [`missing; listed in ${sources}`];
  if (f.verdict === 'not-a-file') return [`${f.what ?? 'not a regular file'}; listed in ${sources}`];
  return f.expectations.filter((e) => !e.ok).map((e) => `${e.what} is ${e.actual}, but ${e.source} says ${e.expected}`);
}

const code = (s: string): string => `\`${visible(s).replace(/\|/g, '\\|').replace(/`/g, 'ˋ')}\``;

/** What the directory was checked against, for a headline: the lists (signed ones with the key), the per-file sums counted. */
export function checkedAgainst(r: CheckResult, keyid?: string): string {
  const lists = r.lists.filter((l) => l.kind !== 'file-sum').map((l) => (l.kind === 'attestation' && keyid ? `${l.file} (key ${keyid})` : l.file));
  const perFile = r.lists.filter((l) => l.kind === 'file-sum').length;
  return [...lists, ...(perFile > 0 ? [`${perFile} per-file sums`] : [])].join(', ');
}

/** krepro check's result as GitHub-flavoured Markdown: the verdict, what fails (each list that disagrees), the rest collapsed. */
export function checkMarkdown(r: CheckResult): string {
  const failing = r.files.filter((f) => f.verdict !== 'match');
  const out = [`## ${r.ok ? '✅' : '❌'} krepro check: ${r.ok ? 'OK' : 'FAILED'}`, '', `${code(r.dir)}: ${r.files.length - failing.length} of ${r.files.length} files match ${cell(checkedAgainst(r))}.`, ''];
  if (failing.length || r.envelopes.length) {
    out.push('| | file | what is wrong |', '|---|---|---|');
    for (const f of failing) out.push(`| ❌ | ${code(f.name)} | ${problems(f).map((p) => cell(visible(p))).join('<br>')} |`);
    for (const e of r.envelopes) out.push(`| ❌ | ${code(`${e.file} line ${e.line}`)} | ${e.failures.map((x) => cell(visible(`${x.check}: ${x.message}`))).join('<br>')} |`);
    out.push('');
  }
  const matching = r.files.filter((f) => f.verdict === 'match');
  if (matching.length) out.push(`<details><summary>${matching.length} matching file${matching.length === 1 ? '' : 's'}</summary>`, '', ...matching.map((f) => `- ${code(f.name)}`), '', '</details>', '');
  if (r.uncovered.length) out.push(`**Not covered by any list** (reported, not failed): ${r.uncovered.map((u) => code(u.name)).join(', ')}`, '');
  if (r.outside.length) out.push(`**Not in the directory** (reported, not failed): ${r.outside.map((o) => `${code(o.name)} (${cell(o.why)})`).join(', ')}`, '');
  for (const n of r.notes) out.push(`> ${cell(visible(n))}`, '');
  return `${out.join('\n').trimEnd()}\n`;
}

const escape = (s: string): string => visible(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** krepro check's result as a self-contained HTML page (no scripts, no external resources). */
export function checkHtml(r: CheckResult): string {
  const rows = [...r.files]
    .sort((a, b) => Number(a.verdict === 'match') - Number(b.verdict === 'match'))
    .map((f) => `<tr class="${f.verdict === 'match' ? 'ok' : 'bad'}"><td>${f.verdict === 'match' ? '✓' : '✗'}</td><td><code>${escape(f.name)}</code></td><td>${f.verdict === 'match' ? escape([...new Set(f.expectations.map((e) => e.source))].join(', ')) : problems(f).map(escape).join('<br>')}</td></tr>`)
    .join('\n');
  const envelopes = r.envelopes.map((e) => `<tr class="bad"><td>✗</td><td><code>${escape(`${e.file} line ${e.line}`)}</code></td><td>${e.failures.map((x) => escape(`${x.check}: ${x.message}`)).join('<br>')}</td></tr>`).join('\n');
  const list = (title: string, items: string[]) => (items.length ? `<h2>${title}</h2><ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>` : '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>krepro check: ${r.ok ? 'OK' : 'FAILED'}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}
.verdict{padding:1rem 1.25rem;border-radius:8px;font-size:1.3rem;font-weight:600;color:#fff;background:${r.ok ? '#1f7a3d' : '#b3261e'}}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{padding:.35rem .6rem;border-bottom:1px solid #dde1e8;text-align:left;vertical-align:top}
tr.bad{background:#fdecea}tr.bad td:first-child{color:#b3261e;font-weight:700}tr.ok td:first-child{color:#1f7a3d}code{font:13px ui-monospace,monospace}
</style></head><body>
<div class="verdict">${r.ok ? 'OK' : 'FAILED'}: ${r.files.filter((f) => f.verdict === 'match').length} of ${r.files.length} files match ${escape(checkedAgainst(r))}</div>
<p>Directory <code>${escape(r.dir)}</code>.</p>
<table><thead><tr><th></th><th>file</th><th>lists, or what is wrong</th></tr></thead><tbody>
${envelopes}
${rows}
</tbody></table>
${list('Not covered by any list (reported, not failed)', r.uncovered.map((u) => `<code>${escape(u.name)}</code>${u.kind === 'file' ? '' : ` (${u.kind})`}`))}
${list('Not in the directory (reported, not failed)', r.outside.map((o) => `<code>${escape(o.name)}</code> (${escape(o.source)}): ${escape(o.why)}`))}
${list('Notes', r.notes.map(escape))}
</body></html>
`;
}
