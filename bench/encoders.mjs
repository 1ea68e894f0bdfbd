// Per-core speed, size and memory of the gzip encoders krepro carries, on whatever runtime runs this file.
//   node bench/encoders.mjs FILE            (prints one line per encoder; bench/encoders.sh runs it on both runtimes)
// Each encoder runs in a child process with one worker thread, so CPU time per input byte is the cost of one core
// and the child's peak RSS is the encoder's memory (less a bare child's, printed as "baseline").
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const lib = new URL('../dist/lib/api/archive.js', import.meta.url).href;
const [file, child] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/encoders.mjs FILE');

if (child) {
  const [format, level, implementation] = child.split(':');
  const { PinnedGzip } = await import(lib);
  let out = 0;
  const c0 = process.cpuUsage();
  if (format !== 'none') {
    const gz = new PinnedGzip({ level: Number(level), format: Number(format) }, { workers: 1, ...(implementation ? { implementation } : {}) });
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), gz, new Writable({ write: (c, _e, cb) => ((out += c.length), cb()) }));
  }
  const cpu = process.cpuUsage(c0);
  console.log(JSON.stringify({ out, cpu: (cpu.user + cpu.system) / 1e6, rssKiB: process.resourceUsage().maxRSS }));
} else {
  const size = statSync(file).size;
  const gzip6 = Number(execFileSync('sh', ['-c', 'gzip -6 -n -c "$1" | wc -c', 'sh', file], { encoding: 'utf8' }).trim());
  const runOne = (spec) => JSON.parse(spawnSync(process.execPath, [fileURLToPath(import.meta.url), file, spec], { encoding: 'utf8' }).stdout);
  const base = runOne('none').rssKiB;
  console.log(`node ${process.version} zlib ${process.versions.zlib}; ${(size / 1048576).toFixed(0)} MiB input; gzip -6: ${gzip6} bytes; baseline RSS ${(base / 1024).toFixed(0)} MiB`);
  for (const [spec, name] of [
    ['2:6', 'format 2: libdeflate wasm level 6 (default)'],
    ['2:5', 'format 2: libdeflate wasm level 5'],
    ['2:9', 'format 2: libdeflate wasm level 9'],
    ['1:6:native', 'format 1 via node:zlib level 6 (pinned bytes only on Chromium zlib)'],
    ['1:6:pako', 'format 1 via pako 3.0.3 level 6'],
  ]) {
    const best = [1, 2, 3].map(() => runOne(spec)).sort((a, b) => a.cpu - b.cpu)[0];
    console.log(`${name.padEnd(70)} ${(size / 1048576 / best.cpu).toFixed(1).padStart(6)} MiB/s/core  size ${(((best.out / gzip6) - 1) * 100).toFixed(2).padStart(6)} % vs gzip -6  RSS +${((best.rssKiB - base) / 1024).toFixed(0)} MiB`);
  }
}
