/** The part of the WHATWG WebSocket that the client uses (browser WebSocket, Node 22's, or the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((ev: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export const OPEN = 1;

/**
 * Finds a WebSocket implementation: the one passed in, else the global one (browsers, Node 22+),
 * else the `ws` package (Node 20), imported on demand so that browser bundles never include it.
 */
export async function resolveWebSocket(impl?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (impl) return impl;
  const g = (globalThis as any).WebSocket;
  if (typeof g === 'function') return g as WebSocketConstructor;
  const name = 'ws';
  let mod: any;
  try {
    mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ name);
  } catch (err) {
    throw new Error(
      'No WebSocket implementation: this runtime has no global WebSocket; install the "ws" package or pass `WebSocket` in the options',
    );
  }
  const ctor = mod.WebSocket ?? mod.default;
  if (typeof ctor !== 'function') throw new Error('The "ws" package did not export a WebSocket class');
  return ctor as WebSocketConstructor;
}
