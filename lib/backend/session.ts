import type { Writable } from 'node:stream';
import type { ProxySettings } from '../environment/build-image.js';
import type { EnvironmentSource } from '../environment/source.js';
import type { PreparedEnvironment, RemovedState } from './backend.js';

/**
 * A persistent, incremental build session on one checkout (`run`, `shell`, `copy-output`, `release`): the sources
 * stay on the backend between runs (upstream's data container), so a sync sends only what changed and build caches
 * survive. A session holds the claim on the checkout from open to close.
 */
export interface Session {
  /** the environment every container of the session runs in */
  readonly environment: PreparedEnvironment;
  /** how every build container runs: what a recipe records */
  readonly container: { user: { uid: number; gid: number }; hostname: string; workingDir: string };
  /** the variables of every build container (proxies excluded) */
  readonly variables: Readonly<Record<string, string>>;
  /** what opening removed: what cut-off runs of this checkout had left, and state of older versions */
  readonly removed: { leftovers: RemovedState; stale: RemovedState };
  /** Makes the sources on the backend match the checkout; only what changed is sent. */
  sync(): Promise<SyncResult>;
  /** Runs a command in a new container on the synced sources; resolves with its exit code. */
  run(command: readonly string[], io: { stdout: Writable; stderr: Writable }): Promise<number>;
  /** Runs an interactive command on a terminal; resolves with its exit code. */
  shell(command: readonly string[], io: TerminalIO): Promise<number>;
  /** Brings outputs back: the given paths (each must exist unless skipMissing), by default `_output/dockerized/bin` if it exists. */
  copyOutput(paths?: readonly string[], opts?: { skipMissing?: boolean }): Promise<CopyResult>;
  /** Releases the claim on the checkout; what the session keeps (sources, caches) stays for the next one. */
  close(): Promise<void>;
}

/** A backend that keeps sessions: the Docker backend. */
export interface Sessions {
  /** Opens a session on a checkout, taking the claim on it (E_LOCKED when another run holds it). */
  openSession(opts: SessionOptions): Promise<Session>;
}

/** What a session is opened on, and how its containers run. */
export interface SessionOptions {
  /** The checkout (git work tree) whose sources are synced. */
  checkoutRoot: string;
  /** this machine's hostname: part of the state names, so two machines sharing an engine never collide */
  hostname: string;
  /** The environment its containers run in. */
  environment: EnvironmentSource;
  /** uid:gid the build runs as; never root */
  user: { uid: number; gid: number };
  /** the variables of every build container (buildVariables), proxies excluded */
  variables?: Readonly<Record<string, string>>;
  /** Proxies passed to builds, never stored in an image. Default: none. */
  proxies?: ProxySettings;
  /** the command, recorded in the claim so a second run can say who holds the checkout */
  command: string;
  /** Each line of output while the environment is prepared. */
  onLog?: (line: string) => void;
  /** Aborts the opening. */
  signal?: AbortSignal;
}

/** Counts are of files and symlinks; directories are bookkeeping. */
export interface SyncResult {
  /** Files and symlinks in the checkout. */
  scanned: number;
  /** Files and symlinks sent (new or changed). */
  sent: number;
  /** bytes of file content sent */
  sentBytes: number;
  /** Files and symlinks removed on the backend (gone from the checkout). */
  deleted: number;
  /** Files and symlinks already there as they are. */
  unchanged: number;
  /** synced paths the build had changed or removed, sent again */
  rewritten: string[];
  /** paths the build had created in the source tree, removed */
  strays: string[];
  /** size of the tar stream sent (content, headers and manifest); 0 when nothing changed */
  tarBytes: number;
}

/** Counts are of files and symlinks. `bytes` is what was written. */
export interface CopyResult {
  /** Files and symlinks written. */
  copied: number;
  /** Files and symlinks already there as they are. */
  unchanged: number;
  /** Bytes written. */
  bytes: number;
}

/** A terminal for an interactive command. */
export interface TerminalIO {
  /** The terminal's input; raw mode is set while the command runs when it is a TTY. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  /** The terminal's output; its size is passed on, and followed on resize. */
  stdout: NodeJS.WritableStream & { columns?: number; rows?: number; on(event: 'resize', l: () => void): unknown; off?(event: 'resize', l: () => void): unknown };
}
