import { NORMALIZATIONS } from '../project/project.js';

/** A setting of the build environment that changes how tools behave: listed in the report, never hidden. */
export interface EnvironmentSetting {
  /** The variable or setting, e.g. `TZ` or `GOFLAGS`. */
  name: string;
  /** Its value. */
  value: string;
  /** where it comes from: the environment image, the project file, the host, or krepro's normalizations */
  source: 'image' | 'project' | 'host' | 'normalization' | 'krepro';
  /** Why it is set so, in words. */
  why: string;
  /** variations whose effect it may hide */
  masks?: string[];
}

/** Why the environment image's variables are there (the README lists them too). */
const IMAGE_SETTINGS: Record<string, string> = {
  PATH: 'where the tools are',
  GOPATH: 'Go workspace outside the sources',
  GOCACHE: "Go's build cache outside the sources, writable by any uid",
  GOTOOLCHAIN: 'local: never download another Go toolchain',
  KUBE_OUTPUT_SUBPATH: "where Kubernetes' make puts its output (_output/dockerized), as build/run.sh sets it",
  HOME: 'the source directory, as upstream (verify sets its own HOME per build)',
  XDG_CONFIG_HOME: "Go's config (telemetry off) outside the sources",
};

/** What a build sees set: the environment image's variables, then the build's (project, host, normalizations). */
export function verifySettings(imageVariables: readonly string[], variables: Readonly<Record<string, string>>, normalize: boolean): EnvironmentSetting[] {
  const settings: EnvironmentSetting[] = imageVariables.map((entry) => {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    return { name, value: entry.slice(eq + 1), source: 'image' as const, why: IMAGE_SETTINGS[name] ?? 'set by the environment image' };
  });
  for (const [name, value] of Object.entries(variables)) {
    const n = normalize ? NORMALIZATIONS.find((x) => x.name === name && x.value === value) : undefined;
    if (n) settings.push({ name, value, source: 'normalization', why: n.why, masks: n.masks });
    else if (name === 'SOURCE_DATE_EPOCH' || name === 'KUBE_GIT_VERSION') settings.push({ name, value, source: 'krepro', why: name === 'SOURCE_DATE_EPOCH' ? 'the fixed time of every embedded date' : 'the version stamped into binaries' });
    else settings.push({ name, value, source: 'project', why: 'the project file or the invoking environment (KUBE_*, GO*)' });
  }
  return settings;
}
