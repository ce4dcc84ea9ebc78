import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffCeiling,
  backoffDelay,
  closeAction,
  jwtExpiry,
  RecentIdSet,
  refreshDelay,
  splitBatch,
  WSRoom,
  AnalyticsEvent,
  createEntityRoom,
  isValidRoom,
} from '../../src/index.js';

test('backoff: exponential from the interval, capped, full jitter', () => {
  const half = { base: 1000, cap: 30000, random: () => 0.5 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, half)),
    [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000],
  );
  const top = { base: 1000, cap: 30000, random: () => 1 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, top)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  const zero = { base: 1000, cap: 30000, random: () => 0 };
  assert.deepEqual([0, 3, 9].map((a) => backoffDelay(a, zero)), [0, 0, 0]);
});

test('backoff: every delay lies in [0, ceiling) for a seeded random source', () => {
  let seed = 12345;
  const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const o = { base: 250, cap: 30000, random: lcg };
  const seen = new Set<number>();
  for (let attempt = 0; attempt < 20; attempt++) {
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, o);
      assert.ok(d >= 0 && d < backoffCeiling(attempt, 250, 30000), `attempt ${attempt}: ${d}`);
      seen.add(d);
    }
  }
  assert.ok(seen.size > 500, 'delays are spread, not fixed');
});

test('backoff: huge attempt numbers and odd random values stay within the cap', () => {
  assert.equal(backoffCeiling(5000, 5000, 30000), 30000);
  assert.equal(backoffDelay(5000, { base: 5000, cap: 30000, random: () => 0.999 }), 29970);
  assert.equal(backoffDelay(2, { base: 100, cap: 30000, random: () => NaN }), 0);
  assert.equal(backoffDelay(2, { base: 100, cap: 30000, random: () => 7 }), 400);
});

test('close codes map to the protocol table', () => {
  const table: Record<number, string> = {
    1000: 'stop',
    1001: 'backoff',
    1002: 'stop',
    1003: 'stop',
    1005: 'backoff',
    1006: 'backoff',
    1007: 'stop',
    1008: 'stop',
    1009: 'stop',
    1010: 'backoff',
    1011: 'backoff',
    1012: 'backoff',
    1013: 'backoff',
    4000: 'backoff',
    4001: 'new_token',
    4003: 'new_token',
    4008: 'long_backoff',
    4009: 'immediate',
    4010: 'backoff',
  };
  for (const [code, action] of Object.entries(table)) assert.equal(closeAction(Number(code)), action, `code ${code}`);
});

test('splitBatch splits a batched frame in order and ignores empty parts', () => {
  assert.deepEqual(splitBatch('{"type":"pong"}'), ['{"type":"pong"}']);
  assert.deepEqual(splitBatch('{"a":1}\n{"b":2}\n{"c":"x\\ny"}'), ['{"a":1}', '{"b":2}', '{"c":"x\\ny"}']);
  assert.deepEqual(splitBatch('{"a":1}\n'), ['{"a":1}']);
  assert.deepEqual(splitBatch('\n\n{"a":1}\n\n{"b":2}'), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(splitBatch('{"a":1}\r\n{"b":2}'), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(splitBatch(''), []);
});

test('RecentIdSet remembers a bounded number of ids, oldest forgotten first', () => {
  const s = new RecentIdSet(3);
  assert.equal(s.add(1), true);
  assert.equal(s.add(1), false);
  s.add(2);
  s.add(3);
  s.add(4);
  assert.equal(s.size, 3);
  assert.equal(s.has(1), false);
  assert.equal(s.has(2) && s.has(3) && s.has(4), true);
  s.clear();
  assert.equal(s.size, 0);
  assert.throws(() => new RecentIdSet(0));
});

test('jwtExpiry reads exp without verifying; refreshDelay leads expiry as the .NET client does', () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = `${b64({ alg: 'HS256' })}.${b64({ sub: '1', exp: 1700000000 })}.sig`;
  assert.equal(jwtExpiry(jwt), 1700000000);
  assert.equal(jwtExpiry('not-a-jwt'), undefined);
  assert.equal(jwtExpiry(`${b64({})}.${b64({ sub: 'x' })}.s`), undefined);
  assert.equal(jwtExpiry(undefined), undefined);
  // one hour left, 30 s margin
  assert.equal(refreshDelay(3_600_000, 0, 30_000), 3_570_000);
  // 10 s left, less than twice the margin: halfway through what is left
  assert.equal(refreshDelay(10_000, 0, 30_000), 5_000);
  assert.equal(refreshDelay(60_000, 0, 30_000), 30_000);
  assert.equal(refreshDelay(60_002, 0, 30_000), 30_002);
  assert.equal(refreshDelay(5, 10, 30_000), 0);
});

test('rooms and analytics vocabulary match the seed', () => {
  assert.deepEqual(
    { ...WSRoom },
    {
      AllEvents: 'all',
      System: 'system',
      Analytics: 'analytics',
      AgentsOverview: 'analytics:agents',
      PostsOverview: 'analytics:posts',
      MetricsOverview: 'analytics:metrics',
      Alerts: 'alerts',
      CriticalAlerts: 'alerts:critical',
    },
  );
  assert.equal(Object.keys(AnalyticsEvent).length, 14);
  assert.equal(AnalyticsEvent.AgentStatusChanged, 'agent:status_changed');
  assert.equal(AnalyticsEvent.SystemMaintenanceStart, 'system:maintenance_start');
  assert.equal(AnalyticsEvent.TrendingTopicAdded, 'trending:added');
  assert.equal(createEntityRoom('agent', '123'), 'agent:123');
  assert.equal(createEntityRoom('post', 456), 'post:456');
  assert.equal(isValidRoom('analytics:agents'), true);
  assert.equal(isValidRoom('bad room'), false);
  assert.equal(isValidRoom('x'.repeat(129)), false);
});
