/**
 * Pure decision helpers: reconnect backoff, close-code table, batch framing, dedup window.
 * Kept free of I/O so that unit tests can assert on them directly.
 */

/** What to do after the connection closed with a given code (protocol.md, "Close codes"). */
export type ReconnectAction =
  /** Do not reconnect automatically (1000, 1002, 1003, 1007, 1008, 1009, 1010). */
  | 'stop'
  /** Reconnect at once (4009, slow consumer), then recover. */
  | 'immediate'
  /** Reconnect with exponential backoff and full jitter (1001, 1011, 4010, 1006 abnormal, anything unknown). */
  | 'backoff'
  /** Reconnect after a longer backoff (4008, rate limit exceeded repeatedly). */
  | 'long_backoff'
  /** Reconnect only with a new token (4001, unauthorized / token expired). */
  | 'new_token';

export function closeAction(code: number): ReconnectAction {
  switch (code) {
    case 1000: // normal close
    case 1002: // protocol error
    case 1003: // binary frame
    case 1007: // invalid UTF-8
    case 1008: // policy violation
    case 1009: // message too big
    case 1010: // missing extension (client-side)
      return 'stop';
    case 4001:
      return 'new_token';
    case 4008:
      return 'long_backoff';
    case 4009:
      return 'immediate';
    default:
      // 1001 going away, 1005 no status, 1006 abnormal, 1011 internal, 1012/1013/1014, 4010 heartbeat, unknown
      return 'backoff';
  }
}

/** How many extra doublings a `long_backoff` gets over a plain one. */
export const LONG_BACKOFF_EXTRA_STEPS = 3;

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
 * When to refresh a token that expires at `expMs` (ms since epoch), seen at `nowMs`: `margin` ms before
 * expiry, but never more than a fifth of the remaining lifetime ahead. Returns a delay in ms (>= 0).
 */
export function refreshDelay(expMs: number, nowMs: number, margin: number): number {
  const remaining = expMs - nowMs;
  if (remaining <= 0) return 0;
  const lead = Math.min(margin, remaining / 5);
  return Math.max(0, Math.floor(remaining - lead));
}
