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
  /** the same elements in another order */
  order?: true;
}

function keyPath(parent: string, k: string | number): string {
  if (typeof k === 'number') return `${parent}[${k}]`;
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `${parent}.${k}` : `${parent}[${JSON.stringify(k)}]`;
}

const isObject = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields that name an array element (SPDX element IDs, then names), tried in this order. */
const ELEMENT_KEYS = ['SPDXID', 'name'];
/** Changes collected before choosing which to show: enough to put every digest after the changes that cause them. */
const MAX_COLLECTED = 20 * MAX_CHANGES;

/** The field that names each element on both sides (an object with a distinct string there), if one does. */
function elementKey(a: Json[], b: Json[]): string | undefined {
  return ELEMENT_KEYS.find((k) =>
    [a, b].every((side) => {
      const names = side.map((e) => (isObject(e) && typeof e[k] === 'string' ? e[k] : undefined));
      return names.every((n) => n !== undefined) && new Set(names).size === names.length;
    }),
  );
}

/**
 * Differences by key, depth first: objects by key; arrays whose elements all carry a distinct SPDXID or name by
 * that (so an element that moved, was added or changed shows as itself); other arrays by index, or, when their
 * lengths differ, by aligning equal elements (so one insertion is one change, not a shift of everything after it).
 * `count` has them all, `out` the first `count.max`.
 */
function changes(a: Json | undefined, b: Json | undefined, key: string, out: Change[], count: { n: number; max: number }, depth = 0): void {
  if (isObject(a) && isObject(b) && depth < MAX_NESTING) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) changes(a[k], b[k], keyPath(key, k), out, count, depth + 1);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && depth < MAX_NESTING) {
    const field = elementKey(a, b);
    if (field !== undefined) return keyedChanges(a as { [k: string]: Json }[], b as { [k: string]: Json }[], field, key, out, count, depth);
    if (a.length === b.length) {
      for (let i = 0; i < a.length; i++) changes(a[i], b[i], keyPath(key, i), out, count, depth + 1);
      return;
    }
    return alignedChanges(a, b, key, out, count, depth);
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  count.n++;
  if (out.length < count.max) out.push({ key: key || '(document)', left: a, right: b });
}

function keyedChanges(a: { [k: string]: Json }[], b: { [k: string]: Json }[], field: string, key: string, out: Change[], count: { n: number; max: number }, depth: number): void {
  const left = new Map(a.map((e) => [e[field] as string, e]));
  const right = new Map(b.map((e) => [e[field] as string, e]));
  const at = (name: string) => `${key}[${field}=${JSON.stringify(name)}]`;
  for (const [name, l] of left) changes(l, right.get(name), at(name), out, count, depth + 1);
  for (const [name, r] of right) if (!left.has(name)) changes(undefined, r, at(name), out, count, depth + 1);
  const common = (side: Map<string, unknown>, other: Map<string, unknown>) => [...side.keys()].filter((n) => other.has(n));
  const lo = common(left, right);
  const ro = common(right, left);
  if (lo.join('\0') !== ro.join('\0')) {
    count.n++;
    if (out.length < count.max) out.push({ key: `${key || '(document)'} order of ${field}`, left: lo, right: ro, order: true });
  }
}

function alignedChanges(a: Json[], b: Json[], key: string, out: Change[], count: { n: number; max: number }, depth: number): void {
  let i = 0;
  let j = 0;
  let removed: number[] = [];
  let added: number[] = [];
  const flush = (): void => {
    const paired = Math.min(removed.length, added.length);
    for (let n = 0; n < paired; n++) changes(a[removed[n]!], b[added[n]!], keyPath(key, removed[n]!), out, count, depth + 1);
    for (const x of removed.slice(paired)) changes(a[x], undefined, keyPath(key, x), out, count, depth + 1);
    for (const y of added.slice(paired)) changes(undefined, b[y], keyPath(key, y), out, count, depth + 1);
    removed = [];
    added = [];
  };
  for (const [op] of diffLines(a.map((e) => JSON.stringify(e)), b.map((e) => JSON.stringify(e)))) {
    if (op === '=') {
      flush();
      i++;
      j++;
    } else if (op === '-') removed.push(i++);
    else added.push(j++);
  }
  flush();
}

/** A digest (hex, or `sha256:` hex) follows from other changes: shown after them when not all fit. */
const DIGEST_VALUE = /^(?:sha\d+:)?[0-9a-f]{32,}$/;

/** The changes to show: at most MAX_CHANGES, the ones that are not digests first, each group in document order. */
function chosen(list: Change[]): Change[] {
  if (list.length <= MAX_CHANGES) return list;
  const isDigest = (c: Change) => [c.left, c.right].every((v) => v === undefined || (typeof v === 'string' && DIGEST_VALUE.test(v)));
  const keep = new Set([...list.filter((c) => !isDigest(c)), ...list.filter(isDigest)].slice(0, MAX_CHANGES));
  return list.filter((c) => keep.has(c));
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
    if (c.order) return finding('order', path, 'content', `key ${c.key}`, l, r, 'the same elements in another order: the writer followed map, insertion or directory order');
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
    const collected: Change[] = [];
    // With `every` each key is a finding of its own (attribution compares them by key), up to maxLocated.
    const count = { n: 0, max: ctx.every ? ctx.limits.maxLocated : MAX_COLLECTED };
    changes(va, vb, '', collected, count);
    const list = ctx.every ? collected : chosen(collected);
    const comments = [`${count.n} key${count.n === 1 ? '' : 's'} differ${count.n > list.length ? ` (${list.length} shown${ctx.every ? '' : ', digests last'})` : ''}`];
    const findings = changeFindings(list, ctx.path);
    if (ctx.every && count.n > list.length) findings.push(finding('content', ctx.path, 'content', 'more keys', null, null, `${count.n - list.length} more keys differ, past the ${list.length} kept one by one (limits.maxLocated)`));
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
