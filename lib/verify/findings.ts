import * as path from 'node:path';
import { diff } from '../diff/compare.js';
import { allFindings } from '../diff/difference.js';
import type { CauseId } from '../diff/findings.js';
import type { Span } from '../diff/types.js';
import type { Artifact } from '../integrity/artifact.js';
import { integrityOf } from '../integrity/hash-stream.js';
import { differingArtifacts } from './build-run.js';

/**
 * One finding of `krepro diff` between the control build and another build, where attribution needs it: in which
 * artifact, at which member path, and where inside (a field or JSON key, or a span of lines or bytes in the control
 * build's file). Two findings of two builds are the same finding when their places meet (sameLocation).
 */
export interface LocatedFinding {
  /** The artifact's name (BUILD_FAILS for a build's failure). */
  artifact: string;
  /** Member path inside the artifact ([] for the file itself). */
  path: string[];
  /** What differs, as krepro diff names it: `mtime`, a JSON key, an ELF section, `text`… */
  field: string;
  /** What krepro diff recognized (its cause catalogue). */
  diffCause: CauseId;
  /** The control build's value, for people; null when absent there. */
  left: string | null;
  /** The other build's value, for people; null when absent there. */
  right: string | null;
  /** More about it, when there is more to say. */
  note?: string;
  /** Where inside the member, in the control build's file. */
  at?: Span;
  /** The diff could not look inside (a whole section, contents not read, a run over most of the file). */
  opaque: boolean;
  /** This finding follows from other differences: a build ID of the same binary, a checksum of another artifact. */
  consequenceOf?: Consequence;
}

/** What a finding follows from. */
export interface Consequence {
  /** The artifact whose difference it follows from. */
  artifact: string;
  /** The member inside it ([] for the file itself). */
  path: string[];
  /** Why it follows, in words. */
  why: string;
}

/** What one build changed against the control build, and how long the diff took. */
export interface BuildFindings {
  findings: LocatedFinding[];
  diffMs: number;
}

/**
 * Where a build's failure is found: a failing build has no outputs to compare, so its failure is its one finding.
 * No artifact can be named so: names are file names and relative paths, never with a NUL.
 */
export const BUILD_FAILS = '\0the build fails';

/** The finding of a build that failed: its exit status, where the control build's was 0. */
export function failureFinding(exitCode: number): LocatedFinding {
  return { artifact: BUILD_FAILS, path: [], field: 'exit status', diffCause: 'content', left: '0', right: String(exitCode), note: 'the build command failed: its outputs could not be compared', opaque: false };
}

/** An artifact name as a report shows it (BUILD_FAILS in words). */
export function artifactName(name: string): string {
  return name === BUILD_FAILS ? '(the build fails)' : name;
}

/** Artifact names that describe other artifacts: checksum files, krepro's manifest, SBOMs. */
const DESCRIBER = /(^|\/)(SHA(1|256|512)SUMS|[^/]*\.(sha1|sha256|sha512|md5)(sum)?|[^/]*checksums?[^/]*\.txt|krepro-manifest\.json|[^/]*\.spdx(\.json)?|[^/]*\.cdx\.json|[^/]*sbom[^/]*\.json)$/i;
const BUILD_ID_CAUSES = new Set<CauseId>(['go-build-id', 'build-id']);

/**
 * Every finding of krepro diff (`every`: each differing line run, byte run, section, key and header field) between
 * the control build's artifacts and another build's, for the artifacts whose digests differ; consequences marked.
 * An artifact on one side only is one finding.
 */
export async function findingsBetween(control: readonly Artifact[], other: readonly Artifact[], signal?: AbortSignal): Promise<BuildFindings> {
  const started = Date.now();
  const differing = differingArtifacts({ artifacts: control }, { artifacts: other });
  const findings: LocatedFinding[] = [];
  for (const d of differing) {
    if (!d.left || !d.right) {
      findings.push({ artifact: d.name, path: [], field: 'artifact', diffCause: 'file-set', left: d.left ? 'present' : null, right: d.right ? 'present' : null, opaque: false });
      continue;
    }
    const report = await diff(d.left.path, d.right.path, { every: true, labels: [d.name, d.name], ...(signal ? { signal } : {}) });
    for (const f of allFindings(report.tree)) {
      const located: LocatedFinding = { artifact: d.name, path: f.path, field: f.field, diffCause: f.cause, left: f.left, right: f.right, ...(f.note ? { note: f.note } : {}), ...(f.at ? { at: f.at } : {}), opaque: false };
      located.opaque = isOpaque(located);
      findings.push(located);
    }
    // What the diff would not read is a finding too: nothing below it can be told apart.
    for (const r of report.refused) findings.push({ artifact: d.name, path: r.path, field: `not compared (${r.kind})`, diffCause: 'content', left: null, right: null, note: r.detail, opaque: true });
  }
  markConsequences(findings, differing.flatMap((d) => (d.left && d.right ? [{ name: d.name, left: d.left, right: d.right }] : [])));
  return { findings, diffMs: Date.now() - started };
}

function isOpaque(f: LocatedFinding): boolean {
  if (f.field === 'sha256') return true;
  if (f.at?.unit !== 'byte') return false;
  return (f.left === null && f.right === null) || (f.at.end - f.at.start + 1) * 2 >= f.at.total;
}

const digestsOf = (a: Artifact): string[] => [a.digests.sha256, a.digests.sha512, ...integrityOf(a.digests).split(/\s+/)];

/**
 * Marks the findings that follow from others: a Go build ID or GNU build ID beside other findings of the same
 * binary (both hash what was linked), and a digest or size of another differing artifact (checksum files,
 * manifests, SBOMs; by value, or by the describer's name when it lists members).
 */
export function markConsequences(findings: LocatedFinding[], differing: readonly { name: string; left: Artifact; right: Artifact }[]): void {
  const place = (f: LocatedFinding) => `${f.artifact}\0${f.path.join('\0')}`;
  const others = new Set(findings.filter((f) => !BUILD_ID_CAUSES.has(f.diffCause)).map(place));
  const byDigest = new Map<string, string>();
  const bySize = new Map<string, string>();
  for (const d of differing) {
    for (const x of digestsOf(d.left)) byDigest.set(x, d.name);
    if (d.left.size !== d.right.size) bySize.set(String(d.left.size), d.name);
  }
  for (const f of findings) {
    if (BUILD_ID_CAUSES.has(f.diffCause) && others.has(place(f))) {
      f.consequenceOf = { artifact: f.artifact, path: f.path, why: `the ${f.field} hashes what was linked, so it changes with every other difference of this binary` };
      continue;
    }
    const described = [...byDigest].find(([x, name]) => name !== f.artifact && (f.left?.includes(x) ?? false))?.[1];
    if (described) {
      f.consequenceOf = { artifact: described, path: [], why: `the digest of ${described}, which differs` };
    } else if (DESCRIBER.test(f.artifact) && f.diffCause === 'derived-digest') {
      f.consequenceOf = { artifact: f.artifact, path: [], why: `a digest listed in ${path.posix.basename(f.artifact)}: the file it names differs` };
    } else if (DESCRIBER.test(f.artifact) && /size"?\]?$/i.test(f.field) && f.left !== null && bySize.has(f.left)) {
      const name = bySize.get(f.left)!;
      f.consequenceOf = { artifact: name, path: [], why: `the size of ${name}, which differs` };
    }
  }
}
