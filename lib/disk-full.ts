import { statfs } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from './errors.js';

/** What a writer knows when its disk fills: said in the error, so the user knows where and how much room to make. */
export interface DiskFullContext {
  /** what was being written, as the user knows it: an output file or directory */
  target: string;
  /** the file being written when the disk filled, when it is not `target` itself (relative to it, or absolute) */
  at?: string;
  /** bytes of `target` written when the disk filled */
  written?: number;
  /** a size the write was known to need, and what that number is (e.g. "the files it packs hold") */
  needed?: { bytes: number; what: string };
  /** what became of the previous output and of partial files; default "nothing half-written was left" */
  kept?: string;
  /** how to make room; default "free space there" */
  fix?: string;
}

/** E_NO_SPACE for a full disk (or an exceeded quota) on this machine; the engine's own full disk is a plain E_NO_SPACE. */
export class DiskFullError extends KreproError {
  /** Where the disk filled, and what was written and needed. */
  readonly context: DiskFullContext;
  /** bytes free for this user on that file system after the partial files were removed, when statfs could tell */
  readonly free?: number;

  constructor(context: DiskFullContext, space: { free: number; size: number } | undefined, cause: unknown) {
    super('E_NO_SPACE', describe(context, space, cause), { path: context.target, cause });
    this.name = 'DiskFullError';
    this.context = context;
    if (space !== undefined) this.free = space.free;
  }
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** The errno error (ENOSPC, EDQUOT) behind `err`, following `cause` through wrapping errors. */
function fullDiskCause(err: unknown): NodeJS.ErrnoException | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (FULL_CODES.has(String((e as NodeJS.ErrnoException).code))) return e as NodeJS.ErrnoException;
  }
  return undefined;
}

/** Whether `err` is a full disk or an exceeded quota (ENOSPC, EDQUOT), however it was wrapped. */
export function isDiskFull(err: unknown): boolean {
  return err instanceof DiskFullError || fullDiskCause(err) !== undefined;
}

/**
 * Runs `write`; if the disk fills (ENOSPC/EDQUOT, however wrapped), throws a DiskFullError described by `context`,
 * which gets the error of an inner writer that already described it (the outer writer knows more: the release as
 * a whole rather than one of its files). Free space is measured after `write` has cleaned up after itself.
 */
export async function mapDiskFull<T>(context: (inner: DiskFullError | undefined) => DiskFullContext, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (!isDiskFull(err)) throw err;
    const inner = err instanceof DiskFullError ? err : undefined;
    const ctx = context(inner);
    throw new DiskFullError(ctx, await spaceNear(ctx.target), fullDiskCause(err) ?? err);
  }
}

/** Free and total bytes of the file system holding `target` (its nearest existing ancestor). */
async function spaceNear(target: string): Promise<{ free: number; size: number } | undefined> {
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    try {
      const s = await statfs(dir);
      return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
    } catch {
      if (dir === path.dirname(dir)) return undefined;
    }
  }
}

/** `1887436 bytes (1.8 MiB)`: exact, and readable. */
function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit === '' ? `${n} bytes` : `${n} bytes (${v.toFixed(1)} ${unit})`;
}

function describe(ctx: DiskFullContext, space: { free: number; size: number } | undefined, cause: unknown): string {
  const code = fullDiskCause(cause)?.code ?? 'ENOSPC';
  const filled = ctx.at !== undefined || ctx.written !== undefined;
  const facts = [
    `${code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device'} (${code}) writing ${ctx.target}` +
      (filled ? `: the disk filled${ctx.at !== undefined ? ` at ${ctx.at}` : ''}${ctx.written !== undefined ? `, with ${formatBytes(ctx.written)} written` : ''}` : ''),
    ...(ctx.needed !== undefined ? [`${ctx.needed.what} ${formatBytes(ctx.needed.bytes)}`] : []),
    space !== undefined ? `${formatBytes(space.free)} free there now, of ${formatBytes(space.size)}` : 'how much is free there is unknown (statfs failed)',
  ];
  return `${facts.join('; ')}. ${capitalize(ctx.kept ?? 'nothing half-written was left')}. ${capitalize(ctx.fix ?? 'free space there')}, then run again`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
