import { createHash } from 'node:crypto';

/** One ELF section header, as readelf -S shows it (the fields a reader of a diff needs). */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
}

/** Bytes before the section header table kept while streaming: where linkers put .shstrtab (GNU ld and Go do). */
const NAMES_WINDOW = 64 * 1024;
/** Section header tables larger than this (65,535 sections of 64 bytes is 4 MiB) are not read. */
const MAX_TABLE = 4 << 20;
/** Section names kept when they come after the table. */
const MAX_NAMES = 1 << 20;
const SHT_NOBITS = 8;

interface Header {
  is64: boolean;
  le: boolean;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

/**
 * Reads an ELF file's section headers from its stream in one pass, without seeking: the ELF header (at the
 * start) says where the table is, so that range and the window before it (for the names) are copied as they pass.
 */
export class ElfLayout {
  private pos = 0;
  private head = Buffer.alloc(0);
  private header: Header | null | undefined;
  private window?: { start: number; bytes: Buffer };
  /** .shstrtab when it comes after the section header table (Go's linker writes the table near the start) */
  private names?: { start: number; bytes: Buffer };
  /** why the sections could not be read, when they could not */
  problem?: string;

  feed(chunk: Buffer): void {
    if (this.header === undefined) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, 64 - this.head.length)]);
      if (this.head.length >= 64) this.header = this.parseHeader(this.head);
    }
    for (const w of [this.window, this.names]) {
      if (!w) continue;
      const from = Math.max(w.start, this.pos);
      const to = Math.min(w.start + w.bytes.length, this.pos + chunk.length);
      if (from < to) chunk.copy(w.bytes, from - w.start, from - this.pos, to - this.pos);
    }
    this.pos += chunk.length;
    const h = this.header;
    if (h && this.names === undefined && this.pos >= h.shoff + h.shentsize * h.shnum) {
      // The table has passed: when the names come later, keep them too as they pass.
      const strtab = this.entries()[h.shstrndx];
      this.names = strtab && strtab.offset >= this.pos && strtab.size <= MAX_NAMES ? { start: strtab.offset, bytes: Buffer.alloc(strtab.size) } : undefined;
    }
  }

  /** The raw section header entries, once the table has been read. */
  private entries(): { index: number; nameOff: number; type: number; flags: number; offset: number; size: number }[] {
    const h = this.header!;
    const w = this.window!;
    const at = (o: number) => h.shoff - w.start + o;
    const b = w.bytes;
    const u32 = (o: number) => (h.le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (o: number) => (h.is64 ? Number(h.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o));
    return Array.from({ length: h.shnum }, (_, index) => {
      const e = at(index * h.shentsize);
      return h.is64
        ? { index, nameOff: u32(e), type: u32(e + 4), flags: word(e + 8), offset: word(e + 24), size: word(e + 32) }
        : { index, nameOff: u32(e), type: u32(e + 4), flags: u32(e + 8), offset: u32(e + 16), size: u32(e + 20) };
    });
  }

  private parseHeader(h: Buffer): Header | null {
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (o: number) => (le ? h.readUInt16LE(o) : h.readUInt16BE(o));
    const word = (o: number) => (is64 ? Number(le ? h.readBigUInt64LE(o) : h.readBigUInt64BE(o)) : le ? h.readUInt32LE(o) : h.readUInt32BE(o));
    const header = is64
      ? { is64, le, shoff: word(0x28), shentsize: u16(0x3a), shnum: u16(0x3c), shstrndx: u16(0x3e) }
      : { is64, le, shoff: word(0x20), shentsize: u16(0x2e), shnum: u16(0x30), shstrndx: u16(0x32) };
    const table = header.shentsize * header.shnum;
    if (header.shoff === 0 || header.shnum === 0) {
      this.problem = 'no section header table';
      return null;
    }
    if (table > MAX_TABLE || header.shentsize < (is64 ? 64 : 40)) {
      this.problem = `section header table of ${header.shnum} entries of ${header.shentsize} bytes not read`;
      return null;
    }
    const start = Math.max(0, header.shoff - NAMES_WINDOW);
    this.window = { start, bytes: Buffer.alloc(header.shoff + table - start) };
    return header;
  }

  /** The sections, once the whole stream was fed; undefined (and `problem` set) when they could not be read. */
  sections(): ElfSection[] | undefined {
    const h = this.header;
    const w = this.window;
    if (!h || !w) return undefined;
    if (this.pos < h.shoff + h.shentsize * h.shnum) {
      this.problem = 'the file ends before its section header table';
      return undefined;
    }
    const raw = this.entries();
    const strtab = raw[h.shstrndx];
    const before = strtab && strtab.offset >= w.start && strtab.offset + strtab.size <= h.shoff ? w.bytes.subarray(strtab.offset - w.start, strtab.offset - w.start + strtab.size) : undefined;
    const after = this.names && this.pos >= this.names.start + this.names.bytes.length ? this.names.bytes : undefined;
    const names = before ?? after;
    if (!names) this.problem = 'section names (.shstrtab) are neither just before the section header table nor after it: sections are named by index';
    return raw.map((s) => {
      const end = names ? names.indexOf(0, s.nameOff) : -1;
      const name = names && end >= 0 ? names.subarray(s.nameOff, end).toString('latin1') : `[${s.index}]`;
      return { index: s.index, name: name || `[${s.index}]`, type: s.type, flags: s.flags, offset: s.offset, size: s.type === SHT_NOBITS ? 0 : s.size };
    });
  }
}

/** Sections paired by name (the k-th of a name with the k-th). */
export function pairSections(a: ElfSection[], b: ElfSection[]): { pairs: [ElfSection, ElfSection][]; onlyLeft: ElfSection[]; onlyRight: ElfSection[] } {
  const byName = new Map<string, ElfSection[]>();
  for (const s of b) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const pairs: [ElfSection, ElfSection][] = [];
  const onlyLeft: ElfSection[] = [];
  for (const s of a) {
    const match = byName.get(s.name)?.shift();
    if (match) pairs.push([s, match]);
    else onlyLeft.push(s);
  }
  const used = new Set(pairs.map((p) => p[1]));
  return { pairs, onlyLeft, onlyRight: b.filter((s) => !used.has(s)) };
}

/** sha256 of each section's bytes from one more reading of the file (used when the two layouts differ). */
export async function sectionDigests(chunks: AsyncIterable<Buffer>, sections: ElfSection[]): Promise<Map<ElfSection, string>> {
  const live = sections.filter((s) => s.size > 0).map((s) => ({ s, hash: createHash('sha256') }));
  let pos = 0;
  for await (const chunk of chunks) {
    for (const { s, hash } of live) {
      const from = Math.max(s.offset, pos);
      const to = Math.min(s.offset + s.size, pos + chunk.length);
      if (from < to) hash.update(chunk.subarray(from - pos, to - pos));
    }
    pos += chunk.length;
  }
  return new Map(live.map(({ s, hash }) => [s, hash.digest('hex')]));
}
