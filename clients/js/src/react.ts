import { useEffect, useRef, useState } from 'react';
import { MoltBeatWSClient } from './client.js';
import type { WSClientConfig } from './config.js';
import { checkSubscribeOptions } from './subscriptions.js';

export interface UseMoltBeatOptions extends Omit<WSClientConfig, 'url' | 'token'> {
  /**
   * Rooms the hook subscribes to on each client it creates (with `last` when given). They are subscribed in an
   * effect that runs in the same commit as the component's own `useEffect(..., [client])`, so handlers registered
   * there see the first (replayed) events.
   */
  rooms?: readonly string[];
  /**
   * Open each of `rooms` with its most recent `last` events (0..100, `MAX_LAST`), e.g. `last: 1` for a dashboard
   * that shows current values: passed to `subscribe(room, { last })`, and so re-sent on reconnects.
   */
  last?: number;
}

export interface UseMoltBeatResult {
  /** The client of the current connection (null before the first render's effect ran, and after unmount). */
  client: MoltBeatWSClient | null;
  /** True while connected. */
  connected: boolean;
}

/**
 * React hook: one MoltBeatWSClient per (url, token), connected on mount and disconnected on unmount
 * or when `url`/`token` change. `options` are read when the client is created. Throws (a TypeError or
 * RangeError, during render) when `options.last` is not an integer from 0 to `MAX_LAST`.
 */
export function useMoltBeat(url: string, token?: string, options?: UseMoltBeatOptions): UseMoltBeatResult {
  const [client, setClient] = useState<MoltBeatWSClient | null>(null);
  const [connected, setConnected] = useState(false);
  checkSubscribeOptions({ last: options?.last }); // a bad `last` fails here, not inside an effect
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const { rooms: _rooms, last: _last, ...config } = optionsRef.current ?? {};
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
      setClient((c) => (c === ws ? null : c));
    };
  }, [url, token]);

  // The rooms of `options`, once per client: in the commit that hands the client out, before any of its events.
  useEffect(() => {
    if (!client) return;
    const { rooms, last } = optionsRef.current ?? {};
    for (const room of rooms ?? []) client.subscribe(room, last === undefined ? undefined : { last });
  }, [client]);

  return { client, connected };
}

/** The seed's name for the hook. */
export const useWebSocket = useMoltBeat;

export { MoltBeatWSClient };
