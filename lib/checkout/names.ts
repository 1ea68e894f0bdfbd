import { createHash, randomBytes } from 'node:crypto';
import type { CheckoutIdentity } from './identity.js';

/**
 * What one checkout's objects are called on an engine, as Kubernetes' build/common.sh derives them: a hash of
 * `hostname:canonical checkout path:git branch` (first 10 hex of md5) plus the build image version. The image and the
 * data volume (the persistent cache) keep these names across runs; everything else a run makes is named per run.
 */
export interface StateNames {
  /** first 10 hex of md5(hostname:root:branch) */
  checkoutHash: string;
  /** `build-image/VERSION` + '-' + base image tag, made tag-safe */
  version: string;
  image: string;
  dataVolume: string;
  /** Labels set on every image, container and volume krepro makes, so clean and version bumps find them. */
  labels: Record<string, string>;
}

export const LABEL_CHECKOUT = 'io.krepro.checkout';
export const LABEL_VERSION = 'io.krepro.version';
/** The run that made a container or volume: unique per command invocation. */
export const LABEL_RUN = 'io.krepro.run';

export function checkoutHash(id: CheckoutIdentity): string {
  return createHash('md5').update(`${id.hostname}:${id.root}:${id.branch}`).digest('hex').slice(0, 10);
}

/** Docker tags allow [A-Za-z0-9_.-]; anything else in a base tag (e.g. `:` or `/`) becomes `_`. */
function tagSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** The tag of an image reference; a ':' before the last '/' is a registry port, and no tag means `latest`. */
export function baseImageTag(image: string): string {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(colon + 1) : 'latest';
}

/**
 * The names for a version of the build state (`build-image/VERSION` + '-' + base image tag for a Dockerfile image,
 * `env-<lock digest>` for the locked environment); `image` when the image is not per checkout (the locked one).
 */
export function stateNames(id: CheckoutIdentity, stateVersion: string, image?: string): StateNames {
  const hash = checkoutHash(id);
  const version = tagSafe(stateVersion.trim());
  return {
    checkoutHash: hash,
    version,
    image: image ?? `krepro-build:build-${hash}-${version}`,
    dataVolume: `krepro-build-data-${hash}-${version}`,
    labels: { [LABEL_CHECKOUT]: hash, [LABEL_VERSION]: version },
  };
}

/** One run, as plain data (a build request carries it anywhere): whose it is, its id, the labels of its objects. */
export interface RunScope {
  /** The checkout's hash: part of every name of its state. */
  checkoutHash: string;
  /** The run's id, 12 random hex digits: part of every name of its objects. */
  runId: string;
  /** the checkout's labels and the run's own */
  labels: Record<string, string>;
}

/** The objects of one run: names no earlier or concurrent run can have, and labels naming checkout and run. */
export interface RunNames extends RunScope {
  /** `krepro-<kind>-<checkout hash>-<run id>`, e.g. kind `build`, `sync`, `build-2-keeper` */
  name(kind: string): string;
}

/** A new run: 12 random hex digits, so two runs (also of one checkout, on one engine) never share a name. */
export function newRun(checkoutHash: string, labels: Record<string, string>, runId: string = randomBytes(6).toString('hex')): RunScope {
  return { checkoutHash, runId, labels: { ...labels, [LABEL_RUN]: runId } };
}

/** A new run, with the names of its objects. */
export function runNames(checkoutHash: string, labels: Record<string, string>, runId?: string): RunNames {
  return namesOf(newRun(checkoutHash, labels, runId));
}

/** The names of a run a request carried as data. */
export function namesOf(scope: RunScope): RunNames {
  return { ...scope, name: (kind) => `krepro-${kind}-${scope.checkoutHash}-${scope.runId}` };
}

/** Where the sources live inside build containers (upstream's path, so Kubernetes' scripts find themselves). */
export const CONTAINER_SOURCE_DIR = '/go/src/k8s.io/kubernetes';
