// permessage-deflate end to end against a real MoltBeat server started with --compression: Node `ws` (which offers
// it by default) and headless Chromium (which always offers it) negotiate it, and big events arrive compressed and
// intact. The server's side of it (RSV1 only above the threshold, one compressed frame for every recipient) is tested
// in tests/MoltBeat.WebSocket.Tests/Compression. Run: npm run test:integration
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { chromium, type BrowserContext } from 'playwright-core';
import type { MoltBeatWSClient } from '../../src/index.js';
import { TestServer, JS_ROOT, skipReason, waitFor, testClient } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ACCEPTED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const skip = skipReason();
let server: TestServer;
let pages: http.Server | undefined;
let context: BrowserContext | undefined;
let userDataDir = '';
const clients: MoltBeatWSClient[] = [];

/** A metrics payload of about 2 KB, as compressible as real ones (repeated names, varying numbers). */
const metrics = (seed: number) => ({
  series: Array.from({ length: 40 }, (_, i) => ({ name: `agent.latency.p${i % 5}0`, host: `node-${i % 7}`, value: ((seed * 31 + i * 17) % 1000) / 10 })),
});

const uniqueRoom = (prefix: string) => `${prefix}:${Math.random().toString(36).slice(2)}`;

before(async () => {
  if (skip) return;
  server = await TestServer.start({ args: ['--compression', '--compression-threshold', '512'] });
});

after(async () => {
  for (const c of clients) c.disconnect();
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await new Promise<void>((r) => (pages ? pages.close(() => r()) : r()));
  await server?.stop();
});

test('Node ws: the client negotiates permessage-deflate and big events arrive compressed and intact', { skip, timeout: 60_000 }, async () => {
  const sockets: WebSocket[] = [];
  // The client's own socket, recorded to read what was negotiated and the bytes that came off the wire.
  class RecordingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  const room = uniqueRoom('deflate-node');
  const c = testClient(server, clients, { WebSocket: RecordingWebSocket as any });
  const got: any[] = [];
  c.on('event', (_name, data) => got.push(data));
  await c.connect();
  await c.subscribeAsync(room);
  const ws = sockets.at(-1)!;
  assert.match(ws.extensions, /^permessage-deflate/);

  for (let seed = 1; seed <= 3; seed++) {
    const tcp = (ws as any)._socket as import('node:net').Socket;
    const before = tcp.bytesRead;
    const payload = metrics(seed);
    await server.publish(room, 'metrics:updated', payload);
    await waitFor(`event ${seed}`, () => got.length === seed);
    assert.deepEqual(got[seed - 1], payload);
    const wire = tcp.bytesRead - before;
    const json = JSON.stringify(payload).length;
    assert.ok(wire < json / 2, `${wire} bytes on the wire for a ${json}-byte payload: not compressed`);
  }
  // A small event goes uncompressed and arrives as well.
  await server.publish(room, 'tick', { n: 1 });
  await waitFor('the small event', () => got.length === 4);
  assert.deepEqual(got[3], { n: 1 });
});

test('Chromium: the browser negotiates permessage-deflate and the bundle receives big events intact', { skip, timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  pages = http.createServer((req, res) => {
    if (req.url === '/moltbeat.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(JS_ROOT, 'dist/browser/moltbeat.min.js')));
      return;
    }
    if (req.url === '/page.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(readFileSync(join(JS_ROOT, 'test/fixtures/api.html')));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => pages!.listen(0, '127.0.0.1', () => r()));
  userDataDir = mkdtempSync(join(tmpdir(), 'moltbeat-chromium-deflate-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  // What the browser's handshake got back, seen through the DevTools protocol.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const handshakes: Record<string, string>[] = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e: any) => handshakes.push(e.response.headers));
  await page.goto(`http://127.0.0.1:${(pages.address() as any).port}/page.html`);
  await waitFor('the bundle', async () => Boolean(await page.evaluate('window.__ready === true')));

  const room = uniqueRoom('deflate-browser');
  await page.evaluate(`(async () => {
    const c = (window.__c = new mb.MoltBeatWSClient({ url: ${JSON.stringify(server.wsUrl)}, reconnectInterval: 200 }));
    window.__got = [];
    c.on('event', (name, data) => window.__got.push(data));
    await c.connect();
    await c.subscribeAsync(${JSON.stringify(room)});
  })()`);
  assert.equal(handshakes.length, 1);
  const extensions = Object.entries(handshakes[0]).find(([name]) => name.toLowerCase() === 'sec-websocket-extensions')?.[1];
  assert.equal(extensions, ACCEPTED);

  const sent = [metrics(1), metrics(2), { n: 3 }, metrics(4)];
  for (const payload of sent) await server.publish(room, 'metrics:updated', payload);
  await waitFor('every event', async () => (await page.evaluate('window.__got.length')) === sent.length);
  assert.deepEqual(await page.evaluate('window.__got'), sent);
  await page.evaluate('window.__c.disconnect()');
  await page.close();
});
