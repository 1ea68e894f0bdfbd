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
