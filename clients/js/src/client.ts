import { Emitter, type AnyHandler } from './emitter.js';
import { MoltBeatCloseError } from './errors.js';
import { resolveConfig, type ResolvedConfig, type WSClientConfig } from './config.js';
import type { ClientEventHandlers } from './events.js';
import { CLOSE_CODES } from './generated/protocol.js';
import type { ClientHost, Deferred } from './host.js';
import { LONG_BACKOFF_EXTRA_STEPS, backoffDelay, closeAction, type ReconnectAction } from './policy.js';
import { Recovery } from './recovery.js';
import { PendingRequests } from './requests.js';
import { MessageRouter } from './router.js';
import { OPEN, resolveWebSocket, type WebSocketLike } from './socket.js';
import { Subscriptions, checkSubscribeOptions } from './subscriptions.js';
import { Heartbeat, TokenRefresher, systemTimers, timerDelay, type Timers } from './timers.js';
import type { AnalyticsEventPayloads, AuthenticatedMessage, ConnectedMessage, EventMeta, SubscribeOptions, SubscriptionInfo } from './types.js';

type State = 'idle' | 'connecting' | 'open' | 'closed';

/** Close code of a connection that ended without a close frame (also used for a failed attempt). */
const ABNORMAL_CLOSURE = 1006;

// This class holds the connection's lifecycle (connect, close, reconnect) and the public API. It composes
// the parts that hold the rest: Subscriptions (subscriptions.ts: rooms and their positions), Recovery
// (recovery.ts: catch-up after a server restart, dedup), MessageRouter (router.ts: incoming messages),
// Heartbeat and TokenRefresher (timers.ts), PendingRequests (requests.ts: request ids and their replies).

/**
 * MoltBeat WebSocket client for browsers and Node 20+.
 *
 * Rooms, batching (`batch=1`), heartbeat, reconnect with exponential backoff and full jitter,
 * recovery of missed events after a reconnect, and de-duplication: the application sees each event once.
 */
export class MoltBeatWSClient extends Emitter {
  private readonly cfg: ResolvedConfig;
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
  /**
   * Tokens the server refused (4001) or revoked (4003), with that close code: never sent again, whatever
   * `tokenProvider` returns. The last few only: they are worthless, and a stale provider repeats the latest.
   */
  private readonly rejectedTokens = new Map<string, number>();
  private connectedMsg: ConnectedMessage | null = null;
  private connectWaiters: Deferred<void>[] = [];
  private reconnectTimer: unknown = null;
  private connectTimer: unknown = null;

  private readonly requests = new PendingRequests();
  private readonly recovery: Recovery;
  private readonly subs: Subscriptions;
  private readonly heartbeat: Heartbeat;
  private readonly refresher: TokenRefresher;
  private readonly router: MessageRouter;

  constructor(config: WSClientConfig) {
    super();
    const cfg = resolveConfig(config);
    this.cfg = cfg;
    this.token = cfg.token;
    this.timers = cfg.timers ?? systemTimers;
    this.now = cfg.now ?? Date.now;
    this.random = cfg.random ?? Math.random;
    const host: ClientHost = {
      timers: this.timers,
      isOpen: () => this.state === 'open',
      connection: () => this.gen,
      send: (msg) => this.send(msg),
      emit: (event, ...args) => this.emit(event, ...args),
    };
    this.recovery = new Recovery(host, this.requests, cfg, (msg) => this.router.onEvent(msg));
    this.subs = new Subscriptions(host, this.requests, this.recovery, (failures) => this.reconnectDelay('backoff', failures));
    this.heartbeat = new Heartbeat(host, cfg.heartbeatInterval, () => this.requests.newId(), () =>
      this.dropSocket(CLOSE_CODES.HeartbeatTimeout.code, 'heartbeat timeout (no pong)'),
    );
    this.refresher = new TokenRefresher(host, cfg.tokenProvider, cfg.tokenRefreshMargin, this.now, () => this.token, (t) => this.authenticate(t));
    this.router = new MessageRouter(host, this.requests, this.subs, this.recovery, this.heartbeat, {
      connected: (msg) => this.onConnected(msg),
      authenticated: (token, expiresAt) => {
        if (token) this.token = token;
        this.refresher.schedule(expiresAt);
      },
    });
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

  /**
   * Subscribes to a room (fire-and-forget; the `subscribed` event tells when the server confirmed).
   * `options`: `since` (start after a position, e.g. from `getRoomPosition`), `last` (replay the room's most
   * recent events first), `maxRate` (at most that many events per second and conflation key) and `occupancy`
   * (the room's subscriber count: `occupancy` events, `getOccupancy`); they count when the client does not hold the
   * room yet. Throws a TypeError or RangeError at once for invalid options.
   */
  subscribe(room: string, options?: SubscribeOptions): void {
    const checked = checkSubscribeOptions(options);
    this.subs.subscribe(room, checked).catch(() => {
      /* reported through the 'error' event */
    });
  }

  /**
   * Subscribes to a room; resolves with the server's reply (epoch, offset, and `replay` when `since` or `last` was
   * sent), rejects on a server error, or at once (TypeError, RangeError) for invalid options.
   */
  subscribeAsync(room: string, options?: SubscribeOptions): Promise<SubscriptionInfo> {
    let checked: ReturnType<typeof checkSubscribeOptions>;
    try {
      checked = checkSubscribeOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.subs.subscribe(room, checked);
  }

  /** Unsubscribes from a room (fire-and-forget; `unsubscribed` is emitted on the server's reply). */
  unsubscribe(room: string): void {
    this.unsubscribeAsync(room).catch(() => {
      /* reported through the 'error' event */
    });
  }

  /** Unsubscribes from a room; resolves on the server's reply (at once when not connected). */
  unsubscribeAsync(room: string): Promise<void> {
    return this.subs.unsubscribe(room);
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
        ws.close(CLOSE_CODES.Normal.code, 'client disconnect');
      } catch {
        /* already closed */
      }
    }
    const err = new Error('disconnected by the client');
    this.subs.rejectAllWaiters(err);
    this.rejectConnectWaiters(err);
    if (wasOpen) this.emit('disconnected', { code: CLOSE_CODES.Normal.code, reason: 'client disconnect', willReconnect: false });
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
    return this.subs.names();
  }

  /** The server's `connected` message of the current connection, or null. */
  getConnectionInfo(): ConnectedMessage | null {
    return this.state === 'open' ? this.connectedMsg : null;
  }

  /** Last epoch and offset seen in a room (what a resubscribe sends as `since`). */
  getRoomPosition(room: string): { epoch?: string; offset?: number } | undefined {
    return this.subs.position(room);
  }

  /**
   * The latest subscriber count the server told for `room` (subscribed with `occupancy: true`), across all nodes;
   * undefined before the first one, and once the room is unsubscribed.
   */
  getOccupancy(room: string): number | undefined {
    return this.subs.occupancy(room);
  }

  /** Sends a `ping` and resolves on the `pong`. */
  ping(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error('not connected'));
    return new Promise<void>((resolve, reject) => {
      const id = this.requests.add({ kind: 'ping', resolve: () => resolve(), reject });
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
      const id = this.requests.add({ kind: 'auth', token, resolve, reject });
      this.send({ type: 'auth', token, id });
    });
  }

  /** Delay before reconnect attempt `attempt` (0-based) after a close of kind `action`. */
  reconnectDelay(action: ReconnectAction, attempt: number): number {
    const o = { base: this.cfg.reconnectInterval, cap: this.cfg.maxReconnectInterval, random: this.random };
    if (action === 'immediate' && attempt === 0) return 0;
    if (action === 'long_backoff') return backoffDelay(attempt + LONG_BACKOFF_EXTRA_STEPS, o);
    return backoffDelay(attempt, o);
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
      const refusedWith = this.token === undefined ? undefined : this.rejectedTokens.get(this.token);
      if (refusedWith !== undefined) {
        // 4001 or 4003 with this token already: only a new token may be tried.
        const why = refusedWith === CLOSE_CODES.Revoked.code ? 'revoked' : 'unauthorized';
        this.failAttempt(gen, refusedWith, `token unchanged after ${why} close`, 'new_token');
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
          if (gen === this.gen && this.state === 'connecting') this.dropSocket(ABNORMAL_CLOSURE, 'connect timeout');
        }, timerDelay(this.cfg.connectTimeout));
      }
      ws.onmessage = (ev) => {
        if (gen !== this.gen) return;
        this.router.onFrame(ev.data, gen);
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
        this.onClosed(typeof ev?.code === 'number' ? ev.code : ABNORMAL_CLOSURE, String(ev?.reason ?? ''));
      };
    } catch (err) {
      if (gen !== this.gen || this.userClosed) return;
      // tokenProvider threw or no WebSocket implementation: count as a failed attempt.
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      this.failAttempt(gen, ABNORMAL_CLOSURE, String((err as Error)?.message ?? err), 'backoff');
    }
  }

  /** The server's `connected`: the connection is established. */
  private onConnected(msg: ConnectedMessage): void {
    if (this.state === 'open') return; // reply to a first-message auth on an open connection
    this.clearConnectTimer();
    this.state = 'open';
    this.connectedMsg = msg;
    this.attempts = 0;
    this.recovery.connectionOpened();
    this.heartbeat.start();
    this.refresher.schedule();
    this.subs.connectionOpened();
    this.emit('connected', msg);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
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
    if (action === 'new_token' && this.token) this.rememberRejected(this.token, code);
    const willReconnect = this.cfg.autoReconnect && this.mayReconnect(action) && this.attempts < this.cfg.maxReconnectAttempts;
    this.rejectConnectWaiters(new MoltBeatCloseError(code, reason));
    if (wasOpen) this.emit('disconnected', { code, reason, willReconnect });
    this.afterClose(action, code, reason);
  }

  private rememberRejected(token: string, code: number): void {
    this.rejectedTokens.delete(token);
    this.rejectedTokens.set(token, code);
    if (this.rejectedTokens.size > 8) this.rejectedTokens.delete(this.rejectedTokens.keys().next().value as string);
  }

  private mayReconnect(action: ReconnectAction): boolean {
    if (action === 'stop') return false;
    if (action === 'new_token') return !!this.cfg.tokenProvider;
    return true;
  }

  private afterClose(action: ReconnectAction, code: number, reason: string): void {
    if (this.userClosed) return;
    if (!this.mayReconnect(action)) {
      if (code !== CLOSE_CODES.Normal.code) this.emit('error', new MoltBeatCloseError(code, reason));
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
    }, timerDelay(delay));
  }

  /** Clears everything tied to one connection. */
  private teardownConnection(err: Error): void {
    this.clearConnectTimer();
    this.heartbeat.stop();
    this.refresher.cancel();
    this.connectedMsg = null;
    this.recovery.connectionClosed();
    this.subs.connectionClosed();
    this.requests.connectionClosed(err);
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

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private rejectConnectWaiters(err: Error): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}

/**
 * Unhooks a socket the client is done with (closed, dropped or replaced). The handlers are removed, not made
 * no-ops: nothing this socket still reports reaches the client (and each handler also checks `gen`).
 */
function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onerror = null;
  ws.onclose = null;
}
