import type { VerifyReport } from '../verify/report.js';

/** Text summary: one line per artifact, then each cause with its fix. */
export function verifyText(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`commit ${report.commit}, SOURCE_DATE_EPOCH=${report.sourceDateEpoch}: ${report.verdict.toUpperCase()}`);
  const exp = report.builds[1]!;
  lines.push(`experiment varied: ${exp.variations.join(', ') || '(nothing)'}`);
  lines.push('');
  const width = Math.max(...report.artifacts.map((a) => a.name.length), 8);
  for (const a of report.artifacts) {
    const l = a.control?.sha256.slice(0, 16) ?? '(missing)';
    const r = a.experiment?.sha256.slice(0, 16) ?? '(missing)';
    const cause = a.causes.map((c) => (c.variations.length ? c.variations.join('+') : 'nondeterminism')).join('; ');
    lines.push(`${a.verdict === 'identical' ? 'ok  ' : 'DIFF'} ${a.name.padEnd(width)} ${l} ${a.verdict === 'identical' ? '' : `${r}  ${cause}`}`.trimEnd());
  }
  const explained = report.artifacts.filter((a) => a.explanation);
  if (explained.length) {
    lines.push('', 'what differs (krepro diff):');
    for (const a of explained) {
      lines.push(`  ${a.name}: ${a.explanation!.causes.map((c) => `${c.title} (${c.count})`).join(', ') || 'bytes only'}`);
      for (const f of a.explanation!.findings.slice(0, 3)) lines.push(`    ${f.path ? `${f.path} ` : ''}${f.field}: ${JSON.stringify(f.left)} -> ${JSON.stringify(f.right)}`);
    }
  }
  if (report.attribution.length) {
    lines.push('', 'causes:');
    for (const c of report.attribution) {
      const what = c.variations.length ? c.variations.join(' + ') : 'nondeterminism (differs under identical conditions)';
      lines.push(`  ${what}${c.coupled ? ' (coupled: another variation acts on the same artifacts)' : ''}, confidence ${c.confidence}: ${c.artifacts.length} artifact(s)`);
      for (const f of c.fix) lines.push(`    fix: ${f}`);
    }
  }
  if (report.noise) lines.push('', `noise check (third build, control conditions): ${report.noise.differing.length ? `differs in ${report.noise.differing.join(', ')}` : 'identical to control'}`);
  return `${lines.join('\n')}\n`;
}
