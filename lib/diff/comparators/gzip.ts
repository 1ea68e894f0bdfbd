import { describeFingerprint, fingerprint, sameEncoder } from '../encoders.js';
import { finding } from '../findings.js';
import type { ArchiveScan } from '../read/archive.js';
import { OS_NAMES, flagNames } from '../read/gzip.js';
import type { Finding, Location } from '../types.js';

export interface GzipLayer {
  findings: Finding[];
  comments: string[];
}

const QUICK_SAMPLE = 256 * 1024;

function mtime(seconds: number): string {
  return seconds === 0 ? '0 (none)' : `${new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')} (${seconds})`;
}

function xfl(v: number): string {
  return `${v}${v === 2 ? ' (level 9, slowest)' : v === 4 ? ' (level 1, fastest)' : v === 0 ? ' (levels 2–8)' : ''}`;
}

/**
 * The gzip layer of two archives whose bytes differ: each header field, whether the tars inside are identical,
 * and (when both are gzip) the encoder of each side named by re-encoding.
 */
export async function compareGzipLayer(l: ArchiveScan, r: ArchiveScan, path: Location, opts: { gnuGzip?: string; signal?: AbortSignal }): Promise<GzipLayer> {
  const findings: Finding[] = [];
  const comments: string[] = [];
  const tarIdentical = l.complete && r.complete && l.contentSha256 === r.contentSha256;
  if (tarIdentical) comments.push(`the ${l.inner === 'tar' ? 'tar' : 'content'} inside is identical (sha256 ${l.contentSha256}, ${l.contentSize} bytes): only the gzip layer differs`);
  if (!l.gzip || !r.gzip) {
    findings.push(finding('encoder', path, 'gzip', 'compression', l.gzip ? 'gzip' : 'none (plain tar)', r.gzip ? 'gzip' : 'none (plain tar)'));
    return { findings, comments };
  }
  const hl = l.gzip.header;
  const hr = r.gzip.header;
  const field = (cause: Parameters<typeof finding>[0], name: string, a: string | undefined, b: string | undefined) => {
    if (a !== b) findings.push(finding(cause, path, 'gzip', name, a ?? null, b ?? null));
  };
  field('gzip-header', 'FLG', flagNames(hl.flg), flagNames(hr.flg));
  field('gzip-header', 'MTIME', mtime(hl.mtime), mtime(hr.mtime));
  field('gzip-header', 'FNAME', hl.fname, hr.fname);
  field('gzip-header', 'FCOMMENT', hl.fcomment, hr.fcomment);
  field('gzip-header', 'FEXTRA', hl.fextra, hr.fextra);
  field('encoder', 'XFL', xfl(hl.xfl), xfl(hr.xfl));
  field('gzip-os', 'OS', `${hl.os} (${OS_NAMES[hl.os] ?? 'other'})`, `${hr.os} (${OS_NAMES[hr.os] ?? 'other'})`);

  // With identical tars the encoder is the explanation, so it is checked over the whole captured sample; otherwise
  // a short sample names it, enough to tell families and levels apart, at little cost on big archives.
  const sample = { ...opts, ...(tarIdentical ? {} : { sampleBytes: QUICK_SAMPLE }) };
  const [fl, fr] = await Promise.all([fingerprint(hl, l.gzip.capture, sample), fingerprint(hr, r.gzip.capture, sample)]);
  const dl = describeFingerprint(fl);
  const dr = describeFingerprint(fr);
  comments.push(`left encoder: ${dl}`, `right encoder: ${dr}`);
  const known = fl.matches.length > 0 || fr.matches.length > 0;
  if (!sameEncoder(fl, fr) && (known || tarIdentical)) {
    findings.push(finding('encoder', path, 'gzip', 'deflate encoder', dl, dr, tarIdentical ? `same ${l.inner === 'tar' ? 'tar' : 'content'}, different compressor` : undefined));
  } else if (tarIdentical && findings.length === 0) {
    // Never "equal" by mistake: the bytes differ although every rule says the layers match.
    findings.push(finding('encoder', path, 'gzip', 'deflate stream', `${l.gzip.capture.compressed} bytes`, `${r.gzip.capture.compressed} bytes`, 'same tar, same header and the same encoder over the compared start: the streams differ later (several gzip members, trailing data or another block layout)'));
  }
  return { findings, comments };
}
