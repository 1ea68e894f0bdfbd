import ssri from 'ssri';
import { KreproError } from '../errors.js';
import { jsonSyntaxError } from '../quote.js';

/** One thing a list says about a file: a digest, or (the manifest) its size. */
export interface Expectation {
  /** where it is said: `SHA256SUMS line 3`, `kubernetes.tar.gz.sha256`, `krepro-manifest.json`, `krepro.intoto.jsonl line 1` */
  source: string;
  /** a digest algorithm (sha256, sha384, sha512) or `size` */
  what: string;
  /** lowercase hex, or the size in bytes as a decimal number */
  expected: string;
}

/** A name as a list writes it (relative to the directory), and what the list says of it. */
export interface Listed {
  name: string;
  expectations: Expectation[];
}

/** The digest algorithms a file can be checked with, and the length of their hex digests. */
export const CHECKED_ALGORITHMS: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Text of a list, refused when it is not UTF-8 (a name that cannot be read cannot be checked). */
export function listText(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new KreproError('E_CHECK', `${file} is not UTF-8 text`, { path: file });
  }
}

function lines(text: string): { line: number; text: string }[] {
  return text
    .split('\n')
    .map((t, i) => ({ line: i + 1, text: t.endsWith('\r') ? t.slice(0, -1) : t }))
    .filter((l) => l.text !== '');
}

/** sha256sum's escaped form: a line starting with `\` has `\\`, `\n` and `\r` in its name. */
function unescapeName(name: string): string {
  return name.replace(/\\([\\nr])/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
}

/** One line of a sums file, GNU (`<hex>  <name>`, `<hex> *<name>`) or BSD tag (`SHA256 (<name>) = <hex>`) form. */
function sumsLine(text: string, algorithm: string): { name: string; hex: string } | undefined {
  const escaped = text.startsWith('\\');
  const body = escaped ? text.slice(1) : text;
  const length = CHECKED_ALGORITHMS[algorithm]!;
  const gnu = new RegExp(`^([0-9a-fA-F]{${length}}) [ *](.+)$`).exec(body);
  if (gnu) return { hex: gnu[1]!.toLowerCase(), name: escaped ? unescapeName(gnu[2]!) : gnu[2]! };
  const bsd = new RegExp(`^${algorithm.toUpperCase()} \\((.+)\\) = ([0-9a-fA-F]{${length}})$`).exec(body);
  if (bsd) return { hex: bsd[2]!.toLowerCase(), name: escaped ? unescapeName(bsd[1]!) : bsd[1]! };
  return undefined;
}

/** `SHA256SUMS`/`SHA512SUMS` as `sha256sum -c` reads them; a line in neither form makes the list unusable. */
export function parseSums(text: string, file: string, algorithm: string): Listed[] {
  return lines(text).map((l) => {
    const parsed = sumsLine(l.text, algorithm);
    if (!parsed) {
      throw new KreproError('E_CHECK', `${file} line ${l.line} is not a ${algorithm} sums line ('<${CHECKED_ALGORITHMS[algorithm]} hex digits>  <name>', as ${algorithm}sum writes)`, { path: file });
    }
    return { name: parsed.name, expectations: [{ source: `${file} line ${l.line}`, what: algorithm, expected: parsed.hex }] };
  });
}

/**
 * A per-file `<name>.sha256` (Kubernetes' form: the bare hex digest) or a one-line sums file for that name, as
 * `sha256sum name > name.sha256` writes it.
 */
export function parseFileSum(text: string, file: string, target: string, algorithm: string): Expectation {
  const body = lines(text);
  const hex = body.length === 1 ? body[0]!.text.trim() : '';
  if (new RegExp(`^[0-9a-fA-F]{${CHECKED_ALGORITHMS[algorithm]}}$`).test(hex)) return { source: file, what: algorithm, expected: hex.toLowerCase() };
  const line = body.length === 1 ? sumsLine(body[0]!.text, algorithm) : undefined;
  const base = target.slice(target.lastIndexOf('/') + 1);
  if (line && (line.name === base || line.name.endsWith(`/${base}`))) return { source: file, what: algorithm, expected: line.hex };
  throw new KreproError('E_CHECK', `${file} is not a ${algorithm} digest of ${base}: expected one line, the ${CHECKED_ALGORITHMS[algorithm]} hex digits alone or followed by '  ${base}'`, { path: file });
}

/** krepro-manifest.json: each file's size and SRI integrity (sha256 and sha512 as krepro writes them). */
export function parseManifest(text: string, file: string): Listed[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KreproError('E_CHECK', `${file} is not valid JSON (${jsonSyntaxError(text, err)})`, { path: file });
  }
  const files = (value as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) throw new KreproError('E_CHECK', `${file} has no "files" list: it is not a krepro release manifest`, { path: file });
  return files.map((f: unknown, i) => {
    const entry = f as { name?: unknown; size?: unknown; integrity?: unknown } | null;
    const where = `${file} files[${i}]`;
    if (typeof entry?.name !== 'string' || !Number.isSafeInteger(entry.size) || (entry.size as number) < 0 || typeof entry.integrity !== 'string') {
      throw new KreproError('E_CHECK', `${where} is not {"name", "size", "integrity"} with a string, a whole number and an SRI string`, { path: file });
    }
    const integrity = ssri.parse(entry.integrity, { strict: true, single: false }) as unknown as Record<string, { digest: string }[] | undefined>;
    const expectations: Expectation[] = [{ source: file, what: 'size', expected: String(entry.size) }];
    for (const algorithm of Object.keys(CHECKED_ALGORITHMS)) {
      for (const hash of integrity[algorithm] ?? []) expectations.push({ source: file, what: algorithm, expected: Buffer.from(hash.digest, 'base64').toString('hex') });
    }
    if (expectations.length === 1) throw new KreproError('E_CHECK', `${where} has no sha256, sha384 or sha512 integrity krepro can check`, { path: file });
    return { name: entry.name, expectations };
  });
}
