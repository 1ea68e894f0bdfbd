import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { tempDir } from './stage.js';

/** Every member of an uncompressed tar, read with tar-stream: header and body by name. */
export async function tarMembers(file: string): Promise<Map<string, { header: tar.Header; body: Buffer }>> {
  const found = new Map<string, { header: tar.Header; body: Buffer }>();
  const extract = tar.extract();
  const done = pipeline(createReadStream(file), extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
    found.set(entry.header.name, { header: entry.header, body: Buffer.concat(chunks) });
  }
  await done;
  return found;
}

/** Extracts `tarball` with GNU tar, bsdtar and Python's tarfile, each into its own new directory. */
export function extractWithEach(tarball: string): { tool: string; dir: string }[] {
  return (
    [
      ['tar', ['-xzf', tarball]],
      ['bsdtar', ['-xzf', tarball]],
      ['python3', ['-c', 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".", filter="tar")', tarball]],
    ] as const
  ).map(([tool, args]) => {
    const dir = tempDir();
    execFileSync(tool, [...args], { cwd: dir, stdio: 'pipe' });
    return { tool, dir };
  });
}
