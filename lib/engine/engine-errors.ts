import { KreproError } from '../errors.js';

/** What the Docker client attaches to failures: docker-modem's statusCode/json, or Node's errno codes. */
interface RawEngineError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | string | null;
}

/** Connection failures: the engine stopped answering (dockerd stopped, socket removed, connection cut). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

function engineMessage(raw: RawEngineError): string {
  const json = raw.json;
  const fromJson = typeof json === 'string' ? json : json?.message;
  return (fromJson ?? raw.message ?? String(raw)).trim().replace(/^\(HTTP code \d+\) [a-z ]+ - /, '');
}

/** True for an error that means the engine went away rather than refused. */
export function isConnectionFailure(err: unknown): boolean {
  const raw = err as RawEngineError | null;
  if (raw === null || typeof raw !== 'object') return false;
  if (raw.code !== undefined && CONNECTION_CODES.has(raw.code)) return true;
  return /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|premature close|aborted/i.test(raw.message ?? '') && raw.statusCode === undefined;
}

/**
 * Maps a failure of one engine operation to a KreproError naming the endpoint and the operation. An abort is
 * returned as the abort it is (the caller's signal reason), and a KreproError passes through unchanged.
 */
export function engineFault(endpoint: string, operation: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof KreproError) return err;
  const raw = (err ?? {}) as RawEngineError;
  const message = engineMessage(raw);
  const opts = { cause: err, endpoint };
  if (/no space left on device/i.test(message)) {
    return new KreproError('E_NO_SPACE', `the engine at ${endpoint} ran out of disk space during ${operation}: ${message}. Free space in its data root (docker system df) and run again`, opts);
  }
  if (isConnectionFailure(err)) {
    return new KreproError(
      'E_ENGINE_GONE',
      `the engine at ${endpoint} went away during ${operation} (${raw.code ?? message}). When it is back, run again: krepro removes this run's leftover containers then; data volumes are kept`,
      opts,
    );
  }
  switch (raw.statusCode) {
    case 404:
      return new KreproError('E_NOT_FOUND', `${operation}: not found on the engine at ${endpoint}: ${message}`, opts);
    case 409:
      return new KreproError('E_CONFLICT', `${operation}: conflict on the engine at ${endpoint}: ${message}`, opts);
    case undefined:
      return new KreproError('E_ENGINE', `${operation} failed on the engine at ${endpoint}: ${message}`, opts);
    default:
      return new KreproError('E_ENGINE', `the engine at ${endpoint} refused ${operation} (HTTP ${raw.statusCode}): ${message}`, opts);
  }
}

export function statusOf(err: unknown): number | undefined {
  return (err as RawEngineError | null)?.statusCode;
}
