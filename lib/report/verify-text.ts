import { visible } from '../quote.js';
import type { VerifyReport } from '../verify/report.js';

const causeName = (c: { kind: string; variations: string[] }): string => (c.kind === 'nondeterminism' ? 'nondeterminism' : c.variations.join(' + '));

/** The plan in one line: which, why, and its rounds. */
export function planLine(report: Pick<VerifyReport, 'plan' | 'builds'>): string {
  const p = report.plan;
  const rounds = p.rounds.map((r) => `${r.builds.length}`).join(' + ');
  const from = p.source === 'bundles' ? ', collected from bundles' : '';
  return `plan: ${p.kind} (${p.why}${from}): ${report.builds.length} build(s) in ${p.rounds.length} round(s) (${rounds})`;
}

/** Text report: verdict, variations not tested, one line per artifact, then each cause with its proof and fix. */
export function verifyText(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`commit ${report.commit}, SOURCE_DATE_EPOCH=${report.sourceDateEpoch}: ${report.verdict.replace('-', ' ').toUpperCase()}`);
  if (report.failure) {
    const f = report.failure;
    lines.push('', `build ${f.build} (${f.label}) failed with exit code ${f.exitCode}; log: ${f.log}`, ...f.logTail.map((l) => `  | ${l}`));
    return `${lines.join('\n')}\n`;
  }
  lines.push(planLine(report));
  const tested = report.variations.filter((v) => v.tested).map((v) => v.name);
  lines.push(`varied: ${tested.join(', ') || '(nothing)'}`);
  for (const v of report.variations.filter((x) => !x.tested)) lines.push(`NOT TESTED: ${v.name}: ${v.reason}`);
  for (const m of report.environment.masked) lines.push(`note: ${m.setting} (normalize: true) may hide causes of kind ${m.masks.join(', ')}`);
  lines.push('');
  const width = Math.max(...report.artifacts.map((a) => a.name.length), 8);
  for (const a of report.artifacts) {
    const l = a.control?.sha256.slice(0, 16) ?? '(missing)';
    const r = a.experiment?.sha256.slice(0, 16) ?? '(missing)';
    const causes = a.causes.map(causeName).join('; ');
    lines.push(`${a.verdict === 'identical' ? 'ok  ' : 'DIFF'} ${a.name.padEnd(width)} ${l} ${a.verdict === 'identical' ? '' : `${r}  ${causes || '(cause not found)'}`}`.trimEnd());
  }
  const different = report.artifacts.filter((a) => a.causes.length > 0);
  if (different.length > 0) lines.push('', 'causes:');
  for (const a of different) {
    lines.push(`  ${a.name}`);
    for (const c of a.causes) {
      lines.push(`    ${causeName(c)}${c.kind === 'interaction' ? ' (only together)' : ''} — proven by build ${c.evidence.join(', ')}`);
      for (const f of c.fix) lines.push(`      fix: ${f}`);
      for (const d of c.explanation?.causes ?? []) lines.push(`      diff: ${d.title} (${d.count})`);
      for (const f of (c.explanation?.findings ?? []).slice(0, 3)) lines.push(`        ${f.path ? `${f.path} ` : ''}${f.field}: ${JSON.stringify(f.left)} -> ${JSON.stringify(f.right)}`);
    }
  }
  if (report.failures.length > 0) lines.push('', 'the build fails:');
  for (const f of report.failures) {
    lines.push(`  when ${f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : causeName(f)}${f.kind === 'interaction' ? ' (only together)' : ''} — build ${f.build} (${f.label}) exited with ${f.exitCode}, proven by build ${f.evidence.join(', ')}`);
    for (const x of f.fix) lines.push(`    fix: ${x}`);
    // A build's log is the build's: what a hostile one prints reaches no terminal as control characters.
    lines.push(...f.logTail.slice(-10).map((l) => `    | ${visible(l)}`));
  }
  for (const h of report.plan.hosts) lines.push(`note: build ${h.build} ran on another host than the control build (${h.differences.join(', ')}): what it shows could be a host difference`);
  if (report.attribution) {
    lines.push('', `attribution: ${report.attribution.builds} extra builds${report.attribution.cleared ? `; build ${report.attribution.cleared} without the causes found matches the control build` : ''}`);
    if (report.attribution.unexplained.length > 0) lines.push(`  still different without every cause found: ${report.attribution.unexplained.join(', ')}`);
    if (report.attribution.note) lines.push(`  ${report.attribution.note}`);
  }
  return `${lines.join('\n')}\n`;
}
