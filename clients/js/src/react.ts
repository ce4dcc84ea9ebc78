import { useEffect, useRef, useState } from 'react';
import { MoltBeatWSClient } from './client.js';
import type { WSClientConfig } from './config.js';

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

/** The seed's name for the hook. */
export const useWebSocket = useMoltBeat;

export { MoltBeatWSClient };
