import type { ERROR_CODES } from './generated/protocol.js';

// ---------------------------------------------------------------------------
// Wire messages (protocol.md, version 1)
// ---------------------------------------------------------------------------

/** First message after a successful handshake. */
export interface ConnectedMessage {
  type: 'connected';
  clientId: string;
  user?: { userId: string; [key: string]: unknown } | null;
  heartbeatInterval?: number;
  protocol?: number;
  [key: string]: unknown;
}

/** A published event. */
export interface EventMessage<T = unknown> {
  type: 'event';
  room?: string;
  rooms?: string[];
  event: string;
  data: T;
  ts?: number;
  offsets?: Record<string, number>;
  /** The conflation key the event was published with (revision 1.1). */
  key?: string;
  /** How many older events of the same room, event name and key this one replaced (revision 1.1, `maxRate`). */
  conflated?: number;
}

export interface SubscribedMessage {
  type: 'subscribed';
  room: string;
  id?: number;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  /** How many events follow this reply before the first live one (revision 1.1; when the subscribe had `since` or `last`). */
  replay?: number;
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  room: string;
  id?: number;
  /** Set when the server removed the subscription by itself (revision 1.1): `forbidden` or `revoked`. */
  reason?: string;
}

/** A room's subscriber count across all nodes (revision 1.1), for a subscription made with `occupancy: true`. */
export interface OccupancyMessage {
  type: 'occupancy';
  room: string;
  subscribers: number;
}

export interface PongMessage {
  type: 'pong';
  id?: number;
}

export interface AuthenticatedMessage {
  type: 'authenticated';
  id?: number;
  expiresAt?: number;
}

/** The `code` of an `error` message: one of protocol v1's (the .NET `ErrorCodes`), or a newer one. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES] | (string & {});

export interface ErrorMessage {
  type: 'error';
  id?: number;
  code: ErrorCode;
  message?: string;
}

export type ServerMessage =
  | ConnectedMessage
  | EventMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | OccupancyMessage
  | PongMessage
  | AuthenticatedMessage
  | ErrorMessage;

// ---------------------------------------------------------------------------
// What handlers receive
// ---------------------------------------------------------------------------

/** Context of a delivered event (third argument of `event` handlers, second of custom ones). */
export interface EventMeta {
  /** Room the event was published to (the first one for a multi-room publish); absent for a broadcast to all. */
  room?: string;
  /** Every room it was published to. */
  rooms: string[];
  /** Position of the event in each room it was recorded in (`offsets.all` is its id within an epoch). */
  offsets?: Record<string, number>;
  /** Server time of publication, ms since the Unix epoch. */
  ts?: number;
  /** The conflation key the event was published with (revision 1.1); absent for an event without one. */
  key?: string;
  /**
   * How many older events of the same room, event name and key this one replaced (revision 1.1): present when a
   * subscription's `maxRate` (or a lagging connection) dropped them. Their offsets are the ones this room skipped;
   * they are not lost, only superseded by this newer value.
   */
  conflated?: number;
}

/** Result of a (re)subscription, as told by the server's `subscribed` reply. */
export interface SubscriptionInfo {
  room: string;
  epoch?: string;
  offset?: number;
  /** Only meaningful for a subscribe that carried `since` (a resubscribe after a reconnect, or the `since` option). */
  recovered?: boolean;
  /**
   * How many events the server sends right after this reply, before the first live one: the missed events of a
   * `since` that recovered, else the room's last `last` events. Present when the subscribe carried `since` or `last`.
   */
  replay?: number;
}

/** A position in a room: its epoch and an offset there (what `since` sends, what `getRoomPosition` answers). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** Options of `subscribe(room, options)` / `subscribeAsync(room, options)` (protocol revision 1.1). */
export interface SubscribeOptions {
  /**
   * Start after this position instead of now: the server replays every event of the room after it (if it still has
   * them: else `recovered: false` and `recovery_failed`). Used for the first subscribe only; after that the client
   * resubscribes from the last event it saw. Typically the position read before loading a snapshot
   * (`getRoomPosition`); extra fields of the object are ignored.
   */
  since?: StreamPosition;
  /**
   * Replay the room's most recent `last` events (0..100, `PROTOCOL_LIMITS.maxLast`) right after `subscribed`, so a
   * dashboard opens on the current values. Sent again on every resubscribe after a reconnect: the server ignores it
   * when the resubscribe recovers, and applies it when recovery fails (`recovered: false`).
   */
  last?: number;
  /**
   * At most this many events of the room per second and conflation key (revision 1.1; above 0 up to 1000,
   * `MAX_RATE`), e.g. `10` for a chart that redraws ten times a second. Events published with a `key` that wait for
   * their turn are replaced by newer ones of the same room, event name and key (delivered with `conflated`); events
   * without a key are never dropped, only paced. Sent again on every resubscribe after a reconnect.
   */
  maxRate?: number;
  /**
   * Ask the server for the room's subscriber count across all nodes (revision 1.1): an `occupancy` event after
   * `subscribed`, then whenever it changes (at most once a second), and `getOccupancy(room)`. Sent again on every
   * resubscribe after a reconnect.
   */
  occupancy?: boolean;
}

/** Argument of the `occupancy` event: a room's subscriber count across all nodes. */
export interface OccupancyInfo {
  room: string;
  subscribers: number;
}

/** Argument of the `disconnected` event. */
export interface DisconnectInfo {
  code: number;
  reason: string;
  /** True when the client will try to reconnect by itself. */
  willReconnect: boolean;
}

// ---------------------------------------------------------------------------
// Analytics payloads (the seed's EventBroadcaster vocabulary)
// ---------------------------------------------------------------------------

export interface AgentEventPayload {
  id: string;
  name?: string;
  status?: string;
  timestamp: number;
  [key: string]: unknown;
}

export interface PostEventPayload {
  id: string;
  agentId?: string;
  title?: string;
  likeCount?: number;
  commentCount?: number;
  timestamp: number;
  [key: string]: unknown;
}

export interface MetricsPayload {
  timestamp: number;
  [metric: string]: unknown;
}

export interface TrendingTopicPayload {
  topic: string;
  score?: number;
  timestamp: number;
  [key: string]: unknown;
}

export interface AlertPayload {
  id: string;
  severity?: 'info' | 'warning' | 'critical' | (string & {});
  message?: string;
  timestamp: number;
  [key: string]: unknown;
}

export interface SystemHealthPayload {
  status: 'healthy' | 'degraded' | 'unhealthy' | (string & {});
  services?: Array<{ name: string; status: 'up' | 'down' | (string & {}); [key: string]: unknown }>;
  timestamp: number;
  [key: string]: unknown;
}

export interface SystemMaintenancePayload {
  message: string;
  startsAt?: number;
  timestamp: number;
  [key: string]: unknown;
}

/** Payload type for each analytics event name (used to type `client.on('agent:created', ...)`). */
export interface AnalyticsEventPayloads {
  'agent:created': AgentEventPayload;
  'agent:updated': AgentEventPayload;
  'agent:deleted': AgentEventPayload;
  'agent:status_changed': AgentEventPayload;
  'post:created': PostEventPayload;
  'post:updated': PostEventPayload;
  'post:liked': PostEventPayload;
  'post:commented': PostEventPayload;
  'metrics:updated': MetricsPayload;
  'trending:added': TrendingTopicPayload;
  'alert:created': AlertPayload;
  'alert:resolved': AlertPayload;
  'system:health': SystemHealthPayload;
  'system:maintenance_start': SystemMaintenancePayload;
}
