import { visible } from '../lib/index.js';
import type { CheckProgress, PackageProgress } from '../lib/index.js';

const MiB = 1024 * 1024;

/**
 * A one-line status on stderr for work measured in bytes (packing, checking), redrawn at most every 200 ms, only
 * when stderr is a terminal: piped output stays quiet and parseable.
 */
export function byteProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, now: () => number = Date.now): (e: PackageProgress | CheckProgress) => void {
  if (!stderr.isTTY) return () => {};
  let total = 0;
  let done = 0;
  let current = '';
  const started = now();
  let drawn = 0;
  const draw = (force: boolean) => {
    const t = now();
    if (!force && t - drawn < 200) return;
    drawn = t;
    const seconds = Math.max((t - started) / 1000, 0.001);
    const pct = total ? Math.floor((done / total) * 100) : 100;
    stderr.write(`\r\x1b[K${pct}% ${(done / MiB).toFixed(0)}/${(total / MiB).toFixed(0)} MiB, ${(done / MiB / seconds).toFixed(1)} MiB/s  ${current}`);
  };
  return (e) => {
    if (e.type === 'plan') total = e.bytes;
    else if (e.type === 'tarball' || e.type === 'sbom' || e.type === 'file') current = visible(e.name);
    else if (e.type === 'bytes') done += e.bytes;
    if (e.type === 'done') {
      stderr.write(`\r\x1b[K`);
      return;
    }
    draw(e.type !== 'bytes');
  };
}
