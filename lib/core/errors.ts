// Error classes whose `name` is a contract: the state machines Retry and Catch on these names,
// and the CLI maps them to exit codes (see DESIGN.md, "CLI contract").

/** Bad usage or bad input (a malformed location, a missing bucket): exit code 2. */
export class BadInputError extends Error {
  override name = 'BadInputError';
}

/** The job could not run at all (no credentials, access denied, endpoint unreachable): exit code 3. */
export class CannotRunError extends Error {
  override name = 'CannotRunError';
}

/** Thrown when what arrived is not what was read: never retried into a false success. */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A whole invocation failed for a reason worth retrying (the job store was briefly unavailable). */
export class TransientError extends Error {
  override name = 'TransientError';
}

/** The job store lacks something the job needs: a bug or a deleted job, never retried. */
export class JobStoreError extends Error {
  override name = 'JobStoreError';
}

export interface ErrorInfo {
  /** The S3 error code, or a network error code such as ECONNRESET. */
  code: string;
  message: string;
  /** Worth retrying: throttling, 5xx, resets, timeouts. */
  transient: boolean;
  /** The service asked us to slow down: the pool backs off. */
  throttle: boolean;
}

const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestLimitExceeded']);
const TRANSIENT_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'TransientError',
  // A file that changed while it was read (lib/core/transfer.ts): read it again.
  'FileChanged',
]);

/** Classifies any error thrown by the SDK, a socket or ferry itself. */
export function classify(err: unknown): ErrorInfo {
  const e = err as {
    name?: string;
    code?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { statusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
  let code = e?.Code ?? (typeof e?.code === 'string' ? e.code : undefined) ?? e?.name ?? 'Error';
  if (code === 'Error' || code === 'UnknownError') code = status ? `Http${status}` : 'Error';
  const message = String(e?.message ?? err).split('\n')[0] ?? '';
  const throttle = THROTTLE_CODES.has(code) || status === 503 || status === 429;
  const socketLike = /socket hang up|ECONNRESET|premature close|aborted|EPIPE|other side closed/i.test(message);
  const transient =
    throttle || TRANSIENT_CODES.has(code) || (status !== undefined && status >= 500) || socketLike;
  return { code: socketLike && code === 'Error' ? 'ECONNRESET' : code, message, transient, throttle };
}
