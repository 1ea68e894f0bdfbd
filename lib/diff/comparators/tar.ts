import { byteOrder } from '../../byte-order.js';
import { type CauseId, finding } from '../findings.js';
import type { Pairing } from '../pairing.js';
import type { ArchiveScan, MemberRecord } from '../read/archive.js';
import type { Finding, Location } from '../types.js';

export interface MemberDiff {
  left?: MemberRecord;
  right?: MemberRecord;
  findings: Finding[];
  /** both are files whose bytes differ: compared in pass 2 */
  content: boolean;
  /** how a pair with two names was made (image manifest position, content similarity) */
  comment?: string;
}

export interface TarComparison {
  findings: Finding[];
  comments: string[];
  members: MemberDiff[];
}

const octal = (m: number) => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;
const date = (s: number) => `${new Date(s * 1000).toISOString().replace('.000Z', 'Z')} (${s})`;

export function modeCause(a: number, b: number): CauseId {
  return ((a ^ b) & ~0o022) === 0 ? 'umask' : 'mode';
}

const COVERED_PAX = new Set(['mtime', 'size', 'uid', 'gid', 'uname', 'gname']);

function paxCause(k: string): CauseId {
  if (k === 'atime' || k === 'ctime') return 'pax-time';
  if (/^(SCHILY\.xattr|LIBARCHIVE\.xattr|SCHILY\.acl|RHT\.security)/.test(k)) return 'xattrs';
  return 'tar-format';
}

export function headerFindings(l: MemberRecord, r: MemberRecord, path: Location, sameName: boolean): Finding[] {
  const out: Finding[] = [];
  // Raw values are compared first and rendered only when they differ: most of 100,000 pairs are equal.
  const add = <T>(cause: CauseId, field: string, a: T, b: T, show: (v: T) => string = String) => {
    if (a !== b) out.push(finding(cause, path, 'tar', field, show(a), show(b)));
  };
  if (sameName) add('tar-format', 'name', l.name, r.name);
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
 * The tar layer from two pass-1 scans and their pairing: members only on one side, renames, order, archive-wide
 * format, and each header field. Content is only flagged here (digests differ); pass 2 explains it. `filtered`
 * says members were left out (--exclude), so equal remaining members are not a tar-encoding difference.
 */
export function compareTar(l: ArchiveScan, r: ArchiveScan, pairing: Pairing, path: Location, filtered = false): TarComparison {
  const findings: Finding[] = [];
  const members: MemberDiff[] = [];
  for (const p of pairing.pairs) {
    const { left: a, right: b, how } = p;
    const fs = headerFindings(a, b, [...path, a.name], !how);
    if (how?.rename) {
      fs.unshift(finding('rename', [...path, a.name], 'tar', 'name', a.name, b.name, `paired by content similarity ${how.rename.similarity.toFixed(2)}`));
    }
    const content = a.type === 'file' && b.type === 'file' && a.digest !== b.digest;
    if (fs.length || content) members.push({ left: a, right: b, findings: fs, content, ...(how ? { comment: how.comment } : {}) });
  }
  for (const a of pairing.leftOnly) members.push({ left: a, findings: [finding('file-set', [...path, a.name], 'tar', 'member', a.name, null, 'only in left')], content: false });
  for (const b of pairing.rightOnly) members.push({ right: b, findings: [finding('file-set', [...path, b.name], 'tar', 'member', null, b.name, 'only in right')], content: false });
  // Reports list members in the left archive's order, then those only on the right.
  members.sort((x, y) => (x.left?.index ?? Infinity) - (y.left?.index ?? Infinity) || (x.right?.index ?? 0) - (y.right?.index ?? 0));

  // Order: the right indices of name-paired members, in left order, and the longest run that kept its order.
  const leftIdx: number[] = [];
  const seq: number[] = [];
  pairing.rightOfLeft.forEach((ri, li) => {
    if (ri >= 0) {
      leftIdx.push(li);
      seq.push(ri);
    }
  });
  const inOrder = longestIncreasing(seq);
  if (inOrder.size < seq.length) {
    const first = seq.findIndex((_, i) => !inOrder.has(i));
    const leftWindow = leftIdx.slice(Math.max(0, first - 1), first + 3).map((i) => l.names[i]).join(', ');
    const sortedRight = [...seq].sort((x, y) => x - y);
    const rightWindow = sortedRight.slice(Math.max(0, first - 1), first + 3).map((i) => r.names[i]).join(', ');
    findings.push(finding('order', path, 'tar', 'member order', leftWindow, rightWindow, `${seq.length - inOrder.size} of ${seq.length} common members are out of order`));
  }

  const formats = (s: ArchiveScan) => [...s.formats].sort((a, b) => b[1] - a[1]).map(([f, n]) => `${f} (${n})`).join(', ');
  const fl = formats(l);
  const fr = formats(r);
  // Only the dominant format is compared: one long name more on a side is not a format change.
  if (l.names.length && r.names.length && fl.split(' ')[0] !== fr.split(' ')[0]) findings.push(finding('tar-format', path, 'tar', 'header format', fl, fr));
  if (findings.length === 0 && members.length === 0 && !filtered) {
    findings.push(finding('tar-format', path, 'tar', 'header encoding', `${l.contentSize} bytes`, `${r.contentSize} bytes`, 'same members and fields: the tar writers encode numbers, padding or end-of-archive blocks differently'));
  }
  const contentCount = members.filter((m) => m.content).length;
  const comments = [`${l.names.length} members in left, ${r.names.length} in right; ${members.length} differ (${contentCount} in content)`];
  return { findings, comments, members };
}
