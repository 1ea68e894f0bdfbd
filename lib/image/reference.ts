import { KreproError } from '../errors.js';
import { quote } from '../quote.js';

/** One image reference `name:tag`, in the forms docker-archive (familiar) and OCI annotations (full) use. */
export interface RepoTag {
  /** `docker.io/library/busybox`, `registry.k8s.io/kube-apiserver-amd64` */
  name: string;
  /** what `docker images` shows: `busybox`, `registry.k8s.io/kube-apiserver-amd64` */
  familiarName: string;
  /** The tag, e.g. `v1.31.0`. */
  tag: string;
}

// The grammar of github.com/distribution/reference, which `docker load` parses RepoTags with.
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_RE = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const MAX_NAME = 255;

/** Parses `[domain/]path:tag` as Docker normalizes it; a missing tag or a bad character is an error naming the reference. */
export function parseRepoTag(ref: string): RepoTag {
  const bad = (why: string) => new KreproError('E_USAGE', `image reference ${quote(ref)} ${why}`);
  const colon = ref.lastIndexOf(':');
  if (colon <= ref.lastIndexOf('/')) throw bad('has no tag (expected name:tag)');
  const tag = ref.slice(colon + 1);
  let rest = ref.slice(0, colon);
  if (!TAG_RE.test(tag)) throw bad(`has an invalid tag ${quote(tag)} (letters, digits, _ . - only, at most 128, not starting with . or -)`);
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  // Docker's rule: the first component is a registry when it looks like a host name.
  let domain = 'docker.io';
  if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    if (!DOMAIN_RE.test(first)) throw bad(`has an invalid registry ${quote(first)}`);
    domain = first === 'index.docker.io' ? 'docker.io' : first;
    rest = rest.slice(slash + 1);
  }
  if (!PATH_RE.test(rest)) throw bad('has an invalid repository name (lowercase letters, digits and . _ - separators only)');
  const repoPath = domain === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
  const name = `${domain}/${repoPath}`;
  if (name.length > MAX_NAME) throw bad(`is longer than ${MAX_NAME} characters`);
  const familiarName = domain === 'docker.io' ? (repoPath.startsWith('library/') ? repoPath.slice('library/'.length) : repoPath) : name;
  return { name, familiarName, tag };
}

/**
 * The tag build/lib/release.sh derives from KUBE_GIT_VERSION: `${KUBE_GIT_VERSION/+/_}` ("Docker tags cannot
 * contain '+'"), which replaces the first `+` only; what is still not a valid tag is an error.
 */
export function dockerTagFromVersion(version: string): string {
  const tag = version.replace('+', '_');
  if (!TAG_RE.test(tag)) {
    throw new KreproError('E_USAGE', `version ${quote(version)} gives the Docker tag ${quote(tag)}, which is not valid (letters, digits, _ . - only, at most 128)`);
  }
  return tag;
}
