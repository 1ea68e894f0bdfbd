import { collect } from '../bytes.js';
import { classifyChanges, finding } from '../findings.js';
import type { Difference, Finding, Location } from '../types.js';
import { decodeText, diffLines, textComparator, unifiedDiff } from './text.js';
import type { ContentComparator } from './types.js';

/** Key changes kept per document (all are counted), and how much of a value a finding shows. */
const MAX_CHANGES = 50;
const MAX_VALUE = 300;
const MAX_NESTING = 64;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Change {
  key: string;
  left: Json | undefined;
  right: Json | undefined;
}

function keyPath(parent: string, k: string | number): string {
  if (typeof k === 'number') return `${parent}[${k}]`;
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `${parent}.${k}` : `${parent}[${JSON.stringify(k)}]`;
}

const isObject = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Differences by key (objects by key, arrays by index), depth first; `count` has them all, `out` the first ones. */
function changes(a: Json | undefined, b: Json | undefined, key: string, out: Change[], count: { n: number }, depth = 0): void {
  if (isObject(a) && isObject(b) && depth < MAX_NESTING) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) changes(a[k], b[k], keyPath(key, k), out, count, depth + 1);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && depth < MAX_NESTING) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) changes(a[i], b[i], keyPath(key, i), out, count, depth + 1);
    return;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  count.n++;
  if (out.length < MAX_CHANGES) out.push({ key: key || '(document)', left: a, right: b });
}

function shown(v: Json | undefined): string | null {
  if (v === undefined) return null;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** Key order of every object, depth first: differs when only the serialization order changed. */
function keyOrder(v: Json, out: string[] = []): string[] {
  if (isObject(v)) for (const [k, x] of Object.entries(v)) out.push(k), keyOrder(x, out);
  else if (Array.isArray(v)) for (const x of v) keyOrder(x, out);
  return out;
}

function changeFindings(list: Change[], path: Location): Finding[] {
  return list.map((c) => {
    const l = shown(c.left);
    const r = shown(c.right);
    const cls = l !== null && r !== null ? classifyChanges(l, r)[0] : undefined;
    return finding(cls?.cause ?? 'content', path, 'content', `key ${c.key}`, l, r, cls?.note ?? (l === null ? 'key only in right' : r === null ? 'key only in left' : undefined));
  });
}

/** JSON documents compared by key (diffoscope's json comparator), with a unified diff of both pretty-printed. */
export const jsonComparator: ContentComparator = {
  name: 'json',
  recognizes: (l, r, ctx) => l === 'json' && r === 'json' && Math.max(...ctx.sizes) <= ctx.limits.maxTextBytes,
  async compare(left, right, ctx): Promise<Difference> {
    const [a, b] = await Promise.all([collect(left.open()), collect(right.open())]);
    let va: Json;
    let vb: Json;
    try {
      va = JSON.parse(decodeText(a)) as Json;
      vb = JSON.parse(decodeText(b)) as Json;
    } catch (err) {
      const text = await textComparator.compare(left, right, ctx);
      text.comments.unshift(`not JSON after all (${(err as Error).message}): compared as text`);
      return text;
    }
    const list: Change[] = [];
    const count = { n: 0 };
    changes(va, vb, '', list, count);
    const comments = [`${count.n} key${count.n === 1 ? '' : 's'} differ${count.n > list.length ? ` (first ${list.length} shown)` : ''}`];
    const findings = changeFindings(list, ctx.path);
    if (count.n === 0) {
      const order = keyOrder(va).join('\0') !== keyOrder(vb).join('\0');
      findings.push(
        order
          ? finding('order', ctx.path, 'content', 'key order', null, null, 'the same keys and values, with object keys in another order: the writer followed map or insertion order')
          : finding('content', ctx.path, 'content', 'JSON formatting', `${a.length} bytes`, `${b.length} bytes`, 'the same values, written with other whitespace or escapes'),
      );
    }
    const pretty = (v: Json) => JSON.stringify(v, null, 2).split('\n');
    const unified_diff = unifiedDiff(diffLines(pretty(va), pretty(vb)), left.name, right.name, ctx.limits.maxDiffLines);
    return { source1: left.name, source2: right.name, kind: 'json', comments, findings, unified_diff, details: [] };
  },
};
