/**
 * A request sent to the server whose reply (with the same `id`) is awaited.
 * @internal
 */
export interface PendingRequest {
  kind: 'subscribe' | 'unsubscribe' | 'ping' | 'auth';
  room?: string;
  /** A subscribe that carried `since` (a resubscribe after a reconnect, or the `since` option). */
  since?: boolean;
  /** Second subscribe of a room whose epoch changed, asking for the new epoch from its start. */
  catchup?: boolean;
  resolve?: (v: any) => void;
  reject?: (e: Error) => void;
  /** The token an `auth` sends. */
  token?: string;
}

/**
 * The requests of the current connection by id, and the id counter of every request the client sends.
 * @internal
 */
export class PendingRequests {
  private nextId = 1;
  private readonly byId = new Map<number, PendingRequest>();

  /** An id for a request whose reply nobody waits for (heartbeat pings). */
  newId(): number {
    return this.nextId++;
  }

  /** Registers a request; returns the id to send it with. */
  add(request: PendingRequest): number {
    const id = this.nextId++;
    this.byId.set(id, request);
    return id;
  }

  /** Takes the request a reply of `kind` answers (undefined when none, or of another kind). */
  take(id: unknown, kind: PendingRequest['kind']): PendingRequest | undefined {
    if (typeof id !== 'number') return undefined;
    const p = this.byId.get(id);
    if (!p || p.kind !== kind) return undefined;
    this.byId.delete(id);
    return p;
  }

  /** Takes the request an `error` answers, whatever its kind. */
  takeAny(id: unknown): PendingRequest | undefined {
    const p = typeof id === 'number' ? this.byId.get(id) : undefined;
    if (p) this.byId.delete(id as number);
    return p;
  }

  /** The connection closed: no reply will come. */
  connectionClosed(err: Error): void {
    const pending = [...this.byId.values()];
    this.byId.clear();
    for (const p of pending) {
      if (p.kind === 'unsubscribe') p.resolve?.(undefined); // not subscribed on a closed connection either
      else if (p.kind !== 'subscribe') p.reject?.(err);
      // subscribe waiters stay: the room is resubscribed on the next connection
    }
  }
}
