import { visible } from '../quote.js';
import type { VerifyReport } from '../verify/report.js';
import { verdictWords } from './verify-markdown.js';
import { causeTitle, findingPlace, proofWords, wholeChange } from './verify-text.js';

/**
 * Text for an XML attribute or element: the characters XML 1.0 forbids (most C0 controls) and the ones a
 * terminal would act on are written as escapes first, then markup characters as entities.
 */
function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, (c) => visible(c))
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const attr = (s: string): string => xml(s).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');

/**
 * The failure of one differing artifact: its causes and their fixes as the message; below, each cause's proof and
 * the findings it explains in this artifact (up to 10 per cause, of those the report lists), the rest counted.
 */
function artifactFailure(a: VerifyReport['artifacts'][number], report: VerifyReport): { message: string; type: string; body: string } {
  const missing = !a.control ? 'missing from the control build' : !a.experiment ? 'missing from the experiment build' : undefined;
  const causes = a.causes.map((id) => report.causes.find((c) => c.id === id)!).filter(Boolean);
  const names = causes.map(causeTitle);
  const fixes = [...new Set(causes.flatMap((c) => c.fix))];
  const message =
    missing ?? (names.length ? `differs because of ${names.join('; ')}. Fix: ${fixes.join(' ')}` : 'differs; the cause was not found (verify without --no-attribution searches for it)');
  const body = [
    `control    ${a.control?.sha256 ?? '(missing)'}`,
    `experiment ${a.experiment?.sha256 ?? '(missing)'}`,
    `${a.findings} finding${a.findings === 1 ? '' : 's'}`,
    ...causes.flatMap((c) => {
      const here = c.findings.shown.filter((f) => f.artifact === a.name);
      return [
        '',
        `${causeTitle(c)}${c.evidence.length ? `: ${proofWords(c)}` : ''}`,
        ...c.fix.map((f) => `  fix: ${f}`),
        ...c.diff.map((d) => `  krepro diff: ${d.title} (${d.count}): ${d.fix}`),
        ...here.slice(0, 10).map((f) => `    ${findingPlace(f)}: ${f.field}: ${wholeChange(f) ?? `${JSON.stringify(f.left)} -> ${JSON.stringify(f.right)}`}`),
      ];
    }),
  ].join('\n');
  return { message, type: missing ? 'missing' : names.join('; ') || 'not-reproducible', body };
}

/**
 * The verify report as JUnit XML: a test suite of the artifacts (one test case each, a differing one failing with
 * its causes and fixes as the message; a failed build as an error) and one of the variations (one tested is a
 * passing case, one not tested is skipped with the reason), for CI systems that show test results.
 */
export function verifyJunit(report: VerifyReport): string {
  const seconds = (report.builds.reduce((s, b) => s + b.durationMs, 0) / 1000).toFixed(3);
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  if (report.failure) {
    const f = report.failure;
    errors++;
    cases.push(
      `    <testcase classname="krepro.verify.builds" name="${attr(`build ${f.build} (${f.label})`)}" time="0">`,
      `      <error type="build-failed" message="${attr(`build ${f.build} (${f.label}) failed with exit code ${f.exitCode}; log: ${f.log}`)}">${xml(f.logTail.join('\n'))}</error>`,
      '    </testcase>',
    );
  }
  for (const f of report.failures) {
    failures++;
    const when = f.kind === 'nondeterminism' ? 'under identical conditions (nondeterminism)' : `when ${f.variations.join(' + ')}${f.kind === 'interaction' ? ' (only together)' : ''}`;
    cases.push(
      `    <testcase classname="krepro.verify.builds" name="${attr(`the build fails ${when}`)}" time="0">`,
      `      <failure type="build-fails" message="${attr(`build ${f.build} (${f.label}) exited with ${f.exitCode}. Fix: ${f.fix.join(' ')}`)}">${xml(f.logTail.join('\n'))}</failure>`,
      '    </testcase>',
    );
  }
  for (const a of report.artifacts) {
    if (a.verdict === 'identical') {
      cases.push(`    <testcase classname="krepro.verify.artifacts" name="${attr(a.name)}" time="0"/>`);
      continue;
    }
    failures++;
    const f = artifactFailure(a, report);
    cases.push(`    <testcase classname="krepro.verify.artifacts" name="${attr(a.name)}" time="0">`, `      <failure type="${attr(f.type)}" message="${attr(f.message)}">${xml(f.body)}</failure>`, '    </testcase>');
  }
  const skipped = report.variations.filter((v) => !v.tested).length;
  const variations = report.variations.map((v) =>
    v.tested ? `    <testcase classname="krepro.verify.variations" name="${attr(v.name)}" time="0"/>` : `    <testcase classname="krepro.verify.variations" name="${attr(v.name)}" time="0">\n      <skipped message="${attr(`not tested: ${v.reason ?? ''}`)}"/>\n    </testcase>`,
  );
  const properties = [
    ['verdict', verdictWords(report)],
    ['commit', report.commit],
    ['sourceDateEpoch', String(report.sourceDateEpoch)],
    ['schema', report.schema],
  ].map(([n, v]) => `      <property name="${n}" value="${attr(v!)}"/>`);
  const tests = cases.filter((c) => c.includes('<testcase')).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="krepro verify" tests="${tests + report.variations.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds}">`,
    `  <testsuite name="krepro verify: artifacts" tests="${tests}" failures="${failures}" errors="${errors}" skipped="0" time="${seconds}">`,
    '    <properties>',
    ...properties,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    `  <testsuite name="krepro verify: variations" tests="${report.variations.length}" failures="0" errors="0" skipped="${skipped}" time="0">`,
    ...variations,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
