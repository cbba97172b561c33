/**
 * The client's one error class. The server's errors keep their JSON shape's `code`, `statusCode`
 * and `message` (README › Errors lists the codes); failures before any answer (connection refused,
 * TLS) get `NETWORK_ERROR`, answers that are not tablecast's JSON error `HTTP_ERROR`, and a stream
 * event the client cannot read `BAD_EVENT`.
 */

/** A tablecast error code, or one of the client's own (`NETWORK_ERROR`, `HTTP_ERROR`, `BAD_EVENT`). */
export type ClientErrorCode = string;

/**
 * An error answered by the server or met on the way to it.
 * @example try { await messages.get('nope') } catch (err) { if (err instanceof ClientError && err.code === 'NOT_FOUND') … }
 */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The server's `details` (validation issues, positions), when it sent some. */
  readonly details?: unknown;

  constructor(code: ClientErrorCode, status: number, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.status = status;
    if (options.details !== undefined) this.details = options.details;
  }
}

/** The error an answer of status `status` with body `text` stands for. */
export function errorFromResponse(status: number, text: string): ClientError {
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (body && typeof body.code === 'string' && typeof body.message === 'string') {
      return new ClientError(body.code, status, body.message, body.details === undefined ? {} : { details: body.details });
    }
  } catch {
    // Not JSON: a proxy's page or a plain-text answer; described below.
  }
  return new ClientError('HTTP_ERROR', status, `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}
