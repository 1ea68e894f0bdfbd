import { spawn } from 'node:child_process';
import { KreproError } from '../errors.js';
import { runLogged, waitExit } from '../process/run.js';

export interface MmdebstrapRun {
  suite: string;
  variant: string;
  architecture: string;
  /** `name` or `name=version` */
  include: string[];
  customizeHooks: string[];
  aptOptions?: string[];
  /** a tar file, or /dev/null for no output */
  target: string;
  /** sources.list lines */
  sources: string[];
  sourceDateEpoch?: number;
  /** where mmdebstrap makes its temporary root filesystem */
  tempDir: string;
  /** extra environment, e.g. proxies for apt */
  env?: Record<string, string>;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs mmdebstrap as root (--mode=root) with a fixed environment and umask 022: nothing from the caller's shell
 * reaches hooks or maintainer scripts, so the same inputs give the same root filesystem on another machine.
 * /dev is left out of the tar (--skip=output/dev): an engine mounts its own.
 */
export async function runMmdebstrap(run: MmdebstrapRun): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new KreproError('E_ENVIRONMENT', 'making the build environment needs root (mmdebstrap --mode=root creates device nodes and chroots); run krepro env as root');
  }
  const args = [
    '--mode=root',
    `--variant=${run.variant}`,
    `--architectures=${run.architecture}`,
    '--skip=output/dev',
    ...(run.include.length > 0 ? [`--include=${run.include.join(',')}`] : []),
    ...(run.aptOptions ?? []).map((o) => `--aptopt=${o}`),
    ...run.customizeHooks.map((h) => `--customize-hook=${h}`),
    run.suite,
    run.target,
    ...run.sources,
  ];
  const env: Record<string, string> = {
    PATH,
    LC_ALL: 'C.UTF-8',
    HOME: '/root',
    TMPDIR: run.tempDir,
    ...(run.sourceDateEpoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(run.sourceDateEpoch) }),
    ...run.env,
  };
  const log = run.onLog ?? (() => {});
  const exit = await runLogged('sh', ['-c', 'umask 022 && exec mmdebstrap "$@"', 'mmdebstrap', ...args], log, { env, tailLines: 40, ...(run.signal ? { signal: run.signal } : {}) });
  run.signal?.throwIfAborted();
  if (exit.error !== undefined || exit.code !== 0) {
    const detail = exit.code === 127 ? 'mmdebstrap is not installed (apt-get install mmdebstrap)' : (exit.error?.message ?? `exit ${exit.code ?? exit.signal}`);
    throw new KreproError('E_ENVIRONMENT', `mmdebstrap ${run.suite} failed: ${detail}\n${exit.tail.join('\n')}`, exit.error ? { cause: exit.error } : {});
  }
}

/** `mmdebstrap --version`'s number, e.g. 1.3.5, recorded in the lock: another version may lay out files differently. */
export async function mmdebstrapVersion(): Promise<string> {
  const child = spawn('mmdebstrap', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH } });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exit = await waitExit(child);
  const version = /mmdebstrap (\S+)/.exec(out)?.[1];
  if (exit.code !== 0 || version === undefined) throw new KreproError('E_ENVIRONMENT', 'mmdebstrap is not installed or does not run (apt-get install mmdebstrap)');
  return version;
}
