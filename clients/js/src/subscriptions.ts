import type { MoltBeatError } from './errors.js';
import { ERROR_CODES } from './generated/protocol.js';
import type { ClientHost, Deferred } from './host.js';
import type { Recovery } from './recovery.js';
import type { PendingRequest, PendingRequests } from './requests.js';
import { timerDelay } from './timers.js';
import { PROTOCOL_LIMITS } from './generated/protocol.js';
import type {
  OccupancyMessage,
  StreamPosition,
  SubscribeOptions,
  SubscribedMessage,
  SubscriptionInfo,
  UnsubscribedMessage,
} from './types.js';

/** The most events `subscribe(room, { last })` may ask for (protocol revision 1.1). */
export const MAX_LAST: number = PROTOCOL_LIMITS.maxLast;

/** The highest `subscribe(room, { maxRate })`, in events per second and conflation key (protocol revision 1.1). */
export const MAX_RATE: number = PROTOCOL_LIMITS.maxRate;

/** The options of a subscribe once checked, as they are sent. @internal */
export interface CheckedSubscribeOptions {
  since?: StreamPosition;
  last?: number;
  maxRate?: number;
  occupancy?: boolean;
}

/**
 * Checks the options of a subscribe; returns them as sent (`since` reduced to its epoch and offset), or throws a
 * TypeError / RangeError saying what is wrong.
 * @internal
 */
export function checkSubscribeOptions(options: SubscribeOptions | undefined): CheckedSubscribeOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError(`subscribe options must be an object, got ${typeof options}`);
  const out: CheckedSubscribeOptions = {};
  const { last, since, maxRate, occupancy } = options;
  if (last !== undefined) {
    if (typeof last !== 'number' || !Number.isInteger(last)) throw new TypeError(`last must be an integer from 0 to ${MAX_LAST}, got ${describe(last)}`);
    if (last < 0 || last > MAX_LAST) throw new RangeError(`last must be an integer from 0 to ${MAX_LAST}, got ${last}`);
    out.last = last;
  }
  if (maxRate !== undefined) {
    // The server refuses the whole subscribe (bad_request) for a rate out of bounds: better to say so here, at the call.
    const bounds = `a number of events per second above 0 and at most ${MAX_RATE}`;
    if (typeof maxRate !== 'number' || Number.isNaN(maxRate)) throw new TypeError(`maxRate must be ${bounds}, got ${describe(maxRate)}`);
    if (!(maxRate > 0) || maxRate > MAX_RATE) throw new RangeError(`maxRate must be ${bounds}, got ${maxRate}`);
    out.maxRate = maxRate;
  }
  if (occupancy !== undefined) {
    if (typeof occupancy !== 'boolean') throw new TypeError(`occupancy must be true or false, got ${describe(occupancy)}`);
    out.occupancy = occupancy;
  }
  if (since !== undefined) {
    const ok =
      since !== null &&
      typeof since === 'object' &&
      typeof since.epoch === 'string' &&
      since.epoch.length > 0 &&
      typeof since.offset === 'number' &&
      Number.isSafeInteger(since.offset) &&
      since.offset >= 0;
    if (!ok) throw new TypeError(`since must be { epoch: non-empty string, offset: integer >= 0 }, got ${describe(since)}`);
    out.since = { epoch: since.epoch, offset: since.offset };
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/**
 * Where the client got to in a room: what a resubscribe sends as `since`.
 * @internal
 */
export interface RoomPosition {
  /** Epoch and last offset seen in this room (undefined until the first `subscribed`). */
  epoch?: string;
  offset?: number;
}

/** @internal */
export interface RoomState extends RoomPosition {
  /** 'idle': not requested on the current connection; 'pending': request sent; 'active': confirmed. */
  status: 'idle' | 'pending' | 'active';
  last?: SubscriptionInfo;
  /** Resubscriptions the server failed in a row (each is retried after the reconnect backoff). */
  failedResubscribes?: number;
  /** The `last` option: sent with every subscribe of the room (the server applies it only when `since` does not recover). */
  lastOption?: number;
  /** The `maxRate` option: sent with every subscribe of the room (the server keeps the latest subscribe's). */
  maxRateOption?: number;
  /** The `occupancy` option: sent with every subscribe of the room (the server keeps the latest subscribe's). */
  occupancyOption?: boolean;
  /** The latest subscriber count the server told for the room (`occupancy` messages); kept across reconnects. */
  occupancy?: number;
}

/**
 * The options that each subscribe of a room carries again, the catch-up one included: the server applies the latest
 * subscribe's `maxRate` and `occupancy`, so one sent without them would turn them off.
 * @internal
 */
export function lastingOptions(st: RoomState): { maxRate?: number; occupancy?: boolean } {
  const out: { maxRate?: number; occupancy?: boolean } = {};
  if (st.maxRateOption !== undefined) out.maxRate = st.maxRateOption;
  if (st.occupancyOption !== undefined) out.occupancy = st.occupancyOption;
  return out;
}

/**
 * The rooms of a client: what it asked for (kept across connections), how far it got in each, the server's
 * replies, and those who wait for them.
 * @internal
 */
export class Subscriptions {
  private readonly rooms = new Map<string, RoomState>();
  private readonly waiters = new Map<string, Deferred<SubscriptionInfo>[]>();

  constructor(
    private readonly host: ClientHost,
    private readonly requests: PendingRequests,
    private readonly recovery: Recovery,
    /** Delay before sending again a resubscription the server failed `failures` times in a row, ms. */
    private readonly retryDelay: (failures: number) => number,
  ) {}

  names(): string[] {
    return [...this.rooms.keys()];
  }

  position(room: string): RoomPosition | undefined {
    const st = this.rooms.get(room);
    return st ? { epoch: st.epoch, offset: st.offset } : undefined;
  }

  /** The latest subscriber count told for a room the client holds (undefined before the first, or not held). */
  occupancy(room: string): number | undefined {
    return this.rooms.get(room)?.occupancy;
  }

  /**
   * Subscribes to `room` (options already checked by `checkSubscribeOptions`). The options count for a room the
   * client does not hold yet; for one it holds (subscribed, or waiting to be) they are ignored.
   */
  subscribe(room: string, options: CheckedSubscribeOptions = {}): Promise<SubscriptionInfo> {
    if (typeof room !== 'string' || room.length === 0) return Promise.reject(new TypeError('room must be a non-empty string'));
    let st = this.rooms.get(room);
    if (st && st.status === 'active' && st.last && this.host.isOpen()) return Promise.resolve(st.last);
    const p = new Promise<SubscriptionInfo>((resolve, reject) => {
      const list = this.waiters.get(room);
      if (list) list.push({ resolve, reject });
      else this.waiters.set(room, [{ resolve, reject }]);
    });
    if (!st) {
      // `since` is where the room starts: the first subscribe sends it, as a resubscribe sends the position reached.
      st = {
        status: 'idle',
        epoch: options.since?.epoch,
        offset: options.since?.offset,
        lastOption: options.last,
        maxRateOption: options.maxRate,
        occupancyOption: options.occupancy,
      };
      this.rooms.set(room, st);
    }
    if (this.host.isOpen() && st.status === 'idle') this.sendSubscribe(room, st);
    return p;
  }

  unsubscribe(room: string): Promise<void> {
    const had = this.rooms.delete(room);
    this.recovery.forget(room);
    this.rejectWaiters(room, new Error(`unsubscribed from ${room}`));
    if (!this.host.isOpen()) {
      if (had) this.host.emit('unsubscribed', room);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const id = this.requests.add({ kind: 'unsubscribe', room, resolve, reject });
      this.host.send({ type: 'unsubscribe', room, id });
    });
  }

  /** A connection was established: subscribe every room again, from where it got to. */
  connectionOpened(): void {
    // Parents first: a parent's replay covers its children's missed events in publish order.
    const depth = (room: string) => (room === 'all' ? 0 : room.split(':').length);
    const ordered = [...this.rooms].sort(([a], [b]) => depth(a) - depth(b));
    for (const [room, st] of ordered) this.sendSubscribe(room, st);
  }

  /** The connection closed: no room is subscribed on the server any more (their waiters wait for the next one). */
  connectionClosed(): void {
    for (const [, st] of this.rooms) st.status = 'idle';
  }

  /** Rejects everyone waiting for a `subscribed` reply. */
  rejectAllWaiters(err: Error): void {
    for (const [room] of this.waiters) this.rejectWaiters(room, err);
  }

  /** A recorded event arrived: each of its rooms got (at least) to its offset there. */
  advance(offsets: Record<string, number>): void {
    for (const room in offsets) {
      const st = this.rooms.get(room);
      const o = offsets[room];
      if (st && st.status === 'active' && typeof o === 'number' && (st.offset === undefined || o > st.offset)) st.offset = o;
    }
  }

  onSubscribed(msg: SubscribedMessage): void {
    const room = msg.room;
    const p = this.requests.take(msg.id, 'subscribe');
    const st = this.rooms.get(room);
    if (!st) return; // unsubscribed in the meantime
    const info: SubscriptionInfo = { room, epoch: msg.epoch, offset: msg.offset, recovered: msg.recovered };
    if (typeof msg.replay === 'number') info.replay = msg.replay;
    const epochChanged = this.recovery.epochChanged(st.epoch, msg.epoch);

    if (p?.catchup) {
      this.recovery.onCatchupReply(room, st, msg);
      return;
    }

    st.status = 'active';
    st.failedResubscribes = 0;
    st.last = info;
    if (p?.since && msg.recovered === true) {
      st.epoch = msg.epoch ?? st.epoch; // offset stays: the missed events follow and advance it
    } else {
      const sameEpoch = msg.epoch === undefined || msg.epoch === st.epoch;
      st.epoch = msg.epoch ?? st.epoch;
      if (typeof msg.offset === 'number') st.offset = sameEpoch && st.offset !== undefined ? Math.max(st.offset, msg.offset) : msg.offset;
    }

    const waiters = this.waiters.get(room);
    this.waiters.delete(room);
    this.host.emit('subscribed', room, info);
    if (waiters) for (const w of waiters) w.resolve(info);

    if (p?.since && msg.recovered === false) {
      this.host.emit('recovery_failed', room, info);
      // A handler may have unsubscribed, or disconnected.
      if (epochChanged && this.host.isOpen() && this.rooms.get(room) === st) this.recovery.replayNewEpoch(room, st, msg.offset, lastingOptions(st));
    }
  }

  /** A room's subscriber count (revision 1.1): kept for `occupancy(room)`, and told to the application. */
  onOccupancy(msg: OccupancyMessage): void {
    const n = msg.subscribers;
    if (typeof msg.room !== 'string' || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return;
    const st = this.rooms.get(msg.room);
    // Not held (any more): a count sent before the server saw the unsubscribe must not bring the room's state back.
    if (!st) return;
    st.occupancy = n;
    this.host.emit('occupancy', { room: msg.room, subscribers: n });
  }

  onUnsubscribed(msg: UnsubscribedMessage): void {
    if (typeof msg.reason === 'string' && msg.id === undefined) {
      // Removed by the server (rights narrowed, or revoked): resubscribing would only be refused again.
      const had = this.rooms.delete(msg.room);
      this.recovery.forget(msg.room);
      if (had) this.host.emit('unsubscribed', msg.room, msg.reason);
      return;
    }
    const p = this.requests.take(msg.id, 'unsubscribe');
    if (this.rooms.has(msg.room) && !p) return; // stale reply for a room subscribed again since
    this.host.emit('unsubscribed', msg.room);
    p?.resolve?.(undefined);
  }

  /** The server answered the subscribe `p` of `room` with an `error`. */
  onSubscribeFailed(p: PendingRequest, room: string, err: MoltBeatError): void {
    const st = this.rooms.get(room);
    if (p.catchup) {
      this.recovery.catchupFailed(room);
    } else if (err.code === ERROR_CODES.Internal && p.since && st) {
      // A resubscription the server failed on its side (e.g. a Redis-backed node that could not read the
      // history in time): ask again on this connection after the reconnect backoff, from the same position.
      // Forgetting the room would leave the client connected without it, missing its events silently.
      this.retryResubscribe(room, st);
    } else {
      // The server refused the room (forbidden, invalid_room, too_many_subscriptions...): forget it.
      this.rooms.delete(room);
      this.recovery.forget(room);
      this.rejectWaiters(room, err);
    }
  }

  private sendSubscribe(room: string, st: RoomState): void {
    const since = st.epoch !== undefined && st.offset !== undefined ? { epoch: st.epoch, offset: st.offset } : undefined;
    const id = this.requests.add({ kind: 'subscribe', room, since: !!since });
    st.status = 'pending';
    const msg: { type: 'subscribe'; room: string; id: number } & CheckedSubscribeOptions = { type: 'subscribe', room, id };
    if (since) msg.since = since;
    // Re-sent with `since` on a reconnect too: ignored by the server when it recovers, applied when it does not.
    if (st.lastOption !== undefined) msg.last = st.lastOption;
    // Re-sent on every subscribe: they belong to the subscription, which a new connection starts again.
    Object.assign(msg, lastingOptions(st));
    this.host.send(msg);
  }

  private retryResubscribe(room: string, st: RoomState): void {
    const connection = this.host.connection();
    st.status = 'idle';
    const delay = this.retryDelay(st.failedResubscribes ?? 0);
    st.failedResubscribes = (st.failedResubscribes ?? 0) + 1;
    this.host.timers.setTimeout(() => {
      if (this.host.connection() === connection && this.host.isOpen() && this.rooms.get(room) === st && st.status === 'idle') {
        this.sendSubscribe(room, st);
      }
    }, timerDelay(delay));
  }

  private rejectWaiters(room: string, err: Error): void {
    const list = this.waiters.get(room);
    if (!list) return;
    this.waiters.delete(room);
    for (const w of list) w.reject(err);
  }
}
