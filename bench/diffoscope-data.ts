// diffoscope's own test data against krepro diff: for each of its tar and gzip pairs, does krepro report every
// member and field that diffoscope's expected output (tests/data/*_expected_diff and the assertions of its
// tests/comparators/test_{tar,gzip,utils}.py) shows? When diffoscope is installed, every member its own --json
// report names is checked too. The data is diffoscope's and is never committed: bring it with the fetch tool.
//   node --import tsx/esm bench/diffoscope-data.ts <diffoscope checkout>/tests/data
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { allFindings, type Difference } from '../lib/api/diff.js';
import { diff, type DiffReport } from '../lib/index.js';

const data = process.argv[2];
if (!data || !existsSync(path.join(data, 'test1.tar'))) {
  console.error('usage: bench/diffoscope-data.ts DIR  (DIR: tests/data of a diffoscope checkout, e.g. fetched with the search tool)');
  process.exit(2);
}
const file = (name: string) => path.join(data, name);
const expected = (name: string) => readFileSync(file(name), 'utf8');

function nodes(r: DiffReport): Difference[] {
  const out: Difference[] = [];
  const walk = (n: Difference) => (out.push(n), n.details.forEach(walk));
  if (r.tree) walk(r.tree);
  return out;
}
/** Every member name the report mentions: node names and finding paths. */
function mentioned(r: DiffReport): Set<string> {
  const out = new Set<string>();
  for (const n of nodes(r)) out.add(n.source1).add(n.source2);
  for (const f of allFindings(r.tree)) for (const p of f.path) out.add(p);
  return out;
}
const finding = (r: DiffReport, member: string, field: string) => allFindings(r.tree).find((f) => f.path.at(-1) === member && f.field === field);
/** The changed lines of a unified diff (its +/- lines without the file header), which krepro's diff must hold too. */
const changedLines = (unified: string) => unified.split('\n').filter((l) => /^[+-]/.test(l) && !/^(\+\+\+|---) /.test(l));
function holdsDiff(r: DiffReport, member: string, expectedDiff: string): boolean {
  const node = nodes(r).find((n) => n.unified_diff !== undefined && (n.source1 === member || n.source2 === member));
  return !!node && changedLines(expectedDiff).every((l) => node.unified_diff!.split('\n').includes(l));
}

/** Members diffoscope's own JSON report shows below the top level (its "file list" and "metadata" are not members). */
function diffoscopeMembers(a: string, b: string): string[] | undefined {
  const run = spawnSync('diffoscope', ['--json', '-', a, b], { encoding: 'utf8', timeout: 300_000 });
  if (run.error || !run.stdout) return undefined;
  const out = new Set<string>();
  const walk = (n: { source1?: string; source2?: string; details?: unknown[] }, depth: number) => {
    for (const s of [n.source1, n.source2]) if (depth > 0 && s && !/^(file list|metadata)$/.test(s) && !s.includes(' ')) out.add(s);
    for (const c of n.details ?? []) walk(c as typeof n, depth + 1);
  };
  walk(JSON.parse(run.stdout), 0);
  return [...out];
}

type Check = [string, (r: DiffReport) => boolean];
const pairs: { left: string; right: string; source: string; checks: Check[] }[] = [
  {
    left: 'test1.tar',
    right: 'test2.tar',
    source: 'tar_listing_expected_diff, text_ascii_expected_diff, symlink_expected_diff (test_tar.py)',
    checks: [
      ...['dir/', 'dir/text', 'dir/null', 'dir/link'].map((m): Check => [`${m} mtime 15:49:09 → 15:49:41`, (r) => /15:49:09Z/.test(finding(r, m, 'mtime')?.left ?? '') && /15:49:41Z/.test(finding(r, m, 'mtime')?.right ?? '')]),
      ['dir/text size 446 → 671', (r) => nodes(r).some((n) => n.source1 === 'dir/text' && n.comments.includes('size 446 → 671 bytes'))],
      ['dir/text content as text_ascii_expected_diff', (r) => holdsDiff(r, 'dir/text', expected('text_ascii_expected_diff'))],
      ['dir/link destination broken → really-broken', (r) => finding(r, 'dir/link', 'link target')?.right === 'really-broken' && finding(r, 'dir/link', 'link target')?.left === 'broken'],
    ],
  },
  {
    left: 'test1.gz',
    right: 'test2.gz',
    source: 'gzip_metadata_expected_diff, text_ascii_expected_diff (test_gzip.py)',
    checks: [
      ['metadata: max compression → default (XFL 2 → 0)', (r) => /^2 /.test(finding(r, '', 'XFL')?.left ?? allFindings(r.tree).find((f) => f.field === 'XFL')?.left ?? '') && /^0 /.test(allFindings(r.tree).find((f) => f.field === 'XFL')?.right ?? '')],
      ['content named test1 / test2', (r) => r.tree?.details[0]?.source1 === 'test1' && r.tree?.details[0]?.source2 === 'test2'],
      ['content as text_ascii_expected_diff', (r) => holdsDiff(r, 'test1', expected('text_ascii_expected_diff'))],
    ],
  },
  {
    left: 'fuzzy1.tar',
    right: 'fuzzy2.tar',
    source: 'text_iso8859_expected_diff (test_utils.py test_fuzzy_matching)',
    checks: [
      ['./matching paired with ./fuzzy as similar', (r) => allFindings(r.tree).some((f) => f.cause === 'rename' && f.left === './matching' && f.right === './fuzzy')],
      ['content as text_iso8859_expected_diff', (r) => holdsDiff(r, './matching', expected('text_iso8859_expected_diff'))],
    ],
  },
  {
    left: 'fuzzy1.tar',
    right: 'fuzzy3.tar',
    source: 'test_utils.py test_fuzzy_matching_only_once',
    checks: [['./matching paired once (one rename, the other member only in right)', (r) => allFindings(r.tree).filter((f) => f.cause === 'rename').length === 1 && allFindings(r.tree).filter((f) => f.cause === 'file-set').length === 1]],
  },
  {
    left: 'fuzzy-tar-in-tar1.tar',
    right: 'fuzzy-tar-in-tar2.tar',
    source: 'test_utils.py test_no_fuzzy_matching (file list; t/test1.tar ↔ t/test2.tar when fuzzy matching is on)',
    checks: [['t/test1.tar paired with t/test2.tar', (r) => allFindings(r.tree).some((f) => f.cause === 'rename' && f.left === 't/test1.tar' && f.right === 't/test2.tar')]],
  },
  {
    left: 'test1.debsrc.tar.gz',
    right: 'test2.debsrc.tar.gz',
    source: 'diffoscope --json (file list: every member renamed with its top directory)',
    checks: [['docs/text paired across equivs.TyCgZ2/ → equivs.b0DMbr/ with its content diff', (r) => allFindings(r.tree).some((f) => f.cause === 'rename' && f.left === 'equivs.TyCgZ2/docs/text')]],
  },
];

let failed = 0;
const haveDiffoscope = spawnSync('diffoscope', ['--version'], { encoding: 'utf8' }).status === 0;
for (const p of pairs) {
  const r = await diff(file(p.left), file(p.right), { labels: [p.left, p.right] });
  const results: [string, boolean][] = p.checks.map(([what, ok]) => [what, ok(r)]);
  const theirs = haveDiffoscope ? diffoscopeMembers(file(p.left), file(p.right)) : undefined;
  if (theirs) {
    const ours = mentioned(r);
    const missing = theirs.filter((m) => !ours.has(m) && !ours.has(m.replace(/^\.\//, '')));
    results.push([`every member diffoscope --json shows (${theirs.length})${missing.length ? `: missing ${missing.join(', ')}` : ''}`, missing.length === 0]);
  }
  const bad = results.filter(([, ok]) => !ok).length;
  failed += bad;
  console.log(`${bad ? 'FAIL' : 'pass'}  ${p.left} vs ${p.right}  (${p.source})`);
  for (const [what, ok] of results) console.log(`      ${ok ? 'ok  ' : 'MISS'} ${what}`);
}
if (!haveDiffoscope) console.log('diffoscope is not installed: only the expected outputs in the data were checked');
console.log(`${pairs.length} pairs, ${failed} checks failed`);
process.exit(failed ? 1 : 0);
