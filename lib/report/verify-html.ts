import type { VerifyReport } from '../verify/report.js';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A self-contained HTML page (no scripts, no external resources): verdict first, then every artifact with both
 * digests, then each cause with its fix, then the conditions of every build, collapsible.
 */
export function verifyHtml(report: VerifyReport): string {
  const ok = report.verdict === 'reproducible';
  const rows = report.artifacts
    .map((a) => {
      const cause = a.causes.map((c) => escape(c.variations.length ? c.variations.join(' + ') : 'nondeterminism')).join('<br>');
      return `<tr class="${a.verdict}"><td>${a.verdict === 'identical' ? '✓' : '✗'}</td><td><code>${escape(a.name)}</code></td><td><code>${a.control?.sha256.slice(0, 16) ?? '—'}</code></td><td><code>${a.experiment?.sha256.slice(0, 16) ?? '—'}</code></td><td>${cause}</td></tr>`;
    })
    .join('\n');
  const causes = report.attribution
    .map(
      (c) => `<details open><summary><strong>${escape(c.variations.length ? c.variations.join(' + ') : 'nondeterminism')}</strong>${c.coupled ? ' <em>(coupled)</em>' : ''} — confidence ${c.confidence}, ${c.artifacts.length} artifact(s)</summary>
<ul>${c.fix.map((f) => `<li>Fix: ${escape(f)}</li>`).join('')}</ul><p>${c.artifacts.map((n) => `<code>${escape(n)}</code>`).join(' ')}</p></details>`,
    )
    .join('\n');
  const explained = report.artifacts
    .filter((a) => a.explanation)
    .map(
      (a) => `<details><summary><code>${escape(a.name)}</code>: ${escape(a.explanation!.causes.map((c) => `${c.title} (${c.count})`).join(', ') || 'bytes only')}</summary>
<ul>${a.explanation!.causes.map((c) => `<li><strong>${escape(c.title)}</strong> — fix: ${escape(c.fix)}</li>`).join('')}</ul>
<table><thead><tr><th>where</th><th>field</th><th>control</th><th>experiment</th></tr></thead><tbody>${a.explanation!.findings
        .map((f) => `<tr><td><code>${escape(f.path)}</code></td><td>${escape(f.field)}</td><td><code>${escape(String(f.left))}</code></td><td><code>${escape(String(f.right))}</code></td></tr>`)
        .join('')}</tbody></table></details>`,
    )
    .join('\n');
  const builds = report.builds
    .map((b) => `<details><summary>${escape(b.label)} — ${(b.durationMs / 1000).toFixed(1)} s on ${escape(b.engine)}${b.variations.length ? `, varies ${escape(b.variations.join(', '))}` : ''}</summary><pre>${escape(JSON.stringify(b.conditions, null, 2))}</pre></details>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>krepro verify: ${report.verdict}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}
.verdict{padding:1rem 1.25rem;border-radius:8px;font-size:1.3rem;font-weight:600;color:#fff;background:${ok ? '#1f7a3d' : '#b3261e'}}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{padding:.35rem .6rem;border-bottom:1px solid #dde1e8;text-align:left;vertical-align:top}
tr.different{background:#fdecea}tr.identical td:first-child{color:#1f7a3d}tr.different td:first-child{color:#b3261e;font-weight:700}
code{font:13px ui-monospace,monospace}details{margin:.5rem 0;padding:.5rem .75rem;border:1px solid #dde1e8;border-radius:6px}summary{cursor:pointer}
pre{background:#f5f6f8;padding:.75rem;overflow:auto}
</style></head><body>
<div class="verdict">${ok ? 'Reproducible' : 'Not reproducible'}: ${report.artifacts.filter((a) => a.verdict === 'different').length} of ${report.artifacts.length} artifacts differ</div>
<p>Commit <code>${escape(report.commit)}</code>, SOURCE_DATE_EPOCH ${report.sourceDateEpoch}. Schema <code>${escape(report.schema)}</code>.</p>
<h2>Artifacts</h2>
<table><thead><tr><th></th><th>artifact</th><th>control sha256</th><th>experiment sha256</th><th>cause</th></tr></thead><tbody>
${rows}
</tbody></table>
${causes ? `<h2>Causes and fixes</h2>\n${causes}` : ''}
${explained ? `<h2>What differs (krepro diff)</h2>\n${explained}` : ''}
${report.noise ? `<h2>Noise check</h2><p>${report.noise.differing.length ? `A third build under control conditions differs in ${report.noise.differing.map((n) => `<code>${escape(n)}</code>`).join(' ')}: pure nondeterminism.` : 'A third build under control conditions is identical to the control build.'}</p>` : ''}
<h2>Builds</h2>
${builds}
</body></html>
`;
}
