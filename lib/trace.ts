/**
 * What an operation reports as it works, for a caller that wants to see inside it (`krepro --verbose`): each call
 * to the container engine and each named step, with how long it took. The library never prints; a caller passes a
 * callback and decides what to show.
 */
export type TraceEvent =
  /** one engine call finished: `images.inspect`, `containers.create`, `container.start`… and what it was about */
  | { type: 'engine'; endpoint: string; call: string; target?: string; ms: number; error?: string }
  /** one step of an operation finished */
  | { type: 'step'; step: string; ms: number };

/** A callback that receives each TraceEvent as it happens; it must not throw. */
export type Trace = (event: TraceEvent) => void;

/** Runs `fn` as the step `step`, reporting it to `trace` (when there is one) once it ends, failed or not. */
export async function traced<T>(trace: Trace | undefined, step: string, fn: () => Promise<T>): Promise<T> {
  if (!trace) return fn();
  const started = performance.now();
  try {
    return await fn();
  } finally {
    trace({ type: 'step', step, ms: Math.round(performance.now() - started) });
  }
}
