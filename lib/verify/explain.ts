import { DEFAULT_LIMITS } from '../diff/types.js';
import type { Artifact } from '../integrity/artifact.js';
import { type AttributionResult, attributeFindings, explainFindings, type FinishedBuild, type Outcome, sameLocation, type Verdict } from './attribution.js';
import { type CauseGroup, groupCauses } from './causes.js';
import type { Variation } from './conditions.js';
import { BUILD_FAILS, failureFinding, findingsBetween, type LocatedFinding } from './findings.js';
import { recognizer } from './recognize.js';

/** A finished build as attribution sees it: its id, its artifacts, and its exit code when it failed. */
export interface BuiltArtifacts {
  /** The build's id. */
  id: string;
  /** Its output files. */
  artifacts: readonly Artifact[];
  /** Not 0: the build failed, and it has no outputs to compare. Default 0. */
  exitCode?: number;
}

/** A finding of control vs experiment with its verdict; null: not attributed (attribution off, or nothing could build). */
export interface AttributedFinding extends LocatedFinding {
  /** Its cause. */
  verdict: Verdict | null;
}

/** Every finding of control vs experiment with its verdict, grouped by cause. */
export interface Explained {
  /** Every finding, in artifact order. */
  findings: AttributedFinding[];
  /** The causes, each with the findings it explains. */
  causes: CauseGroup[];
  /** What attribution did, when it ran. */
  attribution?: Omit<AttributionResult, 'verdicts' | 'findings'> & {
    /** Time spent in krepro diff (all builds), in milliseconds. */
    diffMs: number;
    /** Findings kept one by one per member (DiffLimits.maxLocated); past it one finding spans the rest. */
    maxLocated: number;
    /** What attribution could not do, and why. */
    note?: string;
  };
  /** Time spent diffing each build against the control build, in milliseconds, by build id. */
  diffMs: Record<string, number>;
}

/** A single-variation build of the matrix plan's first round. */
export interface SingleBuild {
  /** The variation's name. */
  variation: string;
  /** What it differs from the control build in beyond its variation (the file order of a build on disk). */
  alsoVaries: readonly string[];
  /** The build. */
  build: BuiltArtifacts;
}

/** The builds to compare, and how to run more when attribution needs them. */
export interface ExplainOptions {
  /** The build under control conditions. */
  control: BuiltArtifacts;
  /** The build with every tested variation. */
  experiment: BuiltArtifacts;
  /** Builds under control conditions again: the noise mask. */
  noise: readonly BuiltArtifacts[];
  /** The matrix plan's single-variation builds: they explain what they show before anything more is built. Default: none. */
  singles?: readonly SingleBuild[];
  /** The variations that took effect: attribution searches these. */
  tested: readonly Variation[];
  /** Every variation chosen (for fixes). */
  variations: readonly Variation[];
  /** Run the builds attribution needs. Default true. */
  attribute?: boolean;
  /** Runs one more build with these variations (`[]`: another noise build). Default: none, nothing more is built. */
  build?: (variations: readonly Variation[], purpose: string) => Promise<BuiltArtifacts>;
  /** Aborts the comparisons and the builds. */
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
