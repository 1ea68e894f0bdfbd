import type { Trace } from '../trace.js';
import type { Container, Engine } from './engine.js';

/** What an engine call was about, for the trace: an image, volume or container name, or a container spec's name. */
function targetOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && 'image' in first) {
    const spec = first as { name?: string; image: string };
    return spec.name ?? spec.image;
  }
  return undefined;
}

/** Wraps each method of `target` so that every call that returns a promise is reported, with its time, when it settles. */
function wrap<T extends object>(target: T, prefix: string, report: (call: string, args: unknown[], ms: number, error?: unknown) => void, wrapResult?: (call: string, value: unknown) => unknown): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver);
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        if (!(result instanceof Promise)) return result;
        const call = `${prefix}${key}`;
        return result.then(
          (v: unknown) => {
            report(call, args, performance.now() - started);
            return wrapResult ? wrapResult(call, v) : v;
          },
          (err: unknown) => {
            report(call, args, performance.now() - started, err);
            throw err;
          },
        );
      };
    },
  });
}

/**
 * The engine with every call reported to `trace` (engine, call, target, time, error): what `krepro --verbose` shows.
 * Behaviour is unchanged; containers the engine creates are wrapped too, so their start, wait and copies are seen.
 */
export function tracedEngine(engine: Engine, trace: Trace): Engine {
  const report = (call: string, args: unknown[], ms: number, error?: unknown) => {
    const target = targetOf(args);
    trace({ type: 'engine', endpoint: engine.endpoint, call, ...(target !== undefined ? { target } : {}), ms: Math.round(ms), ...(error !== undefined ? { error: (error as Error).message ?? String(error) } : {}) });
  };
  const container = (c: Container): Container => {
    const named = (call: string, args: unknown[], ms: number, error?: unknown) => report(call, [c.name, ...args.slice(1)], ms, error);
    return wrap(c, 'container.', named);
  };
  return new Proxy(engine, {
    get(obj, key, receiver) {
      if (key === 'images' || key === 'volumes' || key === 'swarm') return wrap(obj[key], `${key}.`, report);
      if (key === 'containers') return wrap(obj.containers, 'containers.', report, (call, v) => (call === 'containers.create' ? container(v as Container) : v));
      const value = Reflect.get(obj, key, receiver);
      if (typeof value === 'function') return wrap({ [key]: value.bind(obj) }, '', report)[key as 'ping'];
      return value;
    },
  });
}
