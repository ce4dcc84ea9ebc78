import { MoltBeatHttpError } from './errors.js';
import type { RoomHistory, RoomInfo, StreamPosition } from './types.js';

/** Credentials and transport of the rooms-over-HTTP reads (revision 1.1, "Rooms over HTTP"). */
export interface RoomRequestOptions {
  /** A JWT allowed to subscribe to the room (the WebSocket's token does), sent as `Authorization: Bearer`. */
  token?: string;
  /** The server's API key, sent as `X-Api-Key` (for back ends; never put it in a browser). */
  apiKey?: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Aborts the request. */
  signal?: AbortSignal;
}

export interface RoomHistoryOptions extends RoomRequestOptions {
  /** How many events at most (1 to 1000; the server's default is 100). */
  limit?: number;
  /** The events after this position instead of the last ones (the reply's `recovered` tells whether all of them are there). */
  since?: StreamPosition;
}

/**
 * Reads a room's position over HTTP (`GET {baseUrl}/api/rooms/{room}`): the first step of a snapshot without a
 * gap. Read the position, load the application's state (from its own store, as of now or later), then subscribe
 * with `since` = the position: every event after it arrives, none is lost between the load and the subscribe.
 *
 * ```ts
 * const position = await fetchRoomPosition('https://moltbeat.example.com', 'analytics:agents', { token });
 * const agents = await loadAgents();                         // your state, taken after the position was read
 * client.subscribe('analytics:agents', { since: position }); // recovered: true, then every later event
 * ```
 *
 * @param baseUrl The server's HTTP base, e.g. `http://127.0.0.1:3000` (a path prefix such as `https://x/moltbeat` is kept);
 *   relative to the page in a browser.
 * @throws MoltBeatHttpError when the server refuses (400 invalid room, 401/403 credentials, 503 engine unavailable) or cannot be reached.
 */
export async function fetchRoomPosition(baseUrl: string, room: string, options: RoomRequestOptions = {}): Promise<RoomInfo> {
  return (await getJson(roomUrl(baseUrl, room), options)) as RoomInfo;
}

/**
 * Reads a room's recorded events over HTTP (`GET {baseUrl}/api/rooms/{room}/history`): the last `limit` ones, or
 * those after `since`; each is an `event` message exactly as the WebSocket sends it.
 * @throws MoltBeatHttpError as `fetchRoomPosition` does, and for a query out of range (400).
 */
export async function fetchRoomHistory(baseUrl: string, room: string, options: RoomHistoryOptions = {}): Promise<RoomHistory> {
  const url = roomUrl(baseUrl, room, '/history');
  if (options.limit !== undefined) url.searchParams.set('limit', String(options.limit));
  if (options.since) {
    url.searchParams.set('epoch', options.since.epoch);
    url.searchParams.set('offset', String(options.since.offset));
  }
  return (await getJson(url, options)) as RoomHistory;
}

function roomUrl(baseUrl: string, room: string, tail = ''): URL {
  if (typeof room !== 'string' || room.length === 0) throw new TypeError('room must be a non-empty string');
  const page = (globalThis as any).location?.href as string | undefined;
  const base = page ? new URL(baseUrl, page) : new URL(baseUrl);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(`api/rooms/${encodeURIComponent(room)}${tail}`, base);
}

async function getJson(url: URL, options: RoomRequestOptions): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new MoltBeatHttpError(0, 'no fetch: pass options.fetch', url.href);
  let response: Response;
  try {
    response = await doFetch(url.href, { headers, signal: options.signal });
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new MoltBeatHttpError(0, `GET ${url.href} failed: ${String((err as Error)?.message ?? err)}`, url.href);
  }
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const why = typeof body?.error === 'string' ? body.error : text.slice(0, 200) || response.statusText;
    throw new MoltBeatHttpError(response.status, `GET ${url.pathname}${url.search}: ${response.status} ${why}`, url.href);
  }
  if (body === undefined || typeof body !== 'object') throw new MoltBeatHttpError(response.status, `GET ${url.pathname}: not a JSON object`, url.href);
  return body;
}
