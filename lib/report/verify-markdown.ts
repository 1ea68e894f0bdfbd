import { visible } from '../quote.js';
import type { ReportFinding, VerifyReport } from '../verify/report.js';
import { cell, fence } from './markdown.js';
import { causeTitle, findingPlace, planLine, proofWords, wholeChange } from './verify-text.js';

type Artifact = VerifyReport['artifacts'][number];

/** What verify concluded, in words. */
export function verdictWords(report: Pick<VerifyReport, 'verdict'>): string {
  return report.verdict === 'reproducible' ? 'REPRODUCIBLE' : report.verdict === 'build-failed' ? 'BUILD FAILED' : 'NOT REPRODUCIBLE';
}

/**
 * Inline code of text from outside (names from the build, values): control characters escaped, table-safe. A code
 * span shows backslashes as they are, so only pipes (which would end the cell) and backticks are replaced.
 */
const code = (s: string): string => `\`${visible(s).replace(/\|/g, '\\|').replace(/`/g, 'ˋ')}\``;

/** Identical artifacts listed in full up to this many; more go into a collapsed section. */
const OPEN_ROWS = 20;
/** Findings listed per cause; the count says how many there are. */
const SHOWN = 5;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const shortValue = (v: string | null) => (v === null ? '(absent)' : v.length > 80 ? `${v.slice(0, 80)}…` : v);
const findingLine = (f: ReportFinding) => `${code(findingPlace(f))} ${cell(visible(f.field))}: ${wholeChange(f) ?? `${code(shortValue(f.left))} → ${code(shortValue(f.right))}`}`;

/**
 * The verify report as GitHub-flavoured Markdown, for a job summary (GITHUB_STEP_SUMMARY) or a pull-request
 * comment: the verdict with its counts, variations not tested, each cause with its proof, fix and first findings
 * (consequences counted under it), the artifacts that differ, the identical ones collapsed; for a failed build,
 * the end of its log.
 */
export function verifyMarkdown(report: VerifyReport): string {
  const icon = report.verdict === 'reproducible' ? '✅' : report.verdict === 'build-failed' ? '⚠️' : '❌';
  const differing = report.artifacts.filter((a) => a.verdict === 'different');
  const s = report.summary;
  const counts = report.failure
    ? 'no artifacts compared'
    : differing.length
      ? `**${plural(s.causes, 'cause')}, ${plural(s.findings, 'finding')} in ${differing.length} of ${report.artifacts.length} artifacts**`
      : `**all ${report.artifacts.length} artifacts identical**`;
  const out = [`## ${icon} krepro verify: ${verdictWords(report)}`, ''];
  out.push(`Commit ${code(report.commit)}, SOURCE_DATE_EPOCH ${report.sourceDateEpoch}: ${counts}, ${plural(report.builds.length, 'build')}.`, '');
  if (report.failure) {
    const f = report.failure;
    out.push(`Build ${f.build} (${cell(visible(f.label))}) failed with exit code ${f.exitCode}; its log is ${code(f.log)}. The end of it:`, '', fence(f.logTail.map(visible).join('\n'), 'text'), '');
    return `${out.join('\n')}\n`;
  }
  out.push(`${cell(planLine(report))}.`, '');
  const tested = report.variations.filter((v) => v.tested).map((v) => v.name);
  out.push(`Varied: ${tested.join(', ') || '(nothing)'}.`, '');
  if (report.failures.length) out.push('### The build fails', '');
  for (const f of report.failures) {
    out.push(`- **when ${f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : f.variations.join(' + ')}**${f.kind === 'interaction' ? ' (only together)' : ''}: build ${f.build} (${cell(visible(f.label))}) exited with ${f.exitCode}, proven by build ${f.evidence.join(', ')}`);
    for (const x of f.fix) out.push(`  - Fix: ${cell(visible(x))}`);
    out.push('', fence(f.logTail.slice(-10).map(visible).join('\n'), 'text'), '');
  }
  for (const h of report.plan.hosts) out.push(`> Build ${h.build} ran on another host than the control build (${cell(visible(h.differences.join(', ')))}): what it shows could be a host difference.`, '');
  for (const e of report.plan.engines ?? []) if (e.lost) out.push(`> Engine ${cell(visible(e.name))} was lost mid-verify (${cell(visible(e.lost))}): ${cell(e.requeued.join(', ') || 'no build')} ran again on the other engines.`, '');
  const untested = report.variations.filter((v) => !v.tested);
  if (untested.length) {
    out.push('**Not tested** (these conditions were not varied, so nothing is known about them):', '');
    for (const v of untested) out.push(`- **${v.name}**: ${cell(visible(v.reason ?? ''))}`);
    out.push('');
  }
  for (const m of report.environment.masked) out.push(`> ${cell(m.setting)} (\`normalize: true\`) may hide causes of kind ${cell(m.masks.join(', '))}.`, '');
  if (report.causes.length) out.push('### Causes and fixes', '');
  report.causes.forEach((c, n) => {
    out.push(`${n + 1}. **${cell(causeTitle(c))}**: ${plural(c.findings.count, 'finding')} in ${c.artifacts.map(code).join(', ')}${c.evidence.length ? `; ${proofWords(c)}` : ''}`);
    for (const f of c.fix) out.push(`   - Fix: ${cell(visible(f))}`);
    for (const d of c.diff) out.push(`   - krepro diff: ${cell(d.title)} (${d.count})`);
    for (const f of c.findings.shown.slice(0, SHOWN)) out.push(`   - ${findingLine(f)}`);
    if (c.findings.count > SHOWN) out.push(`   - … and ${c.findings.count - SHOWN} more (the JSON and HTML reports list up to ${c.findings.shown.length})`);
    if (c.consequences.count) out.push(`   - and ${plural(c.consequences.count, 'consequence')} (build IDs, checksums, manifests that follow from these)`);
  });
  if (report.causes.length) out.push('');
  if (report.attribution?.note) out.push(`${cell(visible(report.attribution.note))}.`, '');
  if (s.unattributed) out.push(`${plural(s.unattributed, 'finding')} not attributed${report.attribution?.note ? '' : ' (--no-attribution)'}.`, '');
  const row = (a: Artifact) => `| ${a.verdict === 'identical' ? '✅' : '❌'} | ${code(a.name)} | ${code(a.control?.sha256.slice(0, 16) ?? '(missing)')} | ${code(a.experiment?.sha256.slice(0, 16) ?? '(missing)')} | ${a.verdict === 'identical' ? '' : `${a.findings}`} | ${a.verdict === 'identical' ? '' : cell(a.causes.join(', ') || 'not attributed')} |`;
  const header = ['| | artifact | control sha256 | experiment sha256 | findings | causes |', '|---|---|---|---|---|---|'];
  if (differing.length) out.push(...header, ...differing.map(row), '');
  const identical = report.artifacts.filter((a) => a.verdict === 'identical');
  if (identical.length > 0 && identical.length <= OPEN_ROWS && differing.length === 0) out.push(...header, ...identical.map(row), '');
  else if (identical.length > 0) out.push(`<details><summary>${plural(identical.length, 'identical artifact')}</summary>`, '', ...header, ...identical.map(row), '', '</details>', '');
  out.push(`<sub>krepro verify · ${report.schema}</sub>`);
  return `${out.join('\n')}\n`;
}
