import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DEFAULT_IMAGE_BINARIES, DEFAULT_IMAGE_REGISTRY, imageBaseFrom, type ServerImage, writeServerImages } from '../lib/api/image.js';
import { integrityOf } from '../lib/index.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT, originWords, sourceDateEpochFor, writePath } from './io.js';
import { uiFor } from './ui.js';

export const IMAGES = defineCommand({
  name: 'images',
  summary: 'write docker-loadable server images (<binary>.tar, .docker_tag) into the stage, without a daemon',
  usage: ['images [options]'],
  description: `Writes a docker-loadable image of each server binary into the release stage, without a Docker daemon, as
Kubernetes' build/lib/release.sh does with docker build and docker save: for every staged server platform
<os>-<arch>, server/<os>-<arch>/kubernetes/server/bin/<binary>.tar (the image <registry>/<binary>-<arch>:<tag>)
and <binary>.docker_tag (the tag: the version with '+' replaced by '_'). krepro package then packs them into
kubernetes-server-<os>-<arch>.tar.gz and, for an image of several platforms, joins them in <binary>.oci.tar.
The image is the base's layers plus one layer holding the binary at /usr/local/bin/<binary>, its entrypoint; every tar member, timestamp and JSON document is normalized, so the
same binaries, base and SOURCE_DATE_EPOCH give the same bytes and image ID. The tarball has the docker-archive
layout (manifest.json, repositories) with an OCI layout (oci-layout, index.json) over the same blobs, as
docker save writes on Docker 25 and later; docker load reads it from Docker 1.10 on.`,
  options: {
    stage: { type: 'string', value: 'DIR', help: 'release stage (default: _output/release-stage)' },
    bin: { type: 'string', value: 'DIR', help: 'take the binaries from DIR/<os>/<arch>/ (e.g. _output/dockerized/bin) instead of the staged server/bin' },
    platforms: { type: 'string', value: 'LIST', complete: 'none', help: 'comma-separated <os>/<arch> (default: every platform staged under server/)' },
    binaries: { type: 'string', value: 'LIST', complete: 'none', help: `comma-separated binaries (default: ${DEFAULT_IMAGE_BINARIES.join(',')})` },
    registry: { type: 'string', value: 'R', complete: 'none', help: `image name prefix (default: $KUBE_DOCKER_REGISTRY, else ${DEFAULT_IMAGE_REGISTRY})` },
    base: {
      type: 'string',
      value: 'B',
      complete: 'file',
      help: 'scratch (default: nothing but the binary, for static binaries) or a docker-archive tarball of one image (docker save output); {os}, {arch} and {binary} in the path are replaced per image, since a base holds one architecture',
    },
    version: { type: 'string', value: 'V', complete: 'none', help: 'KUBE_GIT_VERSION for the tag (default: full/kubernetes/version in the stage)' },
    mtime: { type: 'string', value: 'T', complete: 'none', help: 'image and member times: seconds since 1970 or an ISO 8601 date with zone. Default: $SOURCE_DATE_EPOCH, else the commit time of HEAD in --source' },
    source: { type: 'string', value: 'DIR', help: 'git checkout for the default --mtime (default: the current directory)' },
    json: { type: 'boolean', help: 'print the images (paths, tags, image IDs, digests) as JSON on stdout' },
  },
  exits: [
    [0, 'written'],
    [2, 'usage or environment error (the message names the file or value)'],
    ...SIGNAL_EXITS,
  ],
});

export async function imagesCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(IMAGES, argv);
  if (values.help) return showHelp(IMAGES, io);
  const ui = uiFor(io, values);
  const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const binaries = list(values.binaries);
  if (binaries !== undefined && binaries.length === 0) {
    io.stderr.write('krepro images: --binaries must name at least one binary\n');
    return EXIT.usage;
  }
  const stage = await writePath(io, values.stage ?? '_output/release-stage');
  const version = values.version ?? (await stagedVersion(stage));
  if (version === undefined || version.trim() === '') {
    io.stderr.write(`krepro images: no version: ${path.join(stage, 'full/kubernetes/version')} is missing or empty; pass --version\n`);
    return EXIT.usage;
  }
  const sde = await sourceDateEpochFor(io, { mtime: values.mtime, repoDir: path.resolve(io.cwd, values.source ?? '.') });
  const registry = values.registry ?? (io.env.KUBE_DOCKER_REGISTRY || undefined);
  const platforms = list(values.platforms);
  const images = await writeServerImages({
    stage,
    ...(values.bin !== undefined ? { binDir: path.resolve(io.cwd, values.bin) } : {}),
    ...(platforms !== undefined ? { platforms } : {}),
    ...(binaries !== undefined ? { binaries } : {}),
    ...(registry !== undefined ? { registry } : {}),
    version,
    sourceDateEpoch: sde.seconds,
    base: imageBaseFrom(values.base, io.cwd),
    signal: io.signal,
    onImage: values.json ? undefined : (image) => ui.progress(`wrote ${image.repoTag} (${displayPath(io.cwd, image.path)}, ${image.size} bytes)`),
  });
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ sourceDateEpoch: { ...sde }, images: images.map(jsonImage) }, null, 2)}\n`);
  } else {
    for (const image of images) io.stdout.write(`${image.imageId}  ${image.repoTag}\n`);
    ui.note(`wrote ${images.length} image${images.length === 1 ? '' : 's'} into ${displayPath(io.cwd, stage)} (SOURCE_DATE_EPOCH=${sde.seconds} from ${originWords(sde)})`);
  }
  return EXIT.ok;
}

async function stagedVersion(stage: string): Promise<string | undefined> {
  return (await readFile(path.join(stage, 'full', 'kubernetes', 'version'), 'utf8').catch(() => undefined))?.trim();
}

function jsonImage(image: ServerImage): Record<string, unknown> {
  return {
    platform: image.platform,
    binary: image.binary,
    repoTag: image.repoTag,
    dockerTag: image.dockerTag,
    imageId: image.imageId,
    manifestDigest: image.manifestDigest,
    path: image.path,
    tagFile: image.tagFile,
    size: image.size,
    digest: image.digest,
    integrity: integrityOf(image.digests),
  };
}

/** Relative when under the working directory (short, copy-pasteable), absolute otherwise. */
function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}
