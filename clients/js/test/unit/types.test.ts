// Compile-time checks of the public types (this file fails the build if the API typing regresses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MoltBeatWSClient,
  AnalyticsEvent,
  WSRoom,
  MAX_LAST,
  MAX_RATE,
  getRoomHistory,
  getRoomPosition,
  type AgentEventPayload,
  type EventMessage,
  type EventMeta,
  type OccupancyInfo,
  type RoomHistory,
  type RoomInfo,
  type StreamPosition,
  type SubscriptionInfo,
} from '../../src/index.js';
import type { UseMoltBeatOptions, UseMoltBeatResult } from '../../src/react.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expectType = <T extends true>(_v?: T) => {};

test('handlers are typed by event name', () => {
  const c = new MoltBeatWSClient({ url: 'ws://127.0.0.1:1/ws', WebSocket: class {} as any });
  c.on(AnalyticsEvent.AgentCreated, (agent, meta) => {
    expectType<Equal<typeof agent, AgentEventPayload>>();
    expectType<Equal<typeof meta, EventMeta>>();
  });
  c.on('post:liked', (post) => {
    const n: number | undefined = post.likeCount;
    void n;
  });
  c.on('custom:thing', (data: { x: number }, meta: EventMeta) => void [data.x, meta.rooms]);
  c.on('event', (name, data, meta) => {
    expectType<Equal<typeof name, string>>();
    expectType<Equal<typeof data, unknown>>();
    expectType<Equal<typeof meta, EventMeta>>();
  });
  c.on('connected', (p) => expectType<Equal<typeof p.clientId, string>>());
  c.on('subscribed', (room, info) => {
    expectType<Equal<typeof room, string>>();
    expectType<Equal<typeof info, SubscriptionInfo>>();
  });
  c.on('disconnected', (d) => void d.willReconnect);
  c.on('reconnect_failed', () => {});
  c.on('recovery_failed', (room: string) => void room);
  const p: Promise<SubscriptionInfo> = c.subscribeAsync(WSRoom.CriticalAlerts);
  p.catch(() => {});
  const r: void = c.subscribe(WSRoom.AllEvents);
  void r;
  assert.equal(c.isConnected(), false);
  c.disconnect();
});

test('subscribe options and the HTTP helpers are typed', () => {
  const c = new MoltBeatWSClient({ url: 'ws://127.0.0.1:1/ws', WebSocket: class {} as any });
  const since: StreamPosition = { epoch: 'E', offset: 1 };
  c.subscribe('a', { last: 1 });
  c.subscribe('b', { since, last: MAX_LAST });
  // @ts-expect-error last is a number
  assert.throws(() => c.subscribe('c', { last: '1' }), TypeError);
  // @ts-expect-error since needs an offset
  assert.throws(() => c.subscribe('c', { since: { epoch: 'E' } }), TypeError);
  const info: Promise<SubscriptionInfo> = c.subscribeAsync('d', { last: 0 });
  info.then((i) => expectType<Equal<typeof i.replay, number | undefined>>()).catch(() => {});
  // the answer of getRoomPosition is a `since`; the global fetch fits the `fetch` option
  const later = async () => {
    const position: RoomInfo = await getRoomPosition('http://127.0.0.1:1', 'a', { fetch, token: 't' });
    c.subscribe('a', { since: position });
    const h: RoomHistory = await getRoomHistory('http://127.0.0.1:1', 'a', { after: position, limit: 10, apiKey: 'k' });
    expectType<Equal<typeof h.events, EventMessage[]>>();
  };
  void later;
  const hook: UseMoltBeatOptions = { rooms: ['analytics'], last: 1, reconnectInterval: 100 };
  void hook;
  c.disconnect();
});

test('maxRate, occupancy, the occupancy event and the conflation fields are typed', () => {
  const c = new MoltBeatWSClient({ url: 'ws://127.0.0.1:1/ws', WebSocket: class {} as any });
  c.subscribe('a', { maxRate: 10, occupancy: true });
  c.subscribe('b', { last: 1, maxRate: MAX_RATE, occupancy: false });
  // @ts-expect-error maxRate is a number
  assert.throws(() => c.subscribe('c', { maxRate: '10' }), TypeError);
  // @ts-expect-error occupancy is a boolean
  assert.throws(() => c.subscribe('c', { occupancy: 1 }), TypeError);
  c.on('occupancy', (info) => {
    expectType<Equal<typeof info, OccupancyInfo>>();
    expectType<Equal<typeof info.subscribers, number>>();
  });
  expectType<Equal<ReturnType<typeof c.getOccupancy>, number | undefined>>();
  c.on('metrics:updated', (_m, meta) => {
    expectType<Equal<typeof meta.key, string | undefined>>();
    expectType<Equal<typeof meta.conflated, number | undefined>>();
  });
  expectType<Equal<EventMessage['key'], string | undefined>>();
  const hook: UseMoltBeatOptions = { rooms: ['analytics:metrics'], last: 1, maxRate: 10, occupancy: true };
  void hook;
  expectType<Equal<UseMoltBeatResult['occupancy'], Record<string, number>>>();
  c.disconnect();
});
