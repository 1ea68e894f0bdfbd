import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from '../errors.js';
import { runGit } from '../source/git.js';
import { isSafeRelativePath } from '../checkout/relative-path.js';
import { parseJson, quote } from '../quote.js';

/** The project file at the checkout root: how this project builds, and which files are its artifacts. */
export const PROJECT_FILE = 'krepro.json';
/** The project file's `$schema` (schemas/project.schema.json). */
export const PROJECT_SCHEMA = 'https://krepro.dev/schemas/project/v1';

/** The server images a project ships (the project file's `images`). */
export interface ImageSettings {
  /** server binaries to make images of (default: Kubernetes' four) */
  binaries?: string[];
  /** The registry of the image names. Default: KUBE_DOCKER_REGISTRY, else registry.k8s.io. */
  registry?: string;
  /** 'scratch' or a docker-archive tarball path, relative to the checkout */
  base?: string;
}

/** A project's build, as run, release and verify all use it. Every field also has a CLI flag. */
export interface Project {
  /** the build command as argv; a string in the file runs with `sh -c` */
  command: string[];
  /** checkout-relative paths (directories or files) whose files are the artifacts */
  outputs: string[];
  /** extra environment for every build */
  env: Record<string, string>;
  /** make and compare the Kubernetes release tarballs from `_output/dockerized/bin` */
  release: boolean;
  /** server images inside the release; false for none */
  images: ImageSettings | false;
  /** opt in to krepro's normalizing build settings (see NORMALIZATIONS) */
  normalize: boolean;
  /**
   * Docker engines to spread verify's builds over (`--pool`); none: one engine. Where builds run, never what they
   * build: no recipe or plan digest includes it.
   */
  pool?: string[];
  /** the project file this came from; undefined for Kubernetes defaults */
  file?: string;
}

/** Kubernetes' own: what `build/release.sh` builds and where `build/copy-output.sh` finds it. */
export const KUBERNETES_DEFAULTS: Project = {
  command: ['make', 'cross'],
  outputs: ['_output/dockerized/bin'],
  env: {},
  release: true,
  images: {},
  normalize: false,
};

/**
 * Build settings that hide causes of unreproducibility instead of fixing them. Off by default, so a build is verified
 * as the project itself builds; `normalize: true` turns them on, and reports then name what each may mask.
 */
export const NORMALIZATIONS: readonly { name: string; value: string; why: string; masks: string[] }[] = [
  { name: 'GOFLAGS', value: '-trimpath', why: 'Go records no file system paths in binaries', masks: ['build-path', 'home'] },
  { name: 'CGO_ENABLED', value: '0', why: 'no C toolchain: no C compiler paths, no host libc', masks: ['build-path'] },
];

const KNOWN = new Set(['$schema', 'command', 'outputs', 'env', 'release', 'images', 'normalize', 'pool']);

/**
 * Reads `krepro.json` at `root` (Kubernetes defaults without one); every problem names the file and the field, or
 * the line and column, never its bytes. A project file that is a symbolic link is refused: it could show any file of
 * the machine in an error, and the project a commit builds is the file that commit holds.
 */
export async function loadProject(root: string): Promise<Project> {
  const file = path.join(root, PROJECT_FILE);
  let text: string;
  try {
    text = await readNoFollow(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ...KUBERNETES_DEFAULTS };
    if (code === 'ELOOP') throw new KreproError('E_UNSAFE_PATH', `${file} is a symbolic link; krepro reads the project file only as a file of the checkout itself`, { path: file, cause: err });
    throw new KreproError('E_USAGE', `cannot read ${file}: ${code ?? (err as Error).message}`, { path: file, cause: err });
  }
  return parseProjectText(text, file);
}

/**
 * The project file as `commit` holds it (Kubernetes defaults when it holds none): what a build of that commit must
 * use, whatever the working tree holds. `workingTreeDiffers` says the working tree's file is not the same (changed,
 * added, removed or a link), so a caller can say which one it used. A committed link is refused, as loadProject
 * refuses one in the working tree.
 */
export async function loadCommittedProject(root: string, commit: string): Promise<{ project: Project; workingTreeDiffers: boolean }> {
  const where = `${commit}:${PROJECT_FILE}`;
  const entry = (await runGit(root, ['ls-tree', '-z', commit, '--', PROJECT_FILE], `read ${PROJECT_FILE} of commit ${commit}`)).split('\0')[0] ?? '';
  const [mode, , object] = entry.split(/\s/);
  let committed: string | undefined;
  if (entry !== '') {
    if (mode !== '100644' && mode !== '100755') throw new KreproError('E_UNSAFE_PATH', `${where} is ${mode === '120000' ? 'a symbolic link' : 'not a file'}; krepro reads the project file only as a file of the commit itself`, { path: where });
    committed = await runGit(root, ['cat-file', 'blob', object!], `read ${where}`);
  }
  const project = committed === undefined ? { ...KUBERNETES_DEFAULTS } : parseProjectText(committed, where);
  let working: string | undefined;
  try {
    working = await readNoFollow(path.join(root, PROJECT_FILE));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { project, workingTreeDiffers: true };
    if (code !== 'ENOENT') throw new KreproError('E_USAGE', `cannot read ${path.join(root, PROJECT_FILE)}: ${code ?? (err as Error).message}`, { path: path.join(root, PROJECT_FILE), cause: err });
  }
  return { project, workingTreeDiffers: working !== committed };
}

async function readNoFollow(file: string): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** A project file's text (as read from the checkout, or from a commit), checked; `file` names it in errors. */
export function parseProjectText(text: string, file: string): Project {
  const raw = parseJson(text, (where) => new KreproError('E_USAGE', `${file} is not valid JSON: ${where}`, { path: file }));
  return { ...parseProject(raw, file), file };
}

/** Validates a parsed project file; `where` names it in errors. */
export function parseProject(raw: unknown, where: string): Project {
  const bad = (field: string, want: string, got: unknown): KreproError =>
    new KreproError('E_USAGE', `${where}: "${field}" must be ${want}, got ${quote(got)}`, { path: where });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('(top level)', 'an object', raw);
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw new KreproError('E_USAGE', `${where}: unknown field ${quote(key)} (known: ${[...KNOWN].join(', ')})`, { path: where });
  }
  const project: Project = { ...KUBERNETES_DEFAULTS, env: {}, release: false, images: false };
  if (o['command'] !== undefined) project.command = parseCommand(o['command'], (got) => bad('command', 'a non-empty string or array of strings', got));
  if (o['outputs'] !== undefined) {
    const v = o['outputs'];
    if (!Array.isArray(v) || v.length === 0 || !v.every((p) => typeof p === 'string')) throw bad('outputs', 'a non-empty array of paths', v);
    project.outputs = v.map((p: string) => checkOutputPath(p, where));
  }
  if (o['env'] !== undefined) {
    const v = o['env'];
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) throw bad('env', 'an object of string values', v);
    for (const k of Object.keys(v)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw bad(`env.${k}`, 'a variable name ([A-Za-z_][A-Za-z0-9_]*)', k);
    project.env = { ...(v as Record<string, string>) };
  }
  if (o['release'] !== undefined) {
    if (typeof o['release'] !== 'boolean') throw bad('release', 'true or false', o['release']);
    project.release = o['release'];
  }
  if (o['images'] !== undefined) project.images = parseImages(o['images'], bad);
  if (o['normalize'] !== undefined) {
    if (typeof o['normalize'] !== 'boolean') throw bad('normalize', 'true or false', o['normalize']);
    project.normalize = o['normalize'];
  }
  if (o['pool'] !== undefined) {
    const v = o['pool'];
    if (!Array.isArray(v) || v.length === 0 || !v.every((u) => typeof u === 'string' && u.trim() !== '') || new Set(v).size !== v.length) throw bad('pool', 'a non-empty array of distinct engine URLs', v);
    project.pool = [...(v as string[])];
  }
  if (project.images !== false && !project.release) throw new KreproError('E_USAGE', `${where}: "images" needs "release": true (images go into the server tarballs)`, { path: where });
  return project;
}

/** A command from a flag or the file: a string runs with `sh -c`, an array is argv. */
export function parseCommand(v: unknown, bad: (got: unknown) => KreproError): string[] {
  if (typeof v === 'string' && v.trim() !== '') return ['sh', '-c', v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== '')) return [...(v as string[])];
  throw bad(v);
}

/** An output path: relative to the checkout, normalized, inside it. */
export function checkOutputPath(p: string, where: string): string {
  const rel = p.replace(/\/+$/, '');
  if (!isSafeRelativePath(rel)) throw new KreproError('E_USAGE', `${where}: output path ${quote(p)} must be relative to the checkout, without . or .. parts`, { path: where });
  return rel;
}

function parseImages(v: unknown, bad: (field: string, want: string, got: unknown) => KreproError): ImageSettings | false {
  if (v === false) return false;
  if (v === true) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('images', 'false, true or an object', v);
  const o = v as Record<string, unknown>;
  const out: ImageSettings = {};
  for (const key of Object.keys(o)) if (!['binaries', 'registry', 'base'].includes(key)) throw bad(`images.${key}`, 'one of binaries, registry, base', key);
  if (o['binaries'] !== undefined) {
    if (!Array.isArray(o['binaries']) || !o['binaries'].every((b) => typeof b === 'string' && /^[A-Za-z0-9._-]+$/.test(b))) throw bad('images.binaries', 'an array of binary names', o['binaries']);
    out.binaries = [...(o['binaries'] as string[])];
  }
  for (const key of ['registry', 'base'] as const) {
    if (o[key] === undefined) continue;
    if (typeof o[key] !== 'string' || o[key] === '') throw bad(`images.${key}`, 'a non-empty string', o[key]);
    out[key] = o[key] as string;
  }
  return out;
}

/** The environment the project's settings add to every build (its env, then the normalizations it opted in to). */
export function projectVariables(project: Project): Record<string, string> {
  const env: Record<string, string> = {};
  if (project.normalize) for (const n of NORMALIZATIONS) env[n.name] = n.value;
  return { ...env, ...project.env };
}
