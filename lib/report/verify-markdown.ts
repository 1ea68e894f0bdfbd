import { planLine } from './verify-text.js';
import { visible } from '../quote.js';
import type { VerifyReport } from '../verify/report.js';
import { cell, fence } from './markdown.js';

type Artifact = VerifyReport['artifacts'][number];
type ArtifactCause = Artifact['causes'][number];

/** A cause as people name it: the variation(s) it needs, or nondeterminism. */
export function causeName(c: Pick<ArtifactCause, 'kind' | 'variations'>): string {
  return c.kind === 'nondeterminism' ? 'nondeterminism' : c.variations.join(' + ');
}

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

/**
 * The verify report as GitHub-flavoured Markdown, for a job summary (GITHUB_STEP_SUMMARY) or a pull-request
 * comment: the verdict, variations not tested, the artifacts that differ with their causes, proof and fixes, the
 * identical ones collapsed; for a failed build, the end of its log.
 */
export function verifyMarkdown(report: VerifyReport): string {
  const icon = report.verdict === 'reproducible' ? '✅' : report.verdict === 'build-failed' ? '⚠️' : '❌';
  const differing = report.artifacts.filter((a) => a.verdict === 'different');
  const out = [`## ${icon} krepro verify: ${verdictWords(report)}`, ''];
  out.push(
    `Commit ${code(report.commit)}, SOURCE_DATE_EPOCH ${report.sourceDateEpoch}: ${report.failure ? 'no artifacts compared' : `**${differing.length} of ${report.artifacts.length} artifacts differ**`}, ${report.builds.length} build${report.builds.length === 1 ? '' : 's'}.`,
    '',
  );
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
    out.push(`- **when ${f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : causeName(f)}**${f.kind === 'interaction' ? ' (only together)' : ''}: build ${f.build} (${cell(visible(f.label))}) exited with ${f.exitCode}, proven by build ${f.evidence.join(', ')}`);
    for (const x of f.fix) out.push(`  - Fix: ${cell(visible(x))}`);
    out.push('', fence(f.logTail.slice(-10).map(visible).join('\n'), 'text'), '');
  }
  for (const h of report.plan.hosts) out.push(`> Build ${h.build} ran on another host than the control build (${cell(visible(h.differences.join(', ')))}): what it shows could be a host difference.`, '');
  const untested = report.variations.filter((v) => !v.tested);
  if (untested.length) {
    out.push('**Not tested** (these conditions were not varied, so nothing is known about them):', '');
    for (const v of untested) out.push(`- **${v.name}**: ${cell(visible(v.reason ?? ''))}`);
    out.push('');
  }
  for (const m of report.environment.masked) out.push(`> ${cell(m.setting)} (\`normalize: true\`) may hide causes of kind ${cell(m.masks.join(', '))}.`, '');
  const row = (a: Artifact) => `| ${a.verdict === 'identical' ? '✅' : '❌'} | ${code(a.name)} | ${code(a.control?.sha256.slice(0, 16) ?? '(missing)')} | ${code(a.experiment?.sha256.slice(0, 16) ?? '(missing)')} | ${a.verdict === 'identical' ? '' : cell(a.causes.map(causeName).join('; ') || 'cause not found')} |`;
  const header = ['| | artifact | control sha256 | experiment sha256 | causes |', '|---|---|---|---|---|'];
  if (differing.length) out.push(...header, ...differing.map(row), '');
  const identical = report.artifacts.filter((a) => a.verdict === 'identical');
  if (identical.length > 0 && identical.length <= OPEN_ROWS && differing.length === 0) out.push(...header, ...identical.map(row), '');
  else if (identical.length > 0) out.push(`<details><summary>${identical.length} identical artifact${identical.length === 1 ? '' : 's'}</summary>`, '', ...header, ...identical.map(row), '', '</details>', '');
  if (differing.some((a) => a.causes.length > 0)) out.push('### Causes and fixes', '');
  for (const a of differing.filter((x) => x.causes.length > 0)) {
    out.push(`#### ${code(a.name)}`, '');
    for (const c of a.causes) {
      out.push(`- **${causeName(c)}**${c.kind === 'interaction' ? ' (only together)' : ''}, proven by build ${c.evidence.join(', ')}`);
      for (const f of c.fix) out.push(`  - Fix: ${cell(visible(f))}`);
      for (const d of c.explanation?.causes ?? []) out.push(`  - krepro diff: ${cell(d.title)} (${d.count})`);
      for (const f of (c.explanation?.findings ?? []).slice(0, 5)) out.push(`    - ${f.path ? `${code(f.path)} ` : ''}${cell(visible(f.field))}: ${code(String(f.left))} → ${code(String(f.right))}`);
    }
    out.push('');
  }
  if (report.attribution?.unexplained.length) out.push(`Still different without every cause found: ${report.attribution.unexplained.map(code).join(', ')}.`, '');
  if (report.attribution?.note) out.push(`${cell(report.attribution.note)}.`, '');
  out.push(`<sub>krepro verify · ${report.schema}</sub>`);
  return `${out.join('\n')}\n`;
}
