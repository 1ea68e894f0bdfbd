import { constants, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { mapDiskFull } from '../disk-full.js';
import { swapInto } from './swap-dir.js';
import { quote } from '../quote.js';

/** Binary base names per tarball kind (hack/lib/golang.sh, ~2024); on windows each is looked for as `<name>.exe`. */
export interface StageTargets {
  /** Binaries of the client tarball (kubernetes-client-<os>-<arch>.tar.gz). */
  client: readonly string[];
  /** Binaries of the server tarball (with their container images). */
  server: readonly string[];
  /** Binaries of the node tarball. */
  node: readonly string[];
  /** Binaries of the test tarball. */
  test: readonly string[];
}

/** Kubernetes' own lists (hack/lib/golang.sh): what buildStage stages when no targets are given. */
export const DEFAULT_STAGE_TARGETS: Readonly<StageTargets> = Object.freeze({
  client: Object.freeze(['kubectl', 'kubectl-convert']),
  server: Object.freeze([
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kube-proxy',
    'kubelet',
    'kubeadm',
    'kube-aggregator',
    'apiextensions-apiserver',
    'mounter',
    'kube-log-runner',
  ]),
  node: Object.freeze(['kube-proxy', 'kubeadm', 'kubelet', 'kube-log-runner']),
  test: Object.freeze(['ginkgo', 'e2e.test', 'e2e_node.test', 'go-runner', 'kubemark']),
});

/** What buildStage stages, from where, to where. */
export interface BuildStageOptions {
  /** `_output/dockerized/bin`, holding `<os>/<arch>/<binary>` */
  binDir: string;
  /** The Kubernetes checkout: cluster/, hack/lib/, docs/, README.md, LICENSES, cluster/gce/manifests/ */
  sourceRoot: string;
  /** `_output/release-stage`; replaced as a whole once everything is staged */
  stage: string;
  /** KUBE_GIT_VERSION, written to full/kubernetes/version */
  version: string;
  /** Replaces the default list of each kind given */
  targets?: Partial<StageTargets>;
  /** Aborts the staging; `stage` is then left as it was. */
  signal?: AbortSignal;
}

/** What one `<os>/<arch>` directory of binDir contributed. Each list holds file names as staged (with `.exe`). */
export interface StagedPlatform {
  /** `<os>-<arch>`, the tarball's platform tag */
  platform: string;
  /** The operating system, e.g. `linux`. */
  os: string;
  /** The architecture, e.g. `amd64`. */
  arch: string;
  /** client/<platform>/kubernetes/client/bin */
  client: string[];
  /** server/<platform>/kubernetes/server/bin: server and client binaries; empty when no server tarball is staged */
  server: string[];
  /** node/<platform>/kubernetes/node/bin: node and client binaries; empty when no node tarball is staged */
  node: string[];
  /** test/<platform>/kubernetes/test/bin */
  test: string[];
}

/** What buildStage staged, and what it left out and why. */
export interface StageResult {
  /** Absolute path of the stage written */
  stage: string;
  /** The version written to full/kubernetes/version. */
  version: string;
  /** In byte order of `<os>-<arch>` */
  platforms: StagedPlatform[];
  /** Files staged in manifests/kubernetes/gci-trusty/ (from cluster/gce/manifests/) */
  manifests: string[];
  /** Source paths (relative to sourceRoot) that were copied, and those that were absent and so left out */
  source: { copied: string[]; missing: string[] };
  /** Entries of binDir (relative, `/`-separated) that went into no tarball: not in any target list for their platform */
  ignored: string[];
  /** Editor and Finder leftovers (`*~`, `#*#`, `.DS*`) not copied from the source tree, as kube::release::clean_cruft removes them */
  cruft: string[];
}

const CLIENT_README = `Client binaries are no longer included in the Kubernetes final tarball.

Run cluster/get-kube-binaries.sh to download client and server binaries.
`;
const SERVER_README = `Server binary tarballs are no longer included in the Kubernetes final tarball.

Run cluster/get-kube-binaries.sh to download client and server binaries.
`;

/** The source paths full/kubernetes/ takes (package_final_tarball), each copied to the same relative path. */
const FULL_SOURCES = ['README.md', 'LICENSES', 'cluster', 'docs', 'hack/lib'] as const;
const MANIFESTS_SOURCE = 'cluster/gce/manifests';

const KINDS = ['client', 'server', 'node', 'test'] as const;
type Kind = (typeof KINDS)[number];

async function sortedNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort(byteOrder);
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  return stat(p).catch(() => undefined);
}

function isCruft(name: string): boolean {
  return name.endsWith('~') || (name.length > 1 && name.startsWith('#') && name.endsWith('#')) || name.startsWith('.DS');
}

function resolveTargets(given: Partial<StageTargets> | undefined): StageTargets {
  const targets = { ...DEFAULT_STAGE_TARGETS, ...given };
  for (const kind of KINDS) {
    for (const name of targets[kind]) {
      if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
        throw new KreproError('E_USAGE', `${kind} target ${quote(name)} is not a binary file name`);
      }
    }
  }
  return targets;
}

interface PlatformPlan extends StagedPlatform {
  dir: string;
}

/** Sorts the files of one `<os>/<arch>` directory into the tarballs they belong to. */
async function planPlatform(binDir: string, os: string, arch: string, targets: StageTargets, ignored: string[]): Promise<PlatformPlan> {
  const dir = path.join(binDir, os, arch);
  const found: Record<Kind, string[]> = { client: [], server: [], node: [], test: [] };
  const unmatched: string[] = [];
  for (const name of await sortedNames(dir)) {
    const st = await statOrUndefined(path.join(dir, name)); // a symlinked binary is copied as the file it names, as cp does
    if (!st?.isFile()) {
      ignored.push(`${os}/${arch}/${name}${st?.isDirectory() ? '/' : ''}`);
      continue;
    }
    // Windows binaries are listed as `<name>.exe` (the *_WIN lists); anything else there is not a target.
    const base = os === 'windows' ? (name.endsWith('.exe') ? name.slice(0, -'.exe'.length) : undefined) : name;
    let matched = false;
    for (const kind of KINDS) {
      if (base !== undefined && targets[kind].includes(base)) {
        found[kind].push(name);
        matched = true;
      }
    }
    if (!matched) unmatched.push(name);
  }
  // Kubernetes has no Windows server platform (KUBE_SERVER_PLATFORMS is linux-only): its kube-proxy.exe,
  // kubelet.exe and kubeadm.exe make a node tarball only.
  const hasServer = os !== 'windows' && found.server.length > 0;
  const hasNode = found.node.length > 0;
  const withClient = (bins: string[]) => [...new Set([...bins, ...found.client])].sort(byteOrder);
  const plan: PlatformPlan = {
    dir,
    platform: `${os}-${arch}`,
    os,
    arch,
    client: found.client,
    server: hasServer ? withClient(found.server) : [],
    node: hasNode ? withClient(found.node) : [],
    test: found.test,
  };
  const staged = new Set(KINDS.flatMap((kind) => plan[kind]));
  for (const name of [...found.server, ...unmatched].sort(byteOrder)) {
    if (!staged.has(name)) ignored.push(`${os}/${arch}/${name}`);
  }
  return plan;
}

/** The `<os>/<arch>` directories under binDir, both levels in byte order. */
async function scanBinDir(binDir: string, targets: StageTargets, ignored: string[]): Promise<PlatformPlan[]> {
  const st = await statOrUndefined(binDir);
  if (!st) throw new KreproError('E_STAGE', `no binaries to stage: ${binDir} does not exist (build first, e.g. build/run.sh make cross)`, { path: binDir });
  if (!st.isDirectory()) throw new KreproError('E_STAGE', `no binaries to stage: ${binDir} is not a directory`, { path: binDir });
  const platforms: PlatformPlan[] = [];
  for (const os of await sortedNames(binDir)) {
    const osDir = path.join(binDir, os);
    if (!(await statOrUndefined(osDir))?.isDirectory()) {
      ignored.push(os);
      continue;
    }
    for (const arch of await sortedNames(osDir)) {
      if (!(await statOrUndefined(path.join(osDir, arch)))?.isDirectory()) {
        ignored.push(`${os}/${arch}`);
        continue;
      }
      platforms.push(await planPlatform(binDir, os, arch, targets, ignored));
    }
  }
  if (platforms.length === 0) {
    throw new KreproError('E_STAGE', `no binaries to stage: ${binDir} has no <os>/<arch> directories (such as linux/amd64)`, { path: binDir });
  }
  return platforms.sort((a, b) => byteOrder(a.platform, b.platform));
}

class Copier {
  readonly cruft = new Set<string>();
  /** bytes of the files copied so far */
  bytes = 0;

  constructor(
    private readonly sourceRoot: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Copies one file's bytes and mode (fs.copyFile keeps the permission bits, so executables stay executable). */
  async file(from: string, to: string): Promise<void> {
    this.signal?.throwIfAborted();
    try {
      await copyFile(from, to, constants.COPYFILE_FICLONE);
      this.bytes += (await stat(to)).size;
    } catch (err) {
      throw new KreproError('E_IO', `cannot copy ${from} to ${to}: ${(err as Error).message}`, { path: from, cause: err });
    }
  }

  /** Copies the files named into `toDir` (created). */
  async files(fromDir: string, names: string[], toDir: string): Promise<void> {
    await mkdir(toDir, { recursive: true });
    for (const name of names) await this.file(path.join(fromDir, name), path.join(toDir, name));
  }

  /**
   * `cp -RH <sourceRoot>/<rel> <to>`: a symlink at `rel` itself is followed, symlinks inside the tree are copied as
   * symlinks; directories are walked in byte order. Returns false when `rel` does not exist in the source.
   */
  async sourcePath(rel: string, to: string): Promise<boolean> {
    const from = path.join(this.sourceRoot, rel);
    const st = await statOrUndefined(from);
    if (!st) return false;
    await mkdir(path.dirname(to), { recursive: true });
    if (st.isDirectory()) await this.tree(from, to, rel);
    else if (st.isFile()) await this.file(from, to);
    else throw unsupported(from, st);
    return true;
  }

  private async tree(from: string, to: string, rel: string): Promise<void> {
    await mkdir(to, { recursive: true });
    for (const name of await sortedNames(from)) {
      const childRel = `${rel}/${name}`;
      const src = path.join(from, name);
      const dst = path.join(to, name);
      const st = await lstat(src);
      if (isCruft(name) && !st.isDirectory()) {
        this.cruft.add(childRel); // clean_cruft's `find -name … -exec rm` removes files and links, not directories
        continue;
      }
      if (st.isSymbolicLink()) await symlink(await readlink(src), dst);
      else if (st.isDirectory()) await this.tree(src, dst, childRel);
      else if (st.isFile()) await this.file(src, dst);
      else throw unsupported(src, st);
    }
  }
}

function unsupported(p: string, st: Stats): KreproError {
  const kind = st.isSocket() ? 'socket' : st.isFIFO() ? 'FIFO' : st.isBlockDevice() ? 'block device' : 'character device';
  return new KreproError('E_UNSUPPORTED_FILE', `${p} is a ${kind}; the release stage may hold only files, directories and symlinks`, { path: p });
}

/**
 * Builds `_output/release-stage` from the binaries in `_output/dockerized/bin/<os>/<arch>/` and the source tree, as
 * kube::release::package_{client,server,node,test,final,kube_manifests}_tarball(s) lay it out (build/lib/release.sh),
 * minus the inner tarballs: packageRelease nests kubernetes-src.tar.gz and kubernetes-manifests.tar.gz itself.
 *
 * The stage is written into a fresh sibling directory and swapped into place, so a failed or interrupted run
 * leaves the previous stage as it was. What varies between runs (mtimes, directory modes, creation order) is
 * normalized by the archive writer; the stage fixes which files exist, their bytes and their exec bits.
 */
export async function buildStage(opts: BuildStageOptions): Promise<StageResult> {
  const version = opts.version;
  if (version.trim() === '' || /[\n\r\0]/.test(version)) {
    throw new KreproError('E_USAGE', `version ${quote(version)} must be one non-empty line (KUBE_GIT_VERSION, e.g. v1.31.0)`);
  }
  const targets = resolveTargets(opts.targets);
  const binDir = path.resolve(opts.binDir);
  const sourceRoot = path.resolve(opts.sourceRoot);
  const stage = path.resolve(opts.stage);
  if (!(await statOrUndefined(sourceRoot))?.isDirectory()) {
    throw new KreproError('E_STAGE', `source tree ${sourceRoot} does not exist or is not a directory`, { path: sourceRoot });
  }
  const ignored: string[] = [];
  const platforms = await scanBinDir(binDir, targets, ignored);

  const work = `${stage}.partial-${randomBytes(6).toString('hex')}`;
  const copier = new Copier(sourceRoot, opts.signal);
  const previous = await statOrUndefined(stage);
  return mapDiskFull(
    () => ({
      target: stage,
      written: copier.bytes,
      kept: previous ? `the previous ${stage} was kept as it was, and nothing half-written was left` : 'nothing half-written was left',
      fix: 'free space there, or stage on another disk (--stage)',
    }),
    () => writeStage(opts, { version, platforms, ignored, sourceRoot, stage, work, copier }),
  );
}

async function writeStage(
  opts: BuildStageOptions,
  w: { version: string; platforms: PlatformPlan[]; ignored: string[]; sourceRoot: string; stage: string; work: string; copier: Copier },
): Promise<StageResult> {
  const { version, platforms, ignored, sourceRoot, stage, work, copier } = w;
  await mkdir(path.dirname(stage), { recursive: true });
  await mkdir(work);
  const copied = new Set<string>();
  const missing = new Set<string>();
  const fromSource = async (rel: string, to: string) => {
    if (await copier.sourcePath(rel, to)) copied.add(rel);
    else missing.add(rel);
  };
  try {
    for (const p of platforms) {
      const root = (kind: Kind) => path.join(work, kind, p.platform, 'kubernetes');
      if (p.client.length > 0) await copier.files(p.dir, p.client, path.join(root('client'), 'client', 'bin'));
      if (p.server.length > 0) {
        await copier.files(p.dir, p.server, path.join(root('server'), 'server', 'bin'));
        await mkdir(path.join(root('server'), 'addons'), { recursive: true });
        await fromSource('LICENSES', path.join(root('server'), 'LICENSES'));
      }
      if (p.node.length > 0) {
        await copier.files(p.dir, p.node, path.join(root('node'), 'node', 'bin'));
        await fromSource('LICENSES', path.join(root('node'), 'LICENSES'));
      }
      if (p.test.length > 0) await copier.files(p.dir, p.test, path.join(root('test'), 'test', 'bin'));
    }

    const full = path.join(work, 'full', 'kubernetes');
    await mkdir(path.join(full, 'client'), { recursive: true });
    await mkdir(path.join(full, 'server'), { recursive: true });
    await writeFile(path.join(full, 'client', 'README'), CLIENT_README);
    await writeFile(path.join(full, 'server', 'README'), SERVER_README);
    await writeFile(path.join(full, 'version'), `${version}\n`);
    for (const rel of FULL_SOURCES) await fromSource(rel, path.join(full, ...rel.split('/')));

    const manifests = await stageManifests(copier, sourceRoot, path.join(work, 'manifests', 'kubernetes', 'gci-trusty'));
    (manifests === undefined ? missing : copied).add(MANIFESTS_SOURCE);

    opts.signal?.throwIfAborted();
    await swapInto(work, stage);
    return {
      stage,
      version,
      platforms: platforms.map(({ dir: _dir, ...p }) => p),
      manifests: manifests ?? [],
      source: { copied: [...copied].sort(byteOrder), missing: [...missing].sort(byteOrder) },
      ignored: ignored.sort(byteOrder),
      cruft: [...copier.cruft].sort(byteOrder),
    };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** The files directly in cluster/gce/manifests/ (symlinks followed); undefined when that directory is absent. */
async function stageManifests(copier: Copier, sourceRoot: string, to: string): Promise<string[] | undefined> {
  const from = path.join(sourceRoot, MANIFESTS_SOURCE);
  if (!(await statOrUndefined(from))?.isDirectory()) return undefined;
  const names: string[] = [];
  for (const name of await sortedNames(from)) {
    if (!(await statOrUndefined(path.join(from, name)))?.isFile()) continue;
    if (isCruft(name)) copier.cruft.add(`${MANIFESTS_SOURCE}/${name}`);
    else names.push(name);
  }
  await copier.files(from, names, to);
  return names;
}
