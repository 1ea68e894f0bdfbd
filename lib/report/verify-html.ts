import type { VerifyReport } from '../verify/report.js';

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const code = (s: string): string => `<code>${escape(s)}</code>`;
const causeName = (c: { kind: string; variations: string[] }): string => (c.kind === 'nondeterminism' ? 'nondeterminism' : c.variations.join(' + '));

/**
 * A self-contained HTML page (no scripts, no external resources): verdict first, then variations not tested, every
 * artifact with both digests, each cause with its proof, fix and diff findings, and the conditions of every build.
 */
export function verifyHtml(report: VerifyReport): string {
  const ok = report.verdict === 'reproducible';
  const differing = report.artifacts.filter((a) => a.verdict === 'different').length;
  const headline = report.failure
    ? `Build failed: ${escape(report.failure.label)} exited with ${report.failure.exitCode}`
    : `${ok ? 'Reproducible' : 'Not reproducible'}: ${differing} of ${report.artifacts.length} artifacts differ`;
  const failure = report.failure
    ? `<h2>Failed build</h2><p>Build ${escape(report.failure.build)} (${escape(report.failure.label)}), log ${code(report.failure.log)}:</p><pre>${escape(report.failure.logTail.join('\n'))}</pre>`
    : '';
  const failures = report.failures.length
    ? `<h2>The build fails</h2>${report.failures
        .map((f) => `<h3>when ${escape(f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : causeName(f))}${f.kind === 'interaction' ? ' <em>(only together)</em>' : ''}</h3><p>Build ${escape(f.build)} (${escape(f.label)}) exited with ${f.exitCode}; proven by build ${escape(f.evidence.join(', '))}.</p><ul>${f.fix.map((x) => `<li>Fix: ${escape(x)}</li>`).join('')}</ul><pre>${escape(f.logTail.join('\n'))}</pre>`)
        .join('')}`
    : '';
  const hosts = report.plan.hosts.map((h) => `<li>Build ${escape(h.build)} ran on another host than the control build (${escape(h.differences.join(', '))}): what it shows could be a host difference.</li>`).join('');
  const plan = `<p>Plan ${code(report.plan.kind)} (${escape(report.plan.why)}${report.plan.source === 'bundles' ? ', collected from bundles' : ''}): ${report.builds.length} build(s) in ${report.plan.rounds.length} round(s).</p>${hosts ? `<ul>${hosts}</ul>` : ''}`;
  const untested = report.variations.filter((v) => !v.tested);
  const variations = report.variations.length
    ? `<h2>Variations</h2><table><thead><tr><th></th><th>variation</th><th>control probe</th><th>experiment probe</th></tr></thead><tbody>${report.variations
        .map((v) => `<tr class="${v.tested ? 'identical' : 'untested'}"><td>${v.tested ? '✓' : 'not tested'}</td><td>${escape(v.name)}: ${escape(v.description)}${v.reason ? `<br><em>${escape(v.reason)}</em>` : ''}</td><td>${code(v.probe.control ?? '—')}</td><td>${code(v.probe.experiment ?? '—')}</td></tr>`)
        .join('\n')}</tbody></table>`
    : '';
  const rows = report.artifacts
    .map(
      (a) =>
        `<tr class="${a.verdict}"><td>${a.verdict === 'identical' ? '✓' : '✗'}</td><td>${code(a.name)}</td><td>${code(a.control?.sha256.slice(0, 16) ?? '—')}</td><td>${code(a.experiment?.sha256.slice(0, 16) ?? '—')}</td><td>${a.causes.map((c) => escape(causeName(c))).join('<br>')}</td></tr>`,
    )
    .join('\n');
  const causes = report.artifacts
    .filter((a) => a.causes.length > 0)
    .map(
      (a) => `<details open><summary>${code(a.name)}</summary>${a.causes
        .map(
          (c) => `<h3>${escape(causeName(c))}${c.kind === 'interaction' ? ' <em>(only together)</em>' : ''}</h3><p>Proven by build ${escape(c.evidence.join(', '))}.</p><ul>${c.fix.map((f) => `<li>Fix: ${escape(f)}</li>`).join('')}${(c.explanation?.causes ?? []).map((d) => `<li>krepro diff: <strong>${escape(d.title)}</strong> (${d.count}) — ${escape(d.fix)}</li>`).join('')}</ul>${
            c.explanation && c.explanation.findings.length
              ? `<table><thead><tr><th>where</th><th>field</th><th>control</th><th>this build</th></tr></thead><tbody>${c.explanation.findings
                  .map((f) => `<tr><td>${code(f.path)}</td><td>${escape(f.field)}</td><td>${code(String(f.left))}</td><td>${code(String(f.right))}</td></tr>`)
                  .join('')}</tbody></table>`
              : ''
          }`,
        )
        .join('')}</details>`,
    )
    .join('\n');
  const settings = report.environment.settings.length
    ? `<h2>Build environment settings</h2><ul>${report.environment.settings.map((s) => `<li>${code(`${s.name}=${s.value}`)} (${escape(s.source)}): ${escape(s.why)}${s.masks?.length ? ` — may hide: ${escape(s.masks.join(', '))}` : ''}</li>`).join('')}</ul>`
    : '';
  const builds = report.builds
    .map((b) => `<details><summary>build ${escape(b.id)}: ${escape(b.label)} — round ${b.round}, ${(b.durationMs / 1000).toFixed(1)} s on ${escape(b.engine)} (${escape(b.host.machine)})${b.variations.length ? `, varies ${escape(b.variations.join(', '))}` : ''}</summary><pre>${escape(JSON.stringify(b.conditions, null, 2))}</pre></details>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>krepro verify: ${escape(report.verdict)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}
.verdict{padding:1rem 1.25rem;border-radius:8px;font-size:1.3rem;font-weight:600;color:#fff;background:${ok ? '#1f7a3d' : '#b3261e'}}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{padding:.35rem .6rem;border-bottom:1px solid #dde1e8;text-align:left;vertical-align:top}
tr.different{background:#fdecea}tr.untested{background:#fff4d6}tr.identical td:first-child{color:#1f7a3d}tr.different td:first-child{color:#b3261e;font-weight:700}
code{font:13px ui-monospace,monospace}details{margin:.5rem 0;padding:.5rem .75rem;border:1px solid #dde1e8;border-radius:6px}summary{cursor:pointer}
pre{background:#f5f6f8;padding:.75rem;overflow:auto}h3{font-size:1rem;margin:.75rem 0 .25rem}
</style></head><body>
<div class="verdict">${headline}</div>
<p>Commit ${code(report.commit)}, SOURCE_DATE_EPOCH ${report.sourceDateEpoch}. ${untested.length ? `<strong>${untested.length} variation(s) not tested.</strong> ` : ''}Schema ${code(report.schema)}.</p>
${failure}
${plan}
${failures}
${variations}
<h2>Artifacts</h2>
<table><thead><tr><th></th><th>artifact</th><th>control sha256</th><th>experiment sha256</th><th>causes</th></tr></thead><tbody>
${rows}
</tbody></table>
${causes ? `<h2>Causes, proof and fixes</h2>\n${causes}` : ''}
${settings}
<h2>Builds</h2>
${builds}
</body></html>
`;
}
