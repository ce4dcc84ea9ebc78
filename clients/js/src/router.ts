import { MoltBeatError } from './errors.js';
import { RESERVED_EVENTS } from './events.js';
import { ERROR_CODES } from './generated/protocol.js';
import type { ClientHost } from './host.js';
import { splitBatch } from './policy.js';
import { conflatedCount, type Recovery } from './recovery.js';
import type { PendingRequests } from './requests.js';
import type { Subscriptions } from './subscriptions.js';
import type { Heartbeat } from './timers.js';
import type {
  AuthenticatedMessage,
  ConnectedMessage,
  ErrorMessage,
  EventMessage,
  EventMeta,
  OccupancyMessage,
  SubscribedMessage,
  UnsubscribedMessage,
} from './types.js';

/**
 * What the connection's lifecycle does with the messages that concern it.
 * @internal
 */
export interface LifecycleMessages {
  /** The server's `connected`: the connection is established. */
  connected(msg: ConnectedMessage): void;
  /** The server accepted `token` (undefined for an `authenticated` nobody asked for), valid until `expiresAt`. */
  authenticated(token: string | undefined, expiresAt: number | undefined): void;
}

/**
 * Incoming frames: splits batches, parses the messages, and hands each one to the part of the client it
 * concerns (requests' replies, subscriptions, recovery, heartbeat, lifecycle); delivers events to the application.
 * @internal
 */
export class MessageRouter {
  constructor(
    private readonly host: ClientHost,
    private readonly requests: PendingRequests,
    private readonly subs: Subscriptions,
    private readonly recovery: Recovery,
    private readonly heartbeat: Heartbeat,
    private readonly lifecycle: LifecycleMessages,
  ) {}

  /** One frame of the socket of connection `connection`. */
  onFrame(data: unknown, connection: number): void {
    if (typeof data !== 'string') {
      this.host.emit('error', new Error('unexpected binary frame from the server'));
      return;
    }
    for (const line of splitBatch(data)) {
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        this.host.emit('error', new Error('invalid JSON from the server'));
        continue;
      }
      if (msg && typeof msg.type === 'string') this.handleMessage(msg);
      if (connection !== this.host.connection()) return; // a handler disconnected
    }
  }

  /** An event: held while a catch-up runs, dropped when a duplicate, else delivered. */
  onEvent(msg: EventMessage): void {
    if (typeof msg.event !== 'string') return;
    const offsets = msg.offsets && typeof msg.offsets === 'object' ? msg.offsets : undefined;
    if (offsets && this.recovery.hold(msg, offsets)) return;
    // A duplicate (a replay of something already delivered) still tells how far each room got.
    const duplicate = this.recovery.isDuplicate(offsets);
    if (offsets) this.subs.advance(offsets);
    if (duplicate) return;
    const meta: EventMeta = {
      room: msg.room,
      rooms: Array.isArray(msg.rooms) ? msg.rooms : msg.room !== undefined ? [msg.room] : [],
      offsets,
      ts: msg.ts,
    };
    // Revision 1.1: set only when the server sent them, so that events of older servers look as they did.
    if (typeof msg.key === 'string') meta.key = msg.key;
    const conflated = conflatedCount(msg);
    if (conflated > 0) meta.conflated = conflated;
    this.host.emit('event', msg.event, msg.data, meta);
    if (!RESERVED_EVENTS.has(msg.event)) this.host.emit(msg.event, msg.data, meta);
  }

  private handleMessage(msg: any): void {
    switch (msg.type) {
      case 'connected':
        return this.lifecycle.connected(msg as ConnectedMessage);
      case 'event':
        return this.onEvent(msg as EventMessage);
      case 'subscribed':
        return this.subs.onSubscribed(msg as SubscribedMessage);
      case 'unsubscribed':
        return this.subs.onUnsubscribed(msg as UnsubscribedMessage);
      case 'occupancy':
        return this.subs.onOccupancy(msg as OccupancyMessage);
      case 'pong': {
        this.heartbeat.onPong();
        this.requests.take(msg.id, 'ping')?.resolve?.(undefined);
        return;
      }
      case 'authenticated':
        return this.onAuthenticated(msg as AuthenticatedMessage);
      case 'error':
        return this.onServerError(msg as ErrorMessage);
      default:
        return; // unknown types are ignored (forward compatibility)
    }
  }

  private onAuthenticated(msg: AuthenticatedMessage): void {
    const p = this.requests.take(msg.id, 'auth');
    this.lifecycle.authenticated(p?.token, msg.expiresAt);
    p?.resolve?.(msg);
  }

  private onServerError(msg: ErrorMessage): void {
    const p = this.requests.takeAny(msg.id);
    const err = new MoltBeatError(String(msg.code ?? ERROR_CODES.Internal), msg.message, msg.id, p?.room);
    if (p) {
      if (p.kind === 'subscribe' && p.room !== undefined) this.subs.onSubscribeFailed(p, p.room, err);
      else p.reject?.(err);
    }
    this.host.emit('error', err);
  }
}
