import { CURRENT_GZIP_FORMAT, type GzipFormat, validateFormat, validateLevel } from '../archive/gzip.js';
import type { Project } from './project.js';
import { buildVariables } from './variables.js';

/**
 * How a release is packed: every input of packing that changes an artifact's bytes. Made once, from the project and
 * the build's variables, and followed by release, verify and rebuild alike.
 */
export interface Packaging {
  /** gzip level 1-9 */
  level: number;
  /** the pinned gzip format */
  encoder: GzipFormat;
  /** server images in the server tarballs, or none */
  images:
    | false
    | {
        /** `<registry>/<binary>-<arch>:<tag>`: the project file's, else KUBE_DOCKER_REGISTRY, else registry.k8s.io */
        registry?: string;
        /** which server binaries get an image; absent: the default ones the build made */
        binaries?: readonly string[];
        /** 'scratch', or a docker-archive path (relative to the sources, or absolute) with {os}, {arch}, {binary} */
        base: string;
      };
}

/**
 * Everything about a project's build decided before any build runs, made once: what release records in its recipe
 * and verify and rebuild follow. SOURCE_DATE_EPOCH and the version are also in the variables (as the build sees
 * them); this is the only place that puts them there.
 */
export interface ReleaseInputs {
  /** The project file (or Kubernetes' defaults). */
  project: Project;
  /** SOURCE_DATE_EPOCH, in seconds since 1970. */
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION */
  version: string;
  /** the variables of every build (buildVariables) */
  variables: Readonly<Record<string, string>>;
  /** how the release tarballs are packed, for a Kubernetes-shaped project */
  packaging: Packaging;
}

/** What releaseInputs decides a build from. */
export interface ReleaseInputsOptions {
  /** The project file (or Kubernetes' defaults). */
  project: Project;
  /** the invoking environment (KUBE_*, Go's build variables); the CLI passes process.env */
  host: Readonly<Record<string, string | undefined>>;
  /** SOURCE_DATE_EPOCH, in seconds since 1970. */
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION, e.g. `v1.31.0`. */
  version: string;
  /** Gzip level, 1-9. Default 6. */
  level?: number;
  /** Pinned gzip format. Default CURRENT_GZIP_FORMAT. */
  encoder?: GzipFormat;
}

/** Decides every input of a release once: its variables and its packaging. */
export function releaseInputs(opts: ReleaseInputsOptions): ReleaseInputs {
  const variables = buildVariables({ host: opts.host, project: opts.project, sourceDateEpoch: opts.sourceDateEpoch, version: opts.version });
  return { project: opts.project, sourceDateEpoch: opts.sourceDateEpoch, version: opts.version, variables, packaging: packagingFor(opts.project, variables, opts) };
}

/** The packaging of a project built with these variables (KUBE_DOCKER_REGISTRY among them). */
export function packagingFor(project: Project, variables: Readonly<Record<string, string>>, opts: { level?: number; encoder?: GzipFormat } = {}): Packaging {
  const level = validateLevel(opts.level ?? 6);
  const encoder = validateFormat(opts.encoder ?? CURRENT_GZIP_FORMAT);
  if (project.images === false) return { level, encoder, images: false };
  const registry = project.images.registry ?? variables['KUBE_DOCKER_REGISTRY'];
  return {
    level,
    encoder,
    images: {
      ...(registry ? { registry } : {}),
      ...(project.images.binaries ? { binaries: project.images.binaries } : {}),
      base: project.images.base ?? 'scratch',
    },
  };
}
