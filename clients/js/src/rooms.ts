/** The predefined rooms of the MoltBeat protocol (protocol.md, "Rooms"). */
export enum WSRoom {
  /** Every published event. */
  AllEvents = 'all',
  /** System events. */
  System = 'system',
  /** Every analytics event (`analytics:*`). */
  Analytics = 'analytics',
  /** Agent events. */
  AgentsOverview = 'analytics:agents',
  /** Post events. */
  PostsOverview = 'analytics:posts',
  /** Metrics. */
  MetricsOverview = 'analytics:metrics',
  /** All alerts. */
  Alerts = 'alerts',
  /** Critical alerts only. */
  CriticalAlerts = 'alerts:critical',
}

/** The seed's analytics event names. */
export enum AnalyticsEvent {
  // Agent events
  AgentCreated = 'agent:created',
  AgentUpdated = 'agent:updated',
  AgentDeleted = 'agent:deleted',
  AgentStatusChanged = 'agent:status_changed',

  // Post events
  PostCreated = 'post:created',
  PostUpdated = 'post:updated',
  PostLiked = 'post:liked',
  PostCommented = 'post:commented',

  // Metrics
  MetricsUpdated = 'metrics:updated',
  TrendingTopicAdded = 'trending:added',

  // Alerts
  AlertCreated = 'alert:created',
  AlertResolved = 'alert:resolved',

  // System
  SystemHealthUpdate = 'system:health',
  SystemMaintenanceStart = 'system:maintenance_start',
}

/** Entity room name: `createEntityRoom('agent', '123')` is `'agent:123'`. */
export function createEntityRoom(kind: string, id: string | number): string {
  return `${kind}:${id}`;
}

const ROOM_RE = /^[A-Za-z0-9_\-.:]{1,128}$/;

/** True when `room` is a valid room name (1-128 chars of `A-Z a-z 0-9 _ - . :`). */
export function isValidRoom(room: string): boolean {
  return typeof room === 'string' && ROOM_RE.test(room);
}
