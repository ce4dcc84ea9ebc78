export { MoltBeatWSClient, RESERVED_EVENTS } from './client.js';
export type { WSClientConfig, ClientEventHandlers, Timers } from './client.js';
export { MoltBeatError, MoltBeatCloseError } from './errors.js';
export { WSRoom, AnalyticsEvent, createEntityRoom, isValidRoom } from './rooms.js';
export {
  backoffDelay,
  backoffCeiling,
  closeAction,
  splitBatch,
  RecentIdSet,
  jwtExpiry,
  refreshDelay,
  LONG_BACKOFF_EXTRA_STEPS,
} from './policy.js';
export type { ReconnectAction, BackoffOptions } from './policy.js';
export type { WebSocketLike, WebSocketConstructor } from './socket.js';
export type * from './types.js';
