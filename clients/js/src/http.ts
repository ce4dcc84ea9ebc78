import { MoltBeatHttpError } from './errors.js';
import type { EventMessage, StreamPosition } from './types.js';

// Rooms over HTTP (protocol revision 1.1): a room's position and its history, for the snapshot pattern:
//   const position = await getRoomPosition(base, room);   // 1. where the room is now
//   const state = await loadFromOwnStore();                // 2. your state, at least as new as that position
//   client.subscribe(room, { since: position });           // 3. every event after the position, none lost

/** Options of `getRoomPosition` and `getRoomHistory`. */
export interface RoomRequestOptions {
  /** Sent as `X-Api-Key` (server-side use: never put the API key in a browser). */
  apiKey?: string;
  /** A JWT allowed to subscribe to the room, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** The fetch implementation (default: the global `fetch`). */
  fetch?: (input: string, init?: any) => Promise<FetchResponseLike>;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** More request headers. */
  headers?: Record<string, string>;
}

/** What the helpers read of a fetch `Response`. */
export interface FetchResponseLike {
  readonly status: number;
  readonly ok: boolean;
  text(): Promise<string>;
}

/** `GET /api/rooms/{room}`: the room's position now, usable as `since` as it is. */
export interface RoomInfo extends StreamPosition {
  room: string;
  /** The room's epoch (changes when its history is lost, e.g. a restart of an in-memory server). */
  epoch: string;
  /** The offset of the room's last recorded event (0 when it has none). */
  offset: number;
  /** Subscribers of the room on the node that answered. */
  subscribers: number;
}

/** Options of `getRoomHistory`. */
export interface RoomHistoryOptions extends RoomRequestOptions {
  /** At most this many events (1..1000 on the server; its default is 100). */
  limit?: number;
  /** The events after this position (else the last `limit` events). */
  after?: StreamPosition;
}

/** `GET /api/rooms/{room}/history`. */
export interface RoomHistory {
  room: string;
  /** The room's epoch now. */
  epoch: string;
  /** The offset of the room's last event now. */
  offset: number;
  /**
   * With `after` only: true when `events` start right after it; false when the server no longer holds that
   * position (then `events` is empty: reload the state another way).
   */
  recovered?: boolean;
  /** The `event` messages, oldest first, exactly as sent on the WebSocket (each with its `offsets`). */
  events: EventMessage[];
}

/**
 * The room's position now (`GET /api/rooms/{room}`): its epoch and the offset of its last event, plus its subscribers.
 * `baseUrl` is the server's HTTP base (`http://localhost:3000`, or a path prefix behind a proxy; in a browser it may be
 * relative to the page), not the WebSocket URL. Rejects with a `MoltBeatHttpError` (status and the server's `error`).
 */
export async function getRoomPosition(baseUrl: string, room: string, options: RoomRequestOptions = {}): Promise<RoomInfo> {
  const body = await getJson(roomUrl(baseUrl, room, ''), options, (b) => typeof b.epoch === 'string' && typeof b.offset === 'number');
  return { room: body.room ?? room, epoch: body.epoch, offset: body.offset, subscribers: body.subscribers };
}

/**
 * A room's recorded events (`GET /api/rooms/{room}/history`): the last `limit`, or with `after` the events after that
 * position (at most `limit`: when the last one returned is below the reply's `offset`, ask again after it).
 * Rejects with a `MoltBeatHttpError` (status and the server's `error`), e.g. 400 for a `limit` above 1000.
 */
export async function getRoomHistory(baseUrl: string, room: string, options: RoomHistoryOptions = {}): Promise<RoomHistory> {
  const { limit, after } = options;
  if (limit !== undefined && !(typeof limit === 'number' && Number.isInteger(limit) && limit >= 1)) {
    throw new RangeError(`limit must be an integer >= 1, got ${String(limit)}`);
  }
  if (after !== undefined) {
    const ok = after !== null && typeof after === 'object' && typeof after.epoch === 'string' && after.epoch.length > 0
      && typeof after.offset === 'number' && Number.isSafeInteger(after.offset) && after.offset >= 0;
    if (!ok) throw new TypeError('after must be { epoch: non-empty string, offset: integer >= 0 }');
  }
  const query = new URLSearchParams();
  if (limit !== undefined) query.set('limit', String(limit));
  if (after !== undefined) {
    query.set('epoch', after.epoch);
    query.set('offset', String(after.offset));
  }
  const q = query.toString();
  const url = roomUrl(baseUrl, room, '/history') + (q ? `?${q}` : '');
  const body = await getJson(url, options, (b) => typeof b.epoch === 'string' && typeof b.offset === 'number' && Array.isArray(b.events));
  const out: RoomHistory = { room: body.room ?? room, epoch: body.epoch, offset: body.offset, events: body.events };
  if (typeof body.recovered === 'boolean') out.recovered = body.recovered;
  return out;
}

function roomUrl(baseUrl: string, room: string, tail: string): string {
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string (the server\'s HTTP base, e.g. http://localhost:3000)');
  if (typeof room !== 'string' || room.length === 0) throw new TypeError('room must be a non-empty string');
  const page = (globalThis as any).location?.href as string | undefined;
  const u = page ? new URL(baseUrl, page) : new URL(baseUrl);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  const path = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
  u.pathname = `${path}api/rooms/${encodeURIComponent(room)}${tail}`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** GETs `url` and parses its JSON body; rejects with a MoltBeatHttpError unless the status is 2xx and `valid(body)`. */
async function getJson(url: string, options: RoomRequestOptions, valid: (body: any) => boolean): Promise<any> {
  const request = `GET ${url}`;
  const doFetch = options.fetch ?? ((globalThis as any).fetch as RoomRequestOptions['fetch']);
  if (typeof doFetch !== 'function') throw new TypeError('no fetch implementation: pass options.fetch');
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let res: FetchResponseLike;
  let text: string;
  try {
    res = await doFetch(url, { method: 'GET', headers, signal: options.signal });
    text = await res.text();
  } catch (err) {
    throw new MoltBeatHttpError(0, String((err as Error)?.message ?? err), request, { cause: err });
  }
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const error = body && typeof body.error === 'string' ? body.error : text.slice(0, 200);
    throw new MoltBeatHttpError(res.status, error, request);
  }
  if (body === null || typeof body !== 'object' || !valid(body)) throw new MoltBeatHttpError(res.status, `unexpected reply: ${text.slice(0, 200)}`, request);
  return body;
}
