import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { hexDigest, runRelease } from '../lib/index.js';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession, PROJECT_OPTIONS, PROJECT_OPTIONS_HELP } from './build-options.js';
import { type CommandIO, EXIT } from './io.js';
import { GZIP_LEVELS, integerOption } from './number-option.js';

export const RELEASE_HELP = `Usage: krepro release [--quick] [options]

What 'make release' does, in containers: sync sources, the build command ('make cross'), 'make test' (skipped
with --quick or KUBE_RELEASE_RUN_TESTS=n), copy the outputs back and, for a Kubernetes-shaped project, stage
_output/release-stage, write deterministic server images into it (no Docker daemon involved) and pack the
tarballs into _output/release-tars (see 'krepro package --help').

Options:
  --quick              skip the tests
  --level N            gzip level 1-9 (default 6)
${PROJECT_OPTIONS_HELP}
${BUILD_OPTIONS_HELP}`;

export async function releaseCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...BUILD_OPTIONS, ...PROJECT_OPTIONS, quick: { type: 'boolean' }, level: { type: 'string' } } });
  if (values.help) {
    io.stdout.write(RELEASE_HELP);
    return EXIT.ok;
  }
  const level = integerOption('level', values.level, GZIP_LEVELS);
  const runTests = !values.quick && !/^[nN]/.test(io.env.KUBE_RELEASE_RUN_TESTS ?? 'y');
  const { session, project, sourceDateEpoch, version } = await openSession(values.quick ? 'release --quick' : 'release', values, io);
  try {
    const result = await runRelease(session, {
      checkoutRoot: io.cwd,
      project,
      sourceDateEpoch,
      version,
      runTests,
      ...(io.env.KUBE_DOCKER_REGISTRY ? { imageRegistry: io.env.KUBE_DOCKER_REGISTRY } : {}),
      ...(level !== undefined ? { level } : {}),
      io: { stdout: io.stderr as never, stderr: io.stderr as never },
      onStep: (step) => io.stderr.write(`==> ${step}\n`),
      signal: io.signal,
    });
    for (const t of result.packaged?.tarballs ?? []) io.stdout.write(`${hexDigest(t.integrity, 'sha256')}  ${path.relative(io.cwd, t.path)}\n`);
    if (!result.packaged) io.stderr.write(`outputs copied back: ${result.outputs.join(', ')} (no release tarballs: the project is not Kubernetes-shaped)\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
