import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoltBeatWSClient, MoltBeatError, MoltBeatCloseError, type WSClientConfig } from '../../src/index.js';
import { FakeSocket, FakeTimers, flush, connectedMsg, ev, fakeClient, connectOpen, reconnectOpen } from '../support/fakes.js';

const ALL_EVENTS = [
  'connected',
  'disconnected',
  'error',
  'subscribed',
  'unsubscribed',
  'event',
  'reconnecting',
  'reconnect_failed',
  'recovery_failed',
] as const;

function setup(cfg: Partial<WSClientConfig> = {}) {
  const { client, timers } = fakeClient(cfg);
  const log: any[][] = [];
  for (const e of ALL_EVENTS) client.on(e as any, (...a: any[]) => log.push([e, ...a]));
  const names = () => log.map((l) => l[0]);
  const events = () => log.filter((l) => l[0] === 'event').map((l) => l[1] + '#' + (l[3]?.offsets?.all ?? '-'));
  return { client, timers, log, names, events };
}

test('connect opens ?batch=1 with the token and resolves on `connected`', async () => {
  const { client, log } = setup({ token: 'tok en' });
  let resolved = false;
  const p = client.connect().then(() => (resolved = true));
  await flush();
  const s = FakeSocket.last;
  assert.equal(s.query.get('batch'), '1');
  assert.equal(s.query.get('token'), 'tok en');
  s.serverOpen();
  await flush();
  assert.equal(resolved, false, 'not before the connected message');
  assert.equal(client.isConnected(), false);
  const hello = connectedMsg({ clientId: 'c_7f3a' });
  s.serverSend(hello);
  await p;
  assert.equal(client.isConnected(), true);
  assert.deepEqual(log[0], ['connected', hello]);
  assert.deepEqual(client.getConnectionInfo(), hello);
});

test('http URLs become ws URLs; no token => no token parameter', async () => {
  const { client } = setup({ url: 'http://127.0.0.1:9/ws?x=1' });
  client.connect().catch(() => {});
  await flush();
  const u = new URL(FakeSocket.last.url);
  assert.equal(u.protocol, 'ws:');
  assert.equal(u.searchParams.get('x'), '1');
  assert.equal(u.searchParams.get('batch'), '1');
  assert.equal(u.searchParams.has('token'), false);
  client.disconnect();
});

test('connect rejects on 4001 and does not reconnect with the same token', async () => {
  const { client, timers, names } = setup({ token: 'bad' });
  const p = client.connect();
  await flush();
  FakeSocket.last.serverOpen();
  FakeSocket.last.serverClose(4001, 'unauthorized');
  await assert.rejects(p, (e: any) => e instanceof MoltBeatCloseError && e.code === 4001);
  timers.advance(600_000);
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  assert.deepEqual(names(), ['error']);
  assert.equal(client.isConnected(), false);
});

test('connect rejects when the connection fails; with autoReconnect it retries', async () => {
  const { client, timers, names } = setup();
  const p = client.connect();
  await flush();
  FakeSocket.last.fail();
  await assert.rejects(p, (e: any) => e.code === 1006);
  assert.deepEqual(names(), ['error', 'reconnecting']);
  await reconnectOpen(timers, 100);
  assert.equal(client.isConnected(), true);
});

test('4001 with a tokenProvider: reconnects only with a new token', async () => {
  const tokens = ['t1', 't1', 't2'];
  let calls = 0;
  const { client, timers } = setup({ tokenProvider: () => tokens[Math.min(calls++, tokens.length - 1)] });
  const p = client.connect();
  await flush();
  assert.equal(FakeSocket.last.query.get('token'), 't1');
  FakeSocket.last.serverClose(4001, 'unauthorized');
  await assert.rejects(p);
  // attempt 1: the provider gives t1 again -> no socket
  timers.advance(100);
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  assert.equal(calls, 2);
  // attempt 2: the provider gives t2 -> connects with it
  timers.advance(200);
  await flush();
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(FakeSocket.last.query.get('token'), 't2');
  FakeSocket.last.serverOpen();
  FakeSocket.last.serverSend(connectedMsg());
  assert.equal(client.isConnected(), true);
});

test('4003 revoked with a tokenProvider: reconnects only with a new token, never with the revoked one', async () => {
  const tokens = ['t1', 't1', 't1', 't2', 't1'];
  let calls = 0;
  const { client, timers, log } = setup({ tokenProvider: () => tokens[Math.min(calls++, tokens.length - 1)] });
  await connectOpen(client);
  assert.equal(FakeSocket.last.query.get('token'), 't1');
  FakeSocket.last.serverClose(4003, 'revoked');
  await flush();
  const lost = log.find((l) => l[0] === 'disconnected');
  assert.deepEqual(lost?.[1], { code: 4003, reason: 'revoked', willReconnect: true });
  // attempts 1 and 2: the provider gives the revoked t1 again -> no socket
  timers.advance(100);
  await flush();
  timers.advance(200);
  await flush();
  assert.equal(FakeSocket.instances.length, 1, 'the revoked token was not sent again');
  assert.ok(log.some((l) => l[0] === 'reconnecting'));
  // attempt 3: the provider gives t2 -> connects with it
  timers.advance(400);
  await flush();
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(FakeSocket.last.query.get('token'), 't2');
  FakeSocket.last.serverOpen();
  FakeSocket.last.serverSend(connectedMsg());
  assert.equal(client.isConnected(), true);
  // A later drop: the provider hands back the revoked t1 -> still never sent.
  FakeSocket.last.fail();
  await flush();
  timers.advance(100);
  await flush();
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(calls, 5);
});

test('4003 without a tokenProvider: connect rejects and the client does not reconnect', async () => {
  const { client, timers, names } = setup({ token: 'revoked-token' });
  await connectOpen(client);
  FakeSocket.last.serverClose(4003, 'revoked');
  await flush();
  timers.advance(600_000);
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  assert.deepEqual(names().slice(-2), ['disconnected', 'error']);
  await assert.rejects(client.connect(), (e: any) => e instanceof MoltBeatCloseError && e.code === 4003);
  assert.equal(FakeSocket.instances.length, 1, 'an explicit connect does not send the revoked token either');
});

test('a batched frame is split and handled in order', async () => {
  const { client, log } = setup();
  client.subscribe('analytics');
  const p = client.connect();
  await flush();
  const s = FakeSocket.last;
  s.serverOpen();
  // connected, then (after the client sent subscribe id 1) a frame with reply + 2 events + pong
  s.serverSend(connectedMsg());
  await p;
  assert.deepEqual(s.sent, [{ type: 'subscribe', room: 'analytics', id: 1 }]);
  s.serverSend(
    { type: 'subscribed', room: 'analytics', id: 1, epoch: 'e1', offset: 10 },
    ev('analytics', 'a', { n: 1 }, { analytics: 11, all: 101 }),
    ev('analytics:agents', 'agent:created', { id: '7' }, { 'analytics:agents': 3, analytics: 12, all: 102 }),
    { type: 'pong', id: 99 },
  );
  assert.deepEqual(
    log.map((l) => l[0] + (l[0] === 'event' ? ':' + l[1] : '')),
    ['connected', 'subscribed', 'event:a', 'event:agent:created'],
  );
  assert.deepEqual(client.getRoomPosition('analytics'), { epoch: 'e1', offset: 12 });
});

test('events reach the generic handler and the handler named after the event', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  const got: any[] = [];
  client.on('agent:created', (data, meta) => got.push(['custom', data, meta]));
  client.on('event', (name, data, meta) => got.push(['event', name, data, meta.room]));
  client.on('connected', () => got.push(['never']));
  s.serverSend(
    ev('analytics:agents', 'agent:created', { id: '123' }, { 'analytics:agents': 1, analytics: 1, all: 1 }, { rooms: ['analytics:agents', 'agent:123'] }),
  );
  // an application event named like a client event only reaches 'event'
  s.serverSend(ev('system', 'connected', { x: 1 }, { system: 1, all: 2 }));
  // broadcast to all: no room, no offsets
  s.serverSend({ type: 'event', event: 'system:maintenance_start', data: { message: 'soon' }, ts: 5 });
  assert.deepEqual(got[0], ['event', 'agent:created', { id: '123' }, 'analytics:agents']);
  assert.equal(got[1][0], 'custom');
  assert.deepEqual(got[1][1], { id: '123' });
  assert.deepEqual(got[1][2], {
    room: 'analytics:agents',
    rooms: ['analytics:agents', 'agent:123'],
    offsets: { 'analytics:agents': 1, analytics: 1, all: 1 },
    ts: 1764170000000,
  });
  assert.deepEqual(got[2], ['event', 'connected', { x: 1 }, 'system']);
  assert.deepEqual(got[3], ['event', 'system:maintenance_start', { message: 'soon' }, undefined]);
  assert.equal(got.length, 4);
});

test('off removes handlers; a throwing handler does not stop the others', async () => {
  const { client, log } = setup();
  const s = await connectOpen(client);
  const seen: string[] = [];
  const h = () => seen.push('h');
  client.on('x', () => {
    throw new Error('boom');
  });
  client.on('x', h);
  s.serverSend(ev('r', 'x', 1, { r: 1, all: 1 }));
  client.off('x', h);
  s.serverSend(ev('r', 'x', 2, { r: 2, all: 2 }));
  assert.deepEqual(seen, ['h']);
  assert.equal(log.filter((l) => l[0] === 'error').length, 2);
});

test('duplicates (same offsets.all) are delivered once', async () => {
  const { client, events } = setup();
  const s = await connectOpen(client);
  const e1 = ev('analytics', 'a', 1, { analytics: 1, all: 500 });
  s.serverSend(e1, e1, ev('analytics', 'b', 2, { analytics: 2, all: 501 }), e1);
  assert.deepEqual(events(), ['a#500', 'b#501']);
});

test('the dedup window is bounded', async () => {
  const { client, events } = setup({ dedupWindow: 2 });
  const s = await connectOpen(client);
  s.serverSend(ev('r', 'a', 0, { all: 1 }), ev('r', 'b', 0, { all: 2 }), ev('r', 'c', 0, { all: 3 }), ev('r', 'a', 0, { all: 1 }));
  assert.deepEqual(events(), ['a#1', 'b#2', 'c#3', 'a#1']);
});

test('subscribeAsync resolves with the reply; subscribe twice sends once', async () => {
  const { client, log } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('analytics');
  client.subscribe('analytics');
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'analytics', id: 1 }]);
  s.serverSend({ type: 'subscribed', room: 'analytics', id: 1, epoch: 'k2f9', offset: 1042, recovered: true });
  assert.deepEqual(await p, { room: 'analytics', epoch: 'k2f9', offset: 1042, recovered: true });
  assert.deepEqual(log.filter((l) => l[0] === 'subscribed').map((l) => l[1]), ['analytics']);
  assert.deepEqual(await client.subscribeAsync('analytics'), { room: 'analytics', epoch: 'k2f9', offset: 1042, recovered: true });
  assert.deepEqual(client.getRooms(), ['analytics']);
});

test('a refused subscription rejects, emits error and is forgotten', async () => {
  const { client, timers, log } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('admin:audit');
  s.serverSend({ type: 'error', id: 1, code: 'forbidden', message: 'not allowed to subscribe to admin:audit' });
  await assert.rejects(p, (e: any) => e instanceof MoltBeatError && e.code === 'forbidden' && e.room === 'admin:audit');
  assert.equal(log.at(-1)![0], 'error');
  assert.deepEqual(client.getRooms(), []);
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), []);
});

test('unsubscribe sends a request and emits unsubscribed on the reply; no resubscribe later', async () => {
  const { client, timers, log } = setup();
  client.subscribe('a');
  client.subscribe('b');
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'e', offset: 0 }, { type: 'subscribed', room: 'b', id: 2, epoch: 'e', offset: 0 });
  const p = client.unsubscribeAsync('a');
  assert.deepEqual(s.sent.at(-1), { type: 'unsubscribe', room: 'a', id: 3 });
  s.serverSend({ type: 'unsubscribed', room: 'a', id: 3 });
  await p;
  assert.deepEqual(log.at(-1), ['unsubscribed', 'a']);
  s.serverClose(1011);
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe').map((m) => m.room), ['b']);
});

test('subscriptions made before connect are sent on connect', async () => {
  const { client } = setup();
  client.subscribe('analytics');
  client.subscribe('alerts:critical');
  const s = await connectOpen(client);
  assert.deepEqual(s.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'analytics', id: 1 },
    { type: 'subscribe', room: 'alerts:critical', id: 2 },
  ]);
});

test('reconnect schedule: exponential backoff from reconnectInterval, capped, then reconnect_failed', async () => {
  const { client, timers, log } = setup({ reconnectInterval: 1000, maxReconnectInterval: 5000, maxReconnectAttempts: 5 });
  const s = await connectOpen(client);
  s.serverClose(1006);
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [d] = timers.pendingDelays();
    delays.push(d);
    const before = FakeSocket.instances.length;
    timers.advance(d - 1);
    await flush();
    assert.equal(FakeSocket.instances.length, before, 'not before the delay');
    timers.advance(1);
    await flush();
    assert.equal(FakeSocket.instances.length, before + 1, 'at the delay');
    FakeSocket.last.fail();
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000]);
  assert.deepEqual(
    log.filter((l) => l[0] === 'reconnecting').map((l) => [l[1], l[2]]),
    [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [4, 5000],
      [5, 5000],
    ],
  );
  assert.equal(log.at(-1)![0], 'reconnect_failed');
  timers.advance(1_000_000);
  await flush();
  assert.equal(FakeSocket.instances.length, 6);
});

test('reconnect delays use the injected random source (full jitter)', async () => {
  const r = [0.25, 0.5, 0.1];
  let i = 0;
  const { client, timers } = setup({ reconnectInterval: 1000, random: () => r[i++ % r.length] });
  const s = await connectOpen(client);
  s.serverClose(1001);
  assert.deepEqual(timers.pendingDelays(), [250]);
  timers.advance(250);
  await flush();
  FakeSocket.last.fail();
  assert.deepEqual(timers.pendingDelays(), [1000]); // 0.5 * 2000
  timers.advance(1000);
  await flush();
  FakeSocket.last.fail();
  assert.deepEqual(timers.pendingDelays(), [400]); // 0.1 * 4000
});

test('a successful connection resets the attempt counter', async () => {
  const { client, timers } = setup({ reconnectInterval: 100 });
  const s = await connectOpen(client);
  s.serverClose(1006);
  timers.advance(100);
  await flush();
  FakeSocket.last.fail();
  assert.deepEqual(timers.pendingDelays(), [200]);
  const s3 = await reconnectOpen(timers, 200);
  s3.serverClose(1006);
  assert.deepEqual(timers.pendingDelays(), [100]);
});

test('close codes decide whether and when to reconnect', async () => {
  const cases: Array<[number, number | null]> = [
    [1000, null],
    [1002, null],
    [1003, null],
    [1007, null],
    [1008, null],
    [1009, null],
    [1001, 100],
    [1011, 100],
    [4010, 100],
    [1006, 100],
    [4009, 0],
    [4008, 800], // three extra doublings
  ];
  for (const [code, delay] of cases) {
    const { client, timers, log } = setup({ reconnectInterval: 100 });
    const s = await connectOpen(client);
    s.serverClose(code, 'x');
    const disc = log.find((l) => l[0] === 'disconnected')!;
    assert.deepEqual(disc[1], { code, reason: 'x', willReconnect: delay !== null }, `code ${code}`);
    if (delay === null) {
      assert.deepEqual(timers.pendingDelays(), [], `code ${code}: no reconnect`);
      assert.equal(log.some((l) => l[0] === 'error'), code !== 1000, `code ${code}: error`);
    } else {
      assert.deepEqual(timers.pendingDelays(), [delay], `code ${code}: delay`);
    }
  }
});

test('autoReconnect: false never reconnects', async () => {
  const { client, timers, names } = setup({ autoReconnect: false });
  const s = await connectOpen(client);
  s.serverClose(1001);
  assert.deepEqual(timers.pendingDelays(), []);
  assert.deepEqual(names(), ['connected', 'disconnected']);
});

test('disconnect() closes with 1000, emits disconnected and never reconnects', async () => {
  const { client, timers, log } = setup();
  const s = await connectOpen(client);
  client.disconnect();
  assert.deepEqual(s.closeCalls, [{ code: 1000, reason: 'client disconnect' }]);
  assert.deepEqual(log.at(-1), ['disconnected', { code: 1000, reason: 'client disconnect', willReconnect: false }]);
  assert.equal(client.isConnected(), false);
  s.serverClose(1000); // late close event of the old socket: ignored
  timers.advance(1_000_000);
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  assert.equal(log.filter((l) => l[0] === 'disconnected').length, 1);
});

test('disconnect() during a pending reconnect stops it; connect() afterwards works', async () => {
  const { client, timers } = setup();
  const s = await connectOpen(client);
  s.serverClose(1006);
  client.disconnect();
  timers.advance(1_000_000);
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  await connectOpen(client);
  assert.equal(client.isConnected(), true);
});

test('heartbeat: ping every interval; a missing pong drops the connection and reconnects', async () => {
  const { client, timers, log } = setup({ heartbeatInterval: 1000 });
  const s = await connectOpen(client);
  timers.advance(1000);
  const pings = s.sentOfType('ping');
  assert.equal(pings.length, 1);
  assert.equal(typeof pings[0].id, 'number');
  s.serverSend({ type: 'pong', id: pings[0].id });
  timers.advance(1000);
  assert.equal(s.sentOfType('ping').length, 2);
  assert.equal(client.isConnected(), true);
  // no pong this time
  timers.advance(1000);
  assert.equal(client.isConnected(), false);
  assert.deepEqual(s.closeCalls, [{ code: 4000, reason: 'heartbeat timeout (no pong)' }]);
  const disc = log.find((l) => l[0] === 'disconnected')!;
  assert.equal(disc[1].code, 4010);
  assert.equal(disc[1].willReconnect, true);
  assert.deepEqual(timers.pendingDelays(), [100]);
  const s2 = await reconnectOpen(timers, 100);
  assert.equal(client.isConnected(), true);
  assert.notEqual(s2, s);
});

test('reconnect resubscribes with since = last epoch and last offset seen per room; replay is de-duplicated', async () => {
  const { client, timers, events, log } = setup();
  client.subscribe('analytics');
  client.subscribe('analytics:agents');
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'analytics', id: 1, epoch: 'A', offset: 100 },
    { type: 'subscribed', room: 'analytics:agents', id: 2, epoch: 'G', offset: 7 },
    ev('analytics:agents', 'agent:created', { id: 1 }, { 'analytics:agents': 8, analytics: 101, all: 1001 }),
    ev('analytics:posts', 'post:created', { id: 2 }, { 'analytics:posts': 5, analytics: 102, all: 1002 }),
  );
  s.serverClose(1001, 'restart');
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'analytics', id: 3, since: { epoch: 'A', offset: 102 } },
    { type: 'subscribe', room: 'analytics:agents', id: 4, since: { epoch: 'G', offset: 8 } },
  ]);
  // analytics recovers 103,104; 104 is also in analytics:agents, whose replay repeats it
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 3, epoch: 'A', offset: 104, recovered: true },
    ev('analytics:metrics', 'metrics:updated', {}, { 'analytics:metrics': 1, analytics: 103, all: 1003 }),
    ev('analytics:agents', 'agent:updated', { id: 1 }, { 'analytics:agents': 9, analytics: 104, all: 1004 }),
    { type: 'subscribed', room: 'analytics:agents', id: 4, epoch: 'G', offset: 9, recovered: true },
    ev('analytics:agents', 'agent:updated', { id: 1 }, { 'analytics:agents': 9, analytics: 104, all: 1004 }),
    ev('analytics:agents', 'agent:deleted', { id: 1 }, { 'analytics:agents': 10, analytics: 105, all: 1005 }),
  );
  assert.deepEqual(events(), ['agent:created#1001', 'post:created#1002', 'metrics:updated#1003', 'agent:updated#1004', 'agent:deleted#1005']);
  assert.equal(log.some((l) => l[0] === 'recovery_failed'), false);
  assert.deepEqual(client.getRoomPosition('analytics'), { epoch: 'A', offset: 105 });
  assert.deepEqual(client.getRoomPosition('analytics:agents'), { epoch: 'G', offset: 10 });
});

test('a resubscription the server fails with internal is retried after the backoff from the same position', async () => {
  const { client, timers, events, log } = setup();
  client.subscribe('analytics');
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'analytics', id: 1, epoch: 'A', offset: 100 },
    ev('analytics', 'tick', { n: 1 }, { analytics: 101, all: 501 }),
  );
  s.serverClose(1001, 'restart');
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), [{ type: 'subscribe', room: 'analytics', id: 2, since: { epoch: 'A', offset: 101 } }]);
  s2.serverSend({ type: 'error', id: 2, code: 'internal', message: 'the server failed to handle the request' });
  assert.equal(log.at(-1)![0], 'error');
  assert.deepEqual(client.getRooms(), ['analytics']); // kept, not forgotten
  timers.advance(100); // attempt 0 of the backoff: at most the reconnect interval
  await flush();
  assert.deepEqual(s2.sentOfType('subscribe').at(-1), { type: 'subscribe', room: 'analytics', id: 3, since: { epoch: 'A', offset: 101 } });
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 3, epoch: 'A', offset: 102, recovered: true },
    ev('analytics', 'tick', { n: 2 }, { analytics: 102, all: 502 }),
  );
  assert.deepEqual(events(), ['tick#501', 'tick#502']);
  assert.equal(FakeSocket.instances.length, 2); // retried on the same connection
  // A refusal is still final.
  client.subscribe('admin:audit');
  s2.serverSend({ type: 'error', id: 4, code: 'forbidden', message: 'no' });
  assert.deepEqual(client.getRooms(), ['analytics']);
});

test('recovered:false with the same epoch emits recovery_failed and goes on live', async () => {
  const { client, timers, log, events } = setup();
  client.subscribe('analytics');
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'analytics', id: 1, epoch: 'A', offset: 10 });
  s.serverClose(4009, 'slow consumer');
  const s2 = await reconnectOpen(timers, 0);
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 2, epoch: 'A', offset: 5000, recovered: false },
    ev('analytics', 'x', 0, { analytics: 5001, all: 9001 }),
  );
  const rf = log.find((l) => l[0] === 'recovery_failed')!;
  assert.deepEqual(rf.slice(1), ['analytics', { room: 'analytics', epoch: 'A', offset: 5000, recovered: false }]);
  assert.deepEqual(s2.sentOfType('subscribe').length, 1, 'no catch-up request in the same epoch');
  assert.deepEqual(events(), ['x#9001']);
  assert.deepEqual(client.getRoomPosition('analytics'), { epoch: 'A', offset: 5001 });
});

test('after a server restart (new epoch) the new epoch is replayed from its start, in order, once', async () => {
  const { client, timers, log, events } = setup();
  client.subscribe('analytics');
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'analytics', id: 1, epoch: 'OLD', offset: 40 },
    ev('analytics', 'old', 0, { analytics: 41, all: 41 }),
  );
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe')[0].since, { epoch: 'OLD', offset: 41 });
  // the restarted server has 2 events in the new epoch; a live one (3) comes before our catch-up reply
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 2, epoch: 'NEW', offset: 2, recovered: false },
    ev('analytics', 'live3', 0, { analytics: 3, all: 3 }),
  );
  assert.deepEqual(log.filter((l) => l[0] === 'recovery_failed').map((l) => l[1]), ['analytics']);
  assert.deepEqual(s2.sentOfType('subscribe')[1], { type: 'subscribe', room: 'analytics', id: 3, since: { epoch: 'NEW', offset: 0 } });
  assert.deepEqual(events(), ['old#41'], 'live event held until the replay');
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 3, epoch: 'NEW', offset: 3, recovered: true },
    ev('analytics', 'missed1', 0, { analytics: 1, all: 1 }),
    ev('analytics', 'missed2', 0, { analytics: 2, all: 2 }),
    ev('analytics', 'live3', 0, { analytics: 3, all: 3 }),
    ev('analytics', 'live4', 0, { analytics: 4, all: 4 }),
  );
  assert.deepEqual(events(), ['old#41', 'missed1#1', 'missed2#2', 'live3#3', 'live4#4']);
  assert.deepEqual(client.getRoomPosition('analytics'), { epoch: 'NEW', offset: 4 });
  assert.equal(log.filter((l) => l[0] === 'subscribed').length, 2, 'one subscribed per connection');
});

test('catch-up ends even when the server does not resend what was already delivered live', async () => {
  const { client, timers, events } = setup();
  client.subscribe('r');
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'OLD', offset: 0 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  s2.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'NEW', offset: 1, recovered: false }, ev('r', 'l2', 0, { r: 2, all: 2 }));
  s2.serverSend({ type: 'subscribed', room: 'r', id: 3, epoch: 'NEW', offset: 2, recovered: true }, ev('r', 'm1', 0, { r: 1, all: 1 }));
  assert.deepEqual(events(), ['m1#1', 'l2#2']);
});

test('catch-up refused: the held events are delivered', async () => {
  const { client, timers, events } = setup();
  client.subscribe('r');
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'OLD', offset: 0 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  s2.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'NEW', offset: 50, recovered: false }, ev('r', 'l51', 0, { r: 51, all: 51 }));
  s2.serverSend({ type: 'subscribed', room: 'r', id: 3, epoch: 'NEW', offset: 51, recovered: false }, ev('r', 'l52', 0, { r: 52, all: 52 }));
  assert.deepEqual(events(), ['l51#51', 'l52#52']);
  assert.deepEqual(client.getRoomPosition('r'), { epoch: 'NEW', offset: 52 });
});

test('token refresh: before a JWT expires the provider is asked and `auth` is sent', async () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = (exp: number, n: number) => `${b64({ alg: 'HS256' })}.${b64({ exp, n })}.sig`;
  const t1 = jwt(3600, 1);
  const t2 = jwt(7200, 2);
  let next = t1;
  const { client, timers } = setup({ tokenProvider: () => next, tokenRefreshMargin: 30_000 });
  const s = await connectOpen(client);
  assert.equal(s.query.get('token'), t1);
  next = t2;
  timers.advance(3_570_000 - 1);
  await flush();
  assert.equal(s.sentOfType('auth').length, 0);
  timers.advance(1);
  await flush();
  const [auth] = s.sentOfType('auth');
  assert.deepEqual(auth, { type: 'auth', token: t2, id: auth.id });
  s.serverSend({ type: 'authenticated', id: auth.id, expiresAt: 7_200_000 });
  await flush();
  // next refresh scheduled from the reply's expiresAt
  assert.deepEqual(timers.pendingDelays(), [7_200_000 - 30_000 - timers.now]);
  s.serverClose(1001);
  timers.advance(100);
  await flush();
  assert.equal(FakeSocket.last.query.get('token'), t2);
});

test('ping() resolves on pong; authenticate() rejects on an unauthorized error', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  const p = client.ping();
  const ping = s.sentOfType('ping')[0];
  s.serverSend({ type: 'pong', id: ping.id });
  await p;
  const a = client.authenticate('nope');
  const auth = s.sentOfType('auth')[0];
  s.serverSend({ type: 'error', id: auth.id, code: 'unauthorized', message: 'bad token' });
  await assert.rejects(a, (e: any) => e.code === 'unauthorized');
});

test('malformed frames are reported and skipped', async () => {
  const { client, log, events } = setup();
  const s = await connectOpen(client);
  s.serverSendRaw('{"type":"event","event":"a","data":1,"offsets":{"all":1}}\nnot json\n{"type":"future_thing"}\n{"type":"event","event":"b","data":2,"offsets":{"all":2}}');
  assert.deepEqual(events(), ['a#1', 'b#2']);
  assert.equal(log.filter((l) => l[0] === 'error').length, 1);
});

test('connect() while connected resolves at once; a second concurrent connect() shares the attempt', async () => {
  const { client } = setup();
  const p1 = client.connect();
  const p2 = client.connect();
  await flush();
  assert.equal(FakeSocket.instances.length, 1);
  FakeSocket.last.serverOpen();
  FakeSocket.last.serverSend(connectedMsg());
  await Promise.all([p1, p2]);
  await client.connect();
  assert.equal(FakeSocket.instances.length, 1);
});

test('catch-up of two overlapping rooms after a restart keeps publication order', async () => {
  const { client, timers, events } = setup();
  client.subscribe('analytics');
  client.subscribe('analytics:agents');
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'analytics', id: 1, epoch: 'OLD', offset: 9 },
    { type: 'subscribed', room: 'analytics:agents', id: 2, epoch: 'OLD', offset: 4 },
  );
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  const a4 = ev('analytics:agents', 'agent:created', 4, { 'analytics:agents': 1, analytics: 1, all: 1 });
  const m5 = ev('analytics:metrics', 'metrics:updated', 5, { 'analytics:metrics': 1, analytics: 2, all: 2 });
  const a6 = ev('analytics:agents', 'agent:updated', 6, { 'analytics:agents': 2, analytics: 3, all: 3 });
  const m7 = ev('analytics:metrics', 'metrics:updated', 7, { 'analytics:metrics': 2, analytics: 4, all: 4 });
  const a8 = ev('analytics:agents', 'agent:deleted', 8, { 'analytics:agents': 3, analytics: 5, all: 5 });
  s2.serverSend(
    { type: 'subscribed', room: 'analytics', id: 3, epoch: 'NEW', offset: 3, recovered: false },
    { type: 'subscribed', room: 'analytics:agents', id: 4, epoch: 'NEW', offset: 2, recovered: false },
    m7,
  );
  assert.deepEqual(s2.sentOfType('subscribe').slice(2), [
    { type: 'subscribe', room: 'analytics', id: 5, since: { epoch: 'NEW', offset: 0 } },
    { type: 'subscribe', room: 'analytics:agents', id: 6, since: { epoch: 'NEW', offset: 0 } },
  ]);
  s2.serverSend({ type: 'subscribed', room: 'analytics', id: 5, epoch: 'NEW', offset: 4, recovered: true }, a4, m5, a6, m7);
  assert.deepEqual(events(), [], 'held until both rooms are replayed');
  s2.serverSend({ type: 'subscribed', room: 'analytics:agents', id: 6, epoch: 'NEW', offset: 2, recovered: true }, a4, a6);
  s2.serverSend(a8, { type: 'event', event: 'system:maintenance_start', data: 0 });
  assert.deepEqual(events(), ['agent:created#1', 'metrics:updated#2', 'agent:updated#3', 'metrics:updated#4', 'agent:deleted#5', 'system:maintenance_start#-']);
  assert.deepEqual(client.getRoomPosition('analytics'), { epoch: 'NEW', offset: 5 });
  assert.deepEqual(client.getRoomPosition('analytics:agents'), { epoch: 'NEW', offset: 3 });
});

test('a catch-up that never completes is released after catchupTimeout', async () => {
  const { client, timers, events } = setup({ catchupTimeout: 500 });
  client.subscribe('r');
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'OLD', offset: 0 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  s2.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'NEW', offset: 5, recovered: false }, ev('r', 'l6', 0, { r: 6, all: 6 }));
  s2.serverSend({ type: 'subscribed', room: 'r', id: 3, epoch: 'NEW', offset: 6, recovered: true }, ev('r', 'm1', 0, { r: 1, all: 1 }));
  assert.deepEqual(events(), []);
  timers.advance(500);
  assert.deepEqual(events(), ['m1#1', 'l6#6']);
});

test('no `connected` within connectTimeout: the attempt is dropped and retried', async () => {
  const { client, timers } = setup({ connectTimeout: 2000 });
  const p = client.connect();
  await flush();
  const s = FakeSocket.last;
  s.serverOpen(); // TCP + upgrade done, but the server never says `connected`
  timers.advance(1999);
  assert.equal(FakeSocket.instances.length, 1);
  timers.advance(1);
  await assert.rejects(p, (e: any) => e.code === 1006 && /connect timeout/.test(e.reason));
  assert.deepEqual(s.closeCalls, [{ code: 4000, reason: 'connect timeout' }]);
  assert.deepEqual(timers.pendingDelays(), [100]);
  const s2 = await reconnectOpen(timers, 100);
  assert.equal(client.isConnected(), true);
  timers.advance(10_000);
  assert.equal(client.isConnected(), true, 'the timer does not fire once connected');
  assert.equal(s2.closeCalls.length, 0);
});

test('defaults are the .NET client\'s: dedup window of 4096 ids, connect timeout of 10 s', async () => {
  const { client, timers, events } = setup({ reconnectInterval: undefined });
  const p = client.connect();
  await flush();
  FakeSocket.last.serverOpen();
  timers.advance(9_999);
  assert.equal(FakeSocket.last.closeCalls.length, 0);
  timers.advance(1);
  await assert.rejects(p, (e: any) => e.code === 1006 && /connect timeout/.test(e.reason));

  const s = await reconnectOpen(timers, 5_000); // the first backoff ceiling (random() = 1)
  const burst = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ev('r', 'e', 0, { all: from + i }));
  s.serverSend(...burst(1, 4096), ev('r', 'e', 0, { all: 1 }));
  assert.equal(events().length, 4096, 'id 1 is still remembered after 4096 ids');
  s.serverSend(...burst(4097, 4097), ev('r', 'e', 0, { all: 1 }));
  assert.equal(events().length, 4098, 'and forgotten after 4097');
});

test('a subscription the server removes by itself is surfaced with its reason, forgotten and not resubscribed', async () => {
  const { client, timers, log } = setup();
  client.subscribe('tenant:7:agents');
  client.subscribe('tenant:7:posts');
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'tenant:7:agents', id: 1, epoch: 'A', offset: 0 },
    { type: 'subscribed', room: 'tenant:7:posts', id: 2, epoch: 'A', offset: 0 },
    { type: 'unsubscribed', room: 'tenant:7:agents', reason: 'forbidden' },
  );
  assert.deepEqual(log.at(-1), ['unsubscribed', 'tenant:7:agents', 'forbidden']);
  assert.deepEqual(client.getRooms(), ['tenant:7:posts']);
  s.serverClose(1001, 'restart');
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe').map((m: any) => m.room), ['tenant:7:posts']);
});
