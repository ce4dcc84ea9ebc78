// Subscribe options (revision 1.1: `last`, and `since` from a position read over HTTP) with a fake socket, and the
// rooms-over-HTTP helpers with a fake fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MoltBeatWSClient,
  MoltBeatHttpError,
  PROTOCOL_LIMITS,
  fetchRoomHistory,
  fetchRoomPosition,
  type WSClientConfig,
} from '../../src/index.js';
import { FakeSocket, FakeTimers, flush, connectedMsg, ev } from '../support/fakes.js';

function setup(cfg: Partial<WSClientConfig> = {}) {
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
  const log: any[][] = [];
  for (const e of ['subscribed', 'recovery_failed', 'error']) client.on(e as any, (...a: any[]) => log.push([e, ...a]));
  const seqs: number[] = [];
  client.on('event', (_name, data: any) => seqs.push(data.n));
  return { client, timers, log, seqs };
}

async function connectOpen(client: MoltBeatWSClient): Promise<FakeSocket> {
  const p = client.connect();
  await flush();
  const s = FakeSocket.last;
  s.serverOpen();
  s.serverSend(connectedMsg());
  await p;
  return s;
}

async function reconnectOpen(timers: FakeTimers, ms: number): Promise<FakeSocket> {
  timers.advance(ms);
  await flush();
  const s = FakeSocket.last;
  s.serverOpen();
  s.serverSend(connectedMsg());
  return s;
}

const tick = (room: string, n: number, id: number) => ev(room, 'tick', { n }, { [room]: n, all: id });

test('subscribe with last sends it; the reply tells the replay count; the last events then live ones are delivered', async () => {
  const { client, log, seqs } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('analytics:metrics', { last: 2 });
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'analytics:metrics', id: 1, last: 2 }]);
  s.serverSend(
    { type: 'subscribed', room: 'analytics:metrics', id: 1, epoch: 'E', offset: 5, replay: 2 },
    tick('analytics:metrics', 4, 104),
    tick('analytics:metrics', 5, 105),
    tick('analytics:metrics', 6, 106),
  );
  const info = await p;
  assert.deepEqual(info, { room: 'analytics:metrics', epoch: 'E', offset: 5, recovered: undefined, replay: 2 });
  assert.deepEqual(log.find((l) => l[0] === 'subscribed')?.[2], info);
  assert.deepEqual(seqs, [4, 5, 6]);
  assert.deepEqual(client.getRoomPosition('analytics:metrics'), { epoch: 'E', offset: 6 });
});

test('a reply without replay has none in its info (a plain subscribe, or a server before revision 1.1)', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('a');
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 });
  assert.equal('replay' in (await p), false);
});

test('last out of range or not an integer: a RangeError at once, nothing sent', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  for (const last of [-1, PROTOCOL_LIMITS.maxLast + 1, 1.5, Number.NaN, '3' as any, null as any]) {
    assert.throws(() => client.subscribe('a', { last }), (e: any) => e instanceof RangeError && /last must be an integer from 0 to 100/.test(e.message));
    await assert.rejects(client.subscribeAsync('a', { last }), RangeError);
  }
  assert.throws(() => client.subscribe('a', { since: { epoch: '', offset: 1 } }), TypeError);
  assert.throws(() => client.subscribe('a', { since: { epoch: 'E', offset: -1 } }), TypeError);
  assert.deepEqual(s.sentOfType('subscribe'), []);
  assert.deepEqual(client.getRooms(), []);
  client.subscribe('a', { last: 0 });
  client.subscribe('b', { last: PROTOCOL_LIMITS.maxLast });
  assert.deepEqual(s.sentOfType('subscribe').map((m) => [m.room, m.last]), [['a', 0], ['b', 100]]);
});

test('since from a position read over HTTP: sent as epoch and offset, recovered, the position starts there', async () => {
  const { client, log, seqs } = setup();
  const s = await connectOpen(client);
  const position = { room: 'analytics:agents', epoch: 'E', offset: 3, subscribers: 2 }; // what fetchRoomPosition returns
  const p = client.subscribeAsync('analytics:agents', { since: position });
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'analytics:agents', id: 1, since: { epoch: 'E', offset: 3 } }]);
  s.serverSend({ type: 'subscribed', room: 'analytics:agents', id: 1, epoch: 'E', offset: 5, recovered: true, replay: 2 });
  // Before the replayed events arrive, the position is the one asked for: a drop now resubscribes from there.
  assert.deepEqual(client.getRoomPosition('analytics:agents'), { epoch: 'E', offset: 3 });
  s.serverSend(tick('analytics:agents', 4, 104), tick('analytics:agents', 5, 105));
  assert.equal((await p).recovered, true);
  assert.deepEqual(seqs, [4, 5]);
  assert.deepEqual(client.getRoomPosition('analytics:agents'), { epoch: 'E', offset: 5 });
  assert.equal(log.some((l) => l[0] === 'recovery_failed'), false);
});

test('since that cannot recover: recovery_failed, last still applies, live from the current offset', async () => {
  const { client, log, seqs } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('a', { since: { epoch: 'OLD', offset: 2 }, last: 2 });
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 1, since: { epoch: 'OLD', offset: 2 }, last: 2 }]);
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'NEW', offset: 9, recovered: false, replay: 2 }, tick('a', 8, 8), tick('a', 9, 9));
  assert.equal((await p).recovered, false);
  assert.deepEqual(seqs, [8, 9]);
  assert.deepEqual(log.filter((l) => l[0] === 'recovery_failed').map((l) => l[1]), ['a']);
  assert.deepEqual(client.getRoomPosition('a'), { epoch: 'NEW', offset: 9 });
  assert.equal(FakeSocket.last.sentOfType('subscribe').length, 1, 'no new-epoch catch-up for a position the client did not see itself');
});

test('a room queued with last keeps it until confirmed; after that a reconnect resubscribes with since and without last', async () => {
  const { client, timers, seqs } = setup();
  client.subscribe('a', { last: 3 });
  const s1 = await connectOpen(client);
  assert.deepEqual(s1.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 1, last: 3 }]);
  s1.serverClose(1011); // lost before the reply
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 2, last: 3 }]);
  s2.serverSend({ type: 'subscribed', room: 'a', id: 2, epoch: 'E', offset: 5, replay: 3 }, tick('a', 3, 3), tick('a', 4, 4), tick('a', 5, 5));
  s2.serverClose(1011);
  const s3 = await reconnectOpen(timers, 100);
  assert.deepEqual(s3.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 3, since: { epoch: 'E', offset: 5 } }]);
  s3.serverSend({ type: 'subscribed', room: 'a', id: 3, epoch: 'E', offset: 6, recovered: true, replay: 1 }, tick('a', 6, 6));
  assert.deepEqual(seqs, [3, 4, 5, 6]);
});

test('subscribing with options to a room already subscribed asks again; without options it does not', async () => {
  const { client, seqs } = setup();
  const s = await connectOpen(client);
  const first = client.subscribeAsync('a');
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 7 });
  await first;
  assert.equal((await client.subscribeAsync('a')).offset, 7);
  assert.equal(s.sentOfType('subscribe').length, 1);
  const again = client.subscribeAsync('a', { last: 2 });
  assert.deepEqual(s.sentOfType('subscribe').at(-1), { type: 'subscribe', room: 'a', id: 2, last: 2 });
  s.serverSend({ type: 'subscribed', room: 'a', id: 2, epoch: 'E', offset: 7, replay: 2 }, tick('a', 6, 6), tick('a', 7, 7));
  assert.equal((await again).replay, 2);
  assert.deepEqual(seqs, [6, 7]);
  assert.deepEqual(client.getRoomPosition('a'), { epoch: 'E', offset: 7 });
});

// ---------------------------------------------------------------------------------------------------------------------
// Rooms over HTTP
// ---------------------------------------------------------------------------------------------------------------------

function fakeFetch(status: number, body: unknown) {
  const calls: Array<{ url: string; headers: Record<string, string> }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, headers: init.headers as Record<string, string> });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

test('fetchRoomPosition: GET /api/rooms/{room} with a bearer token or the API key; the reply is usable as since', async () => {
  const reply = { room: 'analytics:agents', epoch: 'k2f9', offset: 1042, subscribers: 87 };
  const f = fakeFetch(200, reply);
  const position = await fetchRoomPosition('http://127.0.0.1:3000', 'analytics:agents', { token: 'jwt', fetch: f.fn });
  assert.deepEqual(position, reply);
  assert.equal(f.calls[0].url, 'http://127.0.0.1:3000/api/rooms/analytics%3Aagents');
  assert.equal(f.calls[0].headers.authorization, 'Bearer jwt');
  assert.equal(f.calls[0].headers['x-api-key'], undefined);

  await fetchRoomPosition('https://example.com/moltbeat', 'all', { apiKey: 'key', fetch: f.fn });
  assert.equal(f.calls[1].url, 'https://example.com/moltbeat/api/rooms/all');
  assert.equal(f.calls[1].headers['x-api-key'], 'key');
  assert.equal(f.calls[1].headers.authorization, undefined);
});

test('fetchRoomHistory: limit, or the events after a position', async () => {
  const f = fakeFetch(200, { room: 'a', epoch: 'E', offset: 9, recovered: true, events: [tick('a', 9, 9)] });
  const history = await fetchRoomHistory('http://h:1/', 'a', { since: { epoch: 'E', offset: 8 }, limit: 5, fetch: f.fn });
  assert.equal(f.calls[0].url, 'http://h:1/api/rooms/a/history?limit=5&epoch=E&offset=8');
  assert.equal(history.recovered, true);
  assert.equal(history.events[0].type, 'event');
  await fetchRoomHistory('http://h:1', 'a', { fetch: f.fn });
  assert.equal(f.calls[1].url, 'http://h:1/api/rooms/a/history');
});

test('a refused room read is a MoltBeatHttpError with the status and the server\'s reason', async () => {
  const f = fakeFetch(403, { error: "The bearer token's rooms claim does not allow 'tenant:8'." });
  await assert.rejects(
    fetchRoomPosition('http://h:1', 'tenant:8', { token: 't', fetch: f.fn }),
    (e: any) => e instanceof MoltBeatHttpError && e.status === 403 && /does not allow 'tenant:8'/.test(e.message),
  );
  const down = (async () => {
    throw new TypeError('fetch failed');
  }) as unknown as typeof fetch;
  await assert.rejects(fetchRoomPosition('http://h:1', 'a', { fetch: down }), (e: any) => e instanceof MoltBeatHttpError && e.status === 0);
  await assert.rejects(fetchRoomPosition('http://h:1', '', { fetch: f.fn }), TypeError);
});
