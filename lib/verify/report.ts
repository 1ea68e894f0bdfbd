import { byteOrder } from '../byte-order.js';
import { hexDigest } from '../integrity/hash-stream.js';
import { NORMALIZATIONS } from '../project/project.js';
import type { BuildRun, VerifyArtifact } from './build-run.js';
import type { VerifyResult } from './verify.js';

const digest = (a: VerifyArtifact | undefined) => (a ? { size: a.size, integrity: a.integrity.toString(), sha256: hexDigest(a.integrity, 'sha256') } : null);

/**
 * The verify report as plain JSON (versioned by `schema`): what --json prints and the text and HTML reports render.
 * Each artifact keeps one list of causes, each with the builds that prove it, its fix and what krepro diff found.
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
  });
  const left = new Map(result.control.artifacts.map((a) => [a.name, a]));
  const right = new Map((result.experiment?.artifacts ?? []).map((a) => [a.name, a]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort(byteOrder);
  const masked = result.project.normalize ? NORMALIZATIONS.map((n) => ({ setting: `${n.name}=${n.value}`, masks: n.masks })) : [];
  return {
    schema: result.schema,
    commit: result.commit,
    sourceDateEpoch: result.sourceDateEpoch,
    verdict: result.status,
    project: {
      file: result.project.file ?? null,
      command: result.project.command,
      outputs: result.project.outputs,
      release: result.project.release,
      normalize: result.project.normalize,
    },
    environment: { settings: result.settings, masked },
    variations: result.variations,
    builds: result.builds.map(build),
    artifacts: names.map((name) => {
      const l = digest(left.get(name));
      const r = digest(right.get(name));
      // A failed experiment has no artifacts: what differs is what the other builds showed.
      const same = result.experiment && result.experiment.exitCode !== 0 ? !result.differing.includes(name) : l !== null && r !== null && l.sha256 === r.sha256;
      return {
        name,
        control: l,
        experiment: r,
        verdict: same ? ('identical' as const) : ('different' as const),
        causes: result.causes.filter((c) => c.artifact === name).map(({ artifact: _, ...c }) => c),
      };
    }),
    attribution: result.attribution ?? null,
    failures: result.failures.map(({ log: _, ...f }) => f),
    failure: result.failure ?? null,
    plan: result.plan,
  };
}

export type VerifyReport = ReturnType<typeof verifyReport>;
