// getRoomPosition / getRoomHistory with a fake fetch: URLs, credentials, replies, and the errors they reject with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getRoomHistory, getRoomPosition, MoltBeatHttpError } from '../../src/index.js';

interface Call {
  url: string;
  init: any;
}

function fakeFetch(status: number, body: string | object) {
  const calls: Call[] = [];
  const fetch = async (url: string, init?: any) => {
    calls.push({ url, init });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return { status, ok: status >= 200 && status < 300, text: async () => text };
  };
  return { fetch, calls };
}

const ROOM = { room: 'analytics:metrics', epoch: 'k2f9', offset: 1042, subscribers: 87 };

test('getRoomPosition GETs /api/rooms/{room} under the base URL and answers epoch, offset, subscribers', async () => {
  for (const [base, expected] of [
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000/api/rooms/analytics%3Ametrics'],
    ['http://127.0.0.1:3000/', 'http://127.0.0.1:3000/api/rooms/analytics%3Ametrics'],
    ['https://example.com/moltbeat', 'https://example.com/moltbeat/api/rooms/analytics%3Ametrics'],
    ['https://example.com/moltbeat/?x=1#h', 'https://example.com/moltbeat/api/rooms/analytics%3Ametrics'],
    ['ws://127.0.0.1:3000', 'http://127.0.0.1:3000/api/rooms/analytics%3Ametrics'],
    ['wss://example.com', 'https://example.com/api/rooms/analytics%3Ametrics'],
  ]) {
    const f = fakeFetch(200, ROOM);
    const pos = await getRoomPosition(base, 'analytics:metrics', { fetch: f.fetch });
    assert.deepEqual(pos, ROOM);
    assert.equal(f.calls[0].url, expected, base);
    assert.equal(f.calls[0].init.method, 'GET');
    assert.equal(f.calls[0].init.headers.accept, 'application/json');
    assert.equal('x-api-key' in f.calls[0].init.headers, false);
    assert.equal('authorization' in f.calls[0].init.headers, false);
  }
});

test('credentials: apiKey is X-Api-Key, token is a bearer token; extra headers and the signal are passed on', async () => {
  const f = fakeFetch(200, ROOM);
  const signal = new AbortController().signal;
  await getRoomPosition('http://h', 'a', { apiKey: 'k1', fetch: f.fetch, headers: { 'x-trace': 't' }, signal });
  await getRoomPosition('http://h', 'a', { token: 'jwt.x.y', fetch: f.fetch });
  assert.equal(f.calls[0].init.headers['x-api-key'], 'k1');
  assert.equal(f.calls[0].init.headers['x-trace'], 't');
  assert.equal(f.calls[0].init.signal, signal);
  assert.equal(f.calls[1].init.headers.authorization, 'Bearer jwt.x.y');
});

test('HTTP failures reject with MoltBeatHttpError: the status and the server\'s error text', async () => {
  const f = fakeFetch(403, { error: "The bearer token's rooms claim does not allow 'admin'." });
  await assert.rejects(getRoomPosition('http://h:1', 'admin', { token: 't', fetch: f.fetch }), (e: any) => {
    assert.ok(e instanceof MoltBeatHttpError);
    assert.equal(e.status, 403);
    assert.equal(e.error, "The bearer token's rooms claim does not allow 'admin'.");
    assert.equal(e.request, 'GET http://h:1/api/rooms/admin');
    assert.equal(e.message, "GET http://h:1/api/rooms/admin failed: HTTP 403: The bearer token's rooms claim does not allow 'admin'.");
    return true;
  });
  // a body that is not JSON (a proxy's page): its start is the error text
  const g = fakeFetch(502, '<html>Bad Gateway</html>');
  await assert.rejects(getRoomPosition('http://h', 'a', { fetch: g.fetch }), (e: any) => e instanceof MoltBeatHttpError && e.status === 502 && e.error === '<html>Bad Gateway</html>');
  // a 200 that is not a room
  const h = fakeFetch(200, { hello: 1 });
  await assert.rejects(getRoomPosition('http://h', 'a', { fetch: h.fetch }), (e: any) => e instanceof MoltBeatHttpError && e.status === 200 && /unexpected reply/.test(e.error));
});

test('no response: MoltBeatHttpError with status 0 and the cause', async () => {
  const cause = new TypeError('fetch failed');
  const fetch = async () => {
    throw cause;
  };
  await assert.rejects(getRoomPosition('http://127.0.0.1:9', 'a', { fetch }), (e: any) => {
    assert.ok(e instanceof MoltBeatHttpError);
    assert.equal(e.status, 0);
    assert.equal(e.cause, cause);
    assert.equal(e.message, 'GET http://127.0.0.1:9/api/rooms/a failed: no response: fetch failed');
    return true;
  });
});

test('getRoomHistory: the last events (limit), or the events after a position', async () => {
  const events = [{ type: 'event', room: 'r', event: 'x', data: 1, ts: 1, offsets: { r: 5, all: 9 } }];
  const f = fakeFetch(200, { room: 'r', epoch: 'E', offset: 5, events });
  const last = await getRoomHistory('http://h', 'r', { limit: 10, fetch: f.fetch });
  assert.deepEqual(last, { room: 'r', epoch: 'E', offset: 5, events });
  assert.equal(f.calls[0].url, 'http://h/api/rooms/r/history?limit=10');

  const g = fakeFetch(200, { room: 'r', epoch: 'E', offset: 5, recovered: true, events });
  const after = await getRoomHistory('http://h', 'r', { after: { epoch: 'E 1', offset: 4 }, fetch: g.fetch });
  assert.equal(after.recovered, true);
  assert.equal(g.calls[0].url, 'http://h/api/rooms/r/history?epoch=E+1&offset=4');
  await getRoomHistory('http://h', 'r', { fetch: g.fetch });
  assert.equal(g.calls[1].url, 'http://h/api/rooms/r/history');
});

test('getRoomHistory: a bad limit or position is refused before any request; a server 400 names it', async () => {
  const f = fakeFetch(200, {});
  for (const limit of [0, -1, 1.5, '10' as any]) await assert.rejects(getRoomHistory('http://h', 'r', { limit, fetch: f.fetch }), RangeError);
  for (const after of [{ epoch: '', offset: 1 }, { epoch: 'E' } as any, { epoch: 'E', offset: -2 }]) {
    await assert.rejects(getRoomHistory('http://h', 'r', { after, fetch: f.fetch }), TypeError);
  }
  assert.equal(f.calls.length, 0);
  const g = fakeFetch(400, { error: "limit must be an integer from 1 to 1000, got '5000'." });
  await assert.rejects(getRoomHistory('http://h', 'r', { limit: 5000, fetch: g.fetch }), (e: any) => e.status === 400 && /limit must be an integer from 1 to 1000/.test(e.message));
});

test('a missing room or base URL is a TypeError', async () => {
  const f = fakeFetch(200, ROOM);
  await assert.rejects(getRoomPosition('http://h', '', { fetch: f.fetch }), TypeError);
  await assert.rejects(getRoomPosition(undefined as any, 'a', { fetch: f.fetch }), TypeError);
  await assert.rejects(getRoomPosition('not a url', 'a', { fetch: f.fetch }), TypeError);
});
