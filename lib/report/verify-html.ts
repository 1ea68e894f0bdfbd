import { visible } from '../quote.js';
import type { ReportFinding, VerifyReport } from '../verify/report.js';
import { causeTitle, findingPlace, proofWords, verdictLine } from './verify-text.js';

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const code = (s: string): string => `<code>${escape(s)}</code>`;
const value = (v: string | null): string => (v === null ? '<em>absent</em>' : code(v.length > 400 ? `${v.slice(0, 400)}…` : v));

function findingTable(list: { count: number; shown: ReportFinding[] }): string {
  if (!list.count) return '';
  const rows = list.shown.map((f) => `<tr><td>${code(findingPlace(f))}</td><td>${escape(f.field)}${f.note ? `<br><small>${escape(f.note)}</small>` : ''}</td><td>${value(f.left)}</td><td>${value(f.right)}</td></tr>`).join('');
  const more = list.count > list.shown.length ? `<p>… and ${list.count - list.shown.length} more (every one is counted; the JSON report lists the same ${list.shown.length}).</p>` : '';
  return `<table class="findings"><colgroup><col style="width:30%"><col style="width:20%"><col style="width:25%"><col style="width:25%"></colgroup><thead><tr><th>where</th><th>what</th><th>control</th><th>experiment</th></tr></thead><tbody>${rows}</tbody></table>${more}`;
}

/**
 * A self-contained HTML page (no scripts, no external resources) that fits a 1300 px window: the verdict, then the
 * causes with their fixes and findings (consequences folded under each), variations not tested, the differing
 * artifacts (identical ones folded into a count), every variation's probe, attribution and the builds.
 */
export function verifyHtml(report: VerifyReport): string {
  const ok = report.verdict === 'reproducible';
  const headline = report.failure ? `Build failed: ${escape(report.failure.label)} exited with ${report.failure.exitCode}` : escape(ok ? `Reproducible: all ${report.artifacts.length} artifacts identical` : `Not reproducible — ${verdictLine(report).replace(/^NOT REPRODUCIBLE: /, '')}`);
  const failure = report.failure
    ? `<h2>Failed build</h2><p>Build ${escape(report.failure.build)} (${escape(report.failure.label)}), log ${code(report.failure.log)}:</p><pre>${escape(report.failure.logTail.join('\n'))}</pre>`
    : '';
  const failures = report.failures.length
    ? `<h2>The build fails</h2>${report.failures
        .map((f) => `<h3>when ${escape(f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : `${f.variations.join(' + ')}`)}${f.kind === 'interaction' ? ' <em>(only together)</em>' : ''}</h3><p>Build ${escape(f.build)} (${escape(f.label)}) exited with ${f.exitCode}; proven by build ${escape(f.evidence.join(', '))}.</p><ul>${f.fix.map((x) => `<li>Fix: ${escape(x)}</li>`).join('')}</ul><pre>${escape(f.logTail.map(visible).join('\n'))}</pre>`)
        .join('')}`
    : '';
  const lost = (report.plan.engines ?? []).filter((e) => e.lost).map((e) => `<li>Engine ${escape(e.name)} was lost mid-verify (${escape(e.lost!)}): ${escape(e.requeued.join(', ') || 'no build')} ran again on the other engines.</li>`);
  const hosts = [...report.plan.hosts.map((h) => `<li>Build ${escape(h.build)} ran on another host than the control build (${escape(h.differences.join(', '))}): what it shows could be a host difference.</li>`), ...lost].join('');
  const plan = `<p>Plan ${code(report.plan.kind)} (${escape(report.plan.why)}${report.plan.source === 'bundles' ? ', collected from bundles' : ''}): ${report.builds.length} build(s) in ${report.plan.rounds.length} round(s).</p>${hosts ? `<ul>${hosts}</ul>` : ''}`;
  const causes = report.causes
    .map(
      (c, n) => `<section class="cause ${c.kind}"><h3>${n + 1}. ${escape(causeTitle(c))}: ${c.findings.count} finding${c.findings.count === 1 ? '' : 's'} in ${c.artifacts.map(code).join(', ')}</h3>
<p>${c.evidence.length ? `${escape(proofWords(c).replace(/^./, (x) => x.toUpperCase()))}.` : ''}</p><ul class="fix">${c.fix.map((f) => `<li><strong>Fix:</strong> ${escape(f)}</li>`).join('')}</ul>
${c.diff.length ? `<p>krepro diff recognized: ${c.diff.map((d) => `${escape(d.title)} (${d.count})`).join(', ')}</p>` : ''}
${findingTable(c.findings)}
${c.consequences.count ? `<details><summary>${c.consequences.count} consequence${c.consequences.count === 1 ? '' : 's'} (build IDs, checksums, manifests that follow from the findings above)</summary>${findingTable(c.consequences)}</details>` : ''}</section>`,
    )
    .join('\n');
  const untested = report.variations.filter((v) => !v.tested);
  const untestedList = untested.length ? `<div class="warn"><strong>${untested.length} variation(s) not tested:</strong><ul>${untested.map((v) => `<li>${escape(v.name)}: ${escape(v.reason ?? '')}</li>`).join('')}</ul></div>` : '';
  const differing = report.artifacts.filter((a) => a.verdict === 'different');
  const identical = report.artifacts.filter((a) => a.verdict === 'identical');
  const rows = differing
    .map((a) => `<tr class="different"><td>${code(a.name)}</td><td>${code(a.control?.sha256.slice(0, 16) ?? '—')}</td><td>${code(a.experiment?.sha256.slice(0, 16) ?? '—')}</td><td>${a.findings}</td><td>${a.causes.map(escape).join(', ') || '<em>not attributed</em>'}</td></tr>`)
    .join('\n');
  const artifacts = `<h2>Artifacts</h2>${
    differing.length
      ? `<table><colgroup><col style="width:40%"><col style="width:14%"><col style="width:14%"><col style="width:8%"><col style="width:24%"></colgroup><thead><tr><th>differs</th><th>control sha256</th><th>experiment sha256</th><th>findings</th><th>causes</th></tr></thead><tbody>${rows}</tbody></table>`
      : ''
  }${identical.length ? `<details${differing.length ? '' : ' open'}><summary>${identical.length} artifact${identical.length === 1 ? '' : 's'} identical</summary><ul class="names">${identical.map((a) => `<li>${code(a.name)} ${code(a.control?.sha256.slice(0, 16) ?? '')}</li>`).join('')}</ul></details>` : ''}`;
  const variations = report.variations.length
    ? `<h2>Variations</h2><table><colgroup><col style="width:8%"><col style="width:44%"><col style="width:24%"><col style="width:24%"></colgroup><thead><tr><th></th><th>variation</th><th>control probe</th><th>experiment probe</th></tr></thead><tbody>${report.variations
        .map((v) => `<tr class="${v.tested ? 'identical' : 'untested'}"><td>${v.tested ? '✓' : 'not tested'}</td><td>${escape(v.name)}: ${escape(v.description)}${v.reason ? `<br><em>${escape(v.reason)}</em>` : ''}</td><td>${code(v.probe.control ?? '—')}</td><td>${code(v.probe.experiment ?? '—')}</td></tr>`)
        .join('\n')}</tbody></table>`
    : '';
  const at = report.attribution;
  const attribution = at
    ? `<h2>Attribution</h2><p>${at.builds} extra build${at.builds === 1 ? '' : 's'} (plan: ${escape(report.plan.kind)}); noise mask from ${at.noiseBuilds} noise build${at.noiseBuilds === 1 ? '' : 's'} (${escape(at.noise.join(', '))}); krepro diff took ${(at.diffMs / 1000).toFixed(1)} s in all${at.cleared ? `; build ${escape(at.cleared)}, without the causes found, shows nothing beyond the noise` : ''}.${at.note ? ` ${escape(at.note)}.` : ''}</p>${
        at.guesses.length ? `<ul>${at.guesses.map((g) => `<li>${escape(g.variation)}: its value is in ${g.findings} finding(s); build ${escape(g.build)} of it alone ${g.confirmed ? 'confirmed it' : 'did not show them'}</li>`).join('')}</ul>` : ''
      }`
    : '';
  const settings = report.environment.settings.length
    ? `<h2>Build environment settings</h2><ul>${report.environment.settings.map((s) => `<li>${code(`${s.name}=${s.value}`)} (${escape(s.source)}): ${escape(s.why)}${s.masks?.length ? ` — may hide: ${escape(s.masks.join(', '))}` : ''}</li>`).join('')}</ul>`
    : '';
  const builds = report.builds
    .map(
      (b) =>
        `<details><summary>build ${escape(b.id)}: ${escape(b.label)} — round ${b.round}, ${(b.durationMs / 1000).toFixed(1)} s${b.diffMs !== null ? `, diff ${(b.diffMs / 1000).toFixed(1)} s` : ''} on ${escape(b.engine)} (${escape(b.host.machine)})${b.variations.length ? `, varies ${escape(b.variations.join(', '))}` : ''}</summary><pre>${escape(JSON.stringify(b.conditions, null, 2))}</pre></details>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>krepro verify: ${escape(report.verdict)}</title>
<style>
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}
.verdict{padding:1rem 1.25rem;border-radius:8px;font-size:1.3rem;font-weight:600;color:#fff;background:${ok ? '#1f7a3d' : '#b3261e'}}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:1rem 0}td,th{padding:.35rem .6rem;border-bottom:1px solid #dde1e8;text-align:left;vertical-align:top;overflow-wrap:anywhere}
tr.different{background:#fdecea}tr.untested{background:#fff4d6}tr.identical td:first-child{color:#1f7a3d}
code{font:13px ui-monospace,monospace;overflow-wrap:anywhere;word-break:break-word}details{margin:.5rem 0;padding:.5rem .75rem;border:1px solid #dde1e8;border-radius:6px}summary{cursor:pointer}
pre{background:#f5f6f8;padding:.75rem;white-space:pre-wrap;overflow-wrap:anywhere}h3{font-size:1.05rem;margin:.75rem 0 .25rem;overflow-wrap:anywhere}
.cause{border-left:4px solid #b3261e;padding:.25rem 1rem;margin:1rem 0}.cause.nondeterminism,.cause.masked-by-noise{border-color:#c77700}.cause.consequence{border-color:#6b7280}
.warn{background:#fff4d6;padding:.5rem 1rem;border-radius:6px;margin:1rem 0}ul.names{columns:2;overflow-wrap:anywhere}ul.fix{margin:.25rem 0}
</style></head><body>
<div class="verdict">${headline}</div>
<p>Commit ${code(report.commit)}, SOURCE_DATE_EPOCH ${report.sourceDateEpoch}. Schema ${code(report.schema)}.</p>
${untestedList}
${failure}
${plan}
${causes ? `<h2>Causes and fixes</h2>\n${causes}` : ''}
${failures}
${artifacts}
${attribution}
${variations}
${settings}
<h2>Builds</h2>
${builds}
</body></html>
`;
}
