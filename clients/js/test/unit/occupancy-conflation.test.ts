// Protocol revision 1.1 on the receiving side: `occupancy` messages (the `occupancy` event, getOccupancy), and events
// of a maxRate subscription (`key`, `conflated`, and the offsets that conflation skips).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventMeta, OccupancyInfo, WSClientConfig } from '../../src/index.js';
import { connectOpen, ev, fakeClient, reconnectOpen } from '../support/fakes.js';

function setup(cfg: Partial<WSClientConfig> = {}) {
  const { client, timers } = fakeClient(cfg);
  const occupancy: OccupancyInfo[] = [];
  client.on('occupancy', (info) => occupancy.push(info));
  const log: any[][] = [];
  for (const e of ['recovery_failed', 'error'] as const) client.on(e as any, (...a: any[]) => log.push([e, ...a]));
  const events: Array<{ name: string; data: unknown; meta: EventMeta }> = [];
  client.on('event', (name, data, meta) => events.push({ name, data, meta }));
  const seen = () => events.map((e) => `${e.name}#${e.meta.offsets?.all ?? '-'}`);
  return { client, timers, occupancy, log, events, seen };
}

const occ = (room: string, subscribers: number) => ({ type: 'occupancy', room, subscribers });

// ---------------------------------------------------------------------------------------------------------------
// occupancy
// ---------------------------------------------------------------------------------------------------------------

test('occupancy messages emit the occupancy event and getOccupancy answers the latest count per room', async () => {
  const { client, occupancy } = setup();
  const s = await connectOpen(client);
  client.subscribe('analytics', { occupancy: true });
  client.subscribe('alerts', { occupancy: true });
  assert.equal(client.getOccupancy('analytics'), undefined, 'nothing before the first count');
  s.serverSend({ type: 'subscribed', room: 'analytics', id: 1, epoch: 'E', offset: 0 }, occ('analytics', 1));
  s.serverSend({ type: 'subscribed', room: 'alerts', id: 2, epoch: 'E', offset: 0 }, occ('alerts', 1234));
  s.serverSend(occ('analytics', 2), occ('analytics', 5));
  assert.deepEqual(occupancy, [
    { room: 'analytics', subscribers: 1 },
    { room: 'alerts', subscribers: 1234 },
    { room: 'analytics', subscribers: 2 },
    { room: 'analytics', subscribers: 5 },
  ]);
  assert.equal(client.getOccupancy('analytics'), 5);
  assert.equal(client.getOccupancy('alerts'), 1234);
  assert.equal(client.getOccupancy('other'), undefined);
});

test('occupancy of a room the client does not hold, or without a count, is ignored', async () => {
  const { client, occupancy, log } = setup();
  const s = await connectOpen(client);
  client.subscribe('a', { occupancy: true });
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 }, occ('a', 3));
  s.serverSend(occ('b', 9), { type: 'occupancy', room: 'a' }, occ('a', -1), occ('a', 1.5), { type: 'occupancy', room: 'a', subscribers: '4' });
  assert.deepEqual(occupancy, [{ room: 'a', subscribers: 3 }]);
  assert.equal(client.getOccupancy('a'), 3);
  assert.equal(client.getOccupancy('b'), undefined);
  assert.deepEqual(log, [], 'not an error: clients ignore what they cannot use');
});

test('unsubscribe forgets the room\'s occupancy; a count the server sent before it saw the unsubscribe does not bring it back', async () => {
  const { client, occupancy } = setup();
  const s = await connectOpen(client);
  client.subscribe('a', { occupancy: true });
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 }, occ('a', 2));
  client.unsubscribe('a');
  assert.equal(client.getOccupancy('a'), undefined);
  s.serverSend(occ('a', 3), { type: 'unsubscribed', room: 'a', id: 2 });
  assert.equal(client.getOccupancy('a'), undefined);
  assert.deepEqual(occupancy, [{ room: 'a', subscribers: 2 }]);

  // subscribed again: counts from scratch
  client.subscribe('a', { occupancy: true });
  assert.equal(client.getOccupancy('a'), undefined);
  s.serverSend({ type: 'subscribed', room: 'a', id: 3, epoch: 'E', offset: 0 }, occ('a', 1));
  assert.equal(client.getOccupancy('a'), 1);
});

test('a subscription the server removes (reason revoked) forgets its occupancy too', async () => {
  const { client } = setup();
  const s = await connectOpen(client);
  client.subscribe('tenant:7', { occupancy: true });
  s.serverSend({ type: 'subscribed', room: 'tenant:7', id: 1, epoch: 'E', offset: 0 }, occ('tenant:7', 4));
  s.serverSend({ type: 'unsubscribed', room: 'tenant:7', reason: 'revoked' });
  assert.equal(client.getOccupancy('tenant:7'), undefined);
});

test('across a reconnect getOccupancy keeps the last count until the server tells the new one', async () => {
  const { client, timers, occupancy } = setup();
  client.subscribe('a', { occupancy: true });
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 }, occ('a', 7));
  s.serverClose(1001);
  assert.equal(client.getOccupancy('a'), 7);
  const s2 = await reconnectOpen(timers, 100);
  assert.equal(s2.sentOfType('subscribe')[0].occupancy, true);
  s2.serverSend({ type: 'subscribed', room: 'a', id: 2, epoch: 'E', offset: 0, recovered: true }, occ('a', 6));
  assert.equal(client.getOccupancy('a'), 6);
  assert.deepEqual(occupancy.map((o) => o.subscribers), [7, 6]);
});

test('an application event named occupancy reaches `event` only, never the occupancy handlers', async () => {
  const { client, occupancy, seen } = setup();
  const s = await connectOpen(client);
  client.subscribe('a');
  s.serverSend({ type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 }, ev('a', 'occupancy', { n: 1 }, { a: 1, all: 1 }));
  assert.deepEqual(seen(), ['occupancy#1']);
  assert.deepEqual(occupancy, []);
});

// ---------------------------------------------------------------------------------------------------------------
// key and conflated
// ---------------------------------------------------------------------------------------------------------------

test('key and conflated are on the meta handed to handlers; absent when the server did not send them', async () => {
  const { client } = setup();
  const metas: EventMeta[] = [];
  client.on('metrics:updated', (_data, meta) => metas.push(meta));
  const s = await connectOpen(client);
  client.subscribe('m', { maxRate: 10 });
  s.serverSend(
    { type: 'subscribed', room: 'm', id: 1, epoch: 'E', offset: 0 },
    ev('m', 'metrics:updated', { v: 1 }, { m: 1, all: 1 }, { key: 'cpu' }),
    ev('m', 'metrics:updated', { v: 4 }, { m: 4, all: 4 }, { key: 'cpu', conflated: 2 }),
    ev('m', 'metrics:updated', { v: 5 }, { m: 5, all: 5 }),
    ev('m', 'metrics:updated', { v: 6 }, { m: 6, all: 6 }, { key: 'mem', conflated: 0 }),
  );
  assert.deepEqual(
    metas.map((m) => [m.key, m.conflated]),
    [['cpu', undefined], ['cpu', 2], [undefined, undefined], ['mem', undefined]],
  );
  assert.equal('key' in metas[2]!, false, 'an unkeyed event has no key field');
  assert.equal('conflated' in metas[0]!, false, 'nothing replaced: no conflated field');
  assert.equal('conflated' in metas[3]!, false, 'conflated 0 says nothing was replaced');
  assert.deepEqual(metas[1], { room: 'm', rooms: ['m'], offsets: { m: 4, all: 4 }, ts: 1764170000000, key: 'cpu', conflated: 2 });
});

test('offsets skipped by conflation are not a loss: every event delivered, the position moves on, a reconnect resumes after the newest', async () => {
  const { client, timers, log, seen } = setup();
  client.subscribe('m', { maxRate: 2 });
  const s = await connectOpen(client);
  s.serverSend(
    { type: 'subscribed', room: 'm', id: 1, epoch: 'E', offset: 10 },
    ev('m', 'v', 1, { m: 11, all: 111 }, { key: 'k1' }),
    // 12..14 were replaced by 15
    ev('m', 'v', 5, { m: 15, all: 115 }, { key: 'k1', conflated: 3 }),
    ev('m', 'v', 9, { m: 19, all: 119 }, { key: 'k1', conflated: 3 }),
  );
  assert.deepEqual(seen(), ['v#111', 'v#115', 'v#119']);
  assert.deepEqual(client.getRoomPosition('m'), { epoch: 'E', offset: 19 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  assert.deepEqual(s2.sentOfType('subscribe'), [{ type: 'subscribe', room: 'm', id: 2, since: { epoch: 'E', offset: 19 }, maxRate: 2 }]);
  s2.serverSend({ type: 'subscribed', room: 'm', id: 2, epoch: 'E', offset: 21, recovered: true }, ev('m', 'v', 11, { m: 21, all: 121 }, { key: 'k1', conflated: 1 }));
  assert.deepEqual(seen(), ['v#111', 'v#115', 'v#119', 'v#121']);
  assert.deepEqual(log, [], 'no error, no recovery_failed');
  assert.equal(s2.sentOfType('subscribe').length, 1, 'no request to fill the skipped offsets');
});

test('a conflated catch-up after a server restart ends with its last event, without waiting for the catch-up timeout', async () => {
  const { client, timers, seen } = setup({ catchupTimeout: 10_000 });
  client.subscribe('m', { maxRate: 5 });
  const s = await connectOpen(client);
  s.serverSend({ type: 'subscribed', room: 'm', id: 1, epoch: 'OLD', offset: 30 });
  s.serverClose(1001);
  const s2 = await reconnectOpen(timers, 100);
  // the restarted server has 6 events in the new epoch; a live one (7) comes before the catch-up reply
  s2.serverSend({ type: 'subscribed', room: 'm', id: 2, epoch: 'NEW', offset: 6, recovered: false }, ev('m', 'live', 7, { m: 7, all: 7 }, { key: 'k' }));
  assert.deepEqual(s2.sentOfType('subscribe')[1], { type: 'subscribe', room: 'm', id: 3, since: { epoch: 'NEW', offset: 0 }, maxRate: 5 });
  assert.deepEqual(seen(), [], 'held while the new epoch is replayed');
  // the replay, conflated for this subscription: 1..3 are replaced by 4, 5 by 6
  s2.serverSend(
    { type: 'subscribed', room: 'm', id: 3, epoch: 'NEW', offset: 6, recovered: true, replay: 2 },
    ev('m', 'missed', 4, { m: 4, all: 4 }, { key: 'k', conflated: 3 }),
  );
  assert.deepEqual(seen(), [], 'offset 5 and 6 still to come');
  s2.serverSend(ev('m', 'missed', 6, { m: 6, all: 6 }, { key: 'k', conflated: 1 }));
  assert.deepEqual(seen(), ['missed#4', 'missed#6', 'live#7'], 'released in order as soon as every offset is accounted for');
  assert.deepEqual(client.getRoomPosition('m'), { epoch: 'NEW', offset: 7 });
  assert.equal(timers.pendingDelays().some((d) => d > 1000), false, 'the catch-up timer is cleared');
});
