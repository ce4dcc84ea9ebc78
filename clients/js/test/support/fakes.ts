import assert from 'node:assert/strict';
import { MoltBeatWSClient, type Timers, type WSClientConfig } from '../../src/index.js';

/** A WebSocket stand-in driven by the test: it records what the client sends and delivers what the test says. */
export class FakeSocket {
  static instances: FakeSocket[] = [];
  static reset(): void {
    FakeSocket.instances = [];
  }
  static get last(): FakeSocket {
    const s = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!s) throw new Error('no socket was created');
    return s;
  }

  readyState = 0;
  readonly sentRaw: string[] = [];
  closeCalls: Array<{ code?: number; reason?: string }> = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  get sent(): any[] {
    return this.sentRaw.map((s) => JSON.parse(s));
  }
  sentOfType(type: string): any[] {
    return this.sent.filter((m) => m.type === type);
  }
  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sentRaw.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
    this.readyState = 2;
  }

  // ---- driven by the test ----
  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  /** Sends one frame holding the given messages (several => a `\n`-separated batch). */
  serverSend(...msgs: object[]): void {
    this.onmessage?.({ data: msgs.map((m) => JSON.stringify(m)).join('\n') });
  }
  serverSendRaw(data: unknown): void {
    this.onmessage?.({ data });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /** Connection refused / network failure before the handshake. */
  fail(): void {
    this.readyState = 3;
    this.onerror?.({ message: 'connect ECONNREFUSED' });
    this.onclose?.({ code: 1006, reason: '' });
  }
}

interface TimerEntry {
  id: number;
  at: number;
  fn: () => void;
  every?: number;
}

/** Manual clock for setTimeout/setInterval, injected through the client's `timers` option. */
export class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private entries = new Map<number, TimerEntry>();

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.entries.set(id, { id, at: this.now + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.entries.delete(h as number);
  };
  setInterval = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.entries.set(id, { id, at: this.now + Math.max(1, ms), fn, every: Math.max(1, ms) });
    return id;
  };
  clearInterval = (h: unknown): void => {
    this.entries.delete(h as number);
  };

  /** Pending timeouts' delays from now (for assertions). */
  pendingDelays(): number[] {
    return [...this.entries.values()].filter((e) => e.every === undefined).map((e) => e.at - this.now);
  }
  get count(): number {
    return this.entries.size;
  }

  /** Moves the clock forward by `ms`, running due timers in time order (bounded). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (let guard = 0; guard < 100000; guard++) {
      let next: TimerEntry | undefined;
      for (const e of this.entries.values()) if (e.at <= end && (!next || e.at < next.at || (e.at === next.at && e.id < next.id))) next = e;
      if (!next) break;
      this.now = next.at;
      if (next.every !== undefined) next.at += next.every;
      else this.entries.delete(next.id);
      next.fn();
    }
    this.now = end;
  }
}

/** Lets pending promise callbacks run (the client's connect path awaits). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const connectedMsg = (extra: object = {}) => ({
  type: 'connected',
  clientId: 'c_1',
  user: { userId: '42' },
  heartbeatInterval: 30000,
  protocol: 1,
  ...extra,
});

export function ev(room: string, event: string, data: unknown, offsets: Record<string, number>, extra: object = {}) {
  return { type: 'event', room, event, data, ts: 1764170000000, offsets, ...extra };
}

/** A client on FakeSocket and FakeTimers (fresh sockets), reconnecting after 100 ms, without heartbeat; `cfg` overrides. */
export function fakeClient(cfg: Partial<WSClientConfig> = {}): { client: MoltBeatWSClient; timers: FakeTimers } {
  FakeSocket.reset();
  const timers = new FakeTimers();
  const client = new MoltBeatWSClient({
    url: 'ws://127.0.0.1:9/ws',
    WebSocket: FakeSocket as any,
    timers,
    now: () => timers.now,
    random: () => 1,
    reconnectInterval: 100,
    heartbeatInterval: 0,
    ...cfg,
  });
  return { client, timers };
}

/** Connects `client` and answers with `connected` (plus `extra`); returns the socket. */
export async function connectOpen(client: MoltBeatWSClient, extra: object = {}): Promise<FakeSocket> {
  const p = client.connect();
  await flush();
  const s = FakeSocket.last;
  s.serverOpen();
  s.serverSend(connectedMsg(extra));
  await p;
  return s;
}

/** Lets the reconnect timer fire after `ms` and the new socket connect; returns it. */
export async function reconnectOpen(timers: FakeTimers, ms: number): Promise<FakeSocket> {
  const before = FakeSocket.instances.length;
  timers.advance(ms);
  await flush();
  assert.equal(FakeSocket.instances.length, before + 1, 'a new socket was opened');
  const s = FakeSocket.last;
  s.serverOpen();
  s.serverSend(connectedMsg());
  return s;
}
