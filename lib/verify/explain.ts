import { DEFAULT_LIMITS } from '../diff/types.js';
import type { Artifact } from '../integrity/artifact.js';
import { type AttributionResult, attributeFindings, explainFindings, type FinishedBuild, type Outcome, sameLocation, type Verdict } from './attribution.js';
import { type CauseGroup, groupCauses } from './causes.js';
import type { Variation } from './conditions.js';
import { BUILD_FAILS, failureFinding, findingsBetween, type LocatedFinding } from './findings.js';
import { recognizer } from './recognize.js';

/** A finished build as attribution sees it: its id, its artifacts, and its exit code when it failed. */
export interface BuiltArtifacts {
  id: string;
  artifacts: readonly Artifact[];
  /** not 0: the build failed, and it has no outputs to compare */
  exitCode?: number;
}

/** A finding of control vs experiment with its verdict; null: not attributed (attribution off, or nothing could build). */
export interface AttributedFinding extends LocatedFinding {
  verdict: Verdict | null;
}

export interface Explained {
  findings: AttributedFinding[];
  causes: CauseGroup[];
  attribution?: Omit<AttributionResult, 'verdicts' | 'findings'> & {
    /** time spent in krepro diff (all builds) */
    diffMs: number;
    /** findings kept one by one per member (DiffLimits.maxLocated); past it one finding spans the rest */
    maxLocated: number;
    /** what attribution could not do, and why */
    note?: string;
  };
  /** time spent diffing each build against the control build, by build id */
  diffMs: Record<string, number>;
}

/** A single-variation build of the matrix plan's first round. */
export interface SingleBuild {
  variation: string;
  /** what it differs from the control build in beyond its variation (the file order of a build on disk) */
  alsoVaries: readonly string[];
  build: BuiltArtifacts;
}

export interface ExplainOptions {
  control: BuiltArtifacts;
  experiment: BuiltArtifacts;
  /** builds under control conditions again: the noise mask */
  noise: readonly BuiltArtifacts[];
  /** the matrix plan's single-variation builds: they explain what they show before anything more is built */
  singles?: readonly SingleBuild[];
  /** the variations that took effect (attribution searches these) and all chosen (for fixes) */
  tested: readonly Variation[];
  variations: readonly Variation[];
  /** run the builds attribution needs (default true) */
  attribute?: boolean;
  /** runs one more build with these variations (`[]`: another noise build); absent where nothing can be built */
  build?: (variations: readonly Variation[], purpose: string) => Promise<BuiltArtifacts>;
  signal?: AbortSignal;
}

/**
 * Every finding of krepro diff between the control and the experiment build, each with its cause: the noise
 * builds' findings are the mask; the matrix plan's single-variation builds explain what they show; attribution
 * (attributeFindings) runs the builds it needs for the rest through `build`. A build that fails has one finding,
 * its failure (BUILD_FAILS); when the experiment fails, its findings are that and what the other builds show.
 * How builds run is the caller's: this only compares artifacts.
 */
export async function explainDifferences(opts: ExplainOptions): Promise<Explained> {
  const diffMs: Record<string, number> = {};
  const against = async (b: BuiltArtifacts): Promise<Outcome> => {
    if (b.exitCode) return { id: b.id, findings: [failureFinding(b.exitCode)] };
    const r = await findingsBetween(opts.control.artifacts, b.artifacts, opts.signal);
    diffMs[b.id] = r.diffMs;
    return { id: b.id, findings: r.findings };
  };
  const noise: Outcome[] = [];
  for (const n of opts.noise) noise.push(await against(n));
  const singles: FinishedBuild[] = [];
  for (const s of opts.singles ?? []) if (opts.tested.some((v) => v.name === s.variation)) singles.push({ variations: [s.variation], alsoVaries: s.alsoVaries, outcome: await against(s.build) });
  const experiment = targets(opts.experiment, await against(opts.experiment), singles);
  const input = { variations: opts.tested.map((v) => v.name), experiment, grows: Boolean(opts.experiment.exitCode), noise, recognize: recognizer(opts.tested) };

  let findings: LocatedFinding[] = [...experiment.findings];
  let verdicts: (Verdict | undefined)[];
  let attribution: Explained['attribution'];
  const done = (rest: Omit<AttributionResult, 'verdicts' | 'findings'>, note?: string) => ({
    ...rest,
    diffMs: Object.values(diffMs).reduce((a, b) => a + b, 0),
    maxLocated: DEFAULT_LIMITS.maxLocated,
    ...(note ? { note } : {}),
  });
  if (opts.attribute === false) {
    verdicts = explainFindings(input, []);
  } else {
    const first = singles.length ? explainFindings(input, singles) : [];
    const open = singles.length ? first.filter((v) => v === undefined).length : findings.length;
    const noiseIds = noise.map((o) => o.id);
    if (singles.length && open === 0) {
      verdicts = first;
      attribution = done({ guesses: [], noise: noiseIds, builds: singles.length });
    } else if (!opts.build) {
      verdicts = first;
      attribution = done(
        { guesses: [], noise: noiseIds, builds: singles.length },
        `${open} finding${open === 1 ? '' : 's'} no single-variation build shows: an interaction, which a second round of builds would find (run krepro verify --plan matrix where it can build)`,
      );
    } else {
      const build = opts.build;
      let built = 0;
      const r = await attributeFindings(
        input,
        async (names, purpose) => {
          built++;
          return against(await build(names.map((n) => opts.tested.find((x) => x.name === n)!), purpose));
        },
        first,
      );
      ({ findings, verdicts } = r);
      const { verdicts: _v, findings: _f, ...rest } = r;
      attribution = done({ ...rest, builds: singles.length + built });
    }
  }
  const attributed = findings.map((f, i) => ({ ...f, verdict: verdicts[i] ?? null }));
  return { findings: attributed, causes: groupCauses(attributed, verdicts, opts.variations), ...(attribution ? { attribution } : {}), diffMs };
}

/**
 * What attribution explains: the experiment's findings. A failed experiment compared nothing, so its failure and
 * what the single-variation builds show take their place; a single-variation build that failed adds the failure.
 */
function targets(experiment: BuiltArtifacts, outcome: Outcome, singles: readonly FinishedBuild[]): Outcome {
  const findings = [...outcome.findings];
  const failed = singles.map((s) => s.outcome.findings.find((f) => f.artifact === BUILD_FAILS)).find((f) => f !== undefined);
  if (failed && !findings.some((f) => f.artifact === BUILD_FAILS)) findings.push(failed);
  if (experiment.exitCode) {
    for (const s of singles) for (const f of s.outcome.findings) if (!findings.some((g) => sameLocation(f, g))) findings.push(f);
  }
  return { id: outcome.id, findings };
}
