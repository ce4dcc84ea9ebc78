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
}

export interface SubscribedMessage {
  type: 'subscribed';
  room: string;
  id?: number;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  /** Revision 1.1: how many events follow before the first live one (sent when the subscribe had `since` or `last`). */
  replay?: number;
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  room: string;
  id?: number;
  /** Set when the server removed the subscription by itself (revision 1.1): `forbidden` or `revoked`. */
  reason?: string;
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
}

/** Result of a (re)subscription, as told by the server's `subscribed` reply. */
export interface SubscriptionInfo {
  room: string;
  epoch?: string;
  offset?: number;
  /** Only meaningful for a subscribe that carried `since` (a resubscribe after a reconnect, or `SubscribeOptions.since`). */
  recovered?: boolean;
  /**
   * How many events follow the reply before the first live one: the replay of `since`, or of `last` (present when
   * the subscribe asked for one and the server speaks revision 1.1).
   */
  replay?: number;
}

/** A room position: an epoch and the offset of an event in it (what `since` takes). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/**
 * How a subscription starts (revision 1.1, "Subscribe options"). Without options: live events only.
 *
 * The options shape the first subscribe of a room. Once the server has confirmed it, the client's own recovery
 * takes over: after a reconnect it resubscribes with `since` = the last position it saw, and without `last`
 * (the server ignores `last` when `since` recovers; when it cannot, the client emits `recovery_failed` instead of
 * replaying older events after newer ones). A room never confirmed yet keeps its options until it is.
 */
export interface SubscribeOptions {
  /**
   * Recover from this position, e.g. one read with `fetchRoomPosition` before loading the application's state:
   * every event after it arrives (`recovered: true`), none is lost between the read and the subscribe. When the
   * server's history no longer holds it, the reply has `recovered: false`, `recovery_failed` is emitted, and
   * `last` (if given) applies instead.
   */
  since?: StreamPosition;
  /**
   * Send the room's most recent `last` recorded events (oldest first, as ordinary events) after `subscribed`, then
   * live ones: a dashboard opens with current values. An integer from 0 to `PROTOCOL_LIMITS.maxLast` (100).
   * Events this client has delivered already (through another room, say) are not delivered twice.
   */
  last?: number;
}

/** `GET /api/rooms/{room}`: a room's position (usable as `since`) and its subscribers. */
export interface RoomInfo extends StreamPosition {
  room: string;
  subscribers: number;
}

/** `GET /api/rooms/{room}/history`: recorded events, each exactly as sent on the WebSocket. */
export interface RoomHistory extends StreamPosition {
  room: string;
  /** For a read after a position: whether every event after it is here (false: the history no longer holds it). */
  recovered?: boolean;
  events: EventMessage[];
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
