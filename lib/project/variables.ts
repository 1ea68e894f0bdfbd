import { byteOrder } from '../byte-order.js';
import { type Project, projectVariables } from './project.js';

/** Host variables that reach every build, as Kubernetes' build/run.sh passes them (KUBE_*, and Go's knobs). */
const PASSED_PREFIXES = ['KUBE_'];
const PASSED_NAMES = ['GOFLAGS', 'GOGCFLAGS', 'GOLDFLAGS', 'GOPROXY', 'GOTOOLCHAIN'];
/** Host-side switches that mean nothing inside the container. */
const HOST_ONLY = new Set(['KUBE_RUN_COPY_OUTPUT', 'KUBE_RSYNC_PORT', 'KUBE_RELEASE_RUN_TESTS']);

/** What buildVariables makes the build variables from. */
export interface BuildVariablesOptions {
  /** the invoking environment (the CLI passes process.env); only KUBE_* and Go's build variables are taken */
  host: Readonly<Record<string, string | undefined>>;
  /** The project file (or Kubernetes' defaults). */
  project: Project;
  /** SOURCE_DATE_EPOCH, in seconds since 1970. */
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION */
  version: string;
}

/**
 * The variables of every build of the project — `run`, `release`, `verify` and `rebuild` alike, so verify proves the
 * build that is released: the project's settings (and normalizations it opted in to), then the host's KUBE_* and Go
 * build variables, then SOURCE_DATE_EPOCH and KUBE_GIT_VERSION. Proxies are not part of them (never recorded).
 */
export function buildVariables(opts: BuildVariablesOptions): Record<string, string> {
  const env: Record<string, string> = { ...projectVariables(opts.project) };
  for (const [k, v] of Object.entries(opts.host)) {
    if (v !== undefined && !HOST_ONLY.has(k) && (PASSED_NAMES.includes(k) || PASSED_PREFIXES.some((p) => k.startsWith(p)))) env[k] = v;
  }
  env['SOURCE_DATE_EPOCH'] = String(opts.sourceDateEpoch);
  env['KUBE_GIT_VERSION'] = opts.version;
  return Object.fromEntries(Object.entries(env).sort(([a], [b]) => byteOrder(a, b)));
}
