/** Stable error codes: callers branch on `code`, never on message text. */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_ENGINE_UNREACHABLE'
  /** the engine answered before, and then stopped answering in the middle of an operation */
  | 'E_ENGINE_GONE'
  /** the engine refused an operation (HTTP error other than the ones below) */
  | 'E_ENGINE'
  | 'E_NOT_FOUND'
  /** an engine object of that name already exists: names are unique to their run and never reused */
  | 'E_CONFLICT'
  /** a disk (the host's, or the engine's) is full */
  | 'E_NO_SPACE'
  | 'E_SOURCE_DATE_EPOCH'
  | 'E_UNSAFE_PATH'
  | 'E_UNSUPPORTED_FILE'
  | 'E_FILE_CHANGED'
  | 'E_STAGE'
  | 'E_GIT'
  | 'E_IO'
  | 'E_BASE_IMAGE'
  | 'E_BUILD_IMAGE'
  | 'E_LOCKED'
  | 'E_BUILD_FAILED'
  /** a recipe that cannot be followed: another commit, an environment that cannot be made again */
  | 'E_REBUILD'
  | 'E_ENCODER'
  | 'E_ATTEST'
  /** a release directory's lists (sums, manifest, attestation) cannot be read as what they claim to be */
  | 'E_CHECK'
  | 'E_ENVIRONMENT'
  | 'E_PACKAGE_UNAVAILABLE'
  | 'E_PACKAGE_MISMATCH'
  /** a build bundle (verify --collect) that is not what it says, or not of this commit, environment and plan */
  | 'E_BUNDLE';

/** Every error krepro throws on purpose: a stable `code`, a message that names the file or value and the fix. */
export class KreproError extends Error {
  /** What went wrong, stable across versions. */
  readonly code: ErrorCode;
  /** The file or directory involved, when there is one. */
  readonly path?: string;
  /** exit code of the failed build command, for E_BUILD_FAILED */
  readonly exitCode?: number;
  /** the engine involved, for E_ENGINE* errors */
  readonly endpoint?: string;

  constructor(code: ErrorCode, message: string, opts: { path?: string; cause?: unknown; exitCode?: number; endpoint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KreproError';
    this.code = code;
    if (opts.path !== undefined) this.path = opts.path;
    if (opts.exitCode !== undefined) this.exitCode = opts.exitCode;
    if (opts.endpoint !== undefined) this.endpoint = opts.endpoint;
  }
}

/** Whether `err` is a KreproError (of this copy of krepro). */
export function isKreproError(err: unknown): err is KreproError {
  return err instanceof KreproError;
}
