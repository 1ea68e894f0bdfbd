import { visible } from '../lib/quote.js';
import { type CheckProgress, type PackageProgress } from '../lib/index.js';
import type { StepEvent } from '../lib/api/release.js';

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

/** One line per step of a pipeline (release, rebuild): its start, its time when done, a skip with its reason. */
export function stepLines(write: (line: string) => void): (e: StepEvent) => void {
  return (e) => {
    if (e.type === 'start') write(`==> ${e.step}`);
    else if (e.type === 'done') write(`==> ${e.step}: done in ${(e.ms / 1000).toFixed(1)} s`);
    else if (e.type === 'skip') write(`==> ${e.step}: skipped, ${e.reason}`);
  };
}
