import type { ConnectedMessage, DisconnectInfo, EventMeta, OccupancyInfo, SubscriptionInfo } from './types.js';
import type { MoltBeatError } from './errors.js'; // for {@link}

/** Events with a fixed meaning; an application event of the same name is only seen through `event`. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connected',
  'disconnected',
  'error',
  'subscribed',
  'unsubscribed',
  'event',
  'reconnecting',
  'reconnect_failed',
  'recovery_failed',
  'occupancy',
]);

/** Handlers of the client's own events. */
export interface ClientEventHandlers {
  /** Connected to the server (payload = the server's `connected` message), also after every reconnect. */
  connected: (payload: ConnectedMessage) => void;
  /** A connection that had been established closed. */
  disconnected: (info: DisconnectInfo) => void;
  /** A server `error` message ({@link MoltBeatError}), a fatal close, a transport error, or a handler that threw. */
  error: (error: Error) => void;
  /** The server confirmed a subscription (also after each resubscribe on reconnect). */
  subscribed: (room: string, info: SubscriptionInfo) => void;
  /**
   * The server confirmed an unsubscribe (`reason` undefined), or removed the subscription by itself: `reason`
   * `forbidden` (a token refresh narrowed the rights) or `revoked` (an operator). Then the room is forgotten
   * and not resubscribed.
   */
  unsubscribed: (room: string, reason?: string) => void;
  /** Any event. */
  event: (eventName: string, data: unknown, meta: EventMeta) => void;
  /** A reconnect is scheduled in `delay` ms (attempt counts from 1). */
  reconnecting: (attempt: number, delay: number) => void;
  /** Gave up after `maxReconnectAttempts`. */
  reconnect_failed: () => void;
  /** After a reconnect the server could not replay what was missed in `room`: reload its state another way. */
  recovery_failed: (room: string, info: SubscriptionInfo) => void;
  /**
   * The subscriber count of a room subscribed with `occupancy: true` (revision 1.1), across all nodes: after
   * `subscribed`, then whenever it changes (at most once a second). `getOccupancy(room)` keeps the latest.
   */
  occupancy: (info: OccupancyInfo) => void;
}
