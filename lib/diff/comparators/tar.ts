import * as posix from 'node:path/posix';
import { byteOrder } from '../../byte-order.js';
import { type CauseId, finding } from '../findings.js';
import type { ArchiveScan, MemberRecord } from '../read/archive.js';
import type { Finding, Location } from '../types.js';

export interface MemberDiff {
  left?: MemberRecord;
  right?: MemberRecord;
  findings: Finding[];
  /** both are files whose bytes differ: compared in pass 2 */
  content: boolean;
}

export interface TarComparison {
  findings: Finding[];
  comments: string[];
  members: MemberDiff[];
}

/** Pairing key: "./a/" and "a" are the same member; the spelling difference is reported as a format finding. */
function key(name: string): string {
  const n = posix.normalize(name.replace(/^(\.\/)+/, ''));
  return n === '.' || n === './' ? '.' : n.replace(/\/$/, '');
}

const octal = (m: number) => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;
const date = (s: number) => `${new Date(s * 1000).toISOString().replace('.000Z', 'Z')} (${s})`;

function modeCause(a: number, b: number): CauseId {
  return ((a ^ b) & ~0o022) === 0 ? 'umask' : 'mode';
}

const COVERED_PAX = new Set(['mtime', 'size', 'uid', 'gid', 'uname', 'gname']);

function paxCause(k: string): CauseId {
  if (k === 'atime' || k === 'ctime') return 'pax-time';
  if (/^(SCHILY\.xattr|LIBARCHIVE\.xattr|SCHILY\.acl|RHT\.security)/.test(k)) return 'xattrs';
  return 'tar-format';
}

function headerFindings(l: MemberRecord, r: MemberRecord, path: Location): Finding[] {
  const out: Finding[] = [];
  // Raw values are compared first and rendered only when they differ: most of 100,000 pairs are equal.
  const add = <T>(cause: CauseId, field: string, a: T, b: T, show: (v: T) => string = String) => {
    if (a !== b) out.push(finding(cause, path, 'tar', field, show(a), show(b)));
  };
  add('tar-format', 'name', l.name, r.name);
  const linkVsFile = (l.type === 'hardlink' && r.type === 'file') || (l.type === 'file' && r.type === 'hardlink');
  add(linkVsFile ? 'hardlink' : 'type', 'type', l.type === 'other' ? `typeflag ${l.typeflag}` : l.type, r.type === 'other' ? `typeflag ${r.typeflag}` : r.type);
  add(modeCause(l.mode, r.mode), 'mode', l.mode & 0o7777, r.mode & 0o7777, octal);
  add('owner', 'uid', l.uid, r.uid);
  add('owner', 'gid', l.gid, r.gid);
  add('owner', 'uname', l.uname, r.uname);
  add('owner', 'gname', l.gname, r.gname);
  add('timestamp', 'mtime', l.mtime, r.mtime, date);
  if (l.type === r.type) add(l.type === 'hardlink' ? 'hardlink' : 'link-target', 'link target', l.linkname, r.linkname);
  add('type', 'device', `${l.devmajor},${l.devminor}`, `${r.devmajor},${r.devminor}`);
  if (l.pax === r.pax) return out;
  for (const k of [...new Set([...Object.keys(l.pax), ...Object.keys(r.pax)])].sort(byteOrder)) {
    if (COVERED_PAX.has(k)) continue;
    const a = l.pax[k];
    const b = r.pax[k];
    if (a !== b) out.push(finding(paxCause(k), path, 'tar', `pax ${k}`, a ?? null, b ?? null));
  }
  return out;
}

/** Longest increasing subsequence (indices into `seq`), O(n log n): the members that kept their relative order. */
function longestIncreasing(seq: number[]): Set<number> {
  const tails: number[] = [];
  const prev = new Int32Array(seq.length).fill(-1);
  for (let i = 0; i < seq.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]!]! < seq[i]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1]!;
    tails[lo] = i;
  }
  const keep = new Set<number>();
  for (let i = tails.at(-1) ?? -1; i >= 0; i = prev[i]!) keep.add(i);
  return keep;
}

/**
 * The tar layer from two pass-1 scans: pairing by name (the k-th occurrence of a name with the k-th), members
 * only on one side, order, archive-wide format, and each header field. Content is only flagged here (digests
 * differ); pass 2 explains it.
 */
export function compareTar(l: ArchiveScan, r: ArchiveScan, path: Location): TarComparison {
  const findings: Finding[] = [];
  const byKey = new Map<string, MemberRecord[]>();
  for (const m of r.members) {
    const k = key(m.name);
    const list = byKey.get(k);
    if (list) list.push(m);
    else byKey.set(k, [m]);
  }
  const taken = new Map<string, number>();
  const members: MemberDiff[] = [];
  const paired: [MemberRecord, MemberRecord][] = [];
  const matched = new Set<MemberRecord>();
  for (const a of l.members) {
    const k = key(a.name);
    const n = taken.get(k) ?? 0;
    const b = byKey.get(k)?.[n];
    taken.set(k, n + 1);
    if (!b) {
      members.push({ left: a, findings: [finding('file-set', [...path, a.name], 'tar', 'member', a.name, null, 'only in left')], content: false });
      continue;
    }
    matched.add(b);
    paired.push([a, b]);
    const fs = headerFindings(a, b, [...path, a.name]);
    const content = a.type === 'file' && b.type === 'file' && a.digest !== b.digest;
    if (fs.length || content) members.push({ left: a, right: b, findings: fs, content });
  }
  for (const b of r.members) {
    if (!matched.has(b)) members.push({ right: b, findings: [finding('file-set', [...path, b.name], 'tar', 'member', null, b.name, 'only in right')], content: false });
  }

  const inOrder = longestIncreasing(paired.map(([, b]) => b.index));
  if (inOrder.size < paired.length) {
    const first = paired.findIndex((_, i) => !inOrder.has(i));
    const window = (side: 0 | 1) =>
      [...paired]
        .sort((x, y) => x[side].index - y[side].index)
        .slice(Math.max(0, first - 1), first + 3)
        .map((p) => p[side].name)
        .join(', ');
    findings.push(finding('order', path, 'tar', 'member order', window(0), window(1), `${paired.length - inOrder.size} of ${paired.length} common members are out of order`));
  }

  const formats = (s: ArchiveScan) => {
    const counts = new Map<string, number>();
    for (const m of s.members) {
      const f = Object.keys(m.pax).length ? 'pax' : m.gnuLongName ? 'gnu' : m.format;
      counts.set(f, (counts.get(f) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]).map(([f, n]) => `${f} (${n})`).join(', ');
  };
  const fl = formats(l);
  const fr = formats(r);
  // Only the dominant format is compared: one long name more on a side is not a format change.
  if (l.members.length && r.members.length && fl.split(' ')[0] !== fr.split(' ')[0]) findings.push(finding('tar-format', path, 'tar', 'header format', fl, fr));
  if (findings.length === 0 && members.length === 0) {
    findings.push(finding('tar-format', path, 'tar', 'header encoding', `${l.tarSize} bytes`, `${r.tarSize} bytes`, 'same members and fields: the tar writers encode numbers, padding or end-of-archive blocks differently'));
  }
  const contentCount = members.filter((m) => m.content).length;
  const comments = [`${l.members.length} members in left, ${r.members.length} in right; ${members.length} differ (${contentCount} in content)`];
  return { findings, comments, members };
}
