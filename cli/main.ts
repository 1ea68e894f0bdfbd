#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { KREPRO_VERSION, isKreproError, printable, quote } from '../lib/index.js';
import { type Command, type CommandIO, EXIT } from './io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  package: { summary: 'pack _output/release-stage into deterministic release tarballs and checksums', load: async () => (await import('./package.js')).packageCommand },
  run: { summary: 'run a command (e.g. make cross) in a build container over the synced sources; copy output back', load: async () => (await import('./run.js')).runCommand },
  shell: { summary: 'interactive shell in a build container with a snapshot of the sources', load: async () => (await import('./shell.js')).shellCommand },
  'copy-output': { summary: 'copy _output/dockerized/bin back from the data volume (changed files only)', load: async () => (await import('./copy-output.js')).copyOutputCommand },
  release: { summary: 'make cross, tests, copy output, stage and package, in containers (--quick skips tests)', load: async () => (await import('./release.js')).releaseCommand },
  diff: { summary: 'explain every difference between two release tarballs or directories: cause and fix, layer by layer', load: async () => (await import('./diff.js')).diffCommand },
  rebuild: { summary: 'rebuild a published release from its recorded recipe and compare every artifact with the published digests', load: async () => (await import('./rebuild.js')).rebuildCommand },
  verify: { summary: 'build twice under varied conditions, compare every artifact, name the cause of differences', load: async () => (await import('./verify.js')).verifyCommand },
  clean: { summary: "remove _output/ and this checkout's build images, containers and volumes", load: async () => (await import('./clean.js')).cleanCommand },
  stage: { summary: 'build _output/release-stage from _output/dockerized/bin/<os>/<arch> and the source tree', load: async () => (await import('./stage.js')).stageCommand },
  images: { summary: 'write docker-loadable server images (<binary>.tar, .docker_tag) into the stage, without a daemon', load: async () => (await import('./images.js')).imagesCommand },
  env: { summary: 'lock the build environment (exact Debian packages) and make it on an engine: same image ID everywhere', load: async () => (await import('./env.js')).envCommand },
  check: { summary: "check a release directory's files against its SHA256SUMS/SHA512SUMS, manifest and signed statement", load: async () => (await import('./check.js')).checkCommand },
  attest: { summary: 'check the signatures of a .intoto.jsonl attestation file or a sigstore bundle against a public key (offline)', load: async () => (await import('./attest.js')).attestCommand },
  'base-image': { summary: 'make a Debian base image locally with debootstrap (no registry needed)', load: async () => (await import('./base-image.js')).baseImageCommand },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `krepro ${KREPRO_VERSION}: reproducible Kubernetes-style releases

Usage: krepro <command> [options]     krepro <command> --help for a command's options

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Exit status: 0 success, 1 differences found, 2 usage or environment error, 3 a build of verify or rebuild failed
(run and release pass on the build command's own status), 130 interrupted.
`;
}

/** The one place that turns outcomes into exit codes and errors into messages. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`${KREPRO_VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`krepro: unknown command ${quote(name)}\n\n${help()}`);
    return EXIT.usage;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write(`\nkrepro ${name}: interrupted; nothing was left half-written\n`);
      return EXIT.interrupted;
    }
    if (isKreproError(err)) {
      // Messages may carry what a build or a file held: never a terminal's control sequence.
      io.stderr.write(`krepro ${name}: ${printable(err.message)}\n`);
      // A failed build passes the build's own exit code through; everything else is an environment error.
      return err.code === 'E_BUILD_FAILED' ? (err.exitCode ?? 1) : EXIT.usage;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`krepro ${name}: ${printable((err as Error).message)}\nRun 'krepro ${name} --help' for usage.\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

const invokedPath = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (import.meta.url === pathToFileURL(invokedPath).href) {
  const controller = new AbortController();
  let interrupts = 0;
  let settled = false;
  const onSignal = () => {
    // First Ctrl-C cancels cleanly (temp files removed); a second one exits at once.
    if (++interrupts > 1) {
      settled = true;
      process.exit(EXIT.interrupted);
    }
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A command whose work was dropped unfinished (a promise nothing will ever settle) must not exit 0 in silence.
  process.on('exit', () => {
    if (settled) return;
    process.stderr.write('krepro: internal error: the command stopped before it finished (an operation never completed)\nPlease report this with the command you ran.\n');
    process.exitCode = 70;
  });
  main(process.argv.slice(2), { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, signal: controller.signal }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`krepro: internal error: ${(err as Error).stack ?? String(err)}\nPlease report this with the command you ran.\n`);
      process.exitCode = 70;
    },
  );
}
