/**
 * Pure decision helpers: reconnect backoff, close-code table, batch framing, dedup window.
 * Kept free of I/O so that unit tests can assert on them directly. The tables and numbers shared with the
 * .NET client come from generated/protocol.ts.
 */

import { CLOSE_CODES, RATE_LIMITED_EXTRA_BACKOFF_STEPS, UNLISTED_CLOSE_ADVICE, type ReconnectAdvice } from './generated/protocol.js';

/** What to do after the connection closed with a given code (protocol.md, "Close codes"). */
export type ReconnectAction =
  /** Do not reconnect automatically (the codes whose advice is `DoNotReconnect`). */
  | 'stop'
  /** Reconnect at once, then recover (`ReconnectNow`: 4009, slow consumer). */
  | 'immediate'
  /** Reconnect with exponential backoff and full jitter (`ReconnectWithBackoff`, and every code outside the table, e.g. 1006). */
  | 'backoff'
  /** Reconnect after a longer backoff (4008, rate limit exceeded repeatedly: `ReconnectWithBackoff`, {@link LONG_BACKOFF_EXTRA_STEPS} doublings more). */
  | 'long_backoff'
  /** Reconnect only with a new token (`NewTokenRequired`: 4001, unauthorized / token expired; 4003, revoked). */
  | 'new_token';

const ADVICE_BY_CODE: ReadonlyMap<number, ReconnectAdvice> = new Map(Object.values(CLOSE_CODES).map((c): [number, ReconnectAdvice] => [c.code, c.advice]));

/** What to do after a close with `code`: the advice of the .NET close-code table (generated/protocol.ts). */
export function closeAction(code: number): ReconnectAction {
  switch (ADVICE_BY_CODE.get(code) ?? UNLISTED_CLOSE_ADVICE) {
    case 'DoNotReconnect':
      return 'stop';
    case 'ReconnectNow':
      return 'immediate';
    case 'NewTokenRequired':
      return 'new_token';
    case 'ReconnectWithBackoff':
    default:
      return code === CLOSE_CODES.RateLimited.code ? 'long_backoff' : 'backoff';
  }
}

/** How many extra doublings a `long_backoff` gets over a plain one (the .NET retry policy's for 4008). */
export const LONG_BACKOFF_EXTRA_STEPS = RATE_LIMITED_EXTRA_BACKOFF_STEPS;

export interface BackoffOptions {
  /** First ceiling, ms (the client's `reconnectInterval`). */
  base: number;
  /** Highest ceiling, ms (default 30 000). */
  cap: number;
  /** Random source in [0, 1). */
  random: () => number;
}

/**
 * Delay before reconnect attempt number `attempt` (0-based): exponential from `base`, capped at `cap`,
 * with full jitter (uniform in [0, ceiling)).
 */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  const ceiling = backoffCeiling(attempt, o.base, o.cap);
  let r = o.random();
  if (!(r >= 0)) r = 0;
  if (r > 1) r = 1;
  return Math.floor(r * ceiling);
}

/** The upper bound of the jittered delay for attempt `attempt` (0-based). */
export function backoffCeiling(attempt: number, base: number, cap: number): number {
  const n = Math.max(0, Math.floor(attempt));
  const exp = base * Math.pow(2, Math.min(n, 1024));
  return Math.max(0, Math.min(cap, exp));
}

/**
 * Splits one text frame into messages. With `batch=1` the server may put several compact JSON messages
 * in one frame, separated by a single `\n`; empty segments are ignored.
 */
export function splitBatch(frame: string): string[] {
  if (frame.indexOf('\n') < 0) return frame.length > 0 ? [frame] : [];
  const out: string[] = [];
  for (const part of frame.split('\n')) {
    const s = part.endsWith('\r') ? part.slice(0, -1) : part;
    if (s.length > 0) out.push(s);
  }
  return out;
}

/** A set of recently seen ids that remembers at most `capacity` of them (oldest forgotten first). */
export class RecentIdSet {
  private readonly ids = new Set<number | string>();
  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be >= 1');
  }
  has(id: number | string): boolean {
    return this.ids.has(id);
  }
  /** Adds `id`; returns false when it was already there. */
  add(id: number | string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value as number | string;
      this.ids.delete(oldest);
    }
    return true;
  }
  clear(): void {
    this.ids.clear();
  }
  get size(): number {
    return this.ids.size;
  }
}

/** Reads the `exp` claim (seconds) of a JWT without verifying it; undefined when not a JWT. */
export function jwtExpiry(token: string | undefined): number | undefined {
  if (!token) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const json = JSON.parse(atob(b64));
    return typeof json?.exp === 'number' ? json.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to refresh a token that expires at `expMs` (ms since epoch), seen at `nowMs` (the .NET client's rule):
 * `margin` ms before expiry, or halfway through the remaining life when less than twice `margin` is left.
 * Returns a delay in ms (>= 0).
 */
export function refreshDelay(expMs: number, nowMs: number, margin: number): number {
  const remaining = expMs - nowMs;
  if (remaining <= 0) return 0;
  const due = remaining > margin * 2 ? remaining - margin : remaining / 2;
  return Math.max(0, Math.floor(due));
}
