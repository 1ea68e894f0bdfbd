import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { hashFile, type Digests } from './hash-stream.js';

/** One output of a build or a release, as every part of krepro passes it on: packing, release, verify, images. */
export interface Artifact {
  /** how it is named in its release or build: a tarball's file name, an output's checkout-relative path */
  name: string;
  /** where it is on this machine */
  path: string;
  /** Size in bytes. */
  size: number;
  /** sha256 and sha512 of its bytes. */
  digests: Digests;
}

/** Regular files below `dir` (or `dir` itself when it is a file), relative, in byte order; none when it is absent. */
async function filesBelow(dir: string, rel = ''): Promise<string[]> {
  const here = path.join(dir, rel);
  const st = await stat(here).catch(() => undefined);
  if (st === undefined) return [];
  if (st.isFile()) return [rel];
  const out: string[] = [];
  for (const d of await readdir(here, { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await filesBelow(dir, r)));
    else if (d.isFile()) out.push(r);
  }
  return out.sort(byteOrder);
}

/** The files under each of `outputs` (checkout-relative paths below `root`), hashed, named by their path. */
export async function outputArtifacts(root: string, outputs: readonly string[], signal?: AbortSignal): Promise<Artifact[]> {
  const artifacts: Artifact[] = [];
  for (const output of outputs) {
    for (const rel of await filesBelow(path.join(root, output))) {
      const file = rel === '' ? path.join(root, output) : path.join(root, output, rel);
      artifacts.push({ name: rel === '' ? output : `${output}/${rel}`, path: file, ...(await hashFile(file, signal)) });
    }
  }
  return artifacts.sort((a, b) => byteOrder(a.name, b.name));
}
