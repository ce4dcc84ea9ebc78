/** An `error` message from the server (code from protocol.md), or a request that failed. */
export class MoltBeatError extends Error {
  override readonly name = 'MoltBeatError';
  constructor(
    readonly code: string,
    message?: string,
    /** The request id the server echoed, if any. */
    readonly id?: number,
    /** The room of the failed subscribe/unsubscribe, if any. */
    readonly room?: string,
  ) {
    super(message ? `${code}: ${message}` : code);
  }
}

/** The connection closed (e.g. 4001 unauthorized). */
export class MoltBeatCloseError extends Error {
  override readonly name = 'MoltBeatCloseError';
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`connection closed: ${code}${reason ? ` ${reason}` : ''}`);
  }
}

/** A request to the server's HTTP API failed: `status` is the HTTP status (0 when no response came), `error` the server's text. */
export class MoltBeatHttpError extends Error {
  override readonly name = 'MoltBeatHttpError';
  constructor(
    /** The HTTP status, or 0 when the request got no response (network error, aborted). */
    readonly status: number,
    /** The server's `error` text (or the start of its body), or the network error's message. */
    readonly error: string,
    /** What was asked: method and URL. */
    readonly request: string,
    options?: { cause?: unknown },
  ) {
    super(`${request} failed: ${status === 0 ? 'no response' : `HTTP ${status}`}${error ? `: ${error}` : ''}`, options);
  }
}
