/** Stable error codes: callers branch on `code`, never on message text. */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_ENGINE_UNREACHABLE'
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
  | 'E_ENCODER';

export class KreproError extends Error {
  readonly code: ErrorCode;
  readonly path?: string;
  /** exit code of the failed build command, for E_BUILD_FAILED */
  readonly exitCode?: number;

  constructor(code: ErrorCode, message: string, opts: { path?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KreproError';
    this.code = code;
    if (opts.path !== undefined) this.path = opts.path;
    if (opts.exitCode !== undefined) this.exitCode = opts.exitCode;
  }
}

export function isKreproError(err: unknown): err is KreproError {
  return err instanceof KreproError;
}
