import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { hexDigest, KreproError, runRelease } from '../lib/index.js';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession, PROJECT_OPTIONS, PROJECT_OPTIONS_HELP } from './build-options.js';
import { type CommandIO, EXIT } from './io.js';
import { GZIP_LEVELS, integerOption } from './number-option.js';
import { SIGN_KEY_HELP, SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';

export const RELEASE_HELP = `Usage: krepro release [--quick] [options]

What 'make release' does, in containers: sync sources, the build command ('make cross'), 'make test' (skipped
with --quick or KUBE_RELEASE_RUN_TESTS=n), copy the outputs back and, for a Kubernetes-shaped project, stage
_output/release-stage, write deterministic server images into it (no Docker daemon involved) and pack the
tarballs and their SPDX SBOMs into _output/release-tars (see 'krepro package --help').

Writes the recipe of the build into _output/release-tars/krepro-provenance.json: an in-toto Statement v1 with a
SLSA provenance v1 predicate naming every artifact (tarballs and output files) with its digests, and everything a
rebuild needs (commit and tree, the whole environment lock and its image ID, command, environment, user,
SOURCE_DATE_EPOCH, krepro's version and encoder); 'krepro rebuild' follows it. Needs the locked environment.

Options:
  --quick              skip the tests
  --level N            gzip level 1-9 (default 6)
${SIGN_KEY_HELP}
${PROJECT_OPTIONS_HELP}
${BUILD_OPTIONS_HELP}`;

export async function releaseCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...BUILD_OPTIONS, ...PROJECT_OPTIONS, ...SIGN_KEY_OPTION, quick: { type: 'boolean' }, level: { type: 'string' } } });
  if (values.help) {
    io.stdout.write(RELEASE_HELP);
    return EXIT.ok;
  }
  const level = integerOption('level', values.level, GZIP_LEVELS);
  const signingKey = await signingKeyOption(values, io);
  const runTests = !values.quick && !/^[nN]/.test(io.env.KUBE_RELEASE_RUN_TESTS ?? 'y');
  const { session, project, sourceDateEpoch, version } = await openSession(values.quick ? 'release --quick' : 'release', values, io);
  try {
    if (signingKey && !session.lock) throw new KreproError('E_USAGE', '--sign-key signs the provenance of a release in the locked environment; this release uses --build-image-dir');
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
      ...(session.lock ? { provenance: signingKey ? { signingKey } : {} } : {}),
      signal: io.signal,
    });
    if (result.provenance) io.stderr.write(`wrote ${path.relative(io.cwd, result.provenance.statement)}${result.provenance.envelope ? `, ${path.relative(io.cwd, result.provenance.envelope)} and ${path.relative(io.cwd, result.provenance.bundle!)} (signed with key ${signingKey!.keyid})` : ''}\n`);
    else io.stderr.write('note: no provenance: a Dockerfile build image (--build-image-dir) cannot be made again from a recipe\n');
    for (const t of result.packaged?.artifacts ?? []) io.stdout.write(`${hexDigest(t.integrity, 'sha256')}  ${path.relative(io.cwd, t.path)}\n`);
    if (!result.packaged) io.stderr.write(`outputs copied back: ${result.outputs.join(', ')} (no release tarballs: the project is not Kubernetes-shaped)\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
