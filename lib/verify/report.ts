import { byteOrder } from '../byte-order.js';
import { CAUSES, type CauseId } from '../diff/findings.js';
import { integrityOf } from '../integrity/hash-stream.js';
import { NORMALIZATIONS } from '../project/project.js';
import type { BuildRun, VerifyArtifact } from './build-run.js';
import type { CauseGroup } from './causes.js';
import type { AttributedFinding } from './explain.js';
import { artifactName } from './findings.js';
import type { VerifyResult } from './verify.js';

const digest = (a: VerifyArtifact | undefined) => (a ? { size: a.size, integrity: integrityOf(a.digests), sha256: a.digests.sha256 } : null);

/** Findings shown per cause (and consequences per cause); each list counts them all. */
export const FINDINGS_SHOWN = 50;

function shownFinding(f: AttributedFinding) {
  return {
    artifact: artifactName(f.artifact),
    path: f.path,
    field: f.field,
    diffCause: f.diffCause,
    left: f.left,
    right: f.right,
    ...(f.note ? { note: f.note } : {}),
    ...(f.at ? { at: f.at } : {}),
    ...(f.consequenceOf ? { follows: f.consequenceOf } : {}),
  };
}

export type ReportFinding = ReturnType<typeof shownFinding>;

function findingList(indices: number[], findings: readonly AttributedFinding[]) {
  return { count: indices.length, shown: indices.slice(0, FINDINGS_SHOWN).map((i) => shownFinding(findings[i]!)) };
}

/** What krepro diff recognized in a cause's findings: its catalogue entries with counts, most frequent first. */
function diffCauses(indices: number[], findings: readonly AttributedFinding[]) {
  const counts = new Map<CauseId, number>();
  for (const i of indices) counts.set(findings[i]!.diffCause, (counts.get(findings[i]!.diffCause) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || byteOrder(a[0], b[0])).map(([cause, count]) => ({ cause, title: CAUSES[cause].title, fix: CAUSES[cause].fix, count }));
}

function cause(g: CauseGroup, findings: readonly AttributedFinding[]) {
  return {
    id: g.id,
    kind: g.kind,
    variations: g.variations,
    evidence: g.evidence,
    fix: g.fix,
    artifacts: g.artifacts.map(artifactName),
    diff: diffCauses(g.findings, findings),
    findings: findingList(g.findings, findings),
    consequences: findingList(g.consequences, findings),
  };
}

/**
 * The verify report as plain JSON (versioned by `schema`, v3): what --json prints and the text and HTML reports
 * render. It leads with the causes: each with the builds that prove it, its fix and the findings it explains (and
 * the consequences that follow from them); every finding of control vs experiment is counted under exactly one.
 * Then every artifact with its digests and causes, the variations, the builds with their build and diff times.
 */
export function verifyReport(result: VerifyResult) {
  const roundOf = new Map(result.plan.rounds.flatMap((r) => r.builds.map((id) => [id, r.round] as const)));
  const build = (run: BuildRun) => ({
    id: run.id,
    label: run.label,
    round: roundOf.get(run.id) ?? 1,
    engine: run.engine,
    variations: run.variations,
    conditions: run.conditions,
    exitCode: run.exitCode,
    durationMs: run.durationMs,
    commandMs: run.commandMs,
    host: run.host,
    unapplied: run.unapplied,
    diffMs: result.diffMs[run.id] ?? null,
  });
  const left = new Map(result.control.artifacts.map((a) => [a.name, a]));
  const right = new Map((result.experiment?.artifacts ?? []).map((a) => [a.name, a]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort(byteOrder);
  const masked = result.project.normalize ? NORMALIZATIONS.map((n) => ({ setting: `${n.name}=${n.value}`, masks: n.masks })) : [];
  const causes = result.causes.map((g) => cause(g, result.findings));
  const byArtifact = new Map<string, string[]>();
  for (const g of result.causes) for (const a of g.artifacts) byArtifact.set(a, [...(byArtifact.get(a) ?? []), g.id]);

  const findingsOf = new Map<string, number>();
  for (const f of result.findings) findingsOf.set(f.artifact, (findingsOf.get(f.artifact) ?? 0) + 1);
  const artifacts = names.map((name) => {
    const l = digest(left.get(name));
    const r = digest(right.get(name));
    // A failed experiment has no artifacts: what differs is what the other builds showed.
    const same = result.experiment && result.experiment.exitCode !== 0 ? !result.differing.includes(name) : l !== null && r !== null && l.sha256 === r.sha256;
    return { name, control: l, experiment: r, verdict: same ? ('identical' as const) : ('different' as const), findings: findingsOf.get(name) ?? 0, causes: byArtifact.get(name) ?? [] };
  });
  const real = result.causes.filter((g) => g.kind !== 'consequence');
  return {
    schema: result.schema,
    commit: result.commit,
    sourceDateEpoch: result.sourceDateEpoch,
    verdict: result.status,
    summary: {
      causes: real.length,
      findings: result.findings.length,
      consequences: result.causes.reduce((n, g) => n + g.consequences.length, 0),
      unattributed: result.findings.filter((f) => f.verdict === null).length,
      artifacts: { identical: artifacts.filter((a) => a.verdict === 'identical').length, different: artifacts.filter((a) => a.verdict === 'different').length },
    },
    causes,
    project: {
      file: result.project.file ?? null,
      command: result.project.command,
      outputs: result.project.outputs,
      env: result.project.env,
      release: result.project.release,
      images: result.project.images,
      normalize: result.project.normalize,
    },
    environment: { settings: result.settings, masked },
    variations: result.variations,
    artifacts,
    builds: result.builds.map(build),
    attribution: result.attribution ? { noiseBuilds: result.noise.length, ...result.attribution } : null,
    failures: result.failures.map(({ log: _, ...f }) => f),
    failure: result.failure ?? null,
    plan: result.plan,
  };
}

/** The verify report: what verifyReport makes of a VerifyResult, as the JSON report (schemas/verify-report.schema.json) holds it. */
export type VerifyReport = ReturnType<typeof verifyReport>;
