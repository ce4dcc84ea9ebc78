// subscribe(room, { since, last, maxRate, occupancy }) (protocol revision 1.1): checks, what is sent, the reply's
// replay count, and what a reconnect sends afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoltBeatWSClient, MAX_LAST, MAX_RATE, type WSClientConfig } from '../../src/index.js';
import { FakeSocket, FakeTimers, flush, connectedMsg, ev, fakeClient, connectOpen, reconnectOpen } from '../support/fakes.js';

function setup(cfg: Partial<WSClientConfig> = {}) {
  const { client, timers } = fakeClient(cfg);
  const log: any[][] = [];
  for (const e of ['subscribed', 'recovery_failed', 'error'] as const) client.on(e as any, (...a: any[]) => log.push([e, ...a]));
  const seen: string[] = [];
  client.on('event', (name, _data, meta) => seen.push(`${name}#${meta.offsets?.all ?? '-'}`));
  return { client, timers, log, seen };
}

test('MAX_LAST is the protocol bound, generated from the .NET ProtocolLimits', () => {
  assert.equal(MAX_LAST, 100);
});

test('last out of range or not an integer: subscribe throws, subscribeAsync rejects, nothing is sent', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  for (const bad of [101, -1, 1000]) {
    assert.throws(() => client.subscribe('a', { last: bad }), (e: any) => e instanceof RangeError && e.message === `last must be an integer from 0 to 100, got ${bad}`);
    await assert.rejects(client.subscribeAsync('a', { last: bad }), RangeError);
  }
  for (const bad of [1.5, NaN, Infinity, '3', null]) {
    assert.throws(() => client.subscribe('a', { last: bad as any }), (e: any) => e instanceof TypeError && /^last must be an integer from 0 to 100, got /.test(e.message));
    await assert.rejects(client.subscribeAsync('a', { last: bad as any }), TypeError);
  }
  assert.deepEqual(s.sentOfType('subscribe'), []);
  assert.deepEqual(client.getRooms(), [], 'a refused call does not keep the room');
});

test('since must be an epoch and an offset: else subscribe throws a TypeError', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  for (const bad of [{}, { epoch: 'A' }, { epoch: '', offset: 1 }, { epoch: 'A', offset: -1 }, { epoch: 'A', offset: 1.5 }, { epoch: 1, offset: 1 }, 'A:1', null]) {
    assert.throws(() => client.subscribe('a', { since: bad as any }), (e: any) => e instanceof TypeError && /^since must be \{ epoch/.test(e.message), JSON.stringify(bad));
  }
  assert.throws(() => client.subscribe('a', 5 as any), TypeError);
  assert.deepEqual(s.sentOfType('subscribe'), []);
});

test('the subscribe request carries last, and since reduced to epoch and offset', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  client.subscribe('a', { last: 5 });
  client.subscribe('b', { last: 0 });
  client.subscribe('c', { since: { room: 'c', epoch: 'E', offset: 42, subscribers: 3 } as any });
  client.subscribe('d', { since: { epoch: 'E', offset: 0 }, last: MAX_LAST });
  client.subscribe('e', {});
  assert.deepEqual(s.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'a', id: 1, last: 5 },
    { type: 'subscribe', room: 'b', id: 2, last: 0 },
    { type: 'subscribe', room: 'c', id: 3, since: { epoch: 'E', offset: 42 } },
    { type: 'subscribe', room: 'd', id: 4, since: { epoch: 'E', offset: 0 }, last: 100 },
    { type: 'subscribe', room: 'e', id: 5 },
  ]);
  assert.deepEqual(client.getRoomPosition('c'), { epoch: 'E', offset: 42 }, 'since is where the room starts');
});

test('options given before connect are sent on connect', async () => {
  const { client } = setup();
  client.subscribe('a', { since: { epoch: 'E', offset: 7 }, last: 2 });
  const s = await connectOpen(client);
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 1, since: { epoch: 'E', offset: 7 }, last: 2 }]);
});

test('options for a room the client already holds are ignored (one subscribe, the first one)', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  client.subscribe('a');
  client.subscribe('a', { last: 5 });
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 3 });
  const info = await client.subscribeAsync('a', { last: 1, since: { epoch: 'E', offset: 0 } });
  assert.deepEqual(info, { room: 'a', epoch: 'E', offset: 3, recovered: undefined });
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 1 }]);
});

test('last: the reply carries replay, surfaced in subscribeAsync and `subscribed`; the replayed events are delivered', async () => {
  const { client, log, seen } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('analytics:metrics', { last: 2 });
  s.serverSend(
    { type: 'subscribed', room: 'analytics:metrics', id: 1, epoch: 'E', offset: 9, replay: 2 },
    ev('analytics:metrics', 'metrics:updated', { cpu: 1 }, { 'analytics:metrics': 8, analytics: 20, all: 108 }),
    ev('analytics:metrics', 'metrics:updated', { cpu: 2 }, { 'analytics:metrics': 9, analytics: 21, all: 109 }),
    ev('analytics:metrics', 'metrics:updated', { cpu: 3 }, { 'analytics:metrics': 10, analytics: 22, all: 110 }),
  );
  const expected = { room: 'analytics:metrics', epoch: 'E', offset: 9, recovered: undefined, replay: 2 };
  assert.deepEqual(await p, expected);
  assert.deepEqual(log.find((l) => l[0] === 'subscribed')!.slice(1), ['analytics:metrics', expected]);
  assert.deepEqual(seen, ['metrics:updated#108', 'metrics:updated#109', 'metrics:updated#110']);
  assert.deepEqual(client.getRoomPosition('analytics:metrics'), { epoch: 'E', offset: 10 });
});

test('reconnect: since from the option is used once, then the position reached; last is sent again', async () => {
  const { client, timers, seen, log } = setup();
  client.subscribe('r', { since: { epoch: 'E', offset: 40 }, last: 3 });
  const s = await connectOpen(client);
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'r', id: 1, since: { epoch: 'E', offset: 40 }, last: 3 }]);
  // it recovers: the server replays 41, 42 (and ignores last)
  s.serverSend(
    { type: 'subscribed', room: 'r', id: 1, epoch: 'E', offset: 42, recovered: true, replay: 2 },
    ev('r', 'x', 0, { r: 41, all: 141 }),
    ev('r', 'x', 0, { r: 42, all: 142 }),
    ev('r', 'x', 0, { r: 43, all: 143 }),
  );
  assert.deepEqual(seen, ['x#141', 'x#142', 'x#143']);
  assert.equal(log.some((l) => l[0] === 'recovery_failed'), false);

  s.serverClose(1001, 'going away');
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), [{ type: 'subscribe', room: 'r', id: 2, since: { epoch: 'E', offset: 43 }, last: 3 }]);
  s2.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'E', offset: 44, recovered: true, replay: 1 }, ev('r', 'x', 0, { r: 44, all: 144 }));
  assert.deepEqual(seen, ['x#141', 'x#142', 'x#143', 'x#144']);
  assert.equal(log.filter((l) => l[0] === 'subscribed').at(-1)![2].replay, 1);
});

test('a resubscribe that cannot recover gets the last events: recovery_failed, then the current values, once each', async () => {
  const { client, timers, seen, log } = setup();
  client.subscribe('r', { last: 2 });
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'r', id: 1, epoch: 'E', offset: 10, replay: 2 },
    ev('r', 'v', 0, { r: 9, all: 109 }),
    ev('r', 'v', 0, { r: 10, all: 110 }),
  );
  s.serverClose(4009, 'slow consumer');
  const s2 = await reconnectOpen(timers, 0);
  assert.deepEqual(s2.sentOfType('subscribe'), [{ type: 'subscribe', room: 'r', id: 2, since: { epoch: 'E', offset: 10 }, last: 2 }]);
  // history no longer holds offset 10: recovered false, and the server applies last
  s2.serverSend(
    { type: 'subscribed', room: 'r', id: 2, epoch: 'E', offset: 5000, recovered: false, replay: 2 },
    ev('r', 'v', 0, { r: 4999, all: 5099 }),
    ev('r', 'v', 0, { r: 5000, all: 5100 }),
  );
  const rf = log.filter((l) => l[0] === 'recovery_failed');
  assert.deepEqual(rf.map((l) => l.slice(1)), [['r', { room: 'r', epoch: 'E', offset: 5000, recovered: false, replay: 2 }]]);
  assert.equal(s2.sentOfType('subscribe').length, 1, 'same epoch: no catch-up request');
  assert.deepEqual(seen, ['v#109', 'v#110', 'v#5099', 'v#5100']);
  assert.deepEqual(client.getRoomPosition('r'), { epoch: 'E', offset: 5000 });
});

test('since from the option that does not recover: recovery_failed, last still applies', async () => {
  const { client, seen, log } = setup();
  const s = await connectOpen(client);
  const p = client.subscribeAsync('r', { since: { epoch: 'E', offset: 1 }, last: 1 });
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'E', offset: 900, recovered: false, replay: 1 }, ev('r', 'v', 0, { r: 900, all: 1900 }));
  assert.deepEqual(await p, { room: 'r', epoch: 'E', offset: 900, recovered: false, replay: 1 });
  assert.deepEqual(log.filter((l) => l[0] === 'recovery_failed').map((l) => l[1]), ['r']);
  assert.deepEqual(seen, ['v#1900']);
});

test('a since in another epoch (the server restarted since the snapshot): the new epoch is replayed from its start, without last', async () => {
  const { client, seen, log } = setup();
  const s = await connectOpen(client);
  client.subscribe('r', { since: { epoch: 'OLD', offset: 70 }, last: 1 });
  // new epoch with 3 events; last: 1 sends the newest one
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'NEW', offset: 3, recovered: false, replay: 1 }, ev('r', 'v', 0, { r: 3, all: 3 }));
  assert.deepEqual(log.filter((l) => l[0] === 'recovery_failed').map((l) => l[1]), ['r']);
  assert.deepEqual(s.sentOfType('subscribe').at(-1), { type: 'subscribe', room: 'r', id: 2, since: { epoch: 'NEW', offset: 0 } });
  assert.deepEqual(seen, [], 'held while the new epoch is replayed');
  s.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'NEW', offset: 3, recovered: true, replay: 2 }, ev('r', 'v', 0, { r: 1, all: 1 }), ev('r', 'v', 0, { r: 2, all: 2 }));
  assert.deepEqual(seen, ['v#1', 'v#2', 'v#3']);
});

test('MAX_RATE is the protocol bound, generated from the .NET ProtocolLimits', () => {
  assert.equal(MAX_RATE, 1000);
});

test('maxRate not above 0, above MAX_RATE, NaN or not a number: subscribe throws, subscribeAsync rejects, nothing is sent', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  const message = (got: string) => `maxRate must be a number of events per second above 0 and at most 1000, got ${got}`;
  for (const bad of [0, -0, -1, 1000.001, 1001, Infinity, -Infinity]) {
    assert.throws(() => client.subscribe('a', { maxRate: bad }), (e: any) => e instanceof RangeError && e.message === message(String(bad)), String(bad));
    await assert.rejects(client.subscribeAsync('a', { maxRate: bad }), RangeError);
  }
  for (const [bad, shown] of [[NaN, 'NaN'], ['10', '"10"'], [null, 'null'], [true, 'true'], [{}, '{}']] as const) {
    assert.throws(() => client.subscribe('a', { maxRate: bad as any }), (e: any) => e instanceof TypeError && e.message === message(shown), shown);
    await assert.rejects(client.subscribeAsync('a', { maxRate: bad as any }), TypeError);
  }
  assert.deepEqual(s.sentOfType('subscribe'), []);
  assert.deepEqual(client.getRooms(), [], 'a refused call does not keep the room');
});

test('occupancy that is not a boolean: subscribe throws a TypeError, nothing is sent', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  for (const [bad, shown] of [['true', '"true"'], [1, '1'], [0, '0'], [null, 'null'], [{}, '{}']] as const) {
    assert.throws(() => client.subscribe('a', { occupancy: bad as any }), (e: any) => e instanceof TypeError && e.message === `occupancy must be true or false, got ${shown}`, shown);
    await assert.rejects(client.subscribeAsync('a', { occupancy: bad as any }), TypeError);
  }
  // a bad option refuses the call even next to good ones
  assert.throws(() => client.subscribe('a', { last: 1, maxRate: 10, occupancy: 'yes' as any }), TypeError);
  assert.throws(() => client.subscribe('a', { last: 1, maxRate: 0, occupancy: true }), RangeError);
  assert.deepEqual(s.sentOfType('subscribe'), []);
  assert.deepEqual(client.getRooms(), []);
});

test('the subscribe request carries maxRate and occupancy as given, the bounds included', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  client.subscribe('a', { maxRate: 10, occupancy: true });
  client.subscribe('b', { maxRate: MAX_RATE });
  client.subscribe('c', { maxRate: 0.5, occupancy: false });
  client.subscribe('d', { since: { epoch: 'E', offset: 3 }, last: 1, maxRate: 2, occupancy: true });
  assert.deepEqual(s.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'a', id: 1, maxRate: 10, occupancy: true },
    { type: 'subscribe', room: 'b', id: 2, maxRate: 1000 },
    { type: 'subscribe', room: 'c', id: 3, maxRate: 0.5, occupancy: false },
    { type: 'subscribe', room: 'd', id: 4, since: { epoch: 'E', offset: 3 }, last: 1, maxRate: 2, occupancy: true },
  ]);
});

test('reconnect: maxRate and occupancy are sent again with every resubscribe, next to since and last', async () => {
  const { client, timers } = setup();
  client.subscribe('analytics:metrics', { last: 1, maxRate: 10, occupancy: true });
  client.subscribe('plain');
  const s = await connectOpen(client);
  // parents first (fewer `:`), as on every connect
  assert.deepEqual(s.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'plain', id: 1 },
    { type: 'subscribe', room: 'analytics:metrics', id: 2, last: 1, maxRate: 10, occupancy: true },
  ]);
  s.serverSend(
    { type: 'subscribed', room: 'plain', id: 1, epoch: 'P', offset: 0 },
    { type: 'subscribed', room: 'analytics:metrics', id: 2, epoch: 'E', offset: 7, replay: 1 },
    ev('analytics:metrics', 'metrics:updated', { cpu: 1 }, { 'analytics:metrics': 7, analytics: 7, all: 7 }, { key: 'cpu' }),
  );
  for (let round = 0; round < 2; round++) {
    FakeSocket.last.serverClose(1001, 'going away');
    const next = await reconnectOpen(timers, 100);
    const sent = next.sentOfType('subscribe');
    assert.deepEqual(
      sent.map(({ id: _id, ...rest }) => rest),
      [
        { type: 'subscribe', room: 'plain', since: { epoch: 'P', offset: 0 } },
        { type: 'subscribe', room: 'analytics:metrics', since: { epoch: 'E', offset: 7 }, last: 1, maxRate: 10, occupancy: true },
      ],
      `reconnect ${round + 1}`,
    );
    next.serverSend(...sent.map((m: any) => ({ type: 'subscribed', room: m.room, id: m.id, epoch: m.since.epoch, offset: m.since.offset, recovered: true, replay: 0 })));
  }
});

test('a catch-up after an epoch change carries maxRate and occupancy (the server keeps the latest subscribe\'s), not last', async () => {
  const { client, timers } = setup();
  client.subscribe('r', { last: 2, maxRate: 5, occupancy: true });
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'r', id: 1, epoch: 'OLD', offset: 9, replay: 0 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  s2.serverSend({ type: 'subscribed', room: 'r', id: 2, epoch: 'NEW', offset: 4, recovered: false, replay: 2 });
  assert.deepEqual(s2.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'r', id: 2, since: { epoch: 'OLD', offset: 9 }, last: 2, maxRate: 5, occupancy: true },
    { type: 'subscribe', room: 'r', id: 3, since: { epoch: 'NEW', offset: 0 }, maxRate: 5, occupancy: true },
  ]);
});

test('maxRate and occupancy for a room the client already holds are ignored, like since and last', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  client.subscribe('a', { maxRate: 1 });
  client.subscribe('a', { maxRate: 50, occupancy: true });
  assert.deepEqual(s.sentOfType('subscribe'), [{ type: 'subscribe', room: 'a', id: 1, maxRate: 1 }]);
});
