/**
 * A sequence of named steps run in order, as goreleaser's pipes: each step is a value with a name, a step that does
 * not apply says why (a skip is a value with a reason, never a silent no-op), and one runner reports progress and
 * timing, checks the signal between steps and stops at the first failure. Release, verify and rebuild are each a
 * list of steps over their own narrow context; nothing but the context passes between steps.
 */
export interface Step<C> {
  readonly name: string;
  /** Why this step does not apply to `context`, or undefined to run it. Asked just before the step would run. */
  skip?(context: C): string | undefined;
  run(context: C): Promise<void>;
}

/** One step's start, end (with its time in ms), skip (with its reason) or failure. */
export type StepEvent =
  | { type: 'start'; step: string }
  | { type: 'done'; step: string; ms: number }
  | { type: 'skip'; step: string; reason: string }
  | { type: 'fail'; step: string; ms: number; error: unknown };

/** What happened to one step: the runner's record, in the order the steps ran. */
export interface StepRecord {
  /** The step's name. */
  name: string;
  /** How it ended. */
  status: 'done' | 'skipped' | 'failed';
  /** why it was skipped */
  reason?: string;
  /** How long it took, in milliseconds (0 for a skip). */
  ms: number;
}

export interface PipelineOptions {
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
  /** the clock, in ms; performance.now() by default (a test passes its own) */
  now?: () => number;
  /** each record is appended here as it happens, so a caller has them also when a step fails */
  records?: StepRecord[];
}

/** Runs `steps` in order over `context` and returns what each did; the first failure is rethrown as it was. */
export async function runPipeline<C>(steps: readonly Step<C>[], context: C, opts: PipelineOptions = {}): Promise<StepRecord[]> {
  const now = opts.now ?? (() => performance.now());
  const records = opts.records ?? [];
  for (const step of steps) {
    opts.signal?.throwIfAborted();
    const reason = step.skip?.(context);
    if (reason !== undefined) {
      records.push({ name: step.name, status: 'skipped', reason, ms: 0 });
      opts.onStep?.({ type: 'skip', step: step.name, reason });
      continue;
    }
    opts.onStep?.({ type: 'start', step: step.name });
    const started = now();
    try {
      await step.run(context);
    } catch (error) {
      const ms = now() - started;
      records.push({ name: step.name, status: 'failed', ms });
      opts.onStep?.({ type: 'fail', step: step.name, ms, error });
      throw error;
    }
    const ms = now() - started;
    records.push({ name: step.name, status: 'done', ms });
    opts.onStep?.({ type: 'done', step: step.name, ms });
  }
  return records;
}

/** A step from a name, a run function and an optional skip: most steps are this. */
export function step<C>(name: string, run: (context: C) => Promise<void>, skip?: (context: C) => string | undefined): Step<C> {
  return skip ? { name, run, skip } : { name, run };
}
