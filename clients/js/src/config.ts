import { CLIENT_DEFAULTS } from './generated/protocol.js';
import type { WebSocketConstructor } from './socket.js';
import type { Timers } from './timers.js';

export interface WSClientConfig {
  /** WebSocket URL, e.g. `ws://localhost:3000/ws` (`http(s)://` is turned into `ws(s)://`). */
  url: string;
  /** JWT token, sent as `?token=`. */
  token?: string;
  /**
   * Called before each (re)connect for a fresh token, and before the current JWT expires (the new token
   * is then sent with an `auth` message on the open connection). After a 4001 (unauthorized) or 4003
   * (revoked) close the client reconnects only if this gives a token different from the rejected ones:
   * a refused or revoked token is never sent again.
   */
  tokenProvider?: () => string | Promise<string>;
  /** Auto-reconnect (default: true). */
  autoReconnect?: boolean;
  /** Reconnect interval in ms: the first backoff ceiling (default: 5000). */
  reconnectInterval?: number;
  /** Backoff cap in ms (default: 30000). */
  maxReconnectInterval?: number;
  /** Max reconnect attempts in a row before `reconnect_failed` (default: 10; `Infinity` for no limit). */
  maxReconnectAttempts?: number;
  /** Heartbeat interval in ms: a `ping` is sent this often and a missing `pong` one interval later drops the connection (default: 30000; 0 disables). */
  heartbeatInterval?: number;
  /** Longest wait for the server's `connected` message after opening a socket, ms (default: 10000). */
  connectTimeout?: number;
  /**
   * How far ahead of a JWT's `exp` the token is refreshed through `tokenProvider`, ms (default: 30000); a token
   * with less than twice this left is refreshed halfway through its remaining life.
   */
  tokenRefreshMargin?: number;
  /** How many recent event ids are remembered to drop duplicates (default: 4096). */
  dedupWindow?: number;
  /**
   * After a restart of the server (a room's epoch changed), ask again for the new epoch's whole history,
   * so that events published after the restart but before this client came back are not missed (default: true).
   */
  recoverNewEpoch?: boolean;
  /** Longest time events are held back while such a catch-up runs, ms (default: 10000). */
  catchupTimeout?: number;
  /** WebSocket implementation (default: the global one, else the `ws` package). */
  WebSocket?: WebSocketConstructor;
  /** Random source in [0, 1) for the backoff jitter (default: Math.random). */
  random?: () => number;
  /** Timer functions (default: the global ones). For tests. */
  timers?: Timers;
  /** Clock in ms (default: Date.now). For tests. */
  now?: () => number;
}

type Defaulted =
  | 'autoReconnect'
  | 'reconnectInterval'
  | 'maxReconnectInterval'
  | 'maxReconnectAttempts'
  | 'heartbeatInterval'
  | 'tokenRefreshMargin'
  | 'dedupWindow'
  | 'recoverNewEpoch'
  | 'catchupTimeout'
  | 'connectTimeout';

/** The defaults: the .NET client's where it has the option (generated/protocol.ts). */
const DEFAULTS: Required<Pick<WSClientConfig, Defaulted>> = {
  autoReconnect: true,
  reconnectInterval: CLIENT_DEFAULTS.reconnectInterval,
  maxReconnectInterval: CLIENT_DEFAULTS.maxReconnectDelay,
  maxReconnectAttempts: CLIENT_DEFAULTS.maxReconnectAttempts,
  heartbeatInterval: CLIENT_DEFAULTS.heartbeatInterval,
  tokenRefreshMargin: CLIENT_DEFAULTS.tokenRefreshMargin,
  dedupWindow: CLIENT_DEFAULTS.deduplicationWindow,
  recoverNewEpoch: CLIENT_DEFAULTS.recoverNewEpoch,
  catchupTimeout: CLIENT_DEFAULTS.catchupTimeout,
  connectTimeout: CLIENT_DEFAULTS.connectTimeout,
};

/**
 * A configuration with every default filled in.
 * @internal
 */
export type ResolvedConfig = WSClientConfig & typeof DEFAULTS;

/**
 * Checks `config` and fills in the defaults (an option given as `undefined` gets its default).
 * @internal
 */
export function resolveConfig(config: WSClientConfig): ResolvedConfig {
  if (!config || typeof config.url !== 'string' || !config.url) throw new TypeError('config.url is required');
  const cfg = { ...DEFAULTS } as ResolvedConfig;
  for (const [k, v] of Object.entries(config)) if (v !== undefined) (cfg as any)[k] = v;
  return cfg;
}
