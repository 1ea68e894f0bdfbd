import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Docker from 'dockerode';
import { makeBaseImage } from '../../lib/engine/base-image.js';
import { connectResolved, pingEngine, resolveEngine } from '../../lib/engine/connect.js';

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

/** Runs a command to completion and returns its exit code and output; the container is always removed. */
export async function runInContainer(docker: Docker, spec: RunSpec): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const body = {
    Image: spec.image,
    Cmd: spec.cmd,
    Env: spec.env ?? [],
    ...(spec.user === undefined ? {} : { User: spec.user }),
    ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
    Tty: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Labels: { 'io.krepro.test': '1' },
    // No AutoRemove: it races with wait() (dockerode#582); the finally block removes the container instead.
    HostConfig: { Binds: spec.binds, NetworkMode: spec.network ?? 'none' },
  };
  // _query/_body: otherwise docker-modem also copies every option (Env included) into the URL query string.
  const container = await docker.createContainer({ _query: {}, _body: body } as unknown as Docker.ContainerCreateOptions);
  try {
    const attached = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
    const out = new PassThrough();
    const err = new PassThrough();
    const outChunks: Buffer[] = [];
    const errChunks: Buffer[] = [];
    out.on('data', (c: Buffer) => outChunks.push(c));
    err.on('data', (c: Buffer) => errChunks.push(c));
    docker.modem.demuxStream(attached, out, err);
    // demuxStream never ends its outputs; end them when the attach stream does (all 'data' has been handled by then).
    const ended = finished(attached).finally(() => {
      out.end();
      err.end();
    });
    await container.start();
    const result = (await container.wait()) as { StatusCode: number; Error?: { Message?: string } | null };
    await ended;
    await Promise.all([finished(out), finished(err)]);
    if (result.Error?.Message) throw new Error(`container wait failed: ${result.Error.Message}`);
    return {
      exitCode: result.StatusCode,
      stdout: Buffer.concat(outChunks).toString('utf8'),
      stderr: Buffer.concat(errChunks).toString('utf8'),
    };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}
