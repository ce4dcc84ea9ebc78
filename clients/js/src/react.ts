import { useEffect, useRef, useState } from 'react';
import { MoltBeatWSClient } from './client.js';
import type { WSClientConfig } from './config.js';
import { checkSubscribeOptions } from './subscriptions.js';
import type { EventMeta, StreamPosition, SubscriptionInfo } from './types.js';

export type UseMoltBeatOptions = Omit<WSClientConfig, 'url' | 'token'>;

export interface UseMoltBeatResult {
  /** The client of the current connection (null before the first render's effect ran, and after unmount). */
  client: MoltBeatWSClient | null;
  /** True while connected. */
  connected: boolean;
}

/**
 * React hook: one MoltBeatWSClient per (url, token), connected on mount and disconnected on unmount
 * or when `url`/`token` change. `options` are read when the client is created.
 */
export function useMoltBeat(url: string, token?: string, options?: UseMoltBeatOptions): UseMoltBeatResult {
  const [client, setClient] = useState<MoltBeatWSClient | null>(null);
  const [connected, setConnected] = useState(false);
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const ws = new MoltBeatWSClient({ ...optionsRef.current, url, token });
    const onConnected = () => setConnected(true);
    const onDisconnected = () => setConnected(false);
    ws.on('connected', onConnected);
    ws.on('disconnected', onDisconnected);

    ws.connect().catch(() => {
      /* reported through the 'error' event; reconnects by itself when allowed */
    });
    setClient(ws);

    return () => {
      ws.off('connected', onConnected);
      ws.off('disconnected', onDisconnected);
      ws.disconnect();
      setConnected(false);
      setClient((c) => (c === ws ? null : c));
    };
  }, [url, token]);

  return { client, connected };
}

/** One event of a room, as `useMoltBeatRoom` keeps it. */
export interface RoomEvent<T = unknown> {
  event: string;
  data: T;
  meta: EventMeta;
}

export interface UseMoltBeatRoomOptions {
  /**
   * Open with the room's most recent `last` events (0 to `PROTOCOL_LIMITS.maxLast`): `{ last: 1 }` shows the current
   * value at once instead of nothing until the next event.
   */
  last?: number;
  /** Start from this position instead (e.g. read with `fetchRoomPosition` before loading the state it stands for). */
  since?: StreamPosition;
  /** Keep only the events of this name (default: every event of the room). */
  event?: string;
  /** How many of the most recent events `events` holds (default: 100, and at least `last`). */
  keep?: number;
}

export interface UseMoltBeatRoomResult<T = unknown> {
  /** The room's events, oldest first: the `last` ones, then live ones, at most `keep`. */
  events: RoomEvent<T>[];
  /** The most recent of them, or null. */
  latest: RoomEvent<T> | null;
  /** The server's reply to the subscribe (null until it came). */
  subscription: SubscriptionInfo | null;
  /** Why the subscribe failed (e.g. a `MoltBeatError` with code `forbidden`), or null. */
  error: Error | null;
}

const DEFAULT_KEEP = 100;

/** Per client: the recent events of each room the hook has seen, and how many mounted hooks use each room. */
interface RoomMemory {
  epoch?: string;
  events: RoomEvent[];
  users: number;
}
const memories = new WeakMap<MoltBeatWSClient, Map<string, RoomMemory>>();

function memoryOf(client: MoltBeatWSClient, room: string): RoomMemory {
  let rooms = memories.get(client);
  if (!rooms) memories.set(client, (rooms = new Map()));
  let memory = rooms.get(room);
  if (!memory) rooms.set(room, (memory = { events: [], users: 0 }));
  return memory;
}

/** Whether an event reached `room`: recorded there (its offsets), or published to it or below it. */
function reached(room: string, meta: EventMeta): boolean {
  if (meta.offsets && typeof meta.offsets[room] === 'number') return true;
  return room === 'all' || meta.rooms.some((r) => r === room || r.startsWith(`${room}:`));
}

/** Inserts `e` in offset order within `room` (events without an offset there go last), without a second copy. */
function insert<T>(list: RoomEvent<T>[], e: RoomEvent<T>, room: string): void {
  const id = e.meta.offsets?.all;
  if (typeof id === 'number' && list.some((x) => x.meta.offsets?.all === id)) return;
  const at = e.meta.offsets?.[room];
  let i = list.length;
  if (typeof at === 'number') while (i > 0 && !(((list[i - 1].meta.offsets?.[room] as number) ?? -1) <= at)) i--;
  list.splice(i, 0, e);
}

/**
 * React hook: subscribes `client` to `room` while mounted (with `last` or `since` if given) and returns the room's
 * events, the most recent one, and the server's reply. It unsubscribes when the last component using this room on
 * this client unmounts (so do not mix it with your own `client.subscribe` of the same room). The client delivers
 * each event once: a component mounted again gets the events it had from the hook's memory of this client.
 *
 * ```tsx
 * const { client } = useMoltBeat(url, token);
 * const { latest } = useMoltBeatRoom<MetricsPayload>(client, 'analytics:metrics', { last: 1 });
 * ```
 * @throws RangeError (at render) when `last` is not an integer from 0 to `PROTOCOL_LIMITS.maxLast`.
 */
export function useMoltBeatRoom<T = unknown>(
  client: MoltBeatWSClient | null,
  room: string | null | undefined,
  options: UseMoltBeatRoomOptions = {},
): UseMoltBeatRoomResult<T> {
  const { last, since, event } = options;
  checkSubscribeOptions({ last, since });
  const keep = Math.max(options.keep ?? DEFAULT_KEEP, last ?? 0, 1);
  const [state, setState] = useState<Omit<UseMoltBeatRoomResult<T>, 'latest'>>({ events: [], subscription: null, error: null });
  const sinceEpoch = since?.epoch;
  const sinceOffset = since?.offset;

  useEffect(() => {
    setState({ events: [], subscription: null, error: null });
    if (!client || !room) return;
    let active = true;
    const memory = memoryOf(client, room);
    const events: RoomEvent<T>[] = [];
    const show = (subscription?: SubscriptionInfo) =>
      setState((s) => ({ events: events.slice(), subscription: subscription ?? s.subscription, error: subscription ? null : s.error }));
    const add = (e: RoomEvent<T>) => {
      insert(events, e, room);
      if (events.length > keep) events.splice(0, events.length - keep);
    };
    const onEvent = (name: string, data: unknown, meta: EventMeta) => {
      if (!reached(room, meta)) return;
      const e: RoomEvent = { event: name, data, meta };
      insert(memory.events, e, room);
      if (memory.events.length > Math.max(keep, DEFAULT_KEEP)) memory.events.splice(0, memory.events.length - Math.max(keep, DEFAULT_KEEP));
      if (!active || (event !== undefined && name !== event)) return;
      add(e as RoomEvent<T>);
      show();
    };
    client.on('event', onEvent);
    memory.users++;
    const position = sinceEpoch !== undefined && sinceOffset !== undefined ? { epoch: sinceEpoch, offset: sinceOffset } : undefined;
    client.subscribeAsync(room, last !== undefined || position ? { last, since: position } : undefined).then(
      (info) => {
        if (!active) return;
        if (memory.epoch !== undefined && memory.epoch !== info.epoch) memory.events = [];
        memory.epoch = info.epoch;
        // The last events this client delivered before (to an earlier mount) do not come again: take them from memory.
        if (last && typeof info.offset === 'number') {
          const from = info.offset - last;
          for (const e of memory.events) {
            const at = e.meta.offsets?.[room];
            if (typeof at === 'number' && at > from && at <= info.offset && (event === undefined || e.event === event)) add(e as RoomEvent<T>);
          }
        }
        show(info);
      },
      (err: Error) => {
        if (active) setState((s) => ({ ...s, error: err }));
      },
    );
    return () => {
      active = false;
      client.off('event', onEvent);
      if (--memory.users === 0) client.unsubscribe(room);
    };
  }, [client, room, last, sinceEpoch, sinceOffset, event, keep]);

  const latest = state.events.length > 0 ? state.events[state.events.length - 1] : null;
  return { ...state, latest };
}

/** The seed's name for the hook. */
export const useWebSocket = useMoltBeat;

export { MoltBeatWSClient };
export type { SubscribeOptions, SubscriptionInfo, EventMeta } from './types.js';
