// useMoltBeat (src/react.ts) on the shared fakes, rendered by React in Node: the rooms it subscribes with `last`,
// `maxRate` and `occupancy`, the occupancy it returns, and its checks of those options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useMoltBeat, type UseMoltBeatOptions, type UseMoltBeatResult } from '../../src/react.js';
import { FakeSocket, FakeTimers, connectedMsg, flush } from '../support/fakes.js';
import { createTestRoot } from '../support/react-root.js';

/** Renders the hook and records every result it returned. */
function Probe({ options, results }: { options: UseMoltBeatOptions; results: UseMoltBeatResult[] }) {
  results.push(useMoltBeat('ws://127.0.0.1:9/ws', undefined, options));
  return null;
}

async function mounted(options: Omit<UseMoltBeatOptions, 'WebSocket' | 'timers'>) {
  FakeSocket.reset();
  const timers = new FakeTimers();
  const results: UseMoltBeatResult[] = [];
  const root = createTestRoot();
  const all: UseMoltBeatOptions = { WebSocket: FakeSocket as any, timers, now: () => timers.now, heartbeatInterval: 0, reconnectInterval: 100, random: () => 1, ...options };
  await root.render(Probe, { options: all, results });
  await flush();
  const s = FakeSocket.last;
  await root.act(() => {
    s.serverOpen();
    s.serverSend(connectedMsg());
  });
  const latest = () => results[results.length - 1]!;
  return { root, s, timers, latest, results };
}

test('useMoltBeat subscribes its rooms with last, maxRate and occupancy', async () => {
  const { root, s, latest } = await mounted({ rooms: ['analytics:metrics', 'alerts'], last: 1, maxRate: 10, occupancy: true });
  assert.equal(latest().connected, true);
  // subscribed before the connection opened, so sent on connect, parents (fewer `:`) first
  assert.deepEqual(s.sentOfType('subscribe'), [
    { type: 'subscribe', room: 'alerts', id: 1, last: 1, maxRate: 10, occupancy: true },
    { type: 'subscribe', room: 'analytics:metrics', id: 2, last: 1, maxRate: 10, occupancy: true },
  ]);
  await root.unmount();
});

test('useMoltBeat returns the occupancy of its rooms, updated on each occupancy message', async () => {
  const { root, s, latest } = await mounted({ rooms: ['a', 'b'], occupancy: true });
  assert.deepEqual(latest().occupancy, {});
  await root.act(() =>
    s.serverSend(
      { type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 },
      { type: 'occupancy', room: 'a', subscribers: 1 },
      { type: 'subscribed', room: 'b', id: 2, epoch: 'E', offset: 0 },
    ),
  );
  assert.deepEqual(latest().occupancy, { a: 1 });
  await root.act(() => s.serverSend({ type: 'occupancy', room: 'b', subscribers: 40 }, { type: 'occupancy', room: 'a', subscribers: 2 }));
  assert.deepEqual(latest().occupancy, { a: 2, b: 40 });
  const before = latest().occupancy;
  await root.act(() => s.serverSend({ type: 'occupancy', room: 'a', subscribers: 2 }));
  assert.equal(latest().occupancy, before, 'the same count: the same object');
  await root.unmount();
});

test('useMoltBeat: rooms the component subscribed itself stay out of occupancy; an unsubscribed room leaves it', async () => {
  const { root, s, latest } = await mounted({ rooms: ['a'], occupancy: true });
  const client = latest().client!;
  client.subscribe('mine', { occupancy: true });
  await root.act(() =>
    s.serverSend(
      { type: 'subscribed', room: 'a', id: 1, epoch: 'E', offset: 0 },
      { type: 'occupancy', room: 'a', subscribers: 3 },
      { type: 'subscribed', room: 'mine', id: 2, epoch: 'E', offset: 0 },
      { type: 'occupancy', room: 'mine', subscribers: 8 },
    ),
  );
  assert.deepEqual(latest().occupancy, { a: 3 });
  assert.equal(client.getOccupancy('mine'), 8, 'the client has it');
  await root.act(() => client.unsubscribe('a'));
  await root.act(() => s.serverSend({ type: 'unsubscribed', room: 'a', id: 3 }));
  assert.deepEqual(latest().occupancy, {});
  await root.unmount();
});

test('useMoltBeat throws during render for a maxRate out of bounds or an occupancy that is not a boolean', async () => {
  for (const [options, type] of [
    [{ rooms: ['a'], maxRate: 0 }, RangeError],
    [{ rooms: ['a'], maxRate: 1001 }, RangeError],
    [{ rooms: ['a'], maxRate: NaN }, TypeError],
    [{ rooms: ['a'], maxRate: '10' as any }, TypeError],
    [{ rooms: ['a'], occupancy: 'true' as any }, TypeError],
  ] as const) {
    FakeSocket.reset();
    const root = createTestRoot();
    const results: UseMoltBeatResult[] = [];
    // act() hands on what the render threw
    await assert.rejects(root.render(Probe, { options: { ...options, WebSocket: FakeSocket as any, timers: new FakeTimers() }, results }), type, JSON.stringify(options));
    assert.deepEqual(results, [], 'the hook returned nothing');
    assert.equal(FakeSocket.instances.length, 0, 'no client was connected');
    await root.unmount();
  }
});
