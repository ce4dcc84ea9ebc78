import { Emitter, type AnyHandler } from './emitter.js';
import { MoltBeatCloseError, MoltBeatError } from './errors.js';
import {
  LONG_BACKOFF_EXTRA_STEPS,
  RecentIdSet,
  backoffDelay,
  closeAction,
  jwtExpiry,
  refreshDelay,
  splitBatch,
  type ReconnectAction,
} from './policy.js';
import { OPEN, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js';
import type {
  AnalyticsEventPayloads,
  AuthenticatedMessage,
  ConnectedMessage,
  DisconnectInfo,
  ErrorMessage,
  EventMessage,
  EventMeta,
  SubscribedMessage,
  SubscriptionInfo,
  UnsubscribedMessage,
} from './types.js';

/** Timer functions (injectable for tests). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface WSClientConfig {
  /** WebSocket URL, e.g. `ws://localhost:3000/ws` (`http(s)://` is turned into `ws(s)://`). */
  url: string;
  /** JWT token, sent as `?token=`. */
  token?: string;
  /**
   * Called before each (re)connect for a fresh token, and before the current JWT expires (the new token
   * is then sent with an `auth` message on the open connection). After a 4001 close the client
   * reconnects only if this gives a token different from the rejected one.
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
  /** Longest wait for the server's `connected` message after opening a socket, ms (default: 15000). */
  connectTimeout?: number;
  /** How far ahead of a JWT's `exp` the token is refreshed through `tokenProvider`, ms (default: 30000). */
  tokenRefreshMargin?: number;
  /** How many recent event ids are remembered to drop duplicates (default: 10000). */
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
  /** The server confirmed an unsubscribe. */
  unsubscribed: (room: string) => void;
  /** Any event. */
  event: (eventName: string, data: unknown, meta: EventMeta) => void;
  /** A reconnect is scheduled in `delay` ms (attempt counts from 1). */
  reconnecting: (attempt: number, delay: number) => void;
  /** Gave up after `maxReconnectAttempts`. */
  reconnect_failed: () => void;
  /** After a reconnect the server could not replay what was missed in `room`: reload its state another way. */
  recovery_failed: (room: string, info: SubscriptionInfo) => void;
}

type State = 'idle' | 'connecting' | 'open' | 'closed';

interface RoomState {
  /** Epoch and last offset seen in this room (undefined until the first `subscribed`). */
  epoch?: string;
  offset?: number;
  /** 'idle': not requested on the current connection; 'pending': request sent; 'active': confirmed. */
  status: 'idle' | 'pending' | 'active';
  last?: SubscriptionInfo;
  /** Resubscriptions the server failed in a row (each is retried after the reconnect backoff). */
  failedResubscribes?: number;
}

interface PendingRequest {
  kind: 'subscribe' | 'unsubscribe' | 'ping' | 'auth';
  room?: string;
  since?: boolean;
  /** Second subscribe of a room whose epoch changed, asking for the new epoch from its start. */
  catchup?: boolean;
  resolve?: (v: any) => void;
  reject?: (e: Error) => void;
  token?: string;
}

/** A room whose new epoch is being replayed from its start (after a server restart). */
interface Catchup {
  phase: 'awaiting' | 'replaying';
  /** The offset the replay ends at (the catch-up reply's `offset`). */
  target: number;
  /** Offsets of this room seen among the held events. */
  have: Set<number>;
  /** How many of 1..target are in `have` (kept while replaying). */
  count: number;
}

interface Deferred<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

const DEFAULTS = {
  autoReconnect: true,
  reconnectInterval: 5000,
  maxReconnectInterval: 30000,
  maxReconnectAttempts: 10,
  heartbeatInterval: 30000,
  tokenRefreshMargin: 30000,
  dedupWindow: 10000,
  recoverNewEpoch: true,
  catchupTimeout: 10000,
  connectTimeout: 15000,
};

const MAX_TIMER = 2 ** 31 - 1;

/**
 * MoltBeat WebSocket client for browsers and Node 20+.
 *
 * Rooms, batching (`batch=1`), heartbeat, reconnect with exponential backoff and full jitter,
 * recovery of missed events after a reconnect, and de-duplication: the application sees each event once.
 */
export class MoltBeatWSClient extends Emitter {
  private readonly cfg: WSClientConfig & typeof DEFAULTS;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;

  private ws: WebSocketLike | null = null;
  /** Incremented for every socket; callbacks of older sockets are ignored. */
  private gen = 0;
  private state: State = 'idle';
  private userClosed = false;
  private attempts = 0;
  private token: string | undefined;
  /** Token refused with 4001: do not connect with it again. */
  private rejectedToken: string | undefined;
  private connectedMsg: ConnectedMessage | null = null;

  private reconnectTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private refreshTimer: unknown = null;
  private connectTimer: unknown = null;
  private awaitingPong = false;

  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly rooms = new Map<string, RoomState>();
  private readonly roomWaiters = new Map<string, Deferred<SubscriptionInfo>[]>();
  private readonly catchups = new Map<string, Catchup>();
  /** Recorded events held while a catch-up runs, released in publication order (`offsets.all`). */
  private held: EventMessage[] = [];
  private catchupTimer: unknown = null;
  private readonly seen: RecentIdSet;
  private dedupResetOnThisConnection = false;
  private connectWaiters: Deferred<void>[] = [];

  constructor(config: WSClientConfig) {
    super();
    if (!config || typeof config.url !== 'string' || !config.url) throw new TypeError('config.url is required');
    const cfg = { ...DEFAULTS } as WSClientConfig & typeof DEFAULTS;
    for (const [k, v] of Object.entries(config)) if (v !== undefined) (cfg as any)[k] = v;
    this.cfg = cfg;
    this.token = cfg.token;
    this.timers = cfg.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as any),
      setInterval: (fn, ms) => setInterval(fn, ms),
      clearInterval: (h) => clearInterval(h as any),
    };
    this.now = cfg.now ?? Date.now;
    this.random = cfg.random ?? Math.random;
    this.seen = new RecentIdSet(cfg.dedupWindow);
  }

  // -------------------------------------------------------------------------------------------------
  // Public API (the seed's)
  // -------------------------------------------------------------------------------------------------

  /** Connects; resolves on the server's `connected` message, rejects when this attempt fails (e.g. 4001). */
  connect(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    this.userClosed = false;
    if (this.state !== 'connecting') {
      this.clearReconnectTimer();
      this.attempts = 0;
      void this.open();
    }
    return p;
  }

  /** Subscribes to a room (fire-and-forget; the `subscribed` event tells when the server confirmed). */
  subscribe(room: string): void {
    this.subscribeAsync(room).catch(() => {
      /* reported through the 'error' event */
    });
  }

  /** Subscribes to a room; resolves with the server's reply (epoch, offset), rejects on a server error. */
  subscribeAsync(room: string): Promise<SubscriptionInfo> {
    if (typeof room !== 'string' || room.length === 0) return Promise.reject(new TypeError('room must be a non-empty string'));
    let st = this.rooms.get(room);
    if (st && st.status === 'active' && st.last && this.state === 'open') return Promise.resolve(st.last);
    const p = new Promise<SubscriptionInfo>((resolve, reject) => {
      const list = this.roomWaiters.get(room);
      if (list) list.push({ resolve, reject });
      else this.roomWaiters.set(room, [{ resolve, reject }]);
    });
    if (!st) {
      st = { status: 'idle' };
      this.rooms.set(room, st);
    }
    if (this.state === 'open' && st.status === 'idle') this.sendSubscribe(room, st);
    return p;
  }

  /** Unsubscribes from a room (fire-and-forget; `unsubscribed` is emitted on the server's reply). */
  unsubscribe(room: string): void {
    this.unsubscribeAsync(room).catch(() => {
      /* reported through the 'error' event */
    });
  }

  /** Unsubscribes from a room; resolves on the server's reply (at once when not connected). */
  unsubscribeAsync(room: string): Promise<void> {
    const had = this.rooms.delete(room);
    if (this.catchups.delete(room)) this.checkCatchups();
    this.rejectRoomWaiters(room, new Error(`unsubscribed from ${room}`));
    if (this.state !== 'open') {
      if (had) this.emit('unsubscribed', room);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { kind: 'unsubscribe', room, resolve, reject });
      this.send({ type: 'unsubscribe', room, id });
    });
  }

  /** Closes the connection (code 1000) and stops reconnecting. Subscriptions are kept for a later `connect()`. */
  disconnect(): void {
    this.userClosed = true;
    this.clearReconnectTimer();
    this.clearConnectTimer();
    const wasOpen = this.state === 'open';
    const ws = this.ws;
    this.gen++;
    this.ws = null;
    this.teardownConnection(new Error('disconnected by the client'));
    this.state = 'closed';
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, 'client disconnect');
      } catch {
        /* already closed */
      }
    }
    const err = new Error('disconnected by the client');
    for (const [room] of this.roomWaiters) this.rejectRoomWaiters(room, err);
    this.rejectConnectWaiters(err);
    if (wasOpen) this.emit('disconnected', { code: 1000, reason: 'client disconnect', willReconnect: false });
  }

  /** True while the connection is established (after `connected`, before a close). */
  isConnected(): boolean {
    return this.state === 'open';
  }

  // -------------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------------

  on<K extends keyof ClientEventHandlers>(event: K, handler: ClientEventHandlers[K]): this;
  on<K extends keyof AnalyticsEventPayloads>(event: K, handler: (data: AnalyticsEventPayloads[K], meta: EventMeta) => void): this;
  on<T = any>(event: string, handler: (data: T, meta: EventMeta) => void): this;
  on(event: string, handler: AnyHandler): this {
    this.addHandler(event, handler);
    return this;
  }

  /** Removes a handler (or every handler of `event` when none is given). */
  off(event: string, handler?: AnyHandler): this {
    this.removeHandler(event, handler);
    return this;
  }

  /** Like `on`, for one call. */
  once(event: string, handler: AnyHandler): this {
    const wrap: AnyHandler = (...args) => {
      this.removeHandler(event, wrap);
      handler(...args);
    };
    this.addHandler(event, wrap);
    return this;
  }

  // -------------------------------------------------------------------------------------------------
  // Extras
  // -------------------------------------------------------------------------------------------------

  /** The rooms this client is subscribed to (or will subscribe to when it connects). */
  getRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** The server's `connected` message of the current connection, or null. */
  getConnectionInfo(): ConnectedMessage | null {
    return this.state === 'open' ? this.connectedMsg : null;
  }

  /** Last epoch and offset seen in a room (what a resubscribe sends as `since`). */
  getRoomPosition(room: string): { epoch?: string; offset?: number } | undefined {
    const st = this.rooms.get(room);
    return st ? { epoch: st.epoch, offset: st.offset } : undefined;
  }

  /** Sends a `ping` and resolves on the `pong`. */
  ping(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error('not connected'));
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { kind: 'ping', resolve: () => resolve(), reject });
      this.send({ type: 'ping', id });
    });
  }

  /** Replaces the token on the open connection (`auth` message); resolves with the server's reply. */
  authenticate(token: string): Promise<AuthenticatedMessage> {
    if (this.state !== 'open') {
      this.token = token;
      return Promise.reject(new Error('not connected'));
    }
    return new Promise<AuthenticatedMessage>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { kind: 'auth', token, resolve, reject });
      this.send({ type: 'auth', token, id });
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Connection lifecycle
  // -------------------------------------------------------------------------------------------------

  private async open(): Promise<void> {
    const gen = ++this.gen;
    this.state = 'connecting';
    try {
      if (this.cfg.tokenProvider) {
        const t = await this.cfg.tokenProvider();
        if (gen !== this.gen || this.userClosed) return;
        this.token = t || undefined;
      }
      if (this.rejectedToken !== undefined && this.token === this.rejectedToken) {
        // 4001 with this token already: only a new token may be tried.
        this.failAttempt(gen, 4001, 'token unchanged after unauthorized close', 'new_token');
        return;
      }
      const Ctor = await resolveWebSocket(this.cfg.WebSocket);
      if (gen !== this.gen || this.userClosed) return;
      let ws: WebSocketLike;
      try {
        ws = new Ctor(this.buildUrl());
      } catch (err) {
        // Bad URL or the like: a configuration error, retrying cannot help.
        this.state = 'closed';
        const e = err instanceof Error ? err : new Error(String(err));
        this.emit('error', e);
        this.rejectConnectWaiters(e);
        return;
      }
      this.ws = ws;
      if (this.cfg.connectTimeout > 0) {
        this.connectTimer = this.timers.setTimeout(() => {
          this.connectTimer = null;
          if (gen === this.gen && this.state === 'connecting') this.dropSocket(1006, 'connect timeout');
        }, Math.min(this.cfg.connectTimeout, MAX_TIMER));
      }
      ws.onmessage = (ev) => {
        if (gen !== this.gen) return;
        this.onFrame(ev.data, gen);
      };
      ws.onerror = (ev) => {
        if (gen !== this.gen) return;
        const msg = ev && typeof ev.message === 'string' ? ev.message : 'WebSocket error';
        this.emit('error', ev instanceof Error ? ev : ev?.error instanceof Error ? ev.error : new Error(msg));
      };
      ws.onclose = (ev) => {
        if (gen !== this.gen) return;
        this.gen++;
        detach(ws);
        this.ws = null;
        this.onClosed(typeof ev?.code === 'number' ? ev.code : 1006, String(ev?.reason ?? ''));
      };
    } catch (err) {
      if (gen !== this.gen || this.userClosed) return;
      // tokenProvider threw or no WebSocket implementation: count as a failed attempt.
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      this.failAttempt(gen, 1006, String((err as Error)?.message ?? err), 'backoff');
    }
  }

  /** An attempt that failed before a socket existed. */
  private failAttempt(gen: number, code: number, reason: string, action: ReconnectAction): void {
    if (gen !== this.gen) return;
    this.gen++;
    this.state = 'closed';
    this.rejectConnectWaiters(new MoltBeatCloseError(code, reason));
    this.afterClose(action, code, reason);
  }

  private buildUrl(): string {
    const base = (globalThis as any).location?.href as string | undefined;
    const u = base ? new URL(this.cfg.url, base) : new URL(this.cfg.url);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    else if (u.protocol === 'https:') u.protocol = 'wss:';
    u.searchParams.set('batch', '1');
    if (this.token) u.searchParams.set('token', this.token);
    else u.searchParams.delete('token');
    return u.toString();
  }

  /** The socket closed (or was dropped as dead). */
  private onClosed(code: number, reason: string): void {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.teardownConnection(new MoltBeatCloseError(code, reason));
    if (this.userClosed) return;
    const action = closeAction(code);
    if (code === 4001) this.rejectedToken = this.token;
    const willReconnect = this.cfg.autoReconnect && this.mayReconnect(action) && this.attempts < this.cfg.maxReconnectAttempts;
    this.rejectConnectWaiters(new MoltBeatCloseError(code, reason));
    if (wasOpen) this.emit('disconnected', { code, reason, willReconnect });
    this.afterClose(action, code, reason);
  }

  private mayReconnect(action: ReconnectAction): boolean {
    if (action === 'stop') return false;
    if (action === 'new_token') return !!this.cfg.tokenProvider;
    return true;
  }

  private afterClose(action: ReconnectAction, code: number, reason: string): void {
    if (this.userClosed) return;
    if (!this.mayReconnect(action)) {
      if (code !== 1000) this.emit('error', new MoltBeatCloseError(code, reason));
      return;
    }
    if (!this.cfg.autoReconnect) return;
    if (this.attempts >= this.cfg.maxReconnectAttempts) {
      this.emit('reconnect_failed');
      return;
    }
    const delay = this.reconnectDelay(action, this.attempts);
    this.attempts++;
    this.emit('reconnecting', this.attempts, delay);
    if (this.userClosed || this.state !== 'closed') return; // a handler called connect()/disconnect()
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.userClosed || this.state !== 'closed') return;
      void this.open();
    }, Math.min(delay, MAX_TIMER));
  }

  /** Delay before reconnect attempt `attempt` (0-based) after a close of kind `action`. */
  reconnectDelay(action: ReconnectAction, attempt: number): number {
    const o = { base: this.cfg.reconnectInterval, cap: this.cfg.maxReconnectInterval, random: this.random };
    if (action === 'immediate' && attempt === 0) return 0;
    if (action === 'long_backoff') return backoffDelay(attempt + LONG_BACKOFF_EXTRA_STEPS, o);
    return backoffDelay(attempt, o);
  }

  /** Clears everything tied to one connection. */
  private teardownConnection(err: Error): void {
    this.clearConnectTimer();
    this.stopHeartbeat();
    this.clearRefreshTimer();
    this.connectedMsg = null;
    this.catchups.clear();
    this.held = []; // not delivered: their rooms' offsets did not move, so the next resubscribe recovers them
    if (this.catchupTimer !== null) this.timers.clearTimeout(this.catchupTimer);
    this.catchupTimer = null;
    for (const [, st] of this.rooms) st.status = 'idle';
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.kind === 'unsubscribe') p.resolve?.(undefined); // not subscribed on a closed connection either
      else if (p.kind !== 'subscribe') p.reject?.(err);
      // subscribe waiters stay: the room is resubscribed on the next connection
    }
  }

  /** Drops a connection that looks dead (no pong, no `connected`) and handles it as closed with `code`. */
  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.gen++;
    this.ws = null;
    detach(ws);
    try {
      ws.close(4000, reason);
    } catch {
      /* ignore */
    }
    this.onClosed(code, reason);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  // -------------------------------------------------------------------------------------------------
  // Incoming
  // -------------------------------------------------------------------------------------------------

  private onFrame(data: unknown, gen: number): void {
    if (typeof data !== 'string') {
      this.emit('error', new Error('unexpected binary frame from the server'));
      return;
    }
    for (const line of splitBatch(data)) {
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        this.emit('error', new Error('invalid JSON from the server'));
        continue;
      }
      if (msg && typeof msg.type === 'string') this.handleMessage(msg);
      if (gen !== this.gen) return; // a handler disconnected
    }
  }

  /** Handles one server message (exposed for tests through the socket; not part of the API). */
  private handleMessage(msg: any): void {
    switch (msg.type) {
      case 'connected':
        return this.onConnected(msg as ConnectedMessage);
      case 'event':
        return this.onEvent(msg as EventMessage);
      case 'subscribed':
        return this.onSubscribed(msg as SubscribedMessage);
      case 'unsubscribed':
        return this.onUnsubscribed(msg as UnsubscribedMessage);
      case 'pong': {
        this.awaitingPong = false;
        const p = this.takePending(msg.id, 'ping');
        p?.resolve?.(undefined);
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

  private takePending(id: unknown, kind: PendingRequest['kind']): PendingRequest | undefined {
    if (typeof id !== 'number') return undefined;
    const p = this.pending.get(id);
    if (!p || p.kind !== kind) return undefined;
    this.pending.delete(id);
    return p;
  }

  private onConnected(msg: ConnectedMessage): void {
    if (this.state === 'open') return; // reply to a first-message auth on an open connection
    this.clearConnectTimer();
    this.state = 'open';
    this.connectedMsg = msg;
    this.attempts = 0;
    this.rejectedToken = undefined;
    this.dedupResetOnThisConnection = false;
    this.startHeartbeat();
    this.scheduleRefresh();
    // Parents first: a parent's replay covers its children's missed events in publish order.
    const depth = (room: string) => (room === 'all' ? 0 : room.split(':').length);
    const ordered = [...this.rooms].sort(([a], [b]) => depth(a) - depth(b));
    for (const [room, st] of ordered) this.sendSubscribe(room, st);
    this.emit('connected', msg);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private sendSubscribe(room: string, st: RoomState): void {
    const id = this.nextId++;
    const since = st.epoch !== undefined && st.offset !== undefined ? { epoch: st.epoch, offset: st.offset } : undefined;
    this.pending.set(id, { kind: 'subscribe', room, since: !!since });
    st.status = 'pending';
    this.send(since ? { type: 'subscribe', room, id, since } : { type: 'subscribe', room, id });
  }

  private onSubscribed(msg: SubscribedMessage): void {
    const room = msg.room;
    const p = this.takePending(msg.id, 'subscribe');
    const st = this.rooms.get(room);
    if (!st) return; // unsubscribed in the meantime
    const info: SubscriptionInfo = { room, epoch: msg.epoch, offset: msg.offset, recovered: msg.recovered };
    const epochChanged = st.epoch !== undefined && msg.epoch !== undefined && msg.epoch !== st.epoch;
    if (epochChanged && !this.dedupResetOnThisConnection) {
      // The server lost its history (e.g. restarted): offsets, and so event ids, start again.
      this.seen.clear();
      this.dedupResetOnThisConnection = true;
    }

    if (p?.catchup) {
      const c = this.catchups.get(room);
      if (msg.recovered === true && c) {
        c.phase = 'replaying';
        c.target = typeof msg.offset === 'number' ? msg.offset : 0;
        c.count = 0;
        for (const o of c.have) if (o >= 1 && o <= c.target) c.count++;
      } else {
        if (typeof msg.offset === 'number') st.offset = Math.max(st.offset ?? 0, msg.offset);
        this.catchups.delete(room);
      }
      this.checkCatchups();
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

    const waiters = this.roomWaiters.get(room);
    this.roomWaiters.delete(room);
    this.emit('subscribed', room, info);
    if (waiters) for (const w of waiters) w.resolve(info);

    if (p?.since && msg.recovered === false) {
      this.emit('recovery_failed', room, info);
      if (
        this.cfg.recoverNewEpoch &&
        epochChanged &&
        typeof msg.offset === 'number' &&
        msg.offset > 0 &&
        this.state === 'open' &&
        this.rooms.get(room) === st
      ) {
        // Everything in the new epoch was published while we were away: ask for it from its start.
        st.offset = 0;
        this.catchups.set(room, { phase: 'awaiting', target: 0, have: new Set(), count: 0 });
        if (this.catchupTimer === null) {
          this.catchupTimer = this.timers.setTimeout(() => {
            this.catchupTimer = null;
            this.catchups.clear();
            this.checkCatchups();
          }, this.cfg.catchupTimeout);
        }
        const id = this.nextId++;
        this.pending.set(id, { kind: 'subscribe', room, since: true, catchup: true });
        this.send({ type: 'subscribe', room, id, since: { epoch: st.epoch, offset: 0 } });
      }
    }
  }

  /** Ends the catch-ups whose replay is complete; when none is left, releases the held events in order. */
  private checkCatchups(): void {
    for (const [room, c] of [...this.catchups]) {
      if (c.phase === 'replaying' && c.count >= c.target) this.catchups.delete(room);
    }
    if (this.catchups.size > 0) return;
    if (this.catchupTimer !== null) this.timers.clearTimeout(this.catchupTimer);
    this.catchupTimer = null;
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    const key = (m: EventMessage) => (typeof m.offsets?.all === 'number' ? m.offsets.all : Number.MAX_SAFE_INTEGER);
    held.sort((a, b) => key(a) - key(b)); // stable: events without `all` keep their arrival order, last
    for (const m of held) this.onEvent(m);
  }

  private onUnsubscribed(msg: UnsubscribedMessage): void {
    const p = this.takePending(msg.id, 'unsubscribe');
    if (this.rooms.has(msg.room) && !p) return; // stale reply for a room subscribed again since
    this.emit('unsubscribed', msg.room);
    p?.resolve?.(undefined);
  }

  private onEvent(msg: EventMessage): void {
    if (typeof msg.event !== 'string') return;
    const offsets = msg.offsets && typeof msg.offsets === 'object' ? msg.offsets : undefined;
    if (offsets && this.catchups.size > 0) {
      // A room's new epoch is being replayed: hold every recorded event until it is complete, then
      // deliver them in publication order (replayed and live copies collapse in the dedup).
      this.held.push(msg);
      for (const [room, c] of this.catchups) {
        const o = offsets[room];
        if (typeof o !== 'number' || c.have.has(o)) continue;
        c.have.add(o);
        if (c.phase === 'replaying' && o >= 1 && o <= c.target) c.count++;
      }
      this.checkCatchups();
      return;
    }
    // A duplicate (a replay of something already delivered) still tells how far each room got.
    const duplicate = offsets !== undefined && typeof offsets.all === 'number' && !this.seen.add(offsets.all);
    if (offsets) {
      for (const room in offsets) {
        const st = this.rooms.get(room);
        const o = offsets[room];
        if (st && st.status === 'active' && typeof o === 'number' && (st.offset === undefined || o > st.offset)) st.offset = o;
      }
    }
    if (!duplicate) {
      const meta: EventMeta = {
        room: msg.room,
        rooms: Array.isArray(msg.rooms) ? msg.rooms : msg.room !== undefined ? [msg.room] : [],
        offsets,
        ts: msg.ts,
      };
      this.emit('event', msg.event, msg.data, meta);
      if (!RESERVED_EVENTS.has(msg.event)) this.emit(msg.event, msg.data, meta);
    }

  }

  private onAuthenticated(msg: AuthenticatedMessage): void {
    const p = this.takePending(msg.id, 'auth');
    if (p?.token) this.token = p.token;
    this.scheduleRefresh(msg.expiresAt);
    p?.resolve?.(msg);
  }

  private onServerError(msg: ErrorMessage): void {
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (p) this.pending.delete(msg.id as number);
    const err = new MoltBeatError(String(msg.code ?? 'internal'), msg.message, msg.id, p?.room);
    if (p) {
      if (p.kind === 'subscribe' && p.room !== undefined) {
        const st = this.rooms.get(p.room);
        if (p.catchup) {
          this.catchups.delete(p.room);
          this.checkCatchups();
        } else if (err.code === 'internal' && p.since && st) {
          // A resubscription the server failed on its side (e.g. a Redis-backed node that could not read the
          // history in time): ask again on this connection after the reconnect backoff, from the same position.
          // Forgetting the room would leave the client connected without it, missing its events silently.
          this.retryResubscribe(p.room, st);
        } else {
          // The server refused the room (forbidden, invalid_room, too_many_subscriptions...): forget it.
          this.rooms.delete(p.room);
          if (this.catchups.delete(p.room)) this.checkCatchups();
          this.rejectRoomWaiters(p.room, err);
        }
      } else {
        p.reject?.(err);
      }
    }
    this.emit('error', err);
  }

  private retryResubscribe(room: string, st: RoomState): void {
    const ws = this.ws;
    st.status = 'idle';
    const delay = this.reconnectDelay('backoff', st.failedResubscribes ?? 0);
    st.failedResubscribes = (st.failedResubscribes ?? 0) + 1;
    this.timers.setTimeout(() => {
      if (this.ws === ws && this.state === 'open' && this.rooms.get(room) === st && st.status === 'idle') this.sendSubscribe(room, st);
    }, Math.min(delay, MAX_TIMER));
  }

  // -------------------------------------------------------------------------------------------------
  // Heartbeat and token refresh
  // -------------------------------------------------------------------------------------------------

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const iv = this.cfg.heartbeatInterval;
    if (!(iv > 0)) return;
    this.awaitingPong = false;
    this.heartbeatTimer = this.timers.setInterval(() => this.heartbeatTick(), Math.min(iv, MAX_TIMER));
  }

  private heartbeatTick(): void {
    if (this.state !== 'open') return;
    if (this.awaitingPong) {
      this.dropSocket(4010, 'heartbeat timeout (no pong)');
      return;
    }
    this.awaitingPong = true;
    this.send({ type: 'ping', id: this.nextId++ });
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) this.timers.clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.awaitingPong = false;
  }

  private scheduleRefresh(expiresAtMs?: number): void {
    this.clearRefreshTimer();
    if (!this.cfg.tokenProvider || this.state !== 'open') return;
    const exp = expiresAtMs ?? (jwtExpiry(this.token) !== undefined ? jwtExpiry(this.token)! * 1000 : undefined);
    if (exp === undefined) return;
    const delay = refreshDelay(exp, this.now(), this.cfg.tokenRefreshMargin);
    const gen = this.gen;
    this.refreshTimer = this.timers.setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshToken(gen);
    }, Math.min(delay, MAX_TIMER));
  }

  private async refreshToken(gen: number): Promise<void> {
    if (gen !== this.gen || this.state !== 'open' || !this.cfg.tokenProvider) return;
    try {
      const t = await this.cfg.tokenProvider();
      if (gen !== this.gen || this.state !== 'open') return;
      if (!t || t === this.token) return; // nothing new; the server will close with 4001 at expiry
      await this.authenticate(t);
    } catch (err) {
      if (gen === this.gen) this.emit('error', err instanceof Error ? err : new Error(String(err)));
    }
  }

  private clearRefreshTimer(): void {
    if (this.refreshTimer !== null) this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------------

  private send(msg: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(msg));
      return true;
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private rejectRoomWaiters(room: string, err: Error): void {
    const list = this.roomWaiters.get(room);
    if (!list) return;
    this.roomWaiters.delete(room);
    for (const w of list) w.reject(err);
  }

  private rejectConnectWaiters(err: Error): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onerror = null;
  // keep a no-op close handler so that late events do not reach a stale client
  ws.onclose = null;
}
