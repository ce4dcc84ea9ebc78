export { MoltBeatWSClient } from './client.js';
export { RESERVED_EVENTS } from './events.js';
export type { WSClientConfig } from './config.js';
export type { ClientEventHandlers } from './events.js';
export type { Timers } from './timers.js';
export { MoltBeatError, MoltBeatCloseError, MoltBeatHttpError } from './errors.js';
export { MAX_LAST, MAX_RATE } from './subscriptions.js';
export { getRoomPosition, getRoomHistory } from './http.js';
export type { RoomRequestOptions, RoomHistoryOptions, RoomHistory, RoomInfo, FetchResponseLike } from './http.js';
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
