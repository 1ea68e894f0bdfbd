import { byteOrder } from '../../byte-order.js';
import { buildPathsIn, classifyDates, datesIn, finding, pathShape } from '../findings.js';
import { type ElfSection, ElfLayout, pairSections, sectionDigests } from '../elf-sections.js';
import type { Source } from '../source.js';
import type { ByteRange, Difference, Finding } from '../types.js';
import { bounded } from '../locate.js';
import { type ByteComparison, compareBytes, explainRanges, locateRuns, rangeComments, rangeText, unexplainedFinding, windowsKept } from './binary.js';
import type { ContentComparator, ContentContext } from './types.js';

/** Distinct strings kept per kind and side: a Go binary without -trimpath holds thousands of paths. */
const MAX_STRINGS = 5000;
/** Carried between chunks so a string cut by a chunk boundary is still seen whole. */
const CARRY = 1024;

// Go's build ID: the .note.go.buildid note (namesz 4, descsz < 256, type 4, "Go\0\0", then the ID) in ELF, or the
// `\xff Go build ID: "…"\n \xff` marker older toolchains put at the start of the text segment. The GNU build-id
// note is namesz 4, descsz 20, type 3, "GNU\0", then 20 bytes.
const GO_BUILD_ID = /\x04\x00\x00\x00[\s\S]\x00\x00\x00\x04\x00\x00\x00Go\x00\x00([!-~]{1,255})|\xff Go build ID: "([^"\n]{0,400})"\n \xff/;
const GNU_BUILD_ID = /\x04\x00\x00\x00\x14\x00\x00\x00\x03\x00\x00\x00GNU\x00([\s\S]{20})/;

/** Streams one side's bytes, collecting what explains ELF differences: build IDs, build paths and dates. */
class ElfStrings {
  goBuildId?: string;
  gnuBuildId?: string;
  readonly paths = new Set<string>();
  readonly dates = new Set<string>();
  private carry = '';

  feed(chunk: Buffer): void {
    const text = this.carry + chunk.toString('latin1');
    if (this.goBuildId === undefined) {
      const m = GO_BUILD_ID.exec(text);
      if (m) this.goBuildId = m[1] ?? m[2];
    }
    if (this.gnuBuildId === undefined) {
      const m = GNU_BUILD_ID.exec(text)?.[1];
      if (m !== undefined) this.gnuBuildId = Buffer.from(m, 'latin1').toString('hex');
    }
    if (this.paths.size < MAX_STRINGS) for (const p of buildPathsIn(text)) this.paths.add(p);
    if (this.dates.size < MAX_STRINGS) for (const d of datesIn(text)) this.dates.add(d);
    this.carry = text.slice(-CARRY);
  }
}

function only(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort(byteOrder);
}

/** The build roots of two paths that differ only by them: "/tmp/a/cmd/x.go" vs "/tmp/bb/cmd/x.go" → the prefixes. */
function roots(l: string, r: string): [string, string] {
  const a = l.split('/');
  const b = r.split('/');
  let same = 0;
  while (same < a.length - 1 && same < b.length - 1 && a[a.length - 1 - same] === b[b.length - 1 - same]) same++;
  return [a.slice(0, a.length - same).join('/'), b.slice(0, b.length - same).join('/')];
}

function list(xs: string[], max = 3): string {
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} (+${xs.length - max} more)`;
}

function pathFindings(l: ElfStrings, r: ElfStrings, ctx: ContentContext): Finding[] {
  const onlyL = only(l.paths, r.paths);
  const onlyR = only(r.paths, l.paths);
  if (!onlyL.length && !onlyR.length) return [];
  // Pair paths of the same shape (digits masked: /tmp/go-build123 vs /tmp/go-build456) to name the two roots.
  const byShape = new Map(onlyR.map((p) => [pathShape(p.split('/').slice(-3).join('/')), p]));
  for (const p of onlyL) {
    const match = byShape.get(pathShape(p.split('/').slice(-3).join('/')));
    if (match) {
      const [a, b] = roots(p, match);
      return [finding('build-path', ctx.path, 'content', 'embedded build path', a, b, `${onlyL.length} embedded paths only in left, ${onlyR.length} only in right, e.g. ${p} vs ${match}`)];
    }
  }
  const note = onlyL.length && onlyR.length ? undefined : `${onlyL.length ? 'right' : 'left'} embeds none of these: built with -trimpath on one side only?`;
  return [finding('build-path', ctx.path, 'content', 'embedded build path', onlyL.length ? list(onlyL) : null, onlyR.length ? list(onlyR) : null, note)];
}

const SHT_NOBITS = 8;
const within = (s: ElfSection, offset: number) => offset >= s.offset && offset < s.offset + s.size;

interface SectionReport {
  nodes: Difference[];
  findings: Finding[];
  comments: string[];
  /** ranges outside every section (ELF and program headers, the section table): shown on the ELF node */
  outside: ByteRange[];
  sectionOf: (offset: number) => string | undefined;
  sameLayout: boolean;
  /** differing section pairs (left, right) */
  differing: [ElfSection, ElfSection][];
}

/**
 * Which sections differ: with the same layout on both sides (every section at the same offset and size) the
 * differing byte ranges are placed in their sections; otherwise each section is hashed from one more reading.
 */
async function compareSections(left: Source, right: Source, ll: ElfLayout, lr: ElfLayout, cmp: ByteComparison, ctx: ContentContext): Promise<SectionReport> {
  const sl = ll.sections();
  const sr = lr.sections();
  const none: SectionReport = { nodes: [], findings: [], comments: [], outside: cmp.ranges, sectionOf: () => undefined, sameLayout: false, differing: [] };
  if (!sl || !sr) return { ...none, comments: [`sections not compared: ${(sl ? lr : ll).problem ?? 'unreadable section headers'}`] };
  const comments = [ll.problem, lr.problem].filter((p): p is string => !!p).map((p) => `sections: ${p}`);
  const findings: Finding[] = [];
  const { pairs, onlyLeft, onlyRight } = pairSections(sl, sr);
  if (onlyLeft.length || onlyRight.length) {
    findings.push(finding('content', ctx.path, 'content', 'sections', onlyLeft.length ? list(onlyLeft.map((x) => x.name)) : null, onlyRight.length ? list(onlyRight.map((x) => x.name)) : null, 'sections present on one side only (stripped, or built with other flags such as -g)'));
  }
  const sameLayout = !onlyLeft.length && !onlyRight.length && pairs.every(([a, b]) => a.offset === b.offset && a.size === b.size);
  const differing: { a: ElfSection; b: ElfSection; comment: string; ranges: ByteRange[] }[] = [];
  if (sameLayout) {
    for (const [a, b] of pairs) {
      let n = 0;
      let bytes = 0;
      for (let i = 0; i < cmp.intervals.length; i += 2) {
        const from = Math.max(a.offset, cmp.intervals[i]!);
        const to = Math.min(a.offset + a.size, cmp.intervals[i + 1]!);
        if (from < to) {
          n++;
          bytes += to - from;
        }
      }
      if (n) differing.push({ a, b, comment: `${n} differing range${n === 1 ? '' : 's'} (${bytes} bytes) in ${a.size} bytes at 0x${a.offset.toString(16)}`, ranges: cmp.ranges.filter((r) => within(a, r.offset)) });
    }
  } else {
    comments.push('section layouts differ (sizes or offsets), so each section was hashed from another reading');
    const [dl, dr] = await Promise.all([sectionDigests(left.open(), sl), sectionDigests(right.open(), sr)]);
    for (const [a, b] of pairs) {
      if (a.size === b.size && dl.get(a) === dr.get(b)) continue;
      differing.push({ a, b, comment: a.size === b.size ? `same size (${a.size} bytes), other bytes` : `size ${a.size} → ${b.size} bytes`, ranges: [] });
    }
  }
  const nodes = differing.map(({ a, b, comment, ranges }): Difference => ({ source1: a.name, source2: b.name, kind: 'section', comments: [comment], findings: [], ...(ranges.length ? { ranges } : {}), details: [] }));
  comments.push(`${differing.length} of ${pairs.length} sections differ${differing.length ? `: ${list(differing.map((d) => d.a.name), 8)}` : ''}`);
  const outside = sameLayout ? cmp.ranges.filter((r) => !sl.some((x) => within(x, r.offset))) : cmp.ranges;
  return { nodes, findings, comments, outside, sectionOf: (offset) => sl.find((x) => x.size > 0 && within(x, offset))?.name, sameLayout, differing: differing.map((d) => [d.a, d.b]) };
}

/**
 * DiffOptions.every for ELF: with one layout on both sides each differing byte run, named by its section; with
 * shifted layouts (a longer embedded path moves everything after it) each differing section whole, spanning its
 * bytes in the left file, and one finding for the layout itself. `explained` runs and the build ID notes are left
 * to the build ID findings.
 */
function locateSections(cmp: ByteComparison, sections: SectionReport, ctx: ContentContext, explained: (offset: number, window?: ByteRange) => boolean): Finding[] {
  if (sections.sameLayout) return locateRuns(cmp, ctx, (offset) => `bytes in ${sections.sectionOf(offset) ?? 'headers'}`, explained);
  // Unreadable section headers: runs of bytes, as for any binary.
  if (sections.differing.length === 0) return locateRuns(cmp, ctx, () => 'bytes', explained);
  const out: Finding[] = [];
  const moved = sections.differing.filter(([a, b]) => a.size !== b.size || a.offset !== b.offset);
  if (moved.length) {
    const show = (s: ElfSection) => `${s.name} ${s.size} bytes at 0x${s.offset.toString(16)}`;
    out.push(finding('content', ctx.path, 'content', 'section layout', list(moved.map(([a]) => show(a))), list(moved.map(([, b]) => show(b))), `${moved.length} section(s) moved or resized: everything after a changed size shifts`));
  }
  for (const [a, b] of sections.differing) {
    // Build ID notes: the build ID findings; NOBITS (.bss): no bytes in the file.
    if (/^\.note\.(gnu\.build-id|go\.buildid)$/.test(a.name) || a.size === 0 || a.type === SHT_NOBITS) continue;
    out.push({
      ...finding('content', ctx.path, 'content', `bytes in ${a.name}`, null, null, `the section differs (${a.size === b.size ? `same size, ${a.size} bytes` : `size ${a.size} → ${b.size} bytes`}); compared whole because the layouts differ`),
      at: { unit: 'byte', start: a.offset, end: a.offset + Math.max(a.size, 1) - 1, total: cmp.sizes[0] },
    });
  }
  return bounded(out, ctx.limits.maxLocated);
}

export const elfComparator: ContentComparator = {
  name: 'elf',
  recognizes: (l, r) => l === 'elf' && r === 'elf',
  async compare(left, right, ctx): Promise<Difference> {
    const ls = new ElfStrings();
    const rs = new ElfStrings();
    const ll = new ElfLayout();
    const lr = new ElfLayout();
    const cmp = await compareBytes(
      left.open(),
      right.open(),
      windowsKept(ctx),
      {
        left: (c) => (ls.feed(c), ll.feed(c)),
        right: (c) => (rs.feed(c), lr.feed(c)),
      },
      ctx.every ? ctx.limits.maxLocated : 0,
    );
    const sections = await compareSections(left, right, ll, lr, cmp, ctx);
    const findings: Finding[] = [...sections.findings];
    if (ls.goBuildId !== rs.goBuildId) findings.push(finding('go-build-id', ctx.path, 'content', 'Go build ID', ls.goBuildId ?? null, rs.goBuildId ?? null));
    if (ls.gnuBuildId !== rs.gnuBuildId) findings.push(finding('build-id', ctx.path, 'content', 'GNU build ID', ls.gnuBuildId ?? null, rs.gnuBuildId ?? null));
    findings.push(...pathFindings(ls, rs, ctx));
    const datesL = only(ls.dates, rs.dates);
    const datesR = only(rs.dates, ls.dates);
    if (datesL.length || datesR.length) {
      const cls = datesL[0] && datesR[0] ? classifyDates(datesL[0], datesR[0]) : undefined;
      findings.push(finding(cls?.cause ?? 'timestamp', ctx.path, 'content', 'embedded date', datesL.length ? list(datesL) : null, datesR.length ? list(datesR) : null, cls?.note));
    }
    const ids = [ls.goBuildId, rs.goBuildId].filter((x): x is string => !!x);
    // A range whose window holds a piece of either build ID is explained by the build ID finding.
    const inBuildId = (t: string) => ids.some((id) => Array.from({ length: Math.max(0, id.length - 7) }, (_, i) => id.slice(i, i + 8)).some((piece) => t.includes(piece)));
    // Build ID notes are explained by the build ID findings; a range showing a piece of a Go build ID likewise.
    const idNote = (r: ByteRange) => /^\.note\.(gnu\.build-id|go\.buildid)$/.test(sections.sectionOf(r.offset) ?? '');
    const explained = (r: ByteRange) => idNote(r) || inBuildId(rangeText(r.left)) || inBuildId(rangeText(r.right));
    if (ctx.every) {
      findings.push(...locateSections(cmp, sections, ctx, (offset, window) => /^\.note\.(gnu\.build-id|go\.buildid)$/.test(sections.sectionOf(offset) ?? '') || (window !== undefined && explained(window))));
      return { source1: left.name, source2: right.name, kind: 'elf', comments: [...rangeComments(cmp), ...sections.comments], findings, ...(sections.outside.length ? { ranges: sections.outside.slice(0, ctx.limits.maxRanges) } : {}), details: sections.nodes };
    }
    const { findings: fromRanges, unexplained } = explainRanges(cmp, ctx, explained);
    for (const f of fromRanges) if (!findings.some((x) => x.cause === f.cause)) findings.push(f);
    // With one layout on both sides an unexplained range is a change of its own ("then bytes"); with shifted
    // layouts every later range is a consequence, so it is reported only when nothing else explains the file.
    const first = unexplained[0];
    if (first && (findings.length === 0 || sections.sameLayout)) {
      const f = unexplainedFinding(ctx, cmp, first);
      const where = [...new Set(unexplained.map((r) => sections.sectionOf(r.offset) ?? 'headers'))];
      findings.push({ ...f, field: `bytes in ${where[0]}`, note: `${unexplained.length} range(s) no rule explains, in ${list(where)}; the first at byte 0x${first.offset.toString(16)}` });
    }
    return { source1: left.name, source2: right.name, kind: 'elf', comments: [...rangeComments(cmp), ...sections.comments], findings, ...(sections.outside.length ? { ranges: sections.outside } : {}), details: sections.nodes };
  },
};
