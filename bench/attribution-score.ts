// Scores one krepro verify --json report of a verify-corpus case against the case's expected.json (bench/attribution.sh).
//   node --import tsx/esm bench/attribution-score.ts CASE_DIR REPORT_JSON SECONDS
// Prints one line: causes per artifact|artifact-exact|finding-exact|builds|seconds, where a report of schema v2 (the
// previous algorithm: causes per artifact) is scored per artifact only (finding-exact "-"), and v3 per finding too.
import { readFileSync } from 'node:fs';
import { causesPerArtifact, compareWithRules, readExpected, reportFindings } from '../test/helpers/corpus.js';

const [caseDir, reportFile, seconds] = process.argv.slice(2) as [string, string, string];
const expected = readExpected(caseDir);
let report: Record<string, unknown> & { schema?: string; builds?: unknown[]; artifacts?: { name: string; causes: unknown[] }[] };
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8'));
} catch {
  console.log(`?|?|?|0|${seconds}`);
  process.exit(0);
}
const want = causesPerArtifact(expected.findings);
const got: Record<string, string[]> = {};
const v3 = report.schema?.endsWith('/v3') ?? false;
for (const a of report.artifacts ?? []) {
  if (!(a.name in want)) continue;
  const ids = v3
    ? (a.causes as string[]).filter((c) => c !== 'consequence')
    : (a.causes as { kind: string; variations: string[] }[]).map((c) => (c.kind === 'nondeterminism' ? 'nondeterminism' : c.variations.join('+')));
  if (ids.length) got[a.name] = [...new Set(ids)].sort();
}
const show = (m: Record<string, string[]>) =>
  Object.keys(m)
    .sort()
    .map((a) => `${a}=${m[a]!.join(',')}`)
    .join(';');
const artifactExact = show(got) === show(want) ? '=' : ' ';
let findingExact = '-';
if (v3) findingExact = compareWithRules(expected.findings, reportFindings(report as never)).length === 0 ? '=' : ' ';
console.log(`${show(got) || '(reproducible)'}|${artifactExact}|${findingExact}|${report.builds?.length ?? 0}|${seconds}`);
