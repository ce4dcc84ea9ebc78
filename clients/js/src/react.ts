import { useEffect, useRef, useState } from 'react';
import { MoltBeatWSClient } from './client.js';
import type { WSClientConfig } from './config.js';
import { checkSubscribeOptions } from './subscriptions.js';
import type { OccupancyInfo, SubscribeOptions } from './types.js';

export interface UseMoltBeatOptions extends Omit<WSClientConfig, 'url' | 'token'> {
  /**
   * Rooms the hook subscribes to on each client it creates (with `last`, `maxRate`, `occupancy` when given). They are subscribed in an
   * effect that runs in the same commit as the component's own `useEffect(..., [client])`, so handlers registered
   * there see the first (replayed) events.
   */
  rooms?: readonly string[];
  /**
   * Open each of `rooms` with its most recent `last` events (0..100, `MAX_LAST`), e.g. `last: 1` for a dashboard
   * that shows current values: passed to `subscribe(room, { last })`, and so re-sent on reconnects.
   */
  last?: number;
  /**
   * At most this many events per second and conflation key for each of `rooms` (above 0 up to 1000, `MAX_RATE`),
   * e.g. `10` for a chart: passed to `subscribe(room, { maxRate })`, and so re-sent on reconnects.
   */
  maxRate?: number;
  /** Ask for the subscriber count of each of `rooms`: then in `occupancy` of the result, kept up to date. */
  occupancy?: boolean;
}

export interface UseMoltBeatResult {
  /** The client of the current connection (null before the first render's effect ran, and after unmount). */
  client: MoltBeatWSClient | null;
  /** True while connected. */
  connected: boolean;
  /**
   * The latest subscriber count of each of `rooms` the server told (with `occupancy: true`), by room; a room is
   * absent until its first count. A new object on each change.
   */
  occupancy: Record<string, number>;
}

/**
 * React hook: one MoltBeatWSClient per (url, token), connected on mount and disconnected on unmount
 * or when `url`/`token` change. `options` are read when the client is created. Throws (a TypeError or
 * RangeError, during render) when `options.last` is not an integer from 0 to `MAX_LAST`, `options.maxRate` not a
 * number above 0 up to `MAX_RATE`, or `options.occupancy` not a boolean.
 */
export function useMoltBeat(url: string, token?: string, options?: UseMoltBeatOptions): UseMoltBeatResult {
  const [client, setClient] = useState<MoltBeatWSClient | null>(null);
  const [connected, setConnected] = useState(false);
  const [occupancy, setOccupancy] = useState<Record<string, number>>({});
  // Bad options fail here, not inside an effect.
  checkSubscribeOptions({ last: options?.last, maxRate: options?.maxRate, occupancy: options?.occupancy });
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const { rooms: _rooms, last: _last, maxRate: _maxRate, occupancy: _occupancy, ...config } = optionsRef.current ?? {};
    const ws = new MoltBeatWSClient({ ...config, url, token });
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
      setOccupancy({}); // the counts were this client's
      setClient((c) => (c === ws ? null : c));
    };
  }, [url, token]);

  // The rooms of `options`, once per client: in the commit that hands the client out, before any of its events.
  // The occupancy handler too: registered before the subscribes, it sees the count that follows `subscribed`.
  useEffect(() => {
    if (!client) return;
    const { rooms, last, maxRate, occupancy: withOccupancy } = optionsRef.current ?? {};
    const mine = new Set(rooms ?? []);
    // Only the hook's rooms: the component may subscribe others with occupancy itself, and read them from the client.
    const onOccupancy = ({ room, subscribers }: OccupancyInfo) => {
      if (mine.has(room)) setOccupancy((o) => (o[room] === subscribers ? o : { ...o, [room]: subscribers }));
    };
    const onUnsubscribed = (room: string) => {
      if (!mine.has(room)) return;
      setOccupancy((o) => {
        if (!(room in o)) return o;
        const { [room]: _gone, ...rest } = o;
        return rest;
      });
    };
    client.on('occupancy', onOccupancy);
    client.on('unsubscribed', onUnsubscribed);
    const subscribeOptions: SubscribeOptions = {};
    if (last !== undefined) subscribeOptions.last = last;
    if (maxRate !== undefined) subscribeOptions.maxRate = maxRate;
    if (withOccupancy !== undefined) subscribeOptions.occupancy = withOccupancy;
    for (const room of mine) client.subscribe(room, subscribeOptions);
    return () => {
      client.off('occupancy', onOccupancy);
      client.off('unsubscribed', onUnsubscribed);
    };
  }, [client]);

  return { client, connected, occupancy };
}

/** The seed's name for the hook. */
export const useWebSocket = useMoltBeat;

export { MoltBeatWSClient };
