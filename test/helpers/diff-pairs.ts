import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { diffCommand } from '../../cli/diff.js';
import { PinnedGzip } from '../../lib/api/archive.js';

/** One member for tar-stream, with krepro's usual defaults so a test states only what it varies. */
export interface Member {
  name: string;
  body?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  mode?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  linkname?: string;
  pax?: Record<string, string>;
}

/** An uncompressed tar of `members`, in the given order, as real bytes (tar-stream's writer). */
export async function tarOf(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) parts.push(c);
  })();
  for (const m of members) {
    const type = m.type ?? (m.name.endsWith('/') ? 'directory' : 'file');
    const body = type === 'file' ? Buffer.from(m.body ?? '') : undefined;
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: m.name,
          type,
          mode: m.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
          mtime: new Date((m.mtime ?? 1700000000) * 1000),
          uid: m.uid ?? 0,
          gid: m.gid ?? 0,
          uname: m.uname ?? 'root',
          gname: m.gname ?? 'root',
          ...(m.linkname !== undefined ? { linkname: m.linkname } : {}),
          ...(m.pax ? { pax: m.pax } : {}),
          size: body?.length ?? 0,
        },
        body ?? Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

/** krepro's gzip (format 1 by default: the tests' pairs were made with it) of `data` at `level`. */
export async function pinned(data: Buffer, level = 6, format: 1 | 2 = 1): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([data]), new PinnedGzip({ level, format }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) parts.push(c);
  });
  return Buffer.concat(parts);
}

export function gnuGzip(data: Buffer, args: string[] = ['-n', '-6']): Buffer {
  return execFileSync('gzip', [...args, '-c'], { input: data, maxBuffer: 1 << 30 });
}

export function write(dir: string, name: string, data: Buffer): string {
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return file;
}

/** A minimal 64-bit little-endian ELF-looking file (header, then the given strings between NUL padding). */
export function elfLike(strings: (string | Buffer)[]): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(header);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(0x3e, 18); // x86-64
  const parts: Buffer[] = [header];
  for (const s of strings) parts.push(Buffer.alloc(100), Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'), Buffer.from([0]));
  parts.push(Buffer.alloc(4096, 0x90));
  return Buffer.concat(parts);
}

/** Raw 512-byte ustar header, for archives tar writers refuse to make (huge sizes, hostile names). */
export function rawHeader(name: string, opts: { size?: number | bigint; typeflag?: string; linkname?: string; base256Size?: bigint } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  if (opts.base256Size !== undefined) {
    let v = opts.base256Size;
    for (let i = 11; i >= 1; i--) {
      h[124 + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    h[124] = 0x80;
  } else {
    h.write(`${BigInt(opts.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  }
  h.write('14525543200\0', 136);
  h.write(opts.typeflag ?? '0', 156);
  if (opts.linkname) h.write(opts.linkname, 157);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write('root', 265);
  h.write('root', 297);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** `krepro diff ARGS` run in `cwd` through the CLI's own function: exit code and what it printed. */
export async function diffCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = { env: { PATH: process.env.PATH }, cwd, stdout: new Capture(), stderr: new Capture(), signal: new AbortController().signal };
  const code = await diffCommand(args, io);
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}
