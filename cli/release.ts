import * as path from 'node:path';
import { runRelease } from '../lib/api/release.js';
import { KreproError } from '../lib/index.js';
import { BUILD_NOTES, BUILD_OPTIONS, openSession, PACKAGING_NOTES, PACKAGING_OPTIONS, PROJECT_OPTIONS } from './build-options.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT } from './io.js';
import { stepLines } from './progress.js';
import { SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';
import { uiFor } from './ui.js';

export const RELEASE = defineCommand({
  name: 'release',
  summary: 'make cross, tests, copy output, stage and package, in containers (--quick skips tests)',
  usage: ['release [--quick] [options]'],
  description: `What 'make release' does, in containers: sync sources, the build command ('make cross'), 'make test' (skipped
with --quick or KUBE_RELEASE_RUN_TESTS=n), copy the outputs back and, for a Kubernetes-shaped project, stage
_output/release-stage, write deterministic server images into it (no Docker daemon involved) and pack the
tarballs and their SPDX SBOMs into _output/release-tars (see 'krepro package --help').

Writes the recipe of the build into _output/release-tars/krepro-provenance.json: an in-toto Statement v1 with a
SLSA provenance v1 predicate naming every artifact (tarballs and output files) with its digests, and everything a
rebuild needs (commit and tree, the whole environment lock and its image ID, command, environment, user,
SOURCE_DATE_EPOCH, krepro's version and encoder); 'krepro rebuild' follows it. Needs the locked environment.`,
  options: {
    quick: { type: 'boolean', help: 'skip the tests' },
    ...SIGN_KEY_OPTION,
    ...PACKAGING_OPTIONS,
    ...PROJECT_OPTIONS,
    ...BUILD_OPTIONS,
  },
  notes: [PACKAGING_NOTES, BUILD_NOTES],
  examples: [
    { command: 'krepro release --quick --sign-key release.pem', does: 'build, stage and pack without the tests; sign the recipe' },
    { command: 'krepro rebuild --key release.pub _output/release-tars', does: 'then, anywhere: rebuild from the recipe and compare every artifact' },
  ],
  exits: [
    [0, 'released'],
    [2, 'usage or environment error'],
    ...SIGNAL_EXITS,
  ],
});

export async function releaseCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(RELEASE, argv);
  if (values.help) return showHelp(RELEASE, io);
  const ui = uiFor(io, values);
  const signingKey = await signingKeyOption(values, io);
  const runTests = !values.quick && !/^[nN]/.test(io.env.KUBE_RELEASE_RUN_TESTS ?? 'y');
  const { session, inputs } = await openSession(values.quick ? 'release --quick' : 'release', values, io, ui);
  try {
    if (signingKey && !session.environment.lock) throw new KreproError('E_USAGE', '--sign-key signs the provenance of a release in the locked environment; this release uses --build-image-dir');
    const result = await runRelease(session, {
      checkoutRoot: io.cwd,
      inputs,
      runTests,
      io: { stdout: io.stderr as never, stderr: io.stderr as never },
      onStep: stepLines((line) => ui.progress(line)),
      ...(session.environment.lock ? { provenance: signingKey ? { signingKey } : {} } : {}),
      signal: io.signal,
    });
    if (result.provenance) ui.note(`wrote ${path.relative(io.cwd, result.provenance.statement)}${result.provenance.envelope ? `, ${path.relative(io.cwd, result.provenance.envelope)} and ${path.relative(io.cwd, result.provenance.bundle!)} (signed with key ${signingKey!.keyid})` : ''}`);
    else ui.note('note: no provenance: a Dockerfile build image (--build-image-dir) cannot be made again from a recipe');
    for (const t of result.packaged?.artifacts ?? []) io.stdout.write(`${t.digests.sha256}  ${path.relative(io.cwd, t.path)}\n`);
    if (!result.packaged) ui.note(`outputs copied back: ${result.outputs.join(', ')} (no release tarballs: the project is not Kubernetes-shaped)`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
