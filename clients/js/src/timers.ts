import type { ClientHost } from './host.js';
import { jwtExpiry, refreshDelay } from './policy.js';

/** Timer functions (injectable for tests). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * The global timer functions.
 * @internal
 */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as any),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as any),
};

/** Longest delay setTimeout/setInterval take (a longer one fires at once). */
const MAX_TIMER = 2 ** 31 - 1;

/**
 * `ms` capped to what a timer can wait.
 * @internal
 */
export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER);
}

/**
 * The heartbeat of the open connection: a `ping` every interval; a `pong` (or any reply to a ping) missing by
 * the next tick makes `onDead` run.
 * @internal
 */
export class Heartbeat {
  private timer: unknown = null;
  private awaitingPong = false;

  constructor(
    private readonly host: ClientHost,
    /** ms between pings; 0 (or less) disables the heartbeat. */
    private readonly interval: number,
    /** A fresh request id for each ping. */
    private readonly newId: () => number,
    /** The connection looks dead. */
    private readonly onDead: () => void,
  ) {}

  /** Starts beating on a connection just established. */
  start(): void {
    this.stop();
    if (!(this.interval > 0)) return;
    this.awaitingPong = false;
    this.timer = this.host.timers.setInterval(() => this.tick(), timerDelay(this.interval));
  }

  /** A `pong` arrived. */
  onPong(): void {
    this.awaitingPong = false;
  }

  stop(): void {
    if (this.timer !== null) this.host.timers.clearInterval(this.timer);
    this.timer = null;
    this.awaitingPong = false;
  }

  private tick(): void {
    if (!this.host.isOpen()) return;
    if (this.awaitingPong) {
      this.onDead();
      return;
    }
    this.awaitingPong = true;
    this.host.send({ type: 'ping', id: this.newId() });
  }
}

/**
 * Refreshes the token of the open connection before it expires: asks `provider` for a new one and sends it
 * with `auth` (through `authenticate`).
 * @internal
 */
export class TokenRefresher {
  private timer: unknown = null;

  constructor(
    private readonly host: ClientHost,
    private readonly provider: (() => string | Promise<string>) | undefined,
    /** How far ahead of the expiry the token is refreshed, ms (see `refreshDelay`). */
    private readonly margin: number,
    private readonly now: () => number,
    /** The token of the current connection. */
    private readonly currentToken: () => string | undefined,
    private readonly authenticate: (token: string) => Promise<unknown>,
  ) {}

  /**
   * Plans the next refresh, before `expiresAtMs` (ms since the Unix epoch), or else before the `exp` of the
   * current token when it is a JWT. Nothing without a provider or a known expiry.
   */
  schedule(expiresAtMs?: number): void {
    this.cancel();
    if (!this.provider || !this.host.isOpen()) return;
    const token = this.currentToken();
    const exp = expiresAtMs ?? (jwtExpiry(token) !== undefined ? jwtExpiry(token)! * 1000 : undefined);
    if (exp === undefined) return;
    const delay = refreshDelay(exp, this.now(), this.margin);
    const connection = this.host.connection();
    this.timer = this.host.timers.setTimeout(() => {
      this.timer = null;
      void this.refresh(connection);
    }, timerDelay(delay));
  }

  cancel(): void {
    if (this.timer !== null) this.host.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private async refresh(connection: number): Promise<void> {
    if (connection !== this.host.connection() || !this.host.isOpen() || !this.provider) return;
    try {
      const t = await this.provider();
      if (connection !== this.host.connection() || !this.host.isOpen()) return;
      if (!t || t === this.currentToken()) return; // nothing new; the server will close with 4001 at expiry
      await this.authenticate(t);
    } catch (err) {
      if (connection === this.host.connection()) this.host.emit('error', err instanceof Error ? err : new Error(String(err)));
    }
  }
}
