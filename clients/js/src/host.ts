import type { Timers } from './timers.js';

/**
 * What the parts of a client (subscriptions, recovery, routing, timers) use of the client itself.
 * @internal
 */
export interface ClientHost {
  readonly timers: Timers;
  /** True while the connection is established (after `connected`, before a close). */
  isOpen(): boolean;
  /** Identifies the current socket: changes whenever one opens or closes, so that late callbacks can tell. */
  connection(): number;
  /** Sends one message on the socket; false when there is none open (or sending threw: reported as `error`). */
  send(msg: object): boolean;
  /** Emits one of the client's events to the application's handlers. */
  emit(event: string, ...args: unknown[]): void;
}

/**
 * The two ends of a promise someone waits on.
 * @internal
 */
export interface Deferred<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}
