import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Renders a local HTML file in Debian's headless Chromium and returns the PNG path. The flags keep Chromium off
 * the (closed) network and let it run as root.
 */
function flags(dir: string): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${dir}/profile`];
}

export function screenshot(htmlFile: string, width = 1200, height = 1000): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'krepro-shot-'));
  const png = path.join(dir, 'page.png');
  execFileSync(CHROMIUM, [...flags(dir), `--screenshot=${png}`, `--window-size=${width},${height}`, `file://${htmlFile}`], { stdio: 'pipe', timeout: 90_000 });
  if (!existsSync(png)) throw new Error(`chromium wrote no screenshot for ${htmlFile}`);
  return png;
}

/** The DOM after Chromium has parsed and laid out the page. */
export function dumpDom(htmlFile: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'krepro-dom-'));
  return execFileSync(CHROMIUM, [...flags(dir), '--dump-dom', `file://${htmlFile}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 });
}

/** Distinct RGB colours in an 8-bit RGB(A) non-interlaced PNG: a blank or failed render has one or two. */
export function pngColours(file: string): number {
  const png = readFileSync(file);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const channels = png[25] === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let o = 8; o < png.length; ) {
    const len = png.readUInt32BE(o);
    if (png.toString('latin1', o + 4, o + 8) === 'IDAT') idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const line = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      line[i] = (src[i]! + predictor) & 0xff;
    }
    for (let x = 0; x < width; x += 3) colours.add((line[x * channels]! << 16) | (line[x * channels + 1]! << 8) | line[x * channels + 2]!);
    line.copy(prev);
  }
  return colours.size;
}

/** How wide the laid-out page is in a window `width` px wide: a copy of the page records its scrollWidth. */
export function layoutWidth(htmlFile: string, width = 1300): { scrollWidth: number; innerWidth: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'krepro-width-'));
  const copy = path.join(dir, 'page.html');
  const probe = "<script>document.body.setAttribute('data-width', document.documentElement.scrollWidth + ' ' + innerWidth)</script>";
  writeFileSync(copy, readFileSync(htmlFile, 'utf8').replace('</body>', `${probe}</body>`));
  const dom = execFileSync(CHROMIUM, [...flags(dir), `--window-size=${width},1000`, '--dump-dom', `file://${copy}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 });
  const m = /data-width="(\d+) (\d+)"/.exec(dom);
  if (!m) throw new Error(`chromium did not lay out ${htmlFile}`);
  return { scrollWidth: Number(m[1]), innerWidth: Number(m[2]) };
}
