import { PassThrough } from 'node:stream';
import { connectEngine, pingEngine } from '../../lib/engine/connect.js';
import type { Engine, Mount } from '../../lib/engine/engine.js';
import { runContainer } from '../../lib/backend/docker/run.js';
import { makeBaseImage } from '../../lib/environment/base-image.js';

export const NODE_TEST_IMAGE = 'krepro-test-node:trixie';

/**
 * The engine named by the environment, or undefined so engine tests can skip on a laptop without dockerd.
 * Under CI an unreachable engine is a failure: a silently skipped suite would hide a broken .ci/run.
 */
export async function engineOrSkip(): Promise<Engine | undefined> {
  const engine = connectEngine({ env: process.env });
  try {
    await pingEngine(engine, { timeoutMs: 5_000 });
    return engine;
  } catch (err) {
    if (process.env['CI']) throw err;
    process.stderr.write(`skipping engine tests: ${(err as Error).message}\n`);
    return undefined;
  }
}

/**
 * Debian trixie minbase plus Debian's nodejs (and git, for the source tarball), whose zlib is the system one (vanilla), unlike official Node builds.
 * Made once (debootstrap takes minutes); .ci/run pre-makes it through the CLI with the same tag.
 */
export async function debianNodeImage(engine: Engine): Promise<string> {
  await makeBaseImage(engine, {
    suite: 'trixie',
    tag: NODE_TEST_IMAGE,
    include: ['nodejs', 'git'],
    workDir: '/var/tmp',
    onLog: (line: string) => process.stderr.write(`[base-image] ${line}\n`),
  });
  return NODE_TEST_IMAGE;
}

export interface RunSpec {
  image: string;
  cmd: string[];
  /** `host-path:container[:ro]` or `volume:container`, as docker -v writes them */
  binds: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  mounts?: Mount[];
  /** Engine network mode; 'none' by default so tests cannot depend on the network by accident. */
  network?: 'none' | 'bridge';
}

/** Runs a command to completion and returns its exit code and output, through lib/engine's runContainer. */
export async function runInContainer(engine: Engine, spec: RunSpec): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const collect = () => {
    const chunks: Buffer[] = [];
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => chunks.push(c));
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = collect();
  const err = collect();
  const binds: Mount[] = spec.binds.map((b) => {
    const [source, target, mode] = b.split(':') as [string, string, string | undefined];
    return source.startsWith('/') ? { type: 'bind', source, target, readOnly: mode === 'ro' } : { type: 'volume', source, target };
  });
  const exitCode = await runContainer(
    engine,
    {
      image: spec.image,
      cmd: spec.cmd,
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
      mounts: [...binds, ...(spec.mounts ?? [])],
      network: spec.network ?? 'none',
      labels: { 'io.krepro.test': '1' },
    },
    { stdout: out.stream, stderr: err.stream },
  );
  return { exitCode, stdout: out.text(), stderr: err.text() };
}
