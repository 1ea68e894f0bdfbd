import { createHash } from 'node:crypto';

/**
 * What identifies one checkout's build state on an engine, as Kubernetes' build/common.sh derives it:
 * a hash of `hostname:canonical checkout path:git branch` (first 10 hex of md5) plus the build image version.
 */
export interface CheckoutIdentity {
  hostname: string;
  /** canonical (realpath) checkout root */
  root: string;
  /** current branch, '' when detached */
  branch: string;
}

export interface StateNames {
  /** first 10 hex of md5(hostname:root:branch) */
  checkoutHash: string;
  /** `build-image/VERSION` + '-' + base image tag, made tag-safe */
  version: string;
  image: string;
  buildContainer: string;
  syncContainer: string;
  dataVolume: string;
  /** Labels set on every image, container and volume krepro makes, so clean and version bumps find them. */
  labels: Record<string, string>;
}

export const LABEL_CHECKOUT = 'io.krepro.checkout';
export const LABEL_VERSION = 'io.krepro.version';

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

export function stateNames(id: CheckoutIdentity, imageVersion: string, baseImageTag: string): StateNames {
  const hash = checkoutHash(id);
  const version = tagSafe(`${imageVersion.trim()}-${baseImageTag}`);
  return {
    checkoutHash: hash,
    version,
    image: `krepro-build:build-${hash}-${version}`,
    buildContainer: `krepro-build-${hash}-${version}`,
    syncContainer: `krepro-sync-${hash}-${version}`,
    dataVolume: `krepro-build-data-${hash}-${version}`,
    labels: { [LABEL_CHECKOUT]: hash, [LABEL_VERSION]: version },
  };
}

/** Where the sources live inside build containers (upstream's path, so Kubernetes' scripts find themselves). */
export const CONTAINER_SOURCE_DIR = '/go/src/k8s.io/kubernetes';
