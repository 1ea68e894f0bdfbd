import { visible, visibleJson } from '../quote.js';
import type { ReportFinding, VerifyReport } from '../verify/report.js';

type ReportCause = VerifyReport['causes'][number];

/** Findings shown per cause in text (the JSON shows more; every list says how many there are). */
const SHOWN = 5;

export const causeTitle = (c: Pick<ReportCause, 'kind' | 'variations'>): string =>
  c.kind === 'variation' ? c.variations[0]! : c.kind === 'interaction' ? `${c.variations.join(' + ')} (only together)` : c.kind === 'masked-by-noise' ? 'masked by noise' : c.kind === 'consequence' ? 'consequences of other files' : 'nondeterminism';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Where a finding is, for people: artifact, members, and the line or bytes. Names from the build, made printable. */
export function findingPlace(f: Pick<ReportFinding, 'artifact' | 'path' | 'at'>): string {
  const at = f.at ? (f.at.unit === 'line' ? (f.at.end < f.at.start ? ` before line ${f.at.start}` : ` line ${f.at.start}${f.at.end > f.at.start ? `–${f.at.end}` : ''}`) : ` bytes 0x${f.at.start.toString(16)}–0x${f.at.end.toString(16)}`) : '';
  return `${visible([f.artifact, ...f.path].join(' → '))}${at}`;
}

/** A finding with neither side's value (a whole ELF section compared as bytes) is said by its note, not as two absences. */
export const wholeChange = (f: Pick<ReportFinding, 'left' | 'right' | 'note'>): string | undefined =>
  f.left === null && f.right === null && f.note ? visible(f.note) : undefined;

const value = (v: string | null) => (v === null ? '(absent)' : visibleJson(v.length > 120 ? `${v.slice(0, 120)}…` : v, 0));

/** Which builds prove a cause: the build of its variations, or the noise builds that show it. */
export function proofWords(c: Pick<ReportCause, 'kind' | 'evidence'>): string {
  const builds = `build${c.evidence.length === 1 ? '' : 's'} ${c.evidence.join(', ')}`;
  return c.kind === 'nondeterminism' || c.kind === 'masked-by-noise' ? `seen in noise ${builds}` : `proven by ${builds}`;
}

/** The verdict line: the verdict in words, then what it rests on. */
export function verdictLine(report: VerifyReport): string {
  const words = report.verdict.replace('-', ' ').toUpperCase();
  if (report.failure || report.verdict === 'reproducible') return words;
  const s = report.summary;
  return `${words}: ${plural(s.causes, 'cause')}, ${plural(s.findings, 'finding')} in ${plural(s.artifacts.different, 'artifact')} (${s.artifacts.identical} identical)`;
}

/** The plan in one line: which, why, and its rounds. */
export function planLine(report: Pick<VerifyReport, 'plan' | 'builds'>): string {
  const p = report.plan;
  const rounds = p.rounds.map((r) => `${r.builds.length}`).join(' + ');
  const from = p.source === 'bundles' ? ', collected from bundles' : '';
  return `plan: ${p.kind} (${p.why}${from}): ${report.builds.length} build(s) in ${p.rounds.length} round(s) (${rounds})`;
}

/** A failure's cause as people name it: the variations that make the build fail, or nondeterminism. */
const failureName = (f: VerifyReport['failures'][number]): string =>
  f.kind === 'nondeterminism' ? 'nothing is varied (nondeterminism)' : `${f.variations.join(' + ')}${f.kind === 'interaction' ? ' (only together)' : ''}`;

/**
 * Text report: the verdict, the plan, variations not tested, then each cause with its proof, fix and findings
 * (consequences under what they follow from), the builds that fail and why, the differing artifacts (identical ones
 * as a count), attribution and build times.
 */
export function verifyText(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`commit ${report.commit}, SOURCE_DATE_EPOCH=${report.sourceDateEpoch}: ${verdictLine(report)}`);
  if (report.failure) {
    const f = report.failure;
    // A build's log is the build's: what a hostile one prints reaches no terminal as control characters.
    lines.push('', `build ${f.build} (${visible(f.label)}) failed with exit code ${f.exitCode}; log: ${visible(f.log)}`, ...f.logTail.map((l) => `  | ${visible(l)}`));
    return `${lines.join('\n')}\n`;
  }
  lines.push(planLine(report));
  const tested = report.variations.filter((v) => v.tested).map((v) => v.name);
  lines.push(`varied: ${tested.join(', ') || '(nothing)'}`);
  for (const v of report.variations.filter((x) => !x.tested)) lines.push(`NOT TESTED: ${v.name}: ${visible(v.reason ?? '')}`);
  for (const m of report.environment.masked) lines.push(`note: ${m.setting} (normalize: true) may hide causes of kind ${m.masks.join(', ')}`);
  if (report.causes.length > 0) lines.push('', 'causes:');
  report.causes.forEach((c, n) => {
    const proof = c.evidence.length ? `; ${proofWords(c)}` : '';
    lines.push(`  ${n + 1}. ${causeTitle(c)}: ${plural(c.findings.count, 'finding')} in ${c.artifacts.map(visible).join(', ')}${proof}`);
    for (const f of c.fix) lines.push(`     fix: ${f}`);
    for (const f of c.findings.shown.slice(0, SHOWN)) lines.push(`       ${findingPlace(f)}: ${visible(f.field)}: ${wholeChange(f) ?? `${value(f.left)} -> ${value(f.right)}`}`);
    if (c.findings.count > SHOWN) lines.push(`       … and ${c.findings.count - SHOWN} more (--json or --html lists up to ${c.findings.shown.length})`);
    if (c.consequences.count) {
      const what = [...new Set(c.consequences.shown.map((f) => `${visible(f.field)} of ${findingPlace({ artifact: f.artifact, path: f.path })}`))];
      lines.push(`     and ${plural(c.consequences.count, 'consequence')}: ${what.slice(0, SHOWN).join('; ')}${what.length > SHOWN ? '; …' : ''}`);
    }
  });
  if (report.failures.length > 0) lines.push('', 'the build fails:');
  for (const f of report.failures) {
    lines.push(`  when ${failureName(f)} — build ${f.build} (${visible(f.label)}) exited with ${f.exitCode}, proven by build ${f.evidence.join(', ')}`);
    for (const x of f.fix) lines.push(`    fix: ${x}`);
    lines.push(...f.logTail.slice(-10).map((l) => `    | ${visible(l)}`));
  }
  const differing = report.artifacts.filter((a) => a.verdict !== 'identical');
  const identical = report.artifacts.length - differing.length;
  lines.push('', differing.length ? `artifacts: ${differing.length} differ, ${identical} identical` : `artifacts: all ${identical} identical`);
  const width = Math.max(...differing.map((a) => visible(a.name).length), 8);
  for (const a of differing) {
    const l = a.control?.sha256.slice(0, 16) ?? '(missing)';
    const r = a.experiment?.sha256.slice(0, 16) ?? '(missing)';
    lines.push(`  DIFF ${visible(a.name).padEnd(width)} ${l} ${r}  ${a.causes.join(', ') || '(not attributed)'}`);
  }
  if (!differing.length) for (const a of report.artifacts) lines.push(`  ok   ${visible(a.name)}`);
  for (const h of report.plan.hosts) lines.push(`note: build ${h.build} ran on another host than the control build (${h.differences.join(', ')}): what it shows${h.findings === undefined ? '' : ` (${h.findings} finding${h.findings === 1 ? '' : 's'})`} could be a host difference`);
  for (const e of report.plan.engines ?? []) {
    const ran = `${e.builds.length} build${e.builds.length === 1 ? '' : 's'}${e.builds.length ? ` (${e.builds.join(', ')})` : ''}`;
    lines.push(e.lost ? `note: engine ${e.name} was lost mid-verify (${e.lost}); it finished ${ran}, and ${e.requeued.join(', ') || 'nothing'} ran again on the others` : `engine ${e.name}: ${e.host.kernel}, ${e.host.cpus} CPUs, Docker ${e.host.engineVersion}, up to ${e.limit} at once: ${ran}`);
  }
  const at = report.attribution;
  if (at) {
    const guesses = at.guesses.map((g) => `${g.variation} ${g.confirmed ? 'confirmed' : 'not confirmed'} by build ${g.build}`).join(', ');
    lines.push('', `attribution: ${plural(at.builds, 'extra build')}${guesses ? ` (recognized values: ${guesses})` : ''}${at.cleared ? `; build ${at.cleared} without the causes found shows nothing beyond the noise` : ''}`);
    lines.push(`  noise mask from ${plural(at.noiseBuilds, 'noise build')} (${at.noise.join(', ')}); krepro diff took ${(at.diffMs / 1000).toFixed(1)} s in all`);
    if (at.note) lines.push(`  ${at.note}`);
  }
  if (report.summary.unattributed) lines.push('', `${plural(report.summary.unattributed, 'finding')} not attributed${at?.note ? ' (see the note above)' : ' (--no-attribution)'}`);
  lines.push('', 'builds:');
  for (const b of report.builds) lines.push(`  ${b.id} ${visible(b.label)}: ${(b.durationMs / 1000).toFixed(1)} s${b.diffMs !== null ? `, diff ${(b.diffMs / 1000).toFixed(1)} s` : ''}`);
  return `${lines.join('\n')}\n`;
}
