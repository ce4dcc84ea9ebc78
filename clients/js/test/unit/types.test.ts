// Compile-time checks of the public types (this file fails the build if the API typing regresses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoltBeatWSClient, AnalyticsEvent, WSRoom, type AgentEventPayload, type EventMeta, type SubscriptionInfo } from '../../src/index.js';

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
