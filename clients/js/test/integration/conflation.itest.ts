// Protocol 1.1 subscribe options against a real MoltBeat server: `occupancy` (the room's subscriber count, kept by
// getOccupancy) and `maxRate` (keyed events conflated, `key` and `conflated` on the meta). Run: npm run test:integration
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MoltBeatWSClient, type EventMeta, type OccupancyInfo, type SubscriptionInfo, type WSClientConfig } from '../../src/index.js';
import { TestServer, skipReason, waitFor, sleep, testClient } from './harness.js';

const skip = skipReason();
let server: TestServer;
const clients: MoltBeatWSClient[] = [];
let roomSeq = 0;
/** A room of its own for each test (one server for the file). */
const freshRoom = (name: string) => `it:${name}:${++roomSeq}`;

const client = (cfg: Partial<WSClientConfig> = {}) => testClient(server, clients, cfg);

/** What the application sees: events with a numeric `seq` in their data, occupancy counts, errors. */
function record(c: MoltBeatWSClient) {
  const events: Array<{ seq: number; meta: EventMeta }> = [];
  const occupancy: OccupancyInfo[] = [];
  const subscribed: SubscriptionInfo[] = [];
  const errors: Error[] = [];
  c.on('event', (_name, data: any, meta) => {
    if (typeof data?.seq === 'number') events.push({ seq: data.seq, meta });
  });
  c.on('occupancy', (info) => occupancy.push(info));
  c.on('subscribed', (_room, info) => subscribed.push(info));
  c.on('error', (e) => errors.push(e));
  return { events, occupancy, subscribed, errors, seqs: () => events.map((e) => e.seq) };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Publishes `seqs` one after the other (each publish answered before the next), with conflation key `key`. */
async function publishKeyed(room: string, key: string | undefined, seqs: number[]): Promise<void> {
  for (const seq of seqs) await server.publish(room, 'metrics:updated', { seq }, key === undefined ? {} : { key });
}

/** Offsets of `room` the events carried, in arrival order. */
const offsetsIn = (room: string, events: Array<{ meta: EventMeta }>) => events.map((e) => e.meta.offsets?.[room]);

/**
 * Delivered events plus the events they replaced: with every skipped offset being a conflated event, this is the
 * number of events published to the room since the first delivered one's predecessor.
 */
const accountedFor = (events: Array<{ meta: EventMeta }>) => events.reduce((n, e) => n + 1 + (e.meta.conflated ?? 0), 0);

before(async () => {
  if (skip) return;
  server = await TestServer.start();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

test('occupancy: true tells the room\'s subscriber count, 1 then 2 when a second client subscribes, then 1 again when it leaves', { skip }, async () => {
  const room = freshRoom('occupancy');
  const a = client();
  const ra = record(a);
  await a.connect();
  await a.subscribeAsync(room, { occupancy: true });
  await waitFor('the first count', () => a.getOccupancy(room) !== undefined);
  assert.equal(a.getOccupancy(room), 1);
  assert.deepEqual(ra.occupancy[0], { room, subscribers: 1 });

  // the second client does not ask for occupancy: it is counted all the same
  const b = client();
  await b.connect();
  await b.subscribeAsync(room);
  await waitFor('a count of 2', () => a.getOccupancy(room) === 2);
  assert.deepEqual(ra.occupancy.at(-1), { room, subscribers: 2 });

  b.disconnect();
  await waitFor('a count of 1 again', () => a.getOccupancy(room) === 1);
  assert.deepEqual(
    ra.occupancy.map((o) => o.subscribers).filter((n, i, all) => i === 0 || n !== all[i - 1]),
    [1, 2, 1],
    'the counts in order',
  );
  assert.ok(ra.occupancy.every((o) => o.room === room));

  await a.unsubscribeAsync(room);
  assert.equal(a.getOccupancy(room), undefined, 'forgotten on unsubscribe');
  assert.deepEqual(ra.errors, []);
});

test('without occupancy: true no occupancy message arrives', { skip }, async () => {
  const room = freshRoom('no-occupancy');
  const a = client();
  const ra = record(a);
  await a.connect();
  await a.subscribeAsync(room);
  const b = client();
  await b.connect();
  await b.subscribeAsync(room);
  await sleep(1500); // longer than the server's occupancy interval (1 s)
  assert.deepEqual(ra.occupancy, []);
  assert.equal(a.getOccupancy(room), undefined);
});

test('maxRate: 2 with keyed events: fewer events than published, the newest last, conflated counts every skipped offset', { skip }, async () => {
  const room = freshRoom('conflate');
  const c = client();
  const r = record(c);
  await c.connect();
  const info = await c.subscribeAsync(room, { maxRate: 2 });
  const published = 30;
  await publishKeyed(room, 'k1', range(1, published));
  await waitFor('the newest event', () => r.seqs().includes(published), 10_000);
  await sleep(1200); // more than two release intervals: anything still coming would arrive
  const seqs = r.seqs();
  assert.ok(seqs.length < published, `received ${seqs.length} of ${published}`);
  assert.equal(seqs.at(-1), published, 'the last one is the newest');
  assert.ok(r.events.some((e) => (e.meta.conflated ?? 0) > 0), 'some event says it replaced older ones');
  assert.ok(r.events.every((e) => e.meta.key === 'k1'), 'each event carries its key');
  // in order, and each skipped offset is exactly a conflated event
  const offsets = offsetsIn(room, r.events) as number[];
  assert.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!), `offsets increase: ${offsets}`);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(accountedFor(r.events), published, 'delivered + conflated = published');
  for (let i = 1; i < r.events.length; i++) assert.equal(offsets[i]! - offsets[i - 1]!, 1 + (r.events[i]!.meta.conflated ?? 0), `gap before #${i}`);
  assert.deepEqual(c.getRoomPosition(room), { epoch: info.epoch, offset: info.offset! + published });
  assert.deepEqual(r.errors, []);
});

test('maxRate never drops events without a key: all of them arrive, in order, none conflated', { skip }, async () => {
  const room = freshRoom('unkeyed');
  const c = client();
  const r = record(c);
  await c.connect();
  await c.subscribeAsync(room, { maxRate: 5 });
  await publishKeyed(room, undefined, range(1, 12));
  await waitFor('12 events', () => r.events.length >= 12, 10_000);
  assert.deepEqual(r.seqs(), range(1, 12));
  assert.ok(r.events.every((e) => e.meta.conflated === undefined && e.meta.key === undefined));
});

test('keys are conflated apart: each key\'s newest value arrives', { skip }, async () => {
  const room = freshRoom('two-keys');
  const c = client();
  const seen = new Map<string, number[]>();
  c.on('metrics:updated', (data: any, meta) => {
    const list = seen.get(meta.key ?? '-') ?? [];
    list.push(data.seq);
    seen.set(meta.key ?? '-', list);
  });
  await c.connect();
  await c.subscribeAsync(room, { maxRate: 2 });
  for (let seq = 1; seq <= 20; seq++) await server.publish(room, 'metrics:updated', { seq }, { key: seq % 2 === 0 ? 'mem' : 'cpu' });
  await waitFor('both keys\' newest', () => (seen.get('cpu')?.includes(19) ?? false) && (seen.get('mem')?.includes(20) ?? false), 10_000);
  assert.deepEqual([...seen.keys()].sort(), ['cpu', 'mem']);
  assert.equal(seen.get('cpu')!.at(-1), 19);
  assert.equal(seen.get('mem')!.at(-1), 20);
  assert.ok(seen.get('cpu')!.length + seen.get('mem')!.length < 20, 'conflated');
});

test('a reconnect subscribes again with maxRate and occupancy: a new count, and keyed events still conflated', { skip }, async () => {
  const room = freshRoom('reconnect');
  const c = client();
  const r = record(c);
  await c.connect();
  await c.subscribeAsync(room, { maxRate: 2, occupancy: true });
  await waitFor('the first count', () => r.occupancy.length === 1);

  c.disconnect();
  const before = r.events.length;
  await c.connect(); // the client keeps its rooms and their options: it subscribes again from its position
  // A count read while the client was away (0) may come first: the server then sends the new one on the next read.
  await waitFor('a count of 1 on the new connection', () => r.occupancy.length >= 2 && c.getOccupancy(room) === 1);
  assert.deepEqual(r.occupancy.at(-1), { room, subscribers: 1 });
  assert.equal(r.subscribed.length, 2);
  assert.equal(r.subscribed[1]!.recovered, true, 'resubscribed with since');

  await publishKeyed(room, 'k1', range(1, 20));
  await waitFor('the newest event', () => r.seqs().includes(20), 10_000);
  await sleep(1200);
  const after = r.events.slice(before);
  assert.ok(after.length < 20, `maxRate still applies: received ${after.length} of 20`);
  assert.equal(accountedFor(after), 20);
  assert.equal(c.getOccupancy(room), 1);
});

test('last with maxRate: the replay is conflated too, the newest value first', { skip }, async () => {
  const room = freshRoom('replay');
  await publishKeyed(room, 'k1', range(1, 10));
  const c = client();
  const r = record(c);
  await c.connect();
  const info = await c.subscribeAsync(room, { last: 10, maxRate: 2 });
  await waitFor('the newest replayed event', () => r.seqs().includes(10), 10_000);
  await sleep(700);
  assert.equal(info.replay, r.events.length, 'replay counts what follows the reply');
  assert.ok(r.events.length < 10, `received ${r.events.length} of 10`);
  assert.equal(r.seqs().at(-1), 10);
  assert.equal(accountedFor(r.events), 10, 'the replayed events and those they replaced are the last 10');
});
