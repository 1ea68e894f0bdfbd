import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * fixtures/verify-corpus/<case>/expected.json: the answer, per finding. Each rule names an artifact, optionally a
 * member path, a field and the experiment's side of the finding (`right`; `*` matches anything), the verdict every finding it matches must have — a variation, an
 * interaction `a+b`, `nondeterminism`, `masked-by-noise` or `consequence` — and optionally how many findings it
 * matches. A finding takes the first rule that matches it; every finding needs one, and every rule needs a finding.
 * No rules: the case is reproducible.
 */
export interface ExpectedRule {
  artifact: string;
  member?: string;
  field?: string;
  right?: string;
  cause: string;
  count?: number;
}

export interface Expected {
  description: string;
  findings: ExpectedRule[];
}

/** A finding of the verify report (schema v3) as the rules see it. */
export interface CorpusFinding {
  artifact: string;
  path: string[];
  field: string;
  right: string | null;
  cause: string;
}

export function readExpected(caseDir: string): Expected {
  return JSON.parse(readFileSync(path.join(caseDir, 'expected.json'), 'utf8')) as Expected;
}

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 's');

function matches(rule: ExpectedRule, f: CorpusFinding): boolean {
  return glob(rule.artifact).test(f.artifact) && (rule.member === undefined || glob(rule.member).test(f.path.join('/'))) && (rule.field === undefined || glob(rule.field).test(f.field)) && (rule.right === undefined || glob(rule.right).test(f.right ?? ''));
}

/** Every finding of a v3 verify report with the id of the cause it is counted under (consequences: `consequence`). */
export function reportFindings(report: { causes: { id: string; findings: { count: number; shown: Omit<CorpusFinding, 'cause'>[] }; consequences: { count: number; shown: Omit<CorpusFinding, 'cause'>[] } }[] }): CorpusFinding[] {
  return report.causes.flatMap((c) => {
    if (c.findings.count !== c.findings.shown.length || c.consequences.count !== c.consequences.shown.length) throw new Error(`cause ${c.id}: the report shows fewer findings than it counts; a corpus case must stay small`);
    return [...c.findings.shown.map((f) => ({ ...f, cause: c.id })), ...c.consequences.shown.map((f) => ({ ...f, cause: 'consequence' }))];
  });
}

/** What differs from the rules, one line each; empty when the report is exactly as expected. */
export function compareWithRules(rules: readonly ExpectedRule[], findings: readonly CorpusFinding[]): string[] {
  const problems: string[] = [];
  const hits = rules.map(() => 0);
  for (const f of findings) {
    const i = rules.findIndex((r) => matches(r, f));
    const where = `${[f.artifact, ...f.path].join(' → ')} ${f.field}`;
    if (i < 0) problems.push(`no rule for ${where} (${f.cause})`);
    else {
      hits[i]!++;
      if (rules[i]!.cause !== f.cause) problems.push(`${where}: ${f.cause}, expected ${rules[i]!.cause}`);
    }
  }
  rules.forEach((r, i) => {
    if (hits[i] === 0) problems.push(`no finding for rule ${JSON.stringify(r)}`);
    else if (r.count !== undefined && hits[i] !== r.count) problems.push(`${hits[i]} findings for rule ${JSON.stringify(r)}`);
  });
  return problems;
}

/** Per artifact, the causes the rules give it (consequences left out): what a tool that answers per artifact should say. */
export function causesPerArtifact(rules: readonly ExpectedRule[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const r of rules) if (r.cause !== 'consequence') (out[r.artifact] ??= new Set()).add(r.cause);
  return Object.fromEntries(Object.entries(out).map(([a, s]) => [a, [...s].sort()]));
}
