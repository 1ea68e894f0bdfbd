import * as path from 'node:path';
import { hexDigest, runRelease } from '../lib/index.js';
import { type CommandIO, EXIT } from './io.js';
import { GZIP_LEVELS, integerOption } from './number-option.js';
import { parseArgs } from 'node:util';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession } from './build-options.js';

export const RELEASE_HELP = `Usage: krepro release [--quick] [options]

What 'make release' does, in containers: sync sources, 'make cross', 'make test' (skipped with --quick or
KUBE_RELEASE_RUN_TESTS=n), copy the binaries back, stage _output/release-stage, write deterministic server
images into it (no Docker daemon involved) and pack the tarballs into _output/release-tars (see
'krepro package --help').

Options:
  --quick              skip the tests
  --level N            gzip level 1-9 (default 6)
  --no-images          do not write server images into the server tarballs
  --image-binaries a,b server binaries that get an image (default kube-apiserver, kube-controller-manager,
                       kube-scheduler, kube-proxy); images are tagged $KUBE_DOCKER_REGISTRY/<bin>-<arch>:<tag>
${BUILD_OPTIONS_HELP}`;

export async function releaseCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...BUILD_OPTIONS, quick: { type: 'boolean' }, level: { type: 'string' }, 'no-images': { type: 'boolean' }, 'image-binaries': { type: 'string' } } });
  if (values.help) {
    io.stdout.write(RELEASE_HELP);
    return EXIT.ok;
  }
  const level = integerOption('level', values.level, GZIP_LEVELS);
  const runTests = !values.quick && !/^[nN]/.test(io.env.KUBE_RELEASE_RUN_TESTS ?? 'y');
  const { session, sourceDateEpoch, version } = await openSession(values.quick ? 'release --quick' : 'release', values, io);
  try {
    const result = await runRelease(session, {
      checkoutRoot: io.cwd,
      sourceDateEpoch,
      version,
      runTests,
      images: !values['no-images'],
      ...(values['image-binaries'] ? { imageBinaries: values['image-binaries'].split(',') } : {}),
      ...(io.env.KUBE_DOCKER_REGISTRY ? { imageRegistry: io.env.KUBE_DOCKER_REGISTRY } : {}),
      ...(level !== undefined ? { level } : {}),
      io: { stdout: io.stderr as never, stderr: io.stderr as never },
      onStep: (step) => io.stderr.write(`==> ${step}\n`),
      signal: io.signal,
    });
    for (const t of result.tarballs) io.stdout.write(`${hexDigest(t.integrity, 'sha256')}  ${path.relative(io.cwd, t.path)}\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
