import { hostname } from 'node:os';
import { type Backend, headCommit, KreproError, loadCommittedProject, redact, VARIATIONS, variationNamed, verifyHtml, verifyJunit, verifyMarkdown, verifyRelease, verifyReport, verifyText } from '../lib/index.js';
import { backendFor, BUILD_SECTION, environmentFor, inputsFor, PACKAGING_NOTES, PACKAGING_OPTIONS, packingOptions, PROJECT_OPTIONS } from './build-options.js';
import { defineCommand, inSection, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { ENVIRONMENT_OPTIONS } from './env.js';
import { DEBIAN_SECCOMP_PROFILE, seccompProfile } from './seccomp.js';
import { SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';
import { type CommandIO, EXIT, proxiesFrom } from './io.js';
import { JUNIT_OPTION, REPORT_OPTIONS, reportTargets, writeReports } from './reports.js';
import { uiFor } from './ui.js';


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
      help: `the engine's default seccomp profile (JSON); verify adds personality(ADDR_NO_RANDOMIZE) so the control build can turn address-space randomization off (setarch -R). Default: ${DEBIAN_SECCOMP_PROFILE} (Debian package golang-github-docker-docker-dev). 'none': the engine's own default profile. Without one, builds run with randomization on and aslr is not tested (the recipe is the same either way: control conditions never depend on the engine).`,
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
  // Every file verify writes is checked before the builds start: a typo in --junit must not cost the builds.
  const stepSummary = values['no-step-summary'] ? undefined : io.env.GITHUB_STEP_SUMMARY || undefined;
  const targets = await reportTargets(values, io, { stdoutTakenBy: values.json ? '--json' : undefined, stepSummary });
  // The commit is what is built: its project file, not the working tree's.
  const commit = await headCommit(io.cwd);
  const committed = await loadCommittedProject(io.cwd, commit);
  if (committed.workingTreeDiffers) ui.note(`note: krepro.json in the working tree differs from commit ${commit.slice(0, 12)}'s; verify builds the commit, with its krepro.json`);
  const inputs = await inputsFor(values, io, packingOptions(values), committed.project);
  const seccomp = await seccompProfile(values['seccomp-profile'], io);
  const signingKey = await signingKeyOption(values, io);
  const environment = await environmentFor(values, io);
  const proxies = proxiesFrom(io.env);
  const log = (line: string): void => ui.progress(redact(line, proxies));
  const backends: Backend[] = [];
  for (const url of engineUrls.length ? engineUrls : [undefined]) backends.push(await backendFor(url, io, ui, seccomp));
  const started = Date.now();
  const result = await verifyRelease({
    checkoutRoot: io.cwd,
    commit,
    hostname: hostname(),
    backends: { control: backends[0]!, experiment: backends[1] ?? backends[0]! },
    environment,
    variations,
    inputs,
    checkNoise: values['check-noise'] ?? false,
    attribute: !values['no-attribution'],
    provenance: signingKey ? { signingKey } : {},
    onLog: log,
    signal: io.signal,
    onProgress: (e) => {
      const t = ((Date.now() - started) / 1000).toFixed(0);
      if (e.type === 'build-start') log(`[${t}s] build ${e.id}: ${e.label}${e.variations.length ? ` (varies ${e.variations.join(', ')})` : ''}...`);
      else if (e.type === 'build-done') log(`[${t}s] build ${e.id}: ${e.label} ${e.exitCode === 0 ? 'done' : `FAILED (exit ${e.exitCode})`} in ${(e.durationMs / 1000).toFixed(1)} s`);
      else if (e.type === 'step' && e.event.type === 'skip') log(`[${t}s] ${e.event.step}: skipped, ${e.event.reason}`);
      // Steps only on a terminal (or with --verbose): piped logs stay one line per build.
      else if (e.type === 'build-step' && (io.stderr.isTTY || ui.verbose)) log(`[${t}s]   ${e.label}: ${e.step}`);
    },
  });
  if (result.provenance) log(`provenance of the control build: ${result.provenance.statement}${result.provenance.envelope ? ` (signed: ${result.provenance.envelope} and ${result.provenance.bundle})` : ''}`);
  else if (result.status !== 'build-failed' && environment.kind !== 'locked') log('note: no provenance: a Dockerfile build image (--build-image-dir) cannot be made again from a recipe');
  const report = verifyReport(result);
  const json = () => `${JSON.stringify(report, null, 2)}\n`;
  await writeReports(targets, io, { 'json-file': json, html: () => verifyHtml(report), markdown: () => verifyMarkdown(report), junit: () => verifyJunit(report) }, () => (values.json ? json() : verifyText(report)));
  return result.status === 'reproducible' ? EXIT.ok : result.status === 'build-failed' ? EXIT.buildFailed : EXIT.different;
}
