import { byteOrder } from '../byte-order.js';
import { hexDigest } from '../integrity/hash-stream.js';
import type { BuildRun } from './build-run.js';
import type { VerifyResult } from './verify.js';

/** The verify report as plain JSON (versioned by `schema`); what --json prints and the HTML report renders. */
export function verifyReport(result: VerifyResult) {
  const build = (run: BuildRun) => ({
    id: run.id,
    label: run.label,
    engine: run.engine,
    variations: run.variations,
    conditions: run.conditions,
    durationMs: run.durationMs,
    commandMs: run.commandMs,
  });
  const byName = (run: BuildRun) => new Map(run.artifacts.map((a) => [a.name, a]));
  const [left, right] = [byName(result.control), byName(result.experiment)];
  const names = [...new Set([...left.keys(), ...right.keys()])].sort(byteOrder);
  const side = (a: { size: number; integrity: { toString(): string } } | undefined) =>
    a ? { size: a.size, integrity: a.integrity.toString(), sha256: hexDigest(a.integrity as never, 'sha256') } : null;
  const causeOf = (name: string) => result.attribution.filter((a) => a.artifacts.includes(name)).map((a) => ({ variations: a.variations, confidence: a.confidence, coupled: a.coupled, fix: a.fix }));
  return {
    schema: result.schema,
    commit: result.commit,
    sourceDateEpoch: result.sourceDateEpoch,
    verdict: result.reproducible ? ('reproducible' as const) : ('not-reproducible' as const),
    builds: [build(result.control), build(result.experiment), ...(result.noise ? [build(result.noise.run)] : []), ...result.attributionBuilds.map(build)],
    artifacts: names.map((name) => {
      const l = side(left.get(name));
      const r = side(right.get(name));
      const same = l !== null && r !== null && l.sha256 === r.sha256;
      return {
        name,
        control: l,
        experiment: r,
        verdict: same ? ('identical' as const) : ('different' as const),
        causes: same ? [] : causeOf(name),
        explanation: result.explanations[name] ?? null,
      };
    }),
    noise: result.noise ? { differing: result.noise.differing } : null,
    attribution: result.attribution,
  };
}

export type VerifyReport = ReturnType<typeof verifyReport>;

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
