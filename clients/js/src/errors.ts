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

/** An HTTP request to the server failed: its status (0 when no response came) and the server's `error` text. */
export class MoltBeatHttpError extends Error {
  override readonly name = 'MoltBeatHttpError';
  constructor(
    readonly status: number,
    message: string,
    /** The URL requested. */
    readonly url?: string,
  ) {
    super(message);
  }
}
