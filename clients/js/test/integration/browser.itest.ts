// The seed's browser example and React hook in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; no browser is downloaded), against a real MoltBeat server. Run: npm run test:integration
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { TestServer, JS_ROOT, skipReason, waitFor, sleep } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skip = skipReason();
let server: TestServer;
let pages: http.Server;
let pagesUrl = '';
let context: BrowserContext;
let userDataDir = '';

/**
 * Serves the fixtures, the browser bundle and the bundled React app on 127.0.0.1, and passes `/api/*` on to the
 * MoltBeat server: the pages call the HTTP API on their own origin, as behind a reverse proxy (the server sends
 * no CORS headers, so a page of another origin could not read its replies).
 */
async function servePages(files: Record<string, { file?: string; body?: string; type: string }>): Promise<http.Server> {
  const srv = http.createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    if (path.startsWith('/api/')) {
      const upstream = http.request(`${server.httpUrl}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end('{"error":"upstream unreachable"}'));
      req.pipe(upstream);
      return;
    }
    const f = files[path];
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' });
    res.end(f.body ?? readFileSync(f.file!));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return srv;
}

async function openPage(path: string, query: Record<string, string>): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[page console] ${m.text()}`);
  });
  await page.goto(`${pagesUrl}${path}?${new URLSearchParams(query)}`);
  return page;
}

async function pageWait(page: Page, what: string, fn: string, timeout = 15_000): Promise<void> {
  await waitFor(what, async () => Boolean(await page.evaluate(fn)), timeout, 50);
}

before(async () => {
  if (skip) return;
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  const reactBundle = await build({
    entryPoints: [join(JS_ROOT, 'test/fixtures/react-app.js')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    minify: true,
    define: { 'process.env.NODE_ENV': '"production"' },
    alias: { '@moltbeat/websocket/react': join(JS_ROOT, 'src/react.ts') },
    logLevel: 'warning',
  });
  pages = await servePages({
    '/example.html': { file: join(JS_ROOT, 'test/fixtures/browser-example.html'), type: 'text/html' },
    '/moltbeat.js': { file: join(JS_ROOT, 'dist/browser/moltbeat.min.js'), type: 'text/javascript' },
    '/react.html': { file: join(JS_ROOT, 'test/fixtures/react-app.html'), type: 'text/html' },
    '/react-app.js': { body: reactBundle.outputFiles[0].text, type: 'text/javascript' },
    '/api.html': { file: join(JS_ROOT, 'test/fixtures/api.html'), type: 'text/html' },
  });
  pagesUrl = `http://127.0.0.1:${(pages.address() as any).port}`;
  server = await TestServer.start();
  userDataDir = mkdtempSync(join(tmpdir(), 'moltbeat-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await new Promise<void>((r) => (pages ? pages.close(() => r()) : r()));
  await server?.stop();
});

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('browser example: receives events, survives a server restart and gets the missed events once, in order', { skip, timeout: 180_000 }, async (t) => {
  const page = await openPage('/example.html', { ws: server.wsUrl, reconnectInterval: '1000', jitter: '0' });
  await pageWait(page, 'connected and subscribed', 'window.__state && window.__state.connected && window.__state.subscribed.length === 2');

  for (const i of range(1, 3)) {
    await server.publish(i === 2 ? 'analytics:metrics' : 'analytics:agents', i === 2 ? 'metrics:updated' : 'agent:created', { id: String(i), seq: i });
  }
  await pageWait(page, '3 events', 'window.__seen.length >= 3');
  assert.deepEqual(await page.evaluate('window.__seen.map(e => e.seq)'), [1, 2, 3]);
  const shown = await page.locator('#log li').allTextContents();
  assert.deepEqual(shown, ['New agent: 1', 'Metrics updated: 2', 'New agent: 3']);

  await server.stop();
  await pageWait(page, 'disconnected', '!window.__state.connected', 15_000);
  await server.start();
  for (const i of range(4, 6)) await server.publish('analytics:agents', 'agent:created', { id: String(i), seq: i });
  const away = !(await page.evaluate('window.__state.connected'));
  t.diagnostic(away ? 'events 4-6 were published before the page came back (catch-up path)' : 'the page was back before events 4-6 (live path)');
  await pageWait(page, 'reconnected', 'window.__state.connected', 60_000);
  await pageWait(page, '6 events', 'window.__seen.length >= 6');
  await server.publish('analytics:metrics', 'metrics:updated', { seq: 7 });
  await pageWait(page, '7 events', 'window.__seen.length >= 7');
  await sleep(300);

  assert.deepEqual(await page.evaluate('window.__seen.map(e => e.seq)'), range(1, 7));
  const state: any = await page.evaluate('window.__state');
  assert.deepEqual([...state.recoveryFailed].sort(), ['analytics', 'analytics:agents']);
  assert.equal(state.disconnects.length, 1);
  assert.deepEqual(await page.locator('#status').textContent(), 'Connected');
  await page.close();
});

test('React hook: connects, renders events, and disconnects on unmount', { skip, timeout: 120_000 }, async () => {
  const page = await openPage('/react.html', { ws: server.wsUrl });
  await page.locator('#status', { hasText: 'Connected' }).waitFor({ timeout: 15_000 });
  // wait until the subscription of the live client is confirmed
  await pageWait(page, 'subscribed', 'window.__react.clients.some(c => c.isConnected() && c.getRoomPosition("analytics")?.epoch !== undefined)');

  await server.publish('analytics:metrics', 'metrics:updated', { seq: 1, cpu: 0.5 });
  await server.publish('analytics:metrics', 'metrics:updated', { seq: 2, cpu: 0.6 });
  await page.locator('#status', { hasText: 'last=2' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await page.evaluate('window.__react.metrics'), [1, 2]);

  // StrictMode mounts twice: exactly one client is live
  assert.equal(await page.evaluate('window.__react.clients.filter(c => c.isConnected()).length'), 1);

  await page.evaluate('window.__unmount()');
  await page.locator('#status', { hasText: 'Unmounted' }).waitFor({ timeout: 5_000 });
  await pageWait(page, 'every client disconnected', 'window.__react.clients.every(c => !c.isConnected())', 5_000);
  await server.publish('analytics:metrics', 'metrics:updated', { seq: 3 });
  await sleep(300);
  assert.deepEqual(await page.evaluate('window.__react.metrics'), [1, 2], 'no event after unmount');
  await page.close();
});

test('browser bundle: since from getRoomPosition, last, getRoomHistory and their errors', { skip, timeout: 120_000 }, async () => {
  const page = await openPage('/api.html', {});
  await pageWait(page, 'the bundle', 'window.__ready === true');
  const snap = 'browser:snapshot';
  const dash = 'browser:dashboard';
  for (const i of range(1, 3)) await server.publish(snap, 'metrics:updated', { seq: i });
  for (const i of range(11, 14)) await server.publish(dash, 'metrics:updated', { seq: i });

  // 1. the position (through the page's own origin), 2. the state would be loaded here, 3. subscribe since it
  const position: any = await page.evaluate(`(async () => (window.__pos = await mb.getRoomPosition(location.origin, ${JSON.stringify(snap)})))()`);
  assert.equal(position.offset, 3);
  assert.equal(typeof position.epoch, 'string');
  for (const i of range(4, 5)) await server.publish(snap, 'metrics:updated', { seq: i });

  const infos: any = await page.evaluate(`(async () => {
    const c = (window.__c = new mb.MoltBeatWSClient({ url: ${JSON.stringify(server.wsUrl)}, reconnectInterval: 200 }));
    window.__got = {};
    c.on('event', (name, data, meta) => (window.__got[meta.room] ??= []).push(data.seq));
    await c.connect();
    const a = await c.subscribeAsync(${JSON.stringify(snap)}, { since: window.__pos });
    const b = await c.subscribeAsync(${JSON.stringify(dash)}, { last: 2 });
    return [a, b];
  })()`);
  assert.deepEqual([infos[0].recovered, infos[0].replay], [true, 2]);
  assert.deepEqual([infos[1].replay, infos[1].offset], [2, 4]);
  await server.publish(snap, 'metrics:updated', { seq: 6 });
  await server.publish(dash, 'metrics:updated', { seq: 15 });
  await pageWait(page, 'every event', `window.__got[${JSON.stringify(snap)}]?.length >= 3 && window.__got[${JSON.stringify(dash)}]?.length >= 3`);
  await sleep(200);
  assert.deepEqual(await page.evaluate('window.__got'), { [snap]: [4, 5, 6], [dash]: [13, 14, 15] });

  const history: any = await page.evaluate(`(async () => {
    const h = await mb.getRoomHistory(location.origin, ${JSON.stringify(dash)}, { limit: 2 });
    return h.events.map((e) => e.data.seq);
  })()`);
  assert.deepEqual(history, [14, 15]);

  const errors: any = await page.evaluate(`(async () => {
    const out = [];
    try { window.__c.subscribe('browser:x', { last: 101 }); } catch (e) { out.push([e.name, e.message]); }
    try { await mb.getRoomHistory(location.origin, 'browser:x', { limit: 5000 }); } catch (e) { out.push([e.name, e.status, e.error]); }
    window.__c.disconnect();
    return out;
  })()`);
  assert.deepEqual(errors[0], ['RangeError', 'last must be an integer from 0 to 100, got 101']);
  assert.deepEqual(errors[1].slice(0, 2), ['MoltBeatHttpError', 400]);
  assert.match(errors[1][2], /limit must be an integer from 1 to 1000/);
  await page.close();
});

test('React hook with last: the hook opens its room on the last event, then live ones', { skip, timeout: 120_000 }, async () => {
  const room = 'browser:react-last';
  for (const i of range(1, 3)) await server.publish(room, 'metrics:updated', { seq: i });
  const page = await openPage('/react.html', { ws: server.wsUrl, room, last: '1' });
  await page.locator('#status', { hasText: 'Connected last=3' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await page.evaluate('window.__react.metrics'), [3]);
  assert.deepEqual(await page.evaluate('window.__react.subscribed.map((s) => [s.room, s.replay])'), [[room, 1]]);
  await server.publish(room, 'metrics:updated', { seq: 4 });
  await page.locator('#status', { hasText: 'last=4' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await page.evaluate('window.__react.metrics'), [3, 4]);
  // StrictMode mounts twice: exactly one client is live, and it holds the room
  assert.equal(await page.evaluate('window.__react.clients.filter(c => c.isConnected()).length'), 1);
  assert.deepEqual(await page.evaluate('window.__react.clients.find(c => c.isConnected()).getRooms()'), [room]);
  await page.evaluate('window.__unmount()');
  await page.close();
});
