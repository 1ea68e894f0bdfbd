import { spawn } from 'node:child_process';
import { Deflate } from 'pako';
import { type BlockJob, nativeDeflateBlockSync, pakoDeflateBlock } from '../archive/block-deflate.js';
import { BLOCK_SIZE, gzipHeader, MEMBER_SIZE, nativeMatchesPinned } from '../archive/gzip.js';
import { libdeflateMember } from '../archive/libdeflate.js';
import type { GzipHeader, InflateCapture } from './read/gzip.js';

export type EncoderFamily = 'krepro-format-2' | 'krepro-pinned' | 'chromium-zlib' | 'zlib' | 'gnu-gzip';

export interface EncoderMatch {
  family: EncoderFamily;
  level: number;
  /** the whole deflate stream was reproduced; otherwise its first `comparedBytes` bytes */
  exact: boolean;
  comparedBytes: number;
}

export interface Fingerprint {
  matches: EncoderMatch[];
  /** families tried, for the report when nothing matched */
  tried: EncoderFamily[];
  gnuGzipVersion?: string;
}

const WINDOW = 32 * 1024;
const PIECE = 64 * 1024;

/** XFL as zlib and GNU gzip set it: 2 for level 9, 4 for level 1, else 0. */
function expectedXfl(level: number): number {
  return level === 9 ? 2 : level === 1 ? 4 : 0;
}

interface Sample {
  input: Buffer;
  /** the deflate bytes the archive holds for `input` (all of them when `whole`) */
  actual: Buffer;
  whole: boolean;
  /** deflate bytes per inflated byte over the whole stream, to estimate a prefix's output length */
  ratio: number;
}

/**
 * The sample to re-encode: the first `fingerprintBytes` inflated bytes and the deflate bytes after the header.
 * When the whole stream fits, the comparison is exact, trailer excluded.
 */
function sampleOf(header: GzipHeader, capture: InflateCapture, maxInput = Infinity): Sample {
  const input = Buffer.concat(capture.inflatedPrefix).subarray(0, maxInput);
  const deflate = Buffer.concat(capture.deflatePrefix);
  const deflateLength = capture.compressed - header.length - 8;
  const whole = capture.inflated === input.length && deflateLength <= deflate.length && deflateLength >= 0;
  return { input, actual: whole ? deflate.subarray(0, deflateLength) : deflate, whole, ratio: capture.compressed / Math.max(1, capture.inflated) };
}

/** Compares streamed output with `actual`; remembers the first mismatch and how far output matched. */
class Matcher {
  pos = 0;
  mismatch = -1;
  constructor(private readonly actual: Buffer) {}
  feed(chunk: Uint8Array): void {
    if (this.mismatch >= 0) return;
    const n = Math.min(chunk.length, this.actual.length - this.pos);
    for (let i = 0; i < n; i++) {
      if (chunk[i] !== this.actual[this.pos + i]) {
        this.mismatch = this.pos + i;
        return;
      }
    }
    this.pos += chunk.length;
  }
  get exhausted(): boolean {
    return this.pos >= this.actual.length;
  }
}

/**
 * One pako stream (Chromium zlib by default, vanilla zlib with legacyHash). Without a flush, bytes pako has
 * emitted are final, so a prefix can be checked; a wrong candidate diverges within its first block.
 */
function tryPakoStream(level: number, legacyHash: boolean, s: Sample): EncoderMatch | undefined {
  const deflate = new Deflate({ level, raw: true, legacyHash });
  const m = new Matcher(s.actual);
  deflate.onData = (c) => m.feed(c);
  for (let off = 0; off < s.input.length && m.mismatch < 0 && (s.whole || !m.exhausted); off += PIECE) {
    deflate.push(s.input.subarray(off, off + PIECE), false);
  }
  if (s.whole && m.mismatch < 0) deflate.push(new Uint8Array(0), true);
  const family = legacyHash ? 'zlib' : 'chromium-zlib';
  return result(family, level, m, s);
}

function result(family: EncoderFamily, level: number, m: Matcher, s: Sample): EncoderMatch | undefined {
  if (m.mismatch >= 0) return undefined;
  if (s.whole) return m.pos === s.actual.length ? { family, level, exact: true, comparedBytes: m.pos } : undefined;
  const compared = Math.min(m.pos, s.actual.length);
  return compared > 0 ? { family, level, exact: false, comparedBytes: compared } : undefined;
}

/** krepro's pinned format: independent 128 KiB blocks primed with 32 KiB; a full non-last block's bytes are final. */
function tryPinned(level: number, s: Sample): EncoderMatch | undefined {
  const native = nativeMatchesPinned(level);
  const m = new Matcher(s.actual);
  const n = s.input.length;
  for (let start = 0; start < n || (start === 0 && s.whole); start += BLOCK_SIZE) {
    const end = Math.min(start + BLOCK_SIZE, n);
    if (!s.whole && end - start < BLOCK_SIZE) break;
    const job: BlockJob = { block: s.input.subarray(start, end), dictionary: s.input.subarray(Math.max(0, start - WINDOW), start), last: s.whole && end === n };
    m.feed(native ? nativeDeflateBlockSync(job, level) : pakoDeflateBlock(job, level));
    if (m.mismatch >= 0 || (!s.whole && m.exhausted) || n === 0) break;
  }
  return result('krepro-pinned', level, m, s);
}

/**
 * krepro's gzip format 2: every MEMBER_SIZE of input is one whole gzip member deflated by the pinned libdeflate.
 * Every member whose input the sample holds is re-encoded and compared byte for byte, trailers and headers
 * included; exact when that is the whole stream.
 */
function tryFormat2(level: number, s: Sample, inflatedTotal: number): EncoderMatch | undefined {
  const header = gzipHeader(level);
  const member = libdeflateMember({ level, maxInput: MEMBER_SIZE, header });
  const m = new Matcher(s.actual);
  let members = 0;
  // Of a stream larger than the sample, the first whole member is enough to name the format and level.
  const end = s.whole ? Math.min(s.input.length, inflatedTotal) : Math.min(s.input.length, MEMBER_SIZE);
  for (let off = 0; off < end && m.mismatch < 0 && !m.exhausted; off += MEMBER_SIZE) {
    const end = Math.min(off + MEMBER_SIZE, inflatedTotal);
    if (end > s.input.length) break; // the sample ends inside this member: libdeflate's output for a part differs
    const bytes = member(s.input.subarray(off, end));
    m.feed(members++ === 0 ? bytes.subarray(header.length) : bytes);
  }
  if (members === 0 || m.mismatch >= 0) return undefined;
  // `actual` of a whole stream stops before the last trailer, which the re-encoded members include.
  if (s.whole) return m.pos === s.actual.length + 8 ? { family: 'krepro-format-2', level, exact: true, comparedBytes: s.actual.length } : undefined;
  return { family: 'krepro-format-2', level, exact: false, comparedBytes: Math.min(m.pos, s.actual.length) };
}

/**
 * GNU gzip has its own deflate, so it runs as a child fed from memory (never a shell, empty environment: GZIP= in
 * the environment would change its options). Cut at the sample's end, its last block differs from the archive's,
 * so a prefix counts as matching when gzip's output agrees up to its last quarter.
 */
async function tryGnuGzip(bin: string, level: number, s: Sample, signal?: AbortSignal): Promise<EncoderMatch | undefined> {
  const child = spawn(bin, ['-n', `-${level}`, '-c'], { env: {}, stdio: ['pipe', 'pipe', 'ignore'], ...(signal ? { signal } : {}) });
  const m = new Matcher(s.actual);
  let header = 10;
  let total = 0;
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  child.stdin.on('error', () => {});
  child.stdout.on('data', (chunk: Buffer) => {
    const skip = Math.min(header, chunk.length);
    header -= skip;
    const body = chunk.subarray(skip);
    total += body.length;
    m.feed(body);
    // A mismatch well before the expected end cannot be the cut-off last block: stop this candidate now.
    if (m.mismatch >= 0 && (s.whole || m.mismatch < 0.5 * s.ratio * s.input.length)) child.kill();
  });
  child.stdin.end(s.input);
  try {
    await done;
  } catch {
    return undefined;
  }
  if (child.killed) return undefined;
  const deflateLength = total - 8;
  if (s.whole) return m.mismatch < 0 && deflateLength === s.actual.length ? { family: 'gnu-gzip', level, exact: true, comparedBytes: deflateLength } : undefined;
  const agreed = m.mismatch >= 0 ? m.mismatch : Math.min(m.pos, s.actual.length);
  return agreed > 0 && agreed * 4 >= Math.min(deflateLength, s.actual.length) * 3 ? { family: 'gnu-gzip', level, exact: false, comparedBytes: agreed } : undefined;
}

async function gnuGzipVersion(bin: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['--version'], { env: {}, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', () => resolve(/^gzip ([\w.]+)/.exec(out)?.[1]));
  });
}

const LEVELS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/**
 * Names the encoder of a gzip stream by re-encoding its start with each candidate (krepro pinned, Chromium zlib,
 * vanilla zlib at levels 1–9; GNU gzip when given) and keeping those that reproduce the bytes. Candidates whose
 * level disagrees with the header's XFL are dropped when another one agrees.
 */
export async function fingerprint(header: GzipHeader, capture: InflateCapture, opts: { gnuGzip?: string; signal?: AbortSignal; sampleBytes?: number } = {}): Promise<Fingerprint> {
  const s = sampleOf(header, capture, opts.sampleBytes);
  // Format 2 reproduces only whole members (libdeflate's output for part of one differs): it gets at least one,
  // whatever the sample size the other candidates use.
  const s2 = opts.sampleBytes !== undefined && opts.sampleBytes < MEMBER_SIZE ? sampleOf(header, capture, MEMBER_SIZE) : s;
  const matches: EncoderMatch[] = [];
  const tried: EncoderFamily[] = ['krepro-format-2', 'krepro-pinned', 'chromium-zlib', 'zlib'];
  for (const level of LEVELS) {
    opts.signal?.throwIfAborted();
    for (const m of [tryFormat2(level, s2, capture.inflated), tryPinned(level, s), tryPakoStream(level, false, s), tryPakoStream(level, true, s)]) if (m) matches.push(m);
  }
  let version: string | undefined;
  if (opts.gnuGzip) {
    version = await gnuGzipVersion(opts.gnuGzip);
    if (version !== undefined) {
      tried.push('gnu-gzip');
      for (const level of LEVELS) {
        const m = await tryGnuGzip(opts.gnuGzip, level, s, opts.signal);
        if (m) matches.push(m);
      }
    }
  }
  const agreeing = matches.filter((m) => expectedXfl(m.level) === header.xfl);
  return { matches: agreeing.length ? agreeing : matches, tried, ...(version ? { gnuGzipVersion: version } : {}) };
}

const FAMILY_LABEL: Record<EncoderFamily, string> = {
  'krepro-format-2': 'krepro gzip format 2 (libdeflate 1.23, 1 MiB members)',
  'krepro-pinned': 'krepro gzip format 1 (Chromium zlib, 128 KiB blocks)',
  'chromium-zlib': 'Chromium zlib (official Node zlib, pako default)',
  zlib: 'vanilla zlib (Debian/Python zlib, pako legacyHash)',
  'gnu-gzip': 'GNU gzip',
};

function levels(ls: number[]): string {
  const sorted = [...new Set(ls)].sort((a, b) => a - b);
  const contiguous = sorted.length > 2 && sorted.at(-1)! - sorted[0]! === sorted.length - 1;
  return contiguous ? `${sorted[0]}–${sorted.at(-1)}` : sorted.join(' or ');
}

/** "krepro pinned (…) level 6", "GNU gzip 1.12 -9" (header options such as -n are reported as header fields), or "unknown (…)" when no candidate reproduced the bytes. */
export function describeFingerprint(fp: Fingerprint): string {
  if (fp.matches.length === 0) return `unknown encoder (none of: ${fp.tried.map((f) => FAMILY_LABEL[f]).join(', ')} at levels 1–9)`;
  const byFamily = new Map<EncoderFamily, EncoderMatch[]>();
  for (const m of fp.matches) byFamily.set(m.family, [...(byFamily.get(m.family) ?? []), m]);
  const parts = [...byFamily].map(([family, ms]) => {
    const ls = levels(ms.map((m) => m.level));
    return family === 'gnu-gzip' ? `GNU gzip${fp.gnuGzipVersion ? ` ${fp.gnuGzipVersion}` : ''} -${ls}` : `${FAMILY_LABEL[family]} level ${ls}`;
  });
  const exact = fp.matches.every((m) => m.exact);
  const compared = Math.min(...fp.matches.map((m) => m.comparedBytes));
  return `${parts.join(' = ')}${exact ? '' : ` (first ${compared} deflate bytes reproduced)`}`;
}

/** Two fingerprints name the same encoder when some candidate matches both sides. */
export function sameEncoder(a: Fingerprint, b: Fingerprint): boolean {
  return a.matches.some((x) => b.matches.some((y) => x.family === y.family && x.level === y.level));
}
