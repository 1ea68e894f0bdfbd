import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { makeBaseImage } from '../../lib/engine/base-image.js';
import { connectResolved, pingEngine, resolveEngine } from '../../lib/engine/connect.js';
import { runContainer } from '../../lib/engine/container.js';

export const NODE_TEST_IMAGE = 'krepro-test-node:trixie';

/**
 * The engine named by the environment, or undefined so engine tests can skip on a laptop without dockerd.
 * Under CI an unreachable engine is a failure: a silently skipped suite would hide a broken .ci/run.
 */
export async function engineOrSkip(): Promise<Docker | undefined> {
  const resolved = resolveEngine({ env: process.env });
  const docker = connectResolved(resolved);
  try {
    await pingEngine(docker, resolved.endpoint, { timeoutMs: 5_000 });
    return docker;
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
export async function debianNodeImage(docker: Docker): Promise<string> {
  await makeBaseImage(docker, {
    suite: 'trixie',
    tag: NODE_TEST_IMAGE,
    include: ['nodejs', 'git'],
    workDir: '/var/tmp',
    onLog: (line) => process.stderr.write(`[base-image] ${line}\n`),
  });
  return NODE_TEST_IMAGE;
}

export interface RunSpec {
  image: string;
  cmd: string[];
  binds: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  /** Engine network mode; 'none' by default so tests cannot depend on the network by accident. */
  network?: string;
}

/** Runs a command to completion and returns its exit code and output, through lib/engine's runContainer. */
export async function runInContainer(docker: Docker, spec: RunSpec): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const collect = () => {
    const chunks: Buffer[] = [];
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => chunks.push(c));
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = collect();
  const err = collect();
  const exitCode = await runContainer(
    docker,
    { ...spec, network: spec.network ?? 'none', labels: { 'io.krepro.test': '1' } },
    { stdout: out.stream, stderr: err.stream },
  );
  return { exitCode, stdout: out.text(), stderr: err.text() };
}
