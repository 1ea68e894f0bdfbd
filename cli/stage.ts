import * as path from 'node:path';
import { buildStage, type StageResult } from '../lib/api/package.js';
import { gitVersion } from '../lib/api/package.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT, writePath } from './io.js';
import { uiFor } from './ui.js';

export const STAGE = defineCommand({
  name: 'stage',
  summary: 'build _output/release-stage from _output/dockerized/bin/<os>/<arch> and the source tree',
  usage: ['stage [options]'],
  description: `Builds the release stage (_output/release-stage) from the binaries in _output/dockerized/bin/<os>/<arch>/ and
the source tree, laid out as Kubernetes' build/lib/release.sh stages it, ready for krepro package:
  client/<os>-<arch>/kubernetes/client/bin/  kubectl, kubectl-convert (<name>.exe on windows)
  server/<os>-<arch>/kubernetes/             server/bin/ (server and client binaries), empty addons/, LICENSES;
                                             for each platform with a server binary (never windows)
  node/<os>-<arch>/kubernetes/               node/bin/ (kube-proxy, kubeadm, kubelet, kube-log-runner and the
                                             client binaries), LICENSES; for each platform with a node binary
  test/<os>-<arch>/kubernetes/test/bin/      ginkgo, e2e.test, e2e_node.test, go-runner, kubemark
  full/kubernetes/                           version, client/README, server/README, and from the source tree
                                             README.md, LICENSES, cluster/, hack/lib/, docs/ (those present)
  manifests/kubernetes/gci-trusty/           the files in cluster/gce/manifests/
kubernetes-src.tar.gz and kubernetes-manifests.tar.gz are not staged: krepro package nests them. Server
binaries are kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubelet, kubeadm,
kube-aggregator, apiextensions-apiserver, mounter and kube-log-runner. Files in no list are reported, not
staged; editor leftovers (*~, #*#, .DS*) are not copied. The stage is replaced only once everything is copied.`,
  options: {
    bin: { type: 'string', value: 'DIR', help: 'built binaries as <os>/<arch>/<name> (default: _output/dockerized/bin)' },
    source: { type: 'string', value: 'DIR', help: 'Kubernetes checkout (default: the current directory)' },
    stage: { type: 'string', value: 'DIR', help: 'stage directory to replace (default: _output/release-stage)' },
    version: {
      type: 'string',
      value: 'V',
      complete: 'none',
      help: 'KUBE_GIT_VERSION written to full/kubernetes/version. Default: from git in --source as hack/lib/version.sh computes it: git describe --tags --abbrev=14 in semver form (or v0.0.0-master+<commit> with no tag), plus -dirty when git status --porcelain lists anything',
    },
    json: { type: 'boolean', help: 'print the result (platforms, staged and ignored files) as JSON on stdout' },
  },
  exits: [
    [0, 'staged'],
    [2, 'usage or environment error (the message names the directory or value)'],
    ...SIGNAL_EXITS,
  ],
});

export async function stageCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(STAGE, argv);
  if (values.help) return showHelp(STAGE, io);
  const ui = uiFor(io, values);
  if (values.version !== undefined && values.version.trim() === '') {
    io.stderr.write('krepro stage: --version must not be empty\n');
    return EXIT.usage;
  }
  const sourceRoot = path.resolve(io.cwd, values.source ?? '.');
  const version = values.version ?? (await gitVersion(sourceRoot));
  const result = await buildStage({
    binDir: path.resolve(io.cwd, values.bin ?? '_output/dockerized/bin'),
    sourceRoot,
    stage: await writePath(io, values.stage ?? '_output/release-stage'),
    version,
    signal: io.signal,
  });
  if (values.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  ui.note(summary(result, io.cwd, values.version === undefined ? 'from git' : 'given'));
  return EXIT.ok;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(r: StageResult, cwd: string, versionOrigin: string): string {
  const width = Math.max(...r.platforms.map((p) => p.platform.length));
  const lines = [`staged ${r.version} (${versionOrigin}) into ${displayPath(cwd, r.stage)}: ${plural(r.platforms.length, 'platform')}`];
  for (const p of r.platforms) {
    const counts = (['client', 'server', 'node', 'test'] as const).filter((k) => p[k].length > 0).map((k) => `${k} ${p[k].length}`);
    lines.push(`  ${p.platform.padEnd(width)}  ${counts.length > 0 ? counts.join(', ') : 'nothing (no known binaries)'}`);
  }
  lines.push(`  from the source tree: ${r.source.copied.join(', ') || 'nothing'}${r.source.missing.length > 0 ? ` (not present: ${r.source.missing.join(', ')})` : ''}`);
  if (r.manifests.length > 0) lines.push(`  manifests: ${plural(r.manifests.length, 'file')}`);
  if (r.ignored.length > 0) lines.push(`ignored ${plural(r.ignored.length, 'path')} of the bin directory in no target list: ${r.ignored.join(', ')}`);
  if (r.cruft.length > 0) lines.push(`left out ${plural(r.cruft.length, 'editor leftover')}: ${r.cruft.join(', ')}`);
  return lines.join('\n');
}

/** Relative when under the working directory (short, copy-pasteable), absolute otherwise. */
function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}
