import { ByteReader, TruncatedError } from '../bytes.js';
import type { DiffLimits } from '../types.js';
import { NotArchiveError, RefusedError, formatBytes } from './errors.js';

export type MemberType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

/** Every header field as the archive states it, after pax and GNU long-name records are applied. */
export interface TarHeader {
  name: string;
  type: MemberType;
  /** the raw typeflag, for types krepro does not name */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** seconds; fractional when a pax mtime record says so */
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** pax records that applied to this member (global ones included), minus path/linkpath */
  pax: Record<string, string>;
  format: 'ustar' | 'gnu' | 'v7';
  /** uses GNU long-name records ('L'/'K') */
  gnuLongName: boolean;
}

export interface TarMember {
  header: TarHeader;
  index: number;
  /** the member's bytes; skipped automatically when the caller asks for the next member */
  body: AsyncGenerator<Buffer>;
}

const BLOCK = 512;

/** True when the first 512 bytes are a tar header with a valid checksum (ustar, GNU or v7). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK) return false;
  const stored = parseOctal(block.subarray(148, 156));
  return stored !== undefined && checksums(block).includes(stored) && !isZero(block);
}

function checksums(block: Uint8Array): number[] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Octal digits between optional leading spaces and trailing spaces/NULs, as tar writers pad them. */
function parseOctal(field: Uint8Array): number | undefined {
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  let v = 0;
  for (; i < field.length; i++) {
    const c = field[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return undefined;
    v = v * 8 + (c - 0x30);
  }
  for (; i < field.length; i++) if (field[i] !== 0 && field[i] !== 0x20) return undefined;
  return v;
}

/** Octal, or GNU base-256 (high bit set) for values that do not fit. */
function parseNumber(field: Uint8Array, what: string, offset: number): number {
  if (field[0]! & 0x80) {
    let v = 0;
    const negative = field[0] === 0xff;
    for (let i = 0; i < field.length; i++) v = v * 256 + ((i === 0 ? field[i]! & 0x7f : field[i]!) ^ (negative ? 0xff : 0));
    return negative ? -(v + 1) : v;
  }
  const v = parseOctal(field);
  if (v === undefined) throw new RefusedError('corrupt', `tar header at offset ${offset}: ${what} field is not a number`);
  return v;
}

/** NUL-terminated field text; repeated values (owner names, "") are shared, since 100,000 members repeat them. */
function text(block: Buffer, start: number, length: number, interned?: Map<string, string>): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  if (end === 0) return '';
  const value = field.subarray(0, end < 0 ? field.length : end).toString('utf8');
  if (!interned) return value;
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size < 1000) interned.set(value, value);
  return value;
}

const NO_PAX: Record<string, string> = Object.freeze({}) as Record<string, string>;

const TYPES: Record<string, MemberType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };
/** Types whose size field does not announce data (GNU tar and libarchive read no body for them). */
const NO_BODY = new Set(['1', '2', '3', '4', '6']);

/** pax records: "<len> <key>=<value>\n", each length counting the whole record. */
function parsePax(data: Buffer, offset: number): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const len = space > at ? Number(data.subarray(at, space).toString('latin1')) : NaN;
    if (!Number.isInteger(len) || len <= space - at || at + len > data.length) {
      if (data.subarray(at).every((b) => b === 0)) break;
      throw new RefusedError('corrupt', `pax header at offset ${offset} has a malformed record`);
    }
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/**
 * Streams tar members from `reader` without buffering any body. Checks every header checksum; refuses bodies and
 * extended headers declared larger than the limits before reading them. Stops at the end-of-archive block (the
 * caller drains what follows).
 */
export async function* readTar(reader: ByteReader, limits: DiffLimits): AsyncGenerator<TarMember> {
  let globals: Record<string, string> = {};
  let pending: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let index = 0;
  const names = new Map<string, string>();
  for (;;) {
    const offset = reader.position;
    const block = await reader.readExact(BLOCK);
    if (block === null) return;
    if (isZero(block)) return;
    const stored = parseOctal(block.subarray(148, 156));
    if (stored === undefined || !checksums(block).includes(stored)) {
      if (offset === 0) throw new NotArchiveError('not a tar archive (the first 512 bytes are not a tar header)');
      throw new RefusedError('corrupt', `tar header at offset ${offset} has a bad checksum`);
    }
    const typeflag = String.fromCharCode(block[156]!);
    const size = parseNumber(block.subarray(124, 136), 'size', offset);
    if (size < 0) throw new RefusedError('corrupt', `tar header at offset ${offset} declares a negative size`);
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > limits.maxHeaderBytes) {
        throw new RefusedError('header-limit', `extended header at offset ${offset} declares ${formatBytes(size)}, over the ${formatBytes(limits.maxHeaderBytes)} limit`);
      }
      const data = (await reader.readExact(size)) ?? Buffer.alloc(0);
      if (data.length < size) throw new TruncatedError(`extended header at offset ${offset} is cut short`, data.length);
      await reader.skip(padding);
      if (typeflag === 'x') pending = { ...pending, ...parsePax(data, offset) };
      else if (typeflag === 'g') globals = { ...globals, ...parsePax(data, offset) };
      else if (typeflag === 'L') longName = text(data, 0, data.length);
      else longLink = text(data, 0, data.length);
      continue;
    }
    if (index >= limits.maxMembers) throw new RefusedError('member-limit', `stopped after ${limits.maxMembers} members (limit)`);
    const magic = block.subarray(257, 265).toString('latin1');
    const format = magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar\0') ? 'ustar' : 'v7';
    const prefix = format === 'ustar' ? text(block, 345, 155) : '';
    const rawName = text(block, 0, 100);
    const pax = Object.keys(globals).length || Object.keys(pending).length ? { ...globals, ...pending } : NO_PAX;
    const { path: paxPath, linkpath: paxLink, ...paxRest } = pax;
    const bodySize = NO_BODY.has(typeflag) ? 0 : pax.size !== undefined ? Number(pax.size) : size;
    const header: TarHeader = {
      name: paxPath ?? longName ?? (prefix ? `${prefix}/${rawName}` : rawName),
      type: TYPES[typeflag] ?? 'other',
      typeflag,
      mode: parseNumber(block.subarray(100, 108), 'mode', offset),
      uid: pax.uid !== undefined ? Number(pax.uid) : parseNumber(block.subarray(108, 116), 'uid', offset),
      gid: pax.gid !== undefined ? Number(pax.gid) : parseNumber(block.subarray(116, 124), 'gid', offset),
      uname: pax.uname ?? text(block, 265, 32, names),
      gname: pax.gname ?? text(block, 297, 32, names),
      mtime: pax.mtime !== undefined ? Number(pax.mtime) : parseNumber(block.subarray(136, 148), 'mtime', offset),
      size: bodySize,
      linkname: paxLink ?? longLink ?? text(block, 157, 100),
      devmajor: format === 'v7' ? 0 : parseNumber(block.subarray(329, 337), 'devmajor', offset),
      devminor: format === 'v7' ? 0 : parseNumber(block.subarray(337, 345), 'devminor', offset),
      pax: pax === NO_PAX ? NO_PAX : paxRest,
      format,
      gnuLongName: longName !== undefined || longLink !== undefined,
    };
    pending = {};
    longName = undefined;
    longLink = undefined;
    if (!Number.isSafeInteger(bodySize) || bodySize < 0) throw new RefusedError('corrupt', `${header.name}: pax size record ${JSON.stringify(pax.size)} is not a size`);
    if (bodySize > limits.maxInflatedBytes) {
      throw new RefusedError('declared-size', `${header.name} declares ${formatBytes(bodySize)}, over the ${formatBytes(limits.maxInflatedBytes)} limit: not read`);
    }
    const state = { remaining: bodySize, live: true };
    const name = header.name;
    const body = (async function* () {
      while (state.remaining > 0) {
        if (!state.live) throw new Error(`${name}: body read after the archive moved on`);
        const chunk = await reader.readSome(Math.min(state.remaining, 1 << 20));
        if (chunk.length === 0) throw new TruncatedError(`${name} declares ${formatBytes(bodySize)} but the archive ends after ${formatBytes(bodySize - state.remaining)} of it`, bodySize - state.remaining);
        state.remaining -= chunk.length;
        yield chunk;
      }
    })();
    yield { header, index: index++, body };
    state.live = false;
    try {
      await reader.skip(state.remaining);
    } catch (err) {
      if (err instanceof TruncatedError) throw new TruncatedError(`${name} declares ${formatBytes(bodySize)} but the archive ends before its end`, 0);
      throw err;
    }
    const realPadding = (BLOCK - (bodySize % BLOCK)) % BLOCK;
    await reader.skip(realPadding);
  }
}
