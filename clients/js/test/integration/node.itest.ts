// Node client against a real MoltBeat server (started by the harness). Run: npm run test:integration
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MoltBeatWSClient, MoltBeatCloseError, MoltBeatError, WSRoom, AnalyticsEvent, type WSClientConfig, type EventMeta } from '../../src/index.js';
import { TestServer, skipReason, waitFor, sleep, makeJwt, testClient } from './harness.js';

const skip = skipReason();
let server: TestServer;
const clients: MoltBeatWSClient[] = [];

const client = (cfg: Partial<WSClientConfig> = {}) => testClient(server, clients, cfg);

/** Records what the application sees. */
function record(c: MoltBeatWSClient) {
  const seqs: number[] = [];
  const subscribed: any[] = [];
  const recoveryFailed: string[] = [];
  const events: Array<{ name: string; data: any; meta: EventMeta }> = [];
  c.on('event', (name, data: any, meta) => {
    events.push({ name, data, meta });
    if (typeof data?.seq === 'number') seqs.push(data.seq);
  });
  c.on('subscribed', (_room, info) => subscribed.push(info));
  c.on('recovery_failed', (room) => recoveryFailed.push(room));
  return { seqs, subscribed, recoveryFailed, events };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

before(async () => {
  if (skip) return;
  server = await TestServer.start();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

test('connects, subscribes and receives events through custom and generic handlers', { skip }, async () => {
  const c = client();
  const connected: any[] = [];
  c.on('connected', (p) => connected.push(p));
  await c.connect();
  assert.equal(c.isConnected(), true);
  assert.equal(connected[0].type, 'connected');
  assert.equal(typeof connected[0].clientId, 'string');

  const info = await c.subscribeAsync(WSRoom.AgentsOverview);
  assert.equal(info.room, 'analytics:agents');
  assert.equal(typeof info.epoch, 'string');
  assert.equal(typeof info.offset, 'number');

  const got: any[] = [];
  c.on(AnalyticsEvent.AgentCreated, (agent, meta) => got.push({ agent, meta }));
  await server.publish('analytics:agents', 'agent:created', { id: '123', name: 'Agent Smith', timestamp: 1 });
  await waitFor('agent:created', () => got.length === 1);
  assert.deepEqual(got[0].agent, { id: '123', name: 'Agent Smith', timestamp: 1 });
  assert.equal(got[0].meta.room, 'analytics:agents');
  assert.equal(typeof got[0].meta.ts, 'number');
  assert.equal(got[0].meta.offsets['analytics:agents'], info.offset! + 1);
  assert.equal(typeof got[0].meta.offsets.all, 'number');
  c.disconnect();
  assert.equal(c.isConnected(), false);
});

test('hierarchical rooms: `analytics` receives analytics:* once even when subscribed to both', { skip }, async () => {
  const c = client();
  const r = record(c);
  await c.connect();
  await c.subscribeAsync('analytics');
  await c.subscribeAsync('analytics:posts');
  await server.publish('analytics:posts', 'post:liked', { seq: 1 });
  await server.publish('analytics:metrics', 'metrics:updated', { seq: 2 });
  await server.publish('alerts', 'alert:created', { seq: 99 }); // not subscribed
  await waitFor('2 events', () => r.seqs.length >= 2);
  await sleep(200);
  assert.deepEqual(r.seqs, [1, 2]);
  c.disconnect();
});

test('a burst arrives complete, in order, once (batched frames)', { skip }, async () => {
  const c = client();
  const r = record(c);
  await c.connect();
  await c.subscribeAsync('analytics:metrics');
  const N = 300;
  await Promise.all(range(1, 10).map((k) => (async () => {
    for (let i = k; i <= N; i += 10) await server.publish('analytics:metrics', 'metrics:updated', { seq: i });
  })()));
  await waitFor(`${N} events`, () => r.seqs.length >= N, 30_000);
  await sleep(100);
  assert.equal(r.seqs.length, N);
  assert.equal(new Set(r.seqs).size, N);
  // publication order is the order of offsets
  const offs = r.events.map((e) => e.meta.offsets!['analytics:metrics']);
  assert.deepEqual(offs, [...offs].sort((a, b) => a - b));
  c.disconnect();
});

test('invalid and refused rooms are reported as errors', { skip }, async () => {
  const c = client();
  const errors: Error[] = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  await assert.rejects(c.subscribeAsync('bad room!'), (e: any) => e instanceof MoltBeatError && e.code === 'invalid_room');
  assert.ok(errors.some((e) => (e as MoltBeatError).code === 'invalid_room'));
  assert.equal(c.isConnected(), true);
  c.disconnect();
});

test('heartbeat: ping/pong keeps the connection', { skip }, async () => {
  const c = client({ heartbeatInterval: 150 });
  let reconnecting = 0;
  c.on('reconnecting', () => reconnecting++);
  await c.connect();
  await sleep(1000);
  assert.equal(c.isConnected(), true);
  assert.equal(reconnecting, 0);
  await c.ping();
  c.disconnect();
});

test('after a dropped connection the client resubscribes with since and gets the missed events once', { skip }, async () => {
  const c = client({ reconnectInterval: 600 });
  const r = record(c);
  await c.connect();
  await c.subscribeAsync('analytics');
  await c.subscribeAsync('analytics:agents');
  for (const i of range(1, 3)) await server.publish('analytics:agents', 'agent:created', { seq: i });
  await waitFor('3 events', () => r.seqs.length === 3);

  const disconnected = new Promise<void>((res) => c.once('disconnected', () => res()));
  (c as any).ws.close(4000, 'test drop'); // the server echoes 4000: an unexpected close, so reconnect
  await disconnected;
  for (const i of range(4, 6)) await server.publish(i % 2 ? 'analytics:agents' : 'analytics:posts', 'x', { seq: i });
  await waitFor('reconnect', () => c.isConnected(), 10_000);
  await server.publish('analytics:agents', 'agent:created', { seq: 7 });
  await waitFor('7 events', () => r.seqs.length >= 7);
  await sleep(200);
  assert.deepEqual(r.seqs, range(1, 7));
  const resub = r.subscribed.slice(2);
  assert.deepEqual(resub.map((s) => [s.room, s.recovered]), [
    ['analytics', true],
    ['analytics:agents', true],
  ]);
  assert.deepEqual(r.recoveryFailed, []);
  c.disconnect();
});

test('server restart: the client reconnects, reports recovery_failed and still gets what was published meanwhile', { skip, timeout: 180_000 }, async (t) => {
  const c = client({ reconnectInterval: 1000, maxReconnectInterval: 2000, maxReconnectAttempts: 100 });
  const r = record(c);
  let disconnectCode = 0;
  c.on('disconnected', (d) => (disconnectCode = d.code));
  await c.connect();
  await c.subscribeAsync('analytics');
  await c.subscribeAsync('analytics:agents');
  for (const i of range(1, 3)) await server.publish('analytics:agents', 'agent:created', { seq: i });
  await waitFor('3 events', () => r.seqs.length === 3);

  await server.stop();
  await waitFor('disconnected', () => !c.isConnected(), 10_000);
  await server.start();
  for (const i of range(4, 6)) await server.publish(i === 5 ? 'analytics:metrics' : 'analytics:agents', 'x', { seq: i });
  const missedWhileAway = !c.isConnected();
  t.diagnostic(missedWhileAway ? 'events 4-6 were published before the client came back (catch-up path)' : 'the client was back before events 4-6 (live path)');
  await waitFor('reconnect', () => c.isConnected(), 30_000);
  await waitFor('6 events', () => r.seqs.length >= 6, 15_000);
  await server.publish('analytics:agents', 'agent:created', { seq: 7 });
  await waitFor('7 events', () => r.seqs.length >= 7);
  await sleep(200);
  assert.deepEqual(r.seqs, range(1, 7));
  assert.ok([1001, 1006].includes(disconnectCode), `disconnect code ${disconnectCode}`);
  assert.deepEqual(r.recoveryFailed.sort(), ['analytics', 'analytics:agents']);
  c.disconnect();
});

test('with --jwt-secret: a bad token is refused with 4001 and not retried; a good one connects', { skip, timeout: 120_000 }, async () => {
  const secret = 'integration-secret-0123456789abcdef';
  const authServer = await TestServer.start({ jwtSecret: secret });
  try {
    const bad = new MoltBeatWSClient({ url: authServer.wsUrl, token: 'not-a-jwt', reconnectInterval: 100, random: () => 1 });
    clients.push(bad);
    let reconnecting = 0;
    bad.on('reconnecting', () => reconnecting++);
    bad.on('error', () => {});
    await assert.rejects(bad.connect(), (e: any) => e instanceof MoltBeatCloseError && e.code === 4001);
    await sleep(500);
    assert.equal(reconnecting, 0);

    const exp = Math.floor(Date.now() / 1000) + 3600;
    const good = new MoltBeatWSClient({ url: authServer.wsUrl, token: await makeJwt(secret, { sub: '42', exp }) });
    clients.push(good);
    const hello: any[] = [];
    good.on('connected', (p) => hello.push(p));
    await good.connect();
    assert.equal(hello[0].user?.userId, '42');
    good.disconnect();

    // tokenProvider: first token refused, the next one accepted
    const tokens = ['expired-or-bad', await makeJwt(secret, { sub: '7', exp })];
    let n = 0;
    const viaProvider = new MoltBeatWSClient({
      url: authServer.wsUrl,
      tokenProvider: () => tokens[Math.min(n++, 1)],
      reconnectInterval: 100,
      random: () => 1,
    });
    clients.push(viaProvider);
    viaProvider.on('error', () => {});
    const connected = new Promise<any>((res) => viaProvider.once('connected', res));
    await assert.rejects(viaProvider.connect());
    const p = await connected;
    assert.equal(p.user?.userId, '7');
    viaProvider.disconnect();
  } finally {
    await authServer.stop();
  }
});
