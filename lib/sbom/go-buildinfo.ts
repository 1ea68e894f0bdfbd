import { ByteReader, TruncatedError } from '../diff/bytes.js';

/**
 * Executable formats and Go build info, read the way Go's debug/buildinfo reads them (ELF, Mach-O, PE), but in one
 * forward pass over a stream: the headers at the start say where the writable data lies, and the build info blob
 * ("\xff Go buildinf:", 16-byte aligned) sits near its start. Nothing is held but the headers and the blob.
 */
export type ExecutableFormat = 'elf' | 'macho' | 'pe';

export interface GoModule {
  path: string;
  version: string;
  /** go.sum's `h1:` hash, when the build had one (not for vendored or replaced-by-directory modules) */
  sum?: string;
  replace?: { path: string; version: string; sum?: string };
}

/** What `go version -m` prints: runtime.buildVersion and runtime/debug's module info. */
export interface GoBuildInfo {
  /** `go1.24.4` */
  goVersion: string;
  /** the main package's import path */
  path?: string;
  main?: GoModule;
  deps: GoModule[];
  /** `build` lines in order: `-trimpath=true`, `GOOS=linux`, `vcs.revision=…` */
  settings: { key: string; value: string }[];
}

export interface ExecutableScan {
  format: ExecutableFormat;
  /** present for a Go binary whose build info was read */
  go?: GoBuildInfo;
  /** why a Go binary's build info was not read (e.g. the pre-1.18 pointer format) */
  goProblem?: string;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const ALIGN = 16;
const HEADER = 32;
/** Headers past this are not looked for: no real executable needs more before its sections. */
const MAX_HEAD = 4 << 20;
/** Kubernetes' module info is about 30 KiB: a larger claim is not held in memory. */
const MAX_STRING = 4 << 20;

/** The executable format of a file from its first bytes (at least 64 for PE), or undefined. */
export function executableFormat(head: Buffer): ExecutableFormat | undefined {
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return 'elf';
  if (head.length >= 4 && [0xfeedface, 0xfeedfacf].some((m) => head.readUInt32LE(0) === m || head.readUInt32BE(0) === m)) return 'macho';
  if (head.length >= 64 && head[0] === 0x4d && head[1] === 0x5a) {
    const pe = head.readUInt32LE(0x3c);
    if (pe + 4 <= head.length && head.readUInt32BE(pe) === 0x50450000) return 'pe';
  }
  return undefined;
}

/** A growing window over the start of the stream, so headers can be read at any offset they point to. */
class Head {
  buf = Buffer.alloc(0);
  constructor(private readonly reader: ByteReader) {}

  /** At least `n` bytes from the start (fewer only at the end of input). */
  async upTo(n: number): Promise<Buffer> {
    if (n > MAX_HEAD) throw new BuildInfoError(`headers extend past ${MAX_HEAD} bytes`);
    while (this.buf.length < n) {
      const more = await this.reader.readSome(n - this.buf.length);
      if (more.length === 0) break;
      this.buf = Buffer.concat([this.buf, more]);
    }
    return this.buf;
  }
}

class BuildInfoError extends Error {}

interface Range {
  start: number;
  end: number;
}

type Int = (buf: Buffer, at: number) => number;

function readers(big: boolean): { u16: Int; u32: Int; u64: Int } {
  return big
    ? { u16: (b, a) => b.readUInt16BE(a), u32: (b, a) => b.readUInt32BE(a), u64: (b, a) => Number(b.readBigUInt64BE(a)) }
    : { u16: (b, a) => b.readUInt16LE(a), u32: (b, a) => b.readUInt32LE(a), u64: (b, a) => Number(b.readBigUInt64LE(a)) };
}

/** debug/buildinfo's elfExe.DataStart without section headers (they sit at the end): the first R/W PT_LOAD. */
async function elfDataRange(head: Head): Promise<Range | undefined> {
  let b = await head.upTo(64);
  const is64 = b[4] === 2;
  const { u16, u32, u64 } = readers(b[5] === 2);
  const phoff = is64 ? u64(b, 0x20) : u32(b, 0x1c);
  const phentsize = u16(b, is64 ? 0x36 : 0x2a);
  const phnum = u16(b, is64 ? 0x38 : 0x2c);
  b = await head.upTo(phoff + phentsize * phnum);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > b.length) break;
    if (u32(b, at) !== 1 /* PT_LOAD */) continue;
    const flags = is64 ? u32(b, at + 4) : u32(b, at + 24);
    if ((flags & 3) !== 2 /* PF_W, not PF_X */) continue;
    const offset = is64 ? u64(b, at + 8) : u32(b, at + 4);
    const filesz = is64 ? u64(b, at + 32) : u32(b, at + 16);
    return { start: offset, end: offset + filesz };
  }
  return undefined;
}

/** machoExe.DataStart: the __go_buildinfo section, else the first non-empty segment mapped read/write. */
async function machoDataRange(head: Head): Promise<Range | undefined> {
  let b = await head.upTo(32);
  const big = b.readUInt32BE(0) === 0xfeedface || b.readUInt32BE(0) === 0xfeedfacf;
  const { u32, u64 } = readers(big);
  const is64 = (u32(b, 0) & 1) === 1;
  const ncmds = u32(b, 16);
  const sizeofcmds = u32(b, 20);
  const first = is64 ? 32 : 28;
  b = await head.upTo(first + sizeofcmds);
  let segment: Range | undefined;
  for (let i = 0, at = first; i < ncmds && at + 8 <= b.length; i++) {
    const cmd = u32(b, at);
    const size = u32(b, at + 4);
    if (size < 8) break;
    if (cmd === 0x19 /* LC_SEGMENT_64 */ || cmd === 0x1 /* LC_SEGMENT */) {
      const w = is64 ? 8 : 4;
      const num = (o: number) => (is64 ? u64(b, o) : u32(b, o));
      const vmaddr = num(at + 24);
      const fileoff = num(at + 24 + 2 * w);
      const filesize = num(at + 24 + 3 * w);
      const maxprot = u32(b, at + 24 + 4 * w);
      const initprot = u32(b, at + 28 + 4 * w);
      const nsects = u32(b, at + 32 + 4 * w);
      const sectStart = at + 40 + 4 * w;
      const sectSize = is64 ? 80 : 68;
      for (let s = 0; s < nsects; s++) {
        const sa = sectStart + s * sectSize;
        if (sa + sectSize > b.length) break;
        if (cString(b, sa, 16) !== '__go_buildinfo') continue;
        const secSize = is64 ? u64(b, sa + 40) : u32(b, sa + 36);
        const offset = u32(b, sa + (is64 ? 48 : 40));
        return { start: offset, end: offset + secSize };
      }
      if (!segment && vmaddr !== 0 && filesize !== 0 && initprot === 3 && maxprot === 3) segment = { start: fileoff, end: fileoff + filesize };
    }
    at += size;
  }
  return segment;
}

/** peExe.DataStart: the first initialized, readable and writable data section (Go's .data). */
async function peDataRange(head: Head): Promise<Range | undefined> {
  let b = await head.upTo(64);
  const pe = b.readUInt32LE(0x3c);
  b = await head.upTo(pe + 24);
  const nsections = b.readUInt16LE(pe + 6);
  const optSize = b.readUInt16LE(pe + 20);
  const table = pe + 24 + optSize;
  b = await head.upTo(table + 40 * nsections);
  const WANT = 0x40 /* CNT_INITIALIZED_DATA */ | 0x40000000 /* MEM_READ */ | 0x80000000; /* MEM_WRITE */
  for (let i = 0; i < nsections; i++) {
    const at = table + 40 * i;
    if (at + 40 > b.length) break;
    const virtualSize = b.readUInt32LE(at + 8);
    const virtualAddress = b.readUInt32LE(at + 12);
    const rawSize = b.readUInt32LE(at + 16);
    const rawPointer = b.readUInt32LE(at + 20);
    const characteristics = b.readUInt32LE(at + 36);
    if (virtualAddress !== 0 && rawSize !== 0 && (characteristics & ~0x600000) >>> 0 === WANT >>> 0) {
      return { start: rawPointer, end: rawPointer + Math.min(rawSize, virtualSize || rawSize) };
    }
  }
  return undefined;
}

function cString(b: Buffer, at: number, max: number): string {
  const end = b.indexOf(0, at);
  return b.toString('latin1', at, end < 0 || end > at + max ? at + max : end);
}

/**
 * The bytes of `range`, in pieces, first from the head window then from the reader (skipping to the start): the
 * reader is never moved backwards.
 */
async function* rangeBytes(head: Head, reader: ByteReader, range: Range): AsyncGenerator<{ at: number; bytes: Buffer }> {
  let at = range.start;
  if (at < head.buf.length) {
    const part = head.buf.subarray(at, Math.min(head.buf.length, range.end));
    yield { at, bytes: part };
    at += part.length;
  }
  if (at >= range.end) return;
  const pos = reader.position; // every byte read so far, the head's included
  if (pos > at) throw new BuildInfoError('the data section overlaps the headers read');
  await reader.skip(at - pos);
  while (at < range.end) {
    const bytes = await reader.readSome(Math.min(range.end - at, 1 << 20));
    if (bytes.length === 0) return;
    yield { at, bytes };
    at += bytes.length;
  }
}

/** Reads an unsigned LEB128 varint (encoding/binary.Uvarint). */
function uvarint(b: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    value += (b[i]! & 0x7f) * scale;
    if (b[i]! < 0x80) return { value, next: i + 1 };
    scale *= 128;
  }
  return undefined;
}

/**
 * Finds the build info blob in `range` (at a 16-byte aligned offset from its start) and returns the Go version and
 * the raw module info. Only the inline format of Go ≥ 1.18 can be read in one forward pass; the older pointer format
 * points back into read-only data already passed.
 */
async function findBlob(head: Head, reader: ByteReader, range: Range): Promise<{ version: string; modinfo: Buffer } | 'pointer-format' | undefined> {
  let carry = Buffer.alloc(0);
  let carryAt = range.start;
  const pieces = rangeBytes(head, reader, range);
  for await (const { at, bytes } of pieces) {
    const window = carry.length ? Buffer.concat([carry, bytes]) : bytes;
    const windowAt = carry.length ? carryAt : at;
    for (let i = window.indexOf(MAGIC); i >= 0; i = window.indexOf(MAGIC, i + 1)) {
      if ((windowAt + i - range.start) % ALIGN !== 0) continue;
      let blob = window.subarray(i);
      /** At least `n` bytes of the blob, reading on into the range; fewer only at its end. */
      const upTo = async (n: number): Promise<Buffer> => {
        while (blob.length < n) {
          const next = await pieces.next();
          if (next.done) break;
          blob = Buffer.concat([blob, next.value.bytes]);
        }
        return blob;
      };
      if ((await upTo(HEADER)).length < HEADER) return undefined;
      if ((blob[15]! & 2) === 0) return 'pointer-format';
      const strings: Buffer[] = [];
      let p = HEADER;
      for (let s = 0; s < 2; s++) {
        const len = uvarint(await upTo(p + 10), p);
        if (!len || len.value > MAX_STRING) throw new BuildInfoError('a build info string length is not readable');
        if ((await upTo(len.next + len.value)).length < len.next + len.value) throw new BuildInfoError('the build info ends early');
        strings.push(Buffer.from(blob.subarray(len.next, len.next + len.value)));
        p = len.next + len.value;
      }
      return { version: strings[0]!.toString('utf8'), modinfo: strings[1]! };
    }
    carry = Buffer.from(window.subarray(Math.max(0, window.length - (MAGIC.length - 1))));
    carryAt = windowAt + window.length - carry.length;
  }
  return undefined;
}

/** Unquotes a build setting's key or value, written with strconv.Quote when it holds spaces, tabs or quotes. */
function unquote(s: string): string {
  if (!s.startsWith('"')) return s;
  try {
    return JSON.parse(s) as string;
  } catch {
    return s;
  }
}

/** runtime/debug.ParseBuildInfo's line format, minus the `go` line (the version comes from its own string). */
export function parseModinfo(goVersion: string, text: string): GoBuildInfo {
  const info: GoBuildInfo = { goVersion, deps: [], settings: [] };
  let last: GoModule | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...f] = line.split('\t');
    if (kind === 'path' && f[0] !== undefined) info.path = f[0];
    else if ((kind === 'mod' || kind === 'dep') && f[0] !== undefined) {
      last = { path: f[0], version: f[1] ?? '', ...(f[2] ? { sum: f[2] } : {}) };
      if (kind === 'mod') info.main = last;
      else info.deps.push(last);
    } else if (kind === '=>' && last && f[0] !== undefined) {
      last.replace = { path: f[0], version: f[1] ?? '', ...(f[2] ? { sum: f[2] } : {}) };
    } else if (kind === 'build' && f.length > 0) {
      const setting = f.join('\t');
      // A quoted key may hold '=': split after it.
      const m = /^("(?:[^"\\]|\\.)*"|[^=]*)=(.*)$/.exec(setting);
      if (m) info.settings.push({ key: unquote(m[1]!), value: unquote(m[2]!) });
    }
  }
  return info;
}

/**
 * Reads an executable from its bytes: the format and, for a Go binary, its build info. Consumes only as much of
 * `reader` as it needs (the caller drains the rest); undefined when the bytes are not an ELF, Mach-O or PE file.
 */
export async function readExecutable(reader: ByteReader): Promise<ExecutableScan | undefined> {
  const head = new Head(reader);
  const format = executableFormat(await head.upTo(4096));
  if (!format) return undefined;
  try {
    const range = format === 'elf' ? await elfDataRange(head) : format === 'macho' ? await machoDataRange(head) : await peDataRange(head);
    if (!range || range.end <= range.start) return { format };
    const blob = await findBlob(head, reader, range);
    if (blob === 'pointer-format') return { format, goProblem: 'Go build info in the pointer format of Go before 1.18 is not read' };
    if (!blob || blob.version === '') return { format };
    // Module info is framed by two 16-byte sentinels (cmd/go/internal/modload's infoStart and infoEnd).
    const m = blob.modinfo;
    const modinfo = m.length >= 33 && m[m.length - 17] === 0x0a ? m.toString('utf8', 16, m.length - 16) : '';
    return { format, go: parseModinfo(blob.version, modinfo) };
  } catch (err) {
    // A cut or corrupt file is described as far as it goes, never a reason to stop packing a release.
    if (err instanceof BuildInfoError || err instanceof RangeError || err instanceof TruncatedError) return { format, goProblem: `build info not readable: ${err.message}` };
    throw err;
  }
}
