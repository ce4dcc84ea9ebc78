// Protocol 1.1 from the Node client against a real MoltBeat server: subscribe with `last` and `since`, and the room
// reads over HTTP (getRoomPosition, getRoomHistory) for the snapshot pattern. Run: npm run test:integration
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MoltBeatWSClient,
  MoltBeatError,
  MoltBeatHttpError,
  getRoomHistory,
  getRoomPosition,
  type EventMeta,
  type SubscriptionInfo,
  type WSClientConfig,
} from '../../src/index.js';
import { TestServer, skipReason, waitFor, sleep, makeJwt, testClient } from './harness.js';

const skip = skipReason();
/** History of 5 events per room: a client away for more than that cannot recover, and gets `last` instead. */
const HISTORY = 5;
let server: TestServer;
const clients: MoltBeatWSClient[] = [];
let roomSeq = 0;
/** A room of its own for each test (one server for the file). */
const freshRoom = (name: string) => `it:${name}:${++roomSeq}`;

const client = (cfg: Partial<WSClientConfig> = {}) => testClient(server, clients, cfg);

/** What the application sees. */
function record(c: MoltBeatWSClient) {
  const seqs: number[] = [];
  const metas: EventMeta[] = [];
  const subscribed: SubscriptionInfo[] = [];
  const recoveryFailed: string[] = [];
  c.on('event', (_name, data: any, meta) => {
    if (typeof data?.seq === 'number') {
      seqs.push(data.seq);
      metas.push(meta);
    }
  });
  c.on('subscribed', (_room, info) => subscribed.push(info));
  c.on('recovery_failed', (room) => recoveryFailed.push(room));
  return { seqs, metas, subscribed, recoveryFailed };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

async function publishSeqs(room: string, seqs: number[]): Promise<void> {
  for (const seq of seqs) await server.publish(room, 'metrics:updated', { seq });
}

before(async () => {
  if (skip) return;
  server = await TestServer.start({ args: ['--history-events', String(HISTORY)] });
});

after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

test('subscribe with last: the room\'s most recent events first (replay count in the reply), then live ones', { skip }, async () => {
  const room = freshRoom('last');
  await publishSeqs(room, range(1, 4));
  const c = client();
  const r = record(c);
  await c.connect();
  const info = await c.subscribeAsync(room, { last: 3 });
  assert.equal(info.replay, 3);
  assert.equal(info.offset, 4);
  await waitFor('3 replayed events', () => r.seqs.length >= 3);
  await publishSeqs(room, [5, 6]);
  await waitFor('2 live events', () => r.seqs.length >= 5);
  await sleep(200);
  assert.deepEqual(r.seqs, [2, 3, 4, 5, 6]);
  assert.deepEqual(r.metas.map((m) => m.offsets![room]), [2, 3, 4, 5, 6]);
  assert.deepEqual(r.subscribed.map((s) => s.replay), [3]);
  assert.deepEqual(c.getRoomPosition(room), { epoch: info.epoch, offset: 6 });
  c.disconnect();
});

test('last: 0 replays nothing, last above the history replays what there is, a room without history replays 0', { skip }, async () => {
  const room = freshRoom('last-bounds');
  await publishSeqs(room, [1, 2]);
  const c = client();
  const r = record(c);
  await c.connect();
  // last: 0 asks for no event; the reply still says so, as it does whenever `last` was sent
  assert.equal((await c.subscribeAsync(room, { last: 0 })).replay, 0);
  await c.unsubscribeAsync(room);
  assert.equal((await c.subscribeAsync(room, { last: 100 })).replay, 2);
  assert.equal((await c.subscribeAsync(freshRoom('empty'), { last: 10 })).replay, 0);
  await waitFor('2 events', () => r.seqs.length >= 2);
  await sleep(200);
  assert.deepEqual(r.seqs, [1, 2]);
  // without since or last, no replay count
  assert.equal('replay' in (await c.subscribeAsync(freshRoom('plain'))), false);
  c.disconnect();
});

test('an out-of-range last is refused by the client at once, and by the server with bad_request', { skip }, async () => {
  const room = freshRoom('bad-last');
  const c = client();
  const errors: Error[] = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  assert.throws(() => c.subscribe(room, { last: 101 }), RangeError);
  await assert.rejects(c.subscribeAsync(room, { last: -1 }), /last must be an integer from 0 to 100, got -1/);
  // past the client's check, the server refuses it too, with the request's id; the connection stays
  const refused = (c as any).subs.subscribe(room, { last: 101 }) as Promise<SubscriptionInfo>;
  await assert.rejects(refused, (e: any) => e instanceof MoltBeatError && e.code === 'bad_request' && e.room === room);
  assert.ok(errors.some((e) => (e as MoltBeatError).code === 'bad_request'));
  assert.equal(c.isConnected(), true);
  assert.deepEqual(c.getRooms(), []);
  assert.equal(typeof (await c.subscribeAsync(room, { last: 1 })).replay, 'number');
  c.disconnect();
});

test('snapshot pattern: since = getRoomPosition gets every event published after the position and none before', { skip }, async () => {
  const room = freshRoom('snapshot');
  await publishSeqs(room, [1, 2, 3]);
  const position = await getRoomPosition(server.httpUrl, room);
  assert.equal(position.room, room);
  assert.equal(typeof position.epoch, 'string');
  assert.equal(position.offset, 3);
  assert.equal(position.subscribers, 0);
  // the application loads its state here; meanwhile more events are published
  await publishSeqs(room, [4, 5]);
  const c = client();
  const r = record(c);
  await c.connect();
  const info = await c.subscribeAsync(room, { since: position });
  assert.equal(info.recovered, true);
  assert.equal(info.replay, 2);
  await publishSeqs(room, [6]);
  await waitFor('3 events', () => r.seqs.length >= 3);
  await sleep(200);
  assert.deepEqual(r.seqs, [4, 5, 6]);
  assert.deepEqual(r.recoveryFailed, []);
  assert.equal((await getRoomPosition(server.httpUrl, room)).subscribers, 1);

  // the client's own position takes over: a reconnect recovers from the last event seen, not from the option
  c.disconnect();
  await publishSeqs(room, [7]);
  await c.connect();
  await waitFor('event 7', () => r.seqs.length >= 4);
  await sleep(200);
  assert.deepEqual(r.seqs, [4, 5, 6, 7]);
  assert.deepEqual(r.subscribed.map((s) => [s.recovered, s.replay]), [[true, 2], [true, 1]]);
  c.disconnect();
});

test('a since the server no longer holds: recovered false, recovery_failed, and last still applies', { skip }, async () => {
  const room = freshRoom('stale');
  await publishSeqs(room, [1]);
  const position = await getRoomPosition(server.httpUrl, room);
  await publishSeqs(room, range(2, 2 + HISTORY)); // more than the history keeps after the position
  const c = client();
  const r = record(c);
  await c.connect();
  const info = await c.subscribeAsync(room, { since: position, last: 2 });
  assert.equal(info.recovered, false);
  assert.equal(info.replay, 2);
  await waitFor('2 events', () => r.seqs.length >= 2);
  await sleep(200);
  assert.deepEqual(r.seqs, [HISTORY + 1, HISTORY + 2]);
  assert.deepEqual(r.recoveryFailed, [room]);
  c.disconnect();
});

test('last is sent again on a reconnect: recovered, nothing repeated; not recoverable, the last events', { skip }, async () => {
  const room = freshRoom('reconnect');
  await publishSeqs(room, [1, 2]);
  const c = client();
  const r = record(c);
  await c.connect();
  await c.subscribeAsync(room, { last: 1 });
  await waitFor('event 2', () => r.seqs.length >= 1);

  // away for 2 events: recovers them, last is ignored
  c.disconnect();
  await publishSeqs(room, [3, 4]);
  await c.connect();
  await waitFor('events 3, 4', () => r.seqs.length >= 3);
  await sleep(200);
  assert.deepEqual(r.seqs, [2, 3, 4]);
  assert.deepEqual(r.subscribed.map((s) => [s.recovered, s.replay]), [[undefined, 1], [true, 2]]);

  // away for more than the history: cannot recover, so the server sends the last event (the current value)
  c.disconnect();
  await publishSeqs(room, range(5, 5 + HISTORY + 1));
  await c.connect();
  const newest = 5 + HISTORY + 1;
  await waitFor('the newest event', () => r.seqs.includes(newest));
  await sleep(200);
  assert.deepEqual(r.seqs, [2, 3, 4, newest]);
  assert.deepEqual(r.subscribed.at(-1)!.recovered, false);
  assert.deepEqual(r.subscribed.at(-1)!.replay, 1);
  assert.deepEqual(r.recoveryFailed, [room]);
  c.disconnect();
});

test('getRoomHistory: the last events, the events after a position, and a lost position', { skip }, async () => {
  const room = freshRoom('history');
  await publishSeqs(room, [1, 2, 3, 4]);
  const last = await getRoomHistory(server.httpUrl, room, { limit: 2 });
  assert.equal(last.room, room);
  assert.equal(last.offset, 4);
  assert.equal('recovered' in last, false);
  assert.deepEqual(last.events.map((e: any) => [e.type, e.event, e.data.seq, e.offsets[room]]), [
    ['event', 'metrics:updated', 3, 3],
    ['event', 'metrics:updated', 4, 4],
  ]);
  assert.equal(typeof last.events[0].offsets!.all, 'number');

  const after = await getRoomHistory(server.httpUrl, room, { after: { epoch: last.epoch, offset: 1 } });
  assert.equal(after.recovered, true);
  assert.deepEqual(after.events.map((e: any) => e.data.seq), [2, 3, 4]);
  const page = await getRoomHistory(server.httpUrl, room, { after: { epoch: last.epoch, offset: 1 }, limit: 1 });
  assert.deepEqual(page.events.map((e: any) => e.data.seq), [2]);

  const lost = await getRoomHistory(server.httpUrl, room, { after: { epoch: 'not-this-epoch', offset: 1 } });
  assert.equal(lost.recovered, false);
  assert.deepEqual(lost.events, []);
  assert.equal(lost.offset, 4);

  assert.deepEqual((await getRoomHistory(server.httpUrl, freshRoom('none'))).events, []);
});

test('HTTP errors: status and the server\'s error text', { skip }, async () => {
  await assert.rejects(getRoomHistory(server.httpUrl, 'it:x', { limit: 5000 }), (e: any) => {
    assert.ok(e instanceof MoltBeatHttpError);
    assert.equal(e.status, 400);
    assert.match(e.error, /limit must be an integer from 1 to 1000/);
    return true;
  });
  await assert.rejects(getRoomPosition(server.httpUrl, 'bad room!'), (e: any) => e instanceof MoltBeatHttpError && e.status === 400 && /Invalid room/.test(e.error));
  await assert.rejects(getRoomPosition('http://127.0.0.1:1', 'it:x'), (e: any) => e instanceof MoltBeatHttpError && e.status === 0);
});

test('room reads with credentials: X-Api-Key, or a bearer token allowed the room', { skip, timeout: 120_000 }, async () => {
  const secret = 'integration-secret-0123456789abcdef';
  const apiKey = 'integration-api-key-0123';
  const authServer = await TestServer.start({ jwtSecret: secret, apiKey });
  try {
    await authServer.publish('tenant:7:metrics', 'metrics:updated', { seq: 1 });
    await assert.rejects(getRoomPosition(authServer.httpUrl, 'tenant:7:metrics'), (e: any) => e instanceof MoltBeatHttpError && e.status === 401 && /Authentication required/.test(e.error));
    await assert.rejects(getRoomPosition(authServer.httpUrl, 'tenant:7:metrics', { apiKey: 'wrong-key-0123456789' }), (e: any) => e.status === 401 && e.error === 'Wrong X-Api-Key.');
    assert.equal((await getRoomPosition(authServer.httpUrl, 'tenant:7:metrics', { apiKey })).offset, 1);

    const exp = Math.floor(Date.now() / 1000) + 3600;
    const token = await makeJwt(secret, { sub: '42', exp, rooms: ['tenant:7'] });
    const history = await getRoomHistory(authServer.httpUrl, 'tenant:7:metrics', { token, limit: 1 });
    assert.deepEqual(history.events.map((e: any) => e.data.seq), [1]);
    await assert.rejects(getRoomPosition(authServer.httpUrl, 'tenant:8', { token }), (e: any) => e.status === 403 && /does not allow 'tenant:8'/.test(e.error));

    // the same token on the WebSocket: since from the position it read
    const position = await getRoomPosition(authServer.httpUrl, 'tenant:7:metrics', { token });
    await authServer.publish('tenant:7:metrics', 'metrics:updated', { seq: 2 });
    const c = new MoltBeatWSClient({ url: authServer.wsUrl, token, reconnectInterval: 200, random: () => 1 });
    clients.push(c);
    c.on('error', () => {});
    const r = record(c);
    await c.connect();
    assert.equal((await c.subscribeAsync('tenant:7:metrics', { since: position })).recovered, true);
    await waitFor('event 2', () => r.seqs.length >= 1);
    assert.deepEqual(r.seqs, [2]);
    c.disconnect();
  } finally {
    await authServer.stop();
  }
});
