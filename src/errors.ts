/**
 * The one error class of tablecast, its stable codes, and the single table that maps a code to an
 * HTTP status. Throw sites name a code, never a status (as tRPC's code → status table does), so a
 * code means the same thing on REST, SSE set-up and GraphQL.
 */

/** Every error code tablecast produces, with its HTTP status. The README lists them; a test keeps the two in sync. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  VALIDATION_FAILED: 400,
  QUERY_INVALID: 400,
  QUERY_TOO_COMPLEX: 400,
  KEY_MISMATCH: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TABLE_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  CURSOR_EXPIRED: 410,
  REQUEST_TIMEOUT: 408,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  SLOW_CONSUMER: 429,
  CHANNEL_FULL: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
  CLUSTER_UNAVAILABLE: 503,
  STORAGE_FULL: 507,
  SCHEMA_INVALID: 500,
  CONFIG_INVALID: 500,
  TYPES_INVALID: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** HTTP reason phrases for the statuses above, so the JSON body matches fastify's own error shape. */
const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** The JSON body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
  details?: unknown;
}

export interface AppErrorOptions {
  /** Safe to show to the client: validation issues, offending positions. */
  details?: unknown;
  /** Never shown; logged for 5xx. */
  cause?: unknown;
  /** Extra response headers (e.g. `Retry-After` for 429, `Allow` for 405). */
  headers?: Record<string, string>;
}

/**
 * An error with a stable code. `statusCode` always comes from {@link ERROR_STATUS}.
 * @example throw new AppError('NOT_FOUND', 'message msg-9 not found')
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.statusCode = ERROR_STATUS[code];
    if (options.details !== undefined) this.details = options.details;
    if (options.headers !== undefined) this.headers = options.headers;
  }

  /** The one JSON shape of every error, matching fastify's default error body. */
  toJSON(): ErrorBody {
    const body: ErrorBody = {
      statusCode: this.statusCode,
      code: this.code,
      error: REASON[this.statusCode] ?? 'Error',
      message: this.message,
    };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

/** The code tablecast uses for a framework error that carries only an HTTP status. */
const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  431: 'HEADERS_TOO_LARGE',
  503: 'SERVICE_UNAVAILABLE',
};

/**
 * The one list of error codes that mean the disk or the store is full: Node's names, and the same
 * as lmdb-js reports them, a numeric `code` (MDB_MAP_FULL -30792, errno ENOSPC 28, EDQUOT 122) with
 * mdb_strerror's message. Matching only string codes turned a full disk into a 500.
 */
const FULL_CODES: ReadonlySet<unknown> = new Set(['ENOSPC', 'EDQUOT', 'MDB_MAP_FULL', -30792, 28, 122]);

/** Whether an error `code` (string or LMDB's number) says the disk or the store is full. */
export function isStorageFullCode(code: unknown): boolean {
  return FULL_CODES.has(code);
}

const FULL_MESSAGE = /MDB_MAP_FULL|ENOSPC|EDQUOT|No space left on device|Disk quota exceeded/;

/**
 * The only translator from anything thrown to an {@link AppError}. Unknown errors become
 * `INTERNAL` with a masked message; the original stays in `cause` for the log.
 * @example reply.send(toAppError(err).toJSON())
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err && typeof err === 'object') {
    // Any thrown object: each field is checked before it is used.
    const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message : 'request failed';
    const full = isStorageFullCode(e.code);
    if (full || (e.code !== undefined && FULL_MESSAGE.test(message))) {
      return new AppError('STORAGE_FULL', 'the data directory is full; the write was not stored', { cause: err });
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && /JSON/i.test(message) && e.code !== undefined && String(e.code).startsWith('FST_ERR_CTP'))) {
        return new AppError('INVALID_JSON', `request body is not valid JSON: ${message}`, { cause: err });
      }
      if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        // fastify's own message is just "Unsupported Media Type"; say what to send instead.
        return new AppError('UNSUPPORTED_MEDIA_TYPE', 'request bodies must be JSON (send Content-Type: application/json)', { cause: err });
      }
      const code = CODE_FOR_STATUS[e.statusCode] ?? 'BAD_REQUEST';
      return new AppError(code, message, {
        cause: err,
        ...(typeof e.code === 'string' ? { details: { reason: e.code } } : {}),
      });
    }
  }
  return new AppError('INTERNAL', 'internal server error', { cause: err });
}
