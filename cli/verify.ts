import { lstat, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { loadCommittedProject } from '../lib/api/release.js';
import {
  buildBundleBackend,
  EXPERIMENT_VALUES,
  planDocument,
  PLAN_KINDS,
  readBuildBundles,
  runPlannedBuilds,
  variationNamed,
  VARIATIONS,
  verifyHtml,
  verifyJunit,
  verifyMarkdown,
  type VerifyProgress,
  verifyRelease,
  verifyReport,
  type VerifyResult,
  verifyText,
  writeBuildBundle,
} from '../lib/api/verify.js';
import { KreproError } from '../lib/index.js';
import type { Backend } from '../lib/api/backend.js';
import { checkoutOf, commandLinePath, outputDirOf } from '../lib/checkout/beneath.js';
import { redact } from '../lib/environment/build-image.js';
import { quote } from '../lib/quote.js';
import { headCommit } from '../lib/source/git.js';
import { planKindNamed } from '../lib/verify/plan.js';
import { integerOption } from './number-option.js';
import { backendFor, BUILD_SECTION, POOL_OPTION, poolFor, swarmBackendFor, environmentFor, inputsFor, PACKAGING_NOTES, PACKAGING_OPTIONS, packingOptions, PROJECT_OPTIONS } from './build-options.js';
import { defineCommand, inSection, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { ENVIRONMENT_OPTIONS } from './env.js';
import { DEBIAN_SECCOMP_PROFILE, seccompProfile } from './seccomp.js';
import { SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';
import { type CommandIO, EXIT, proxiesFrom } from './io.js';
import { JUNIT_OPTION, REPORT_OPTIONS, reportTargets, writeReports } from './reports.js';
import { uiFor } from './ui.js';

/** Where verify's builds run: one or two Docker engines, or a Docker Swarm's nodes. */
const BACKEND_KINDS = ['docker', 'swarm'] as const;

function backendKindNamed(value: string | undefined): (typeof BACKEND_KINDS)[number] {
  if (value === undefined) return 'docker';
  const kind = BACKEND_KINDS.find((k) => k === value);
  if (!kind) throw new KreproError('E_USAGE', `--backend must be docker or swarm, not ${quote(value)}`);
  return kind;
}

export const VERIFY = defineCommand({
  name: 'verify',
  summary: 'build twice under varied conditions, compare every artifact, name the cause of differences',
  usage: ['verify [options]', 'verify --plan-only [options]', 'verify --build ID[,ID] --bundle DIR [options]', 'verify --collect [options] DIR...'],
  description: `Proves the release of HEAD is reproducible, or shows every reason why not. Builds the commit (with the krepro.json
it holds; an uncommitted change to that file is noted and not used) from a clean copy of the sources, each build
in fresh containers and an in-memory volume named for this run: a control build under fixed, recorded conditions
(sources at /go/src/<go.mod's module path, without /vN>, else /src/<repository name, from origin's URL>) and an
experiment build with the chosen variations applied, with the project's own build environment (exactly what
'krepro release' uses).
Every variation proves in the container that it took effect (an effect probe differs between the builds) or is
reported as NOT TESTED. Every artifact (the files under the project's outputs, and the release tarballs of a
Kubernetes-shaped project) is compared by SHA-256/SHA-512; when nothing differs, that is all.

When artifacts differ, 'krepro diff' lists every finding between control and experiment (each differing line
run, byte run, ELF section, JSON key, archive member field; up to 2000 per member, past that one finding spans
the rest) and each finding gets exactly one cause. Noise builds (control conditions again, --noise-builds)
make the noise mask: a finding they show is nondeterminism, or "masked by noise" where noise rewrites the place
whole (an opaque blob) so no build can tell a variation's part: fix the noise first. A Go or ELF build ID beside
other findings of its binary, and a checksum, manifest or SBOM entry of another differing artifact, are
consequences, shown under what they follow from. A build that fails under a variation is a finding too ("the
build fails when X", exit 1, with its log tail).

Plans: how the builds are scheduled (--plan, --jobs).
  adaptive  few builds, one after another: each variation's experiment value is unique and recognizable
            (paths, host and domain names, uid ${EXPERIMENT_VALUES.uid}, gid ${EXPERIMENT_VALUES.gid}, +13:45, Turkish month names, group-write
            modes, a year-ahead date, i686/2.6), so a finding that carries one names its likely variation;
            each guess is confirmed by one build of that variation alone, then one build with every other
            variation must show nothing outside the mask; whatever it still shows is bisected (variations that
            leave no value: file-order, aslr, cpus, collation). Builds: k + 4 for k recognizable causes
            (control, experiment, noise check, one per cause, the clearing build); at most ceil(log2 n) + 2
            more per cause the bisection finds among n variations. With --jobs 2 or more, control and
            experiment run together.
  matrix    control, noise check, experiment and every variation alone, all at once (n + 3 builds): each
            finding is explained by the first single-variation build that shows it, or by the noise; only
            what none shows (an interaction) gets a second round, the search above. Wall time: about one build.
  The matrix plan is chosen when --jobs N >= n + 3, else the adaptive one, unless --plan says. A difference
  only variations together cause is an interaction.

A pool of engines: --pool URL, once per engine (or the project file's "pool"), spreads the builds over them,
up to --jobs in all and each engine's share by CPUs; the control and noise builds run on the first. Each engine
makes the environment from the lock (the image IDs must agree). The report lists each engine, its builds, and
which findings a build on another engine shows; an engine that dies or stops answering is named and its builds
run again on the others (all gone: exit 2).

A CI matrix as the builder (the matrix plan): --plan-only prints the plan as one line of JSON
(its "digest", "matrix": the values for --build, and "builds": each with its "id", variations and
conditions); --build ID[,ID] --bundle DIR runs those builds anywhere and writes a build bundle; --collect DIR...
checks every bundle as untrusted input, attributes, and writes the usual reports and provenance.

Variations (default: all):
${VARIATIONS.map((v) => `  ${v.name.padEnd(11)} ${v.description}`).join('\n')}`,
  options: {
    vary: { type: 'string', value: 'a,b', complete: VARIATIONS.map((v) => v.name), help: 'apply only these variations' },
    'no-vary': { type: 'string', value: 'a,b', complete: VARIATIONS.map((v) => v.name), help: 'apply all but these' },
    'check-noise': { type: 'boolean', help: 'run the noise check even when the builds are identical' },
    'noise-builds': {
      type: 'string',
      value: 'N',
      complete: 'none',
      help: "noise builds for the noise mask when artifacts differ (default 1; more where one pair cannot show the noise's extent, e.g. a map printed in random order); attribution adds one more by itself when a finding shows without any variation",
    },
    'no-attribution': { type: 'boolean', help: 'do not run extra builds to find the causes (findings are still listed, noise and consequences named)' },
    plan: { type: 'string', value: 'P', complete: PLAN_KINDS, help: 'adaptive or matrix (default: matrix when --jobs >= n + 3, else adaptive)' },
    jobs: {
      type: 'string',
      value: 'N',
      complete: 'none',
      help: "builds at once on each engine (default 1; with --pool: in all, default the pool's CPUs; with --backend swarm: on the whole swarm). In-memory builds are capped by the engine's memory too: only the builds whose file order is compared (control, noise, experiment, file-order alone) keep their sources in memory; the matrix plan's other single-variation builds run on disk",
    },
    'plan-only': { type: 'boolean', help: 'print the matrix plan as one line of JSON (its digest, the --build values of a CI matrix, each build with its conditions) and build nothing' },
    build: { type: 'string', value: 'ID[,ID]', complete: 'none', help: 'run these builds of the matrix plan here, together, and write a build bundle (--bundle)' },
    bundle: {
      type: 'string',
      value: 'DIR',
      complete: 'dir',
      help: "where --build writes its bundle (new or empty): krepro-build-bundle.json (plan digest, commit, environment, per build its conditions, exit code, probes, host facts, artifacts with their integrity), <id>/build.log, <id>/artifacts/. Exit 0 once written, whatever the builds' exit status: --collect judges. Several --build runs of one checkout may run at once",
    },
    collect: {
      type: 'boolean',
      help: 'attribute the bundles DIR... (checked as untrusted input: same commit, environment and plan, files below each and no links, every artifact hashed again) and write the usual reports and provenance; an interaction needs a second round, which bundles cannot run: it is reported as unexplained. Builds on another host than the control build are named with what differs',
    },
    'seccomp-profile': {
      type: 'string',
      value: 'F',
      complete: 'file',
      help: `the engine's default seccomp profile (JSON); verify adds personality(ADDR_NO_RANDOMIZE) so the control build can turn address-space randomization off (setarch -R). Default: ${DEBIAN_SECCOMP_PROFILE} (Debian package golang-github-docker-docker-dev). 'none': the engine's own default profile. Without one, builds run with randomization on and aslr is not tested (the recipe is the same either way: control conditions never depend on the engine).`,
    },
    engine: {
      type: 'string',
      value: 'URL',
      multiple: true,
      complete: 'none',
      help: 'engine for the control build; given twice, the second runs the experiment build (independent rebuild). Default: DOCKER_HOST etc. Builds run without network: a verified build must be hermetic.',
    },
    ...POOL_OPTION,
    'no-pool': { type: 'boolean', section: BUILD_SECTION, help: 'ignore the project file\'s "pool": build on --engine (default DOCKER_HOST etc.)' },
    backend: {
      type: 'string',
      value: 'B',
      complete: BACKEND_KINDS,
      help: "docker (default): builds on the engine(s) above. swarm: every build is a service on the Docker Swarm whose manager --engine (or DOCKER_HOST) names, placed by the swarm on any node. The environment is made on the manager and pulled by the nodes from a registry the run starts on the manager (its address must be an insecure-registries entry of every node, or behind TLS); sources go in as swarm configs, outputs come back through the service logs. With --jobs N, N builds at once, which the swarm spreads over its nodes (each build's node is in the report). aslr cannot be switched off on a swarm (no seccomp profile for services): reported as not tested. Nothing of the run stays on the swarm (docs/decisions/0020-swarm-backend.md)",
    },
    ...SIGN_KEY_OPTION,
    json: { type: 'boolean', help: 'print the report as JSON (schema https://krepro.dev/schemas/verify-report/v3) instead of text' },
    ...REPORT_OPTIONS,
    ...JUNIT_OPTION,
    'no-step-summary': { type: 'boolean', help: 'do not append the Markdown summary to $GITHUB_STEP_SUMMARY (appended by default when GitHub Actions sets it)' },
    ...PACKAGING_OPTIONS,
    ...PROJECT_OPTIONS,
    ...inSection(ENVIRONMENT_OPTIONS, BUILD_SECTION),
    lock: {
      type: 'string',
      value: 'FILE',
      complete: 'file',
      section: BUILD_SECTION,
      help: "the locked build environment (default: krepro's build-image/environment.lock.json); with two engines it is made on each from the lock (the same image ID, nothing copied)",
    },
    'build-image-dir': { type: 'string', value: 'D', complete: 'dir', section: BUILD_SECTION, help: 'build in an image from a Dockerfile + VERSION instead (copied to a second engine by ID)' },
    'base-image': { type: 'string', value: 'IMG', complete: 'none', section: BUILD_SECTION, help: 'with --build-image-dir: its FROM image (default krepro-base:trixie)' },
  },
  notes: [
    PACKAGING_NOTES,
    `The build environment sets nothing that changes how the project's build behaves (no GOFLAGS, no CGO_ENABLED);
a project opts in to GOFLAGS=-trimpath and CGO_ENABLED=0 with "normalize": true in krepro.json, and the report
then names the causes they may hide. Every setting of the environment is listed in the report.`,
    `Reports for CI: --json-file, --html, --markdown and --junit may be given together, and '-' sends one of them to
stdout instead of the text report; every path is checked before the first build, and each file is written whole
or not at all. In GitHub Actions (GITHUB_STEP_SUMMARY set) the Markdown summary is also appended to the job
summary; --no-step-summary turns that off.`,
    `Outputs in _output/verify/ (--build: _output/verify-builds/<run>/, moved into the bundle): each build's artifacts and log, and next to the control build's outputs
krepro-provenance.json, the recipe of the control build (an in-toto Statement v1 with a SLSA provenance v1
predicate; 'krepro rebuild' follows it), signed into krepro.intoto.jsonl with --sign-key.`,
  ],
  examples: [
    { command: 'krepro verify', does: 'the CI gate: exit 0 when HEAD builds the same bytes under every variation' },
    { command: 'krepro verify --vary tz,locale --no-attribution --json', does: 'two variations only, no search for causes, the report as JSON' },
    { command: 'krepro verify --junit verify.xml --html verify.html --json-file verify.json', does: 'in CI: test results, a page to attach and the JSON, from one run (and the job summary in GitHub Actions)' },
    { command: 'krepro verify --jobs 19', does: 'the matrix plan: every build of the first round at once, about one build of wall time' },
    { command: 'krepro verify --jobs 19 --pool unix:///var/run/docker.sock --pool tcp://build-2:2376', does: 'the matrix plan on two Docker hosts: control and noise on the first, the rest wherever a slot is free' },
    { command: 'krepro verify --backend swarm --engine ssh://manager --jobs 19', does: 'the matrix plan on a Docker Swarm: its builds at once, spread over the nodes' },
    { command: 'krepro verify --build tz --bundle bundle', does: 'one job of a CI matrix (the values: --plan-only\'s "matrix"); krepro verify --collect bundles/* judges them all' },
  ],
  positionals: [{ name: 'DIR', help: 'with --collect: the build bundles', complete: 'dir', repeat: true }],
  exits: [
    [0, 'reproducible'],
    [1, 'not reproducible (a build failing under a variation too)'],
    [2, 'usage or environment error (every engine of a --pool gone, naming them)'],
    [3, 'the control build failed (the report shows the end of its log)'],
    ...SIGNAL_EXITS,
  ],
});

export async function verifyCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(VERIFY, argv);
  if (values.help) return showHelp(VERIFY, io);
  const ui = uiFor(io, values);
  const mode = checkMode(values, positionals);
  const noiseBuilds = integerOption('noise-builds', values['noise-builds'], { min: 1, max: 16 }) ?? 1;
  const list = (s: string | undefined): string[] => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const excluded = new Set(list(values['no-vary']).map((n) => variationNamed(n).name));
  const variations = (values.vary ? list(values.vary).map(variationNamed) : [...VARIATIONS]).filter((v) => !excluded.has(v.name));
  const plan = values.plan === undefined ? undefined : planKindNamed(values.plan);
  const jobs = integerOption('jobs', values.jobs, { min: 1 });
  const engineUrls = values.engine ?? [];
  if (engineUrls.length > 2) throw new KreproError('E_USAGE', '--engine may be given at most twice (control, experiment)');
  const backendKind = backendKindNamed(values.backend);
  if (backendKind === 'swarm' && engineUrls.length > 1) throw new KreproError('E_USAGE', '--backend swarm takes one --engine: the manager of the swarm');
  // Every file verify writes is checked before the builds start: a typo in --junit must not cost the builds.
  const stepSummary = values['no-step-summary'] ? undefined : io.env.GITHUB_STEP_SUMMARY || undefined;
  const targets = mode === 'verify' || mode === 'collect' ? await reportTargets(values, io, { stdoutTakenBy: values.json ? '--json' : undefined, stepSummary }) : undefined;
  // Values are checked before the checkout is read: a bad --level is named as such anywhere.
  const packing = packingOptions(values);
  const bundleDir = values.bundle === undefined ? undefined : await emptyDirectory(io, values.bundle);
  // The commit is what is built: its project file, not the working tree's.
  const commit = await headCommit(io.cwd);
  const committed = await loadCommittedProject(io.cwd, commit);
  // Where verify writes is checked before any engine is reached: a committed _output link is refused at once.
  await outputDirOf(await checkoutOf(io.cwd));
  if (committed.workingTreeDiffers) ui.note(`note: krepro.json in the working tree differs from commit ${commit.slice(0, 12)}'s; verify builds the commit, with its krepro.json`);
  const inputs = await inputsFor(values, io, packing, committed.project);
  const environment = await environmentFor(values, io);
  if (mode === 'plan-only') {
    // One line: a CI step puts it into an output variable as it is.
    io.stdout.write(`${JSON.stringify(await planDocument({ checkoutRoot: io.cwd, commit, environment, inputs, variations }))}\n`);
    return EXIT.ok;
  }
  const proxies = proxiesFrom(io.env);
  const log = (line: string): void => ui.progress(redact(line, proxies));
  const started = Date.now();
  const onProgress = (e: VerifyProgress): void => {
    const t = ((Date.now() - started) / 1000).toFixed(0);
    if (e.type === 'build-start') log(`[${t}s] build ${e.id}: ${e.label}${e.variations.length ? ` (varies ${e.variations.join(', ')})` : ''}...`);
    else if (e.type === 'build-done') log(`[${t}s] build ${e.id}: ${e.label} ${e.exitCode === 0 ? 'done' : `FAILED (exit ${e.exitCode})`} in ${(e.durationMs / 1000).toFixed(1)} s`);
    else if (e.type === 'step' && e.event.type === 'skip') log(`[${t}s] ${e.event.step}: skipped, ${e.event.reason}`);
    // Steps only on a terminal (or with --verbose): piped logs stay one line per build.
    else if (e.type === 'build-step' && (io.stderr.isTTY || ui.verbose)) log(`[${t}s]   ${e.label}: ${e.step}`);
  };
  const common = { checkoutRoot: io.cwd, commit, hostname: hostname(), environment, variations, inputs, noiseBuilds, onLog: log, signal: io.signal, onProgress, ...(plan ? { plan } : {}), jobs: jobs as number | undefined };
  let result: VerifyResult;
  if (mode === 'collect') {
    const planned = await planDocument({ checkoutRoot: io.cwd, commit, environment, inputs, variations });
    const collected = await readBuildBundles(positionals.map((d) => path.resolve(io.cwd, d)), planned);
    log(`collected ${collected.builds.size} builds of plan ${planned.digest.slice(0, 19)} from ${new Set(collected.from.values()).size} bundle(s)`);
    const signingKey = await signingKeyOption(values, io);
    const backend = buildBundleBackend(collected);
    result = await verifyRelease({ ...common, backends: { control: backend, experiment: backend }, collected, checkNoise: true, attribute: !values['no-attribution'], provenance: signingKey ? { signingKey } : {} });
  } else {
    const seccomp = await seccompProfile(values['seccomp-profile'], io);
    const backends: Backend[] = [];
    try {
      if (backendKind === 'swarm') {
        if (committed.project.pool?.length) log(`note: the pool of ${committed.project.file} is not used: --backend swarm builds on the swarm's nodes`);
        backends.push(await swarmBackendFor(engineUrls[0], values, io, ui, log));
      } else {
        // The command line's --pool or --engine, else the project file's pool, else one engine.
        const poolUrls = values.pool ?? (engineUrls.length || values['no-pool'] ? [] : committed.project.pool ?? []);
        if (poolUrls.length && !values.pool) log(`pool from ${committed.project.file}: ${poolUrls.join(', ')} (--no-pool builds on one engine)`);
        const pool = poolUrls.length ? await poolFor(poolUrls, io, ui, { seccomp, jobs, onLog: log }) : undefined;
        if (pool) {
          backends.push(pool);
          common.jobs = pool.jobs;
        } else for (const url of engineUrls.length ? engineUrls : [undefined]) backends.push(await backendFor(url, io, ui, seccomp));
      }
      const pair = { control: backends[0]!, experiment: backends[1] ?? backends[0]! };
      if (mode === 'build') {
        const planned = await planDocument({ checkoutRoot: io.cwd, commit, environment, inputs, variations });
        const built = await runPlannedBuilds({ ...common, backends: pair, ids: list(values.build) });
        try {
          const file = await writeBuildBundle(bundleDir!, planned, built.environment, built.builds);
          for (const b of built.builds) log(`build ${b.id} (${b.label}): exit ${b.exitCode}, ${b.artifacts.length} artifact(s), ${(b.durationMs / 1000).toFixed(1)} s on ${b.host.machine || b.engine}`);
          log(`bundle: ${file} (plan ${planned.digest.slice(0, 19)}); collect every build's bundle with krepro verify --collect DIR...`);
        } finally {
          await rm(built.workDir, { recursive: true, force: true });
        }
        return EXIT.ok;
      }
      const signingKey = await signingKeyOption(values, io);
      result = await verifyRelease({ ...common, backends: pair, checkNoise: values['check-noise'] ?? false, attribute: !values['no-attribution'], provenance: signingKey ? { signingKey } : {} });
    } finally {
      // A swarm's registry, networks and configs go, whatever happened; what could not go is named (even with
      // --quiet), and the next verify of this checkout removes it.
      for (const backend of backends) await backend.close?.().catch((err: unknown) => io.stderr.write(`warning: ${backend.name}: ${redact((err as Error).message, proxies)}\n`));
    }
  }
  if (result.provenance) log(`provenance of the control build: ${result.provenance.statement}${result.provenance.envelope ? ` (signed: ${result.provenance.envelope} and ${result.provenance.bundle})` : ''}`);
  else if (result.status !== 'build-failed' && environment.kind !== 'locked') log('note: no provenance: a Dockerfile build image (--build-image-dir) cannot be made again from a recipe');
  const report = verifyReport(result);
  const json = () => `${JSON.stringify(report, null, 2)}\n`;
  await writeReports(targets!, io, { 'json-file': json, html: () => verifyHtml(report), markdown: () => verifyMarkdown(report), junit: () => verifyJunit(report) }, () => (values.json ? json() : verifyText(report)));
  return result.status === 'reproducible' ? EXIT.ok : result.status === 'build-failed' ? EXIT.buildFailed : EXIT.different;
}

type Mode = 'verify' | 'plan-only' | 'build' | 'collect';

/** Which of verify's four ways, with the options that go with it only. */
function checkMode(
  values: { 'plan-only'?: boolean | undefined; build?: string | undefined; bundle?: string | undefined; collect?: boolean | undefined; plan?: string | undefined; engine?: string[] | undefined; pool?: string[] | undefined; 'no-pool'?: boolean | undefined; backend?: string | undefined; html?: string | undefined; json?: boolean | undefined; 'json-file'?: string | undefined; markdown?: string | undefined; junit?: string | undefined },
  positionals: string[],
): Mode {
  const modes = [values['plan-only'] && '--plan-only', values.build !== undefined && '--build', values.collect && '--collect'].filter(Boolean);
  if (modes.length > 1) throw new KreproError('E_USAGE', `${modes.join(' and ')} cannot be used together`);
  if (values.build !== undefined && values.bundle === undefined) throw new KreproError('E_USAGE', '--build ID needs --bundle DIR: where its outputs, log and description go');
  if (values.bundle !== undefined && values.build === undefined) throw new KreproError('E_USAGE', '--bundle DIR goes with --build ID');
  if (values.collect && positionals.length === 0) throw new KreproError('E_USAGE', '--collect needs the bundle directories: krepro verify --collect DIR...');
  if (!values.collect && positionals.length > 0) throw new KreproError('E_USAGE', `unexpected argument ${quote(positionals[0])} (bundle directories go after --collect)`);
  if ((values['plan-only'] || values.build !== undefined || values.collect) && values.plan !== undefined && values.plan !== 'matrix') {
    throw new KreproError('E_USAGE', `${modes[0]} works with the matrix plan only: the adaptive plan decides each build from the one before`);
  }
  const reports = [values.json && '--json', values.html !== undefined && '--html', values['json-file'] !== undefined && '--json-file', values.markdown !== undefined && '--markdown', values.junit !== undefined && '--junit'].filter(Boolean);
  if ((values['plan-only'] || values.build !== undefined) && reports.length > 0) throw new KreproError('E_USAGE', `${modes[0]} writes no report: ${reports.join(', ')} go with verify and --collect`);
  if (values.collect && values.engine?.length) throw new KreproError('E_USAGE', '--collect runs no build: --engine does not apply');
  if (values.collect && values.pool?.length) throw new KreproError('E_USAGE', '--collect runs no build: --pool does not apply');
  if (values.pool?.length && values.engine?.length) throw new KreproError('E_USAGE', "--pool and --engine cannot be used together: a pool's first engine runs the control build");
  if (values.pool?.length && values['no-pool']) throw new KreproError('E_USAGE', '--pool and --no-pool contradict each other: give one');
  if (values.collect && values.backend !== undefined) throw new KreproError('E_USAGE', '--collect runs no build: --backend does not apply');
  if (values.backend === 'swarm' && (values.pool?.length || values['no-pool'])) throw new KreproError('E_USAGE', `--backend swarm and ${values.pool?.length ? '--pool' : '--no-pool'} cannot be used together: the swarm places every build`);
  return values['plan-only'] ? 'plan-only' : values.build !== undefined ? 'build' : values.collect ? 'collect' : 'verify';
}

/** A directory for a bundle: new or empty, never one that holds something already. */
async function emptyDirectory(io: CommandIO, value: string): Promise<string> {
  const dir = await commandLinePath(io.cwd, value);
  const st = await lstat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new KreproError('E_USAGE', `--bundle ${quote(value)}: ${dir} exists and is not a directory`, { path: dir });
  if (st && (await readdir(dir)).length > 0) throw new KreproError('E_USAGE', `--bundle ${quote(value)}: ${dir} is not empty; give a new or empty directory`, { path: dir });
  return dir;
}
