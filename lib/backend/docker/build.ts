import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { byteOrder } from '../../byte-order.js';
import { namesOf } from '../../checkout/names.js';
import type { Container, ContainerSpec, Engine, Mount } from '../../engine/engine.js';
import { outputArtifacts } from '../../integrity/artifact.js';
import type { BuildOptions, BuildRequest, BuildResult, HostFacts } from '../backend.js';
import type { BuildConditions, Unapplied } from '../conditions.js';
import { conditionsVariables, ProbeReader, wrappedCommand } from '../wrapper.js';
import { runContainer } from './run.js';
import { copyOutput } from './sync/copy-output.js';
import { syncSources } from './sync/source-sync.js';

export interface DockerBuildContext {
  engine: Engine;
  /** a seccomp profile (JSON) allowing personality(ADDR_NO_RANDOMIZE); without one `aslr: false` cannot be applied */
  seccomp?: string;
  facts: () => Promise<HostFacts>;
}

/**
 * One build on a Docker engine, isolated from every other: a fresh volume (in memory for controlled builds whose
 * conditions name a file order, so readdir follows the creation order they ask for, kept mounted by a keeper
 * container; on disk for plain ones and for `fileOrder: 'filesystem'`), the sources synced into it, the command run in a fresh container, the outputs copied out into the
 * request's directory and hashed. Every object is named for the run and removed afterwards.
 */
export async function dockerBuild(ctx: DockerBuildContext, request: BuildRequest, opts: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now();
  const { engine } = ctx;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const host = await ctx.facts();
  await mkdir(request.dir, { recursive: true });
  const log = path.join(request.dir, 'build.log');
  const run = namesOf(request.run);
  const labels = run.labels;
  const volume = run.name(`build-${request.id}`);
  const image = request.environment.ref;
  const setup = containerSetup(request, ctx.seccomp);
  const mount: Mount = { type: 'volume', source: volume, target: setup.sourceDir };
  await engine.volumes.create(volume, labels, { ...(setup.memory ? { memory: setup.memory } : {}), ...signal });
  let keeper: Container | undefined;
  try {
    if (setup.memory) {
      // An in-memory volume's files live only while a container has it mounted: keep one running until the last read.
      keeper = await engine.containers.create({ image, cmd: ['sleep', 'infinity'], name: run.name(`build-${request.id}-keeper`), labels, network: 'none', mounts: [mount] }, signal);
      await keeper.start(signal);
    }
    const access = { volume, image, containerDir: setup.sourceDir, labels, ...signal };
    const via = keeper ? { via: keeper } : {};
    opts.onProgress?.('sources');
    await syncSources(engine, {
      ...access,
      checkoutRoot: request.sources.dir,
      owner: setup.owner,
      ...(setup.creationOrder ? { creationOrder: setup.creationOrder } : {}),
      // A controlled build's tree holds exactly the commit's files; a plain one sees what a session's would (with the manifest).
      oneShot: request.container.kind === 'controlled',
      ...(keeper ? via : { containerName: run.name(`build-${request.id}-sync`) }),
    });
    opts.onProgress?.('command');
    const out = createWriteStream(log);
    const probes = setup.probes ? new ProbeReader(out) : undefined;
    const commandStarted = Date.now();
    const exitCode = await runContainer(
      engine,
      { ...setup.spec(request), image, name: run.name(`build-${request.id}-command`), labels, mounts: [mount] },
      { stdout: probes ?? out, stderr: out, ...signal },
    );
    const commandMs = Date.now() - commandStarted;
    if (probes) await endStream(probes);
    await endStream(out);
    const result = { id: request.id, exitCode, commandMs, probes: probes?.probes ?? {}, unapplied: setup.unapplied, dir: request.dir, log, host };
    if (exitCode !== 0) return { ...result, outputs: [], durationMs: Date.now() - started };
    opts.onProgress?.('outputs');
    await copyOutput(engine, { ...access, checkoutRoot: request.dir, paths: [...request.outputs], skipMissing: true, ...(keeper ? via : { containerName: run.name(`build-${request.id}-copy`) }) });
    const outputs = await outputArtifacts(request.dir, request.outputs, opts.signal);
    return { ...result, outputs, durationMs: Date.now() - started };
  } finally {
    await keeper?.remove().catch(() => {});
    await engine.volumes.remove(volume).catch(() => {}); // the engine went away: the labels let the next run or `clean` find it
  }
}

function endStream(stream: Writable): Promise<void> {
  return new Promise<void>((resolve) => stream.end(resolve));
}

interface ContainerSetup {
  /** where the volume with the sources is mounted */
  sourceDir: string;
  owner: { uid: number; gid: number };
  memory?: { uid: number; gid: number };
  creationOrder?: 'sorted' | 'reversed';
  probes: boolean;
  unapplied: Unapplied[];
  spec: (request: BuildRequest) => Omit<ContainerSpec, 'image' | 'name' | 'labels' | 'mounts'>;
}

/** How a request's container becomes an engine container: the conditions applied, or the plain release container. */
function containerSetup(request: BuildRequest, seccomp: string | undefined): ContainerSetup {
  const network = request.network === 'none' ? ('none' as const) : ('bridge' as const);
  const env = (vars: Readonly<Record<string, string>>): string[] =>
    Object.keys(vars)
      .sort(byteOrder)
      .map((k) => `${k}=${vars[k]}`);
  const { container } = request;
  if (container.kind === 'plain') {
    return {
      sourceDir: container.workingDir,
      owner: container.user,
      probes: false,
      unapplied: [],
      spec: (r) => ({ cmd: [...r.command], env: env(r.variables), user: `${container.user.uid}:${container.user.gid}`, hostname: container.hostname, workingDir: container.workingDir, network }),
    };
  }
  const unapplied: Unapplied[] = [];
  let conditions: BuildConditions = container.conditions;
  if (!conditions.aslr && seccomp === undefined) {
    // Docker's default seccomp profile refuses personality(ADDR_NO_RANDOMIZE): the build runs randomized instead.
    unapplied.push({ condition: 'aslr', reason: 'the engine cannot switch address-space randomization off: no seccomp profile allowing personality(ADDR_NO_RANDOMIZE) was given (--seccomp-profile)' });
    conditions = { ...conditions, aslr: true };
  }
  const owner = { uid: conditions.uid, gid: conditions.gid };
  // In memory only where the file order is one of the conditions: readdir follows creation order on tmpfs alone.
  const inMemory = conditions.fileOrder !== 'filesystem';
  return {
    sourceDir: conditions.buildPath,
    owner,
    ...(inMemory ? { memory: owner, creationOrder: conditions.fileOrder as 'sorted' | 'reversed' } : {}),
    probes: true,
    unapplied,
    spec: (r) => ({
      cmd: wrappedCommand(conditions, r.command),
      env: env(conditionsVariables(conditions, r.variables)),
      user: `${conditions.uid}:${conditions.gid}`,
      workingDir: conditions.buildPath,
      hostname: conditions.hostname,
      domainname: conditions.domainname,
      ...(conditions.cpuset !== undefined ? { cpuset: conditions.cpuset } : {}),
      ...(seccomp !== undefined ? { seccomp } : {}),
      network,
    }),
  };
}
