import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  buildEnvironment,
  checkoutStateNames,
  type EnvironmentSetting,
  gitVersion,
  headCommit,
  loadCommittedProject,
  prepareBuildImage,
  sourceVersion,
  KreproError,
  lockCheckout,
  NORMALIZATIONS,
  OUTPUT_DIR,
  pathBeneath,
  lockDigest,
  type Recipe,
  recipeSource,
  recipeStatement,
  redact,
  writeProvenance,
  transferImage,
  VARIATIONS,
  variationNamed,
  verifyHtml,
  verifyJunit,
  verifyMarkdown,
  verifyRelease,
  verifyReport,
  verifyText,
  type VerifyEngine,
} from '../lib/index.js';
import { BUILD_SECTION, imageSourceFor, PROJECT_OPTIONS, projectFor } from './build-options.js';
import { defineCommand, inSection, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { ENVIRONMENT_OPTIONS } from './env.js';
import { DEBIAN_SECCOMP_PROFILE, seccompProfile } from './seccomp.js';
import { SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';
import { type CommandIO, EXIT, openEngineFor, proxiesFrom, sourceDateEpochFor } from './io.js';
import { JUNIT_OPTION, REPORT_OPTIONS, reportTargets, writeReports } from './reports.js';
import { uiFor } from './ui.js';


/** Why the build image's environment variables are there (the README lists them too). */
const IMAGE_SETTINGS: Record<string, string> = {
  PATH: 'where the tools are',
  GOPATH: 'Go workspace outside the sources',
  GOCACHE: "Go's build cache outside the sources, writable by any uid",
  GOTOOLCHAIN: 'local: never download another Go toolchain',
  KUBE_OUTPUT_SUBPATH: "where Kubernetes' make puts its output (_output/dockerized), as build/run.sh sets it",
  HOME: 'the source directory, as upstream (verify sets its own HOME per build)',
  XDG_CONFIG_HOME: "Go's config (telemetry off) outside the sources",
};

export const VERIFY = defineCommand({
  name: 'verify',
  summary: 'build twice under varied conditions, compare every artifact, name the cause of differences',
  usage: ['verify [options]'],
  description: `Proves the release of HEAD is reproducible, or shows every reason why not. Builds the commit (with the krepro.json
it holds; an uncommitted change to that file is noted and not used) from a clean copy of the sources, each build in fresh containers and an in-memory volume named for this run: a control build under
fixed, recorded conditions and an experiment build with the chosen variations applied, with the project's own
build environment (exactly what 'krepro release' uses). Every variation proves in the container that it took
effect (an effect probe differs between the builds) or is reported as NOT TESTED. Every artifact (the files
under the project's outputs, and the release tarballs of a Kubernetes-shaped project) is compared by
SHA-256/SHA-512. When they differ, a noise check (control conditions again) separates nondeterminism, and the
variations are searched for every cause of every difference: build without the causes found so far, bisect what
still differs, repeat. Each cause is proven by a build and explained by 'krepro diff' against the control build.
Builds: 2, plus 1 noise check, plus at most ceil(log2 n) + 2 per cause among n variations.

Variations (default: all):
${VARIATIONS.map((v) => `  ${v.name.padEnd(11)} ${v.description}`).join('\n')}`,
  options: {
    vary: { type: 'string', value: 'a,b', complete: VARIATIONS.map((v) => v.name), help: 'apply only these variations' },
    'no-vary': { type: 'string', value: 'a,b', complete: VARIATIONS.map((v) => v.name), help: 'apply all but these' },
    'check-noise': { type: 'boolean', help: 'run the noise check even when the builds are identical' },
    'no-attribution': { type: 'boolean', help: 'do not run extra builds to find the causes' },
    'seccomp-profile': {
      type: 'string',
      value: 'F',
      complete: 'file',
      help: `the engine's default seccomp profile (JSON); verify adds personality(ADDR_NO_RANDOMIZE) so the control build can turn address-space randomization off (setarch -R). Default: ${DEBIAN_SECCOMP_PROFILE} (Debian package golang-github-docker-docker-dev). Without one, aslr is not tested.`,
    },
    engine: {
      type: 'string',
      value: 'URL',
      multiple: true,
      complete: 'none',
      help: 'engine for the control build; given twice, the second runs the experiment build (independent rebuild). Default: DOCKER_HOST etc. Builds run without network: a verified build must be hermetic.',
    },
    ...SIGN_KEY_OPTION,
    json: { type: 'boolean', help: 'print the report as JSON (schema https://krepro.dev/schemas/verify-report/v2) instead of text' },
    ...REPORT_OPTIONS,
    ...JUNIT_OPTION,
    'no-step-summary': { type: 'boolean', help: 'do not append the Markdown summary to $GITHUB_STEP_SUMMARY (appended by default when GitHub Actions sets it)' },
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
    `The build environment sets nothing that changes how the project's build behaves (no GOFLAGS, no CGO_ENABLED);
a project opts in to GOFLAGS=-trimpath and CGO_ENABLED=0 with "normalize": true in krepro.json, and the report
then names the causes they may hide. Every setting of the environment is listed in the report.`,
    `Reports for CI: --json-file, --html, --markdown and --junit may be given together, and '-' sends one of them to
stdout instead of the text report; every path is checked before the first build, and each file is written whole
or not at all. In GitHub Actions (GITHUB_STEP_SUMMARY set) the Markdown summary is also appended to the job
summary; --no-step-summary turns that off.`,
    `Outputs in _output/verify/: each build's artifacts and log, and next to the control build's outputs
krepro-provenance.json, the recipe of the control build (an in-toto Statement v1 with a SLSA provenance v1
predicate; 'krepro rebuild' follows it), signed into krepro.intoto.jsonl with --sign-key.`,
  ],
  examples: [
    { command: 'krepro verify', does: 'the CI gate: exit 0 when HEAD builds the same bytes under every variation' },
    { command: 'krepro verify --vary tz,locale --no-attribution --json', does: 'two variations only, no search for causes, the report as JSON' },
    { command: 'krepro verify --junit verify.xml --html verify.html --json-file verify.json', does: 'in CI: test results, a page to attach and the JSON, from one run (and the job summary in GitHub Actions)' },
  ],
  exits: [
    [0, 'reproducible'],
    [1, 'not reproducible'],
    [2, 'usage or environment error'],
    [3, 'a build failed (the report says which and shows the end of its log)'],
    ...SIGNAL_EXITS,
  ],
});

export async function verifyCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(VERIFY, argv);
  if (values.help) return showHelp(VERIFY, io);
  const ui = uiFor(io, values);
  const list = (s: string | undefined): string[] => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const excluded = new Set(list(values['no-vary']).map((n) => variationNamed(n).name));
  const variations = (values.vary ? list(values.vary).map(variationNamed) : [...VARIATIONS]).filter((v) => !excluded.has(v.name));
  const engineUrls = values.engine ?? [];
  if (engineUrls.length > 2) throw new KreproError('E_USAGE', '--engine may be given at most twice (control, experiment)');
  const checkoutRoot = io.cwd;
  // Every file verify writes is checked before the builds start: a typo in --junit must not cost the builds.
  const stepSummary = values['no-step-summary'] ? undefined : io.env.GITHUB_STEP_SUMMARY || undefined;
  const targets = await reportTargets(values, io, { stdoutTakenBy: values.json ? '--json' : undefined, stepSummary });
  // The commit is what is built: its project file, not the working tree's.
  const commit = await headCommit(checkoutRoot);
  const committed = await loadCommittedProject(checkoutRoot, commit);
  if (committed.workingTreeDiffers) ui.note(`note: krepro.json in the working tree differs from commit ${commit.slice(0, 12)}'s; verify builds the commit, with its krepro.json`);
  const project = await projectFor(checkoutRoot, values, committed.project);
  const sde = await sourceDateEpochFor(io, { repoDir: checkoutRoot });
  const version = io.env.KUBE_GIT_VERSION || (await gitVersion(checkoutRoot));
  const env = buildEnvironment({ host: io.env, project, sourceDateEpoch: sde.seconds, version });
  const seccomp = await seccompProfile(values['seccomp-profile'], io);
  const signingKey = await signingKeyOption(values, io);
  const proxies = proxiesFrom(io.env);
  const source = await imageSourceFor(values, io);
  const { identity, names } = await checkoutStateNames(checkoutRoot, hostname(), await sourceVersion(source));
  // Before the engines are prepared: a second verify of this checkout must not build its image meanwhile.
  const lock = await lockCheckout(identity.root, 'verify');
  try {
    const log = (line: string): void => ui.progress(redact(line, proxies));
    const engines: VerifyEngine[] = [];
    for (const url of engineUrls.length ? engineUrls : [undefined]) {
      const engine = await openEngineFor(io, ui, url);
      if (engines.length === 0 || source.kind === 'locked') {
        // The locked environment is made on each engine from the lock: the same ID, nothing copied.
        const prepared = await prepareBuildImage(engine, source, names, { checkoutRoot: identity.root, onLog: log, signal: io.signal });
        if (engines[0] && engines[0].imageId !== prepared.id) throw new KreproError('E_ENVIRONMENT', `the lock made ${prepared.id} on ${engine.endpoint} but ${engines[0].imageId} on ${engines[0].engine.endpoint}: the environment is not reproducible here`);
        engines.push({ engine, image: names.image, imageId: prepared.id });
      } else {
        // A Dockerfile image differs on every build: the second engine runs the very same image (by ID).
        log(`copying ${names.image} to ${engine.endpoint}...`);
        const imageId = await transferImage(engines[0]!.engine, engine, names.image, { signal: io.signal });
        engines.push({ engine, image: names.image, imageId });
      }
    }
    const image = await engines[0]!.engine.images.inspect(names.image, { signal: io.signal });
    const settings = environmentSettings(image?.env ?? [], env, project.normalize);
    const workDir = await pathBeneath(identity.root, `${OUTPUT_DIR}/verify`, { userOutputLink: true });
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    const started = Date.now();
    const result = await verifyRelease({
      checkoutRoot: identity.root,
      commit,
      engines: [engines[0]!, engines[1] ?? engines[0]!],
      variations,
      project,
      env,
      sourceDateEpoch: sde.seconds,
      version,
      settings,
      ...(seccomp ? { seccomp } : {}),
      checkoutHash: names.checkoutHash,
      labels: names.labels,
      checkNoise: values['check-noise'] ?? false,
      attribute: !values['no-attribution'],
      workDir,
      lock,
      signal: io.signal,
      onProgress: (e) => {
        const t = ((Date.now() - started) / 1000).toFixed(0);
        if (e.type === 'build-start') log(`[${t}s] build ${e.id}: ${e.label}${e.variations.length ? ` (varies ${e.variations.join(', ')})` : ''}...`);
        else if (e.type === 'build-done') log(`[${t}s] build ${e.id}: ${e.label} ${e.exitCode === 0 ? 'done' : `FAILED (exit ${e.exitCode})`} in ${(e.durationMs / 1000).toFixed(1)} s`);
        // Steps only on a terminal (or with --verbose): piped logs stay one line per build.
        else if (io.stderr.isTTY || ui.verbose) log(`[${t}s]   ${e.label}: ${e.step}`);
      },
    });
    const report = verifyReport(result);
    if (result.status !== 'build-failed' && source.kind === 'locked') {
      // The control build's recipe, beside its outputs: what it ran, in the environment the lock makes again.
      const recipe: Recipe = {
        source: await recipeSource(identity.root),
        project: { command: project.command, outputs: project.outputs, release: project.release, images: project.images, normalize: project.normalize },
        environment: { lock: source.lock, lockDigest: lockDigest(source.lock), imageId: engines[0]!.imageId },
        env,
        container: { kind: 'verify-control', conditions: result.control.conditions },
        sourceDateEpoch: sde.seconds,
        version,
      };
      const artifacts = result.control.artifacts.map((a) => ({ ...a, name: a.name.replace(/^release-tars\//, '') }));
      const beside = project.release ? path.join(result.control.dir, '_output', 'release-tars') : result.control.dir;
      const written = await writeProvenance(beside, recipeStatement(recipe, artifacts, 'verify'), signingKey);
      log(`provenance of the control build: ${written.statement}${written.envelope ? ` (signed: ${written.envelope} and ${written.bundle})` : ''}`);
    } else if (result.status !== 'build-failed') {
      log('note: no provenance: a Dockerfile build image (--build-image-dir) cannot be made again from a recipe');
    }
    const json = () => `${JSON.stringify(report, null, 2)}\n`;
    await writeReports(targets, io, { 'json-file': json, html: () => verifyHtml(report), markdown: () => verifyMarkdown(report), junit: () => verifyJunit(report) }, () => (values.json ? json() : verifyText(report)));
    return result.status === 'reproducible' ? EXIT.ok : result.status === 'build-failed' ? EXIT.buildFailed : EXIT.different;
  } finally {
    await lock.release();
  }
}

/** What the build environment sets: the image's variables, then the build environment's (project, host, normalizations). */
function environmentSettings(imageEnv: string[], env: Readonly<Record<string, string>>, normalize: boolean): EnvironmentSetting[] {
  const settings: EnvironmentSetting[] = imageEnv.map((entry) => {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    return { name, value: entry.slice(eq + 1), source: 'image' as const, why: IMAGE_SETTINGS[name] ?? 'set by the build image' };
  });
  for (const [name, value] of Object.entries(env)) {
    const n = normalize ? NORMALIZATIONS.find((x) => x.name === name && x.value === value) : undefined;
    if (n) settings.push({ name, value, source: 'normalization', why: n.why, masks: n.masks });
    else if (name === 'SOURCE_DATE_EPOCH' || name === 'KUBE_GIT_VERSION') settings.push({ name, value, source: 'krepro', why: name === 'SOURCE_DATE_EPOCH' ? 'the fixed time of every embedded date' : 'the version stamped into binaries' });
    else settings.push({ name, value, source: 'project', why: 'the project file or the invoking environment (KUBE_*, GO*)' });
  }
  return settings;
}
