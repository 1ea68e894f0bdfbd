import { hostname } from 'node:os';
import * as path from 'node:path';
import { rebuildRelease, type RebuildResult } from '../lib/api/release.js';
import { KreproError, loadVerifyingKey } from '../lib/index.js';
import { backendFor, poolFor } from './build-options.js';
import { ENVIRONMENT_OPTIONS, environmentOptions } from './env.js';
import { checkFailureLines } from './check.js';
import { defineCommand, parseCommand, SIGNAL_EXITS, UsageError } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT, writePath } from './io.js';
import { stepLines } from './progress.js';
import { uiFor } from './ui.js';
import { seccompProfile } from './seccomp.js';

export const REBUILD = defineCommand({
  name: 'rebuild',
  summary: 'rebuild a published release from its recorded recipe and compare every artifact with the published digests',
  usage: ['rebuild [--key PUB] [options] RELEASE_DIR'],
  description: `Rebuilds a published release from the recipe its provenance records, and compares every artifact with the
published digests. Run it in a checkout of the project at the recorded commit (a fresh clone is enough):
  1. reads RELEASE_DIR's provenance: with --key, the signed krepro.intoto.jsonl, which must verify; without,
     the unsigned krepro-provenance.json (and says it was not checked);
  2. checks RELEASE_DIR against its own lists, as 'krepro check' does (a file that is not what SHA256SUMS,
     the manifest or the signed statement say is reported, and the rebuild goes on to explain it); a project
     that is not Kubernetes-shaped has no lists there, and without --key this step is skipped;
  3. checks the checkout's HEAD is the recorded commit (and tree);
  4. makes the build environment from the lock recorded in the provenance: it must get the recorded image ID
     (nothing is copied from the engine that built the release);
  5. builds a clean copy of the commit with the recorded command, variables and container, packs the release
     tarballs as recorded (level, encoder, image registry, binaries and bases: each base tarball must have the
     recorded digest, and is checked before the build);
  6. compares every artifact the provenance names with its recorded digest, explaining each difference with
     krepro diff against the published file where RELEASE_DIR has it.`,
  options: {
    key: { type: 'string', value: 'PUB', complete: 'file', help: 'PEM public key (ECDSA P-256 or Ed25519) the provenance must be signed with' },
    host: { type: 'string', value: 'URL', complete: 'none', help: 'Docker engine (default: DOCKER_HOST etc.)' },
    pool: { type: 'string', value: 'URL', multiple: true, complete: 'none', help: 'a Docker engine of a pool (repeat for each): the build runs on one that is free, and again on another if that one dies or stops answering; every engine makes the environment from the recorded lock and must get the recorded image ID' },
    ...ENVIRONMENT_OPTIONS,
    'seccomp-profile': { type: 'string', value: 'F', complete: 'file', help: 'for provenance krepro verify wrote: as for verify' },
    'image-base': {
      type: 'string',
      value: 'PATH',
      complete: 'file',
      help: "where the server images' base tarballs are when the release used ones outside its checkout ({os}, {arch} and {binary} are filled in); each must have the recorded digest",
    },
    keep: { type: 'string', value: 'DIR', help: 'keep the clean copy and the rebuilt files in DIR' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  positionals: [{ name: 'RELEASE_DIR', help: 'the published release directory', complete: 'dir' }],
  examples: [{ command: 'git clone https://example.test/project && cd project && krepro rebuild --key release.pub ../release-tars', does: 'follow the signed recipe from a fresh clone: exit 0 when every artifact comes out identical' }],
  exits: [
    [0, 'every artifact rebuilt identical and RELEASE_DIR matches its lists'],
    [1, "some differ (each named, with krepro diff's explanation) or RELEASE_DIR does not match its lists"],
    [2, 'the recipe cannot be followed (no or invalid provenance, another commit, a package the mirror no longer has, an environment that comes out different) or another usage/environment error'],
    [3, 'the rebuild itself failed'],
    ...SIGNAL_EXITS,
  ],
});

export async function rebuildCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(REBUILD, argv);
  if (values.help) return showHelp(REBUILD, io);
  const ui = uiFor(io, values);
  if (positionals.length !== 1) throw new UsageError('give the release directory to rebuild, e.g. krepro rebuild --key release.pub _output/release-tars');
  const releaseDir = path.resolve(io.cwd, positionals[0]!);
  const key = values.key === undefined ? undefined : await loadVerifyingKey(path.resolve(io.cwd, values.key));
  const seccomp = await seccompProfile(values['seccomp-profile'], io);
  const log = (line: string): void => ui.progress(line);
  if (values.pool && values.host) throw new UsageError('--pool and --host cannot be used together: give the engines with --pool');
  const backend = values.pool ? await poolFor(values.pool, io, ui, { seccomp, onLog: log }) : await backendFor(values.host, io, ui, seccomp);
  let result: RebuildResult;
  try {
    result = await rebuildRelease({
      releaseDir,
      checkoutRoot: io.cwd,
      backend,
      ...(key ? { key } : {}),
      environment: environmentOptions(values, io),
      hostname: hostname(),
      ...(values['image-base'] ? { imageBase: path.resolve(io.cwd, values['image-base']) } : {}),
      ...(values.keep ? { workDir: await writePath(io, values.keep) } : {}),
      onLog: log,
      onStep: stepLines(log),
      signal: io.signal,
    });
  } catch (err) {
    if ((err as KreproError).code === 'E_BUILD_FAILED') {
      io.stderr.write(`krepro rebuild: ${(err as Error).message}\n`);
      return EXIT.buildFailed;
    }
    throw err;
  }
  if (values.json) io.stdout.write(`${JSON.stringify({ ...result, recipe: undefined, source: result.source }, null, 2)}\n`);
  else {
    for (const line of result.published ? checkFailureLines(result.published) : []) io.stdout.write(`published ${line}\n`);
    for (const a of result.artifacts) {
      const detail = a.verdict === 'missing' ? ' (not rebuilt)' : ` recorded ${a.recorded.slice(0, 16)}${a.published ? `, published file ${a.published.slice(0, 16)}` : ''}, rebuilt ${a.rebuilt!.slice(0, 16)}`;
      io.stdout.write(`${a.verdict === 'identical' ? 'ok  ' : 'DIFF'} ${a.name}${a.verdict === 'identical' ? '' : detail}\n`);
      for (const c of a.explanation?.causes ?? []) io.stdout.write(`       ${c.title} (${c.count}): ${c.fix}\n`);
      for (const f of (a.explanation?.findings ?? []).slice(0, 3)) io.stdout.write(`         ${f.path ? `${f.path} ` : ''}${f.field}: ${JSON.stringify(f.left)} -> ${JSON.stringify(f.right)}\n`);
    }
    const differing = result.artifacts.filter((a) => a.verdict !== 'identical').length;
    const unchecked = result.published?.ok !== false ? '' : '; the release directory does not match its own lists (published … above)';
    io.stdout.write(`${result.status === 'reproduced' ? 'REPRODUCED' : 'DIFFERS'}: ${result.artifacts.length - differing} of ${result.artifacts.length} artifacts identical to the published digests (commit ${result.recipe.source.commit}, environment ${result.imageId})${unchecked}\n`);
  }
  return result.status === 'reproduced' ? EXIT.ok : EXIT.different;
}
