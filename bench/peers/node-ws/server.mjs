// Benchmark peer: rooms on Node `ws` as the TypeScript original does it (serialize once, send to each
// member). Same endpoints as the .NET peers: WebSocket on /ws (any message joins the bench room),
// POST /publish?count=N&rate=R, GET /ready. Ends when stdin closes.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const room = new Set();
const pad = 'x'.repeat(120);
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

function publish(seq) {
  const msg = JSON.stringify({ type: 'event', room: 'bench:room', event: 'bench', data: { sent: nowMicros(), seq, pad } });
  for (const ws of room) ws.send(msg);
}

const http = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/ready') return res.end('ok');
  if (url.pathname === '/gc' && req.method === 'POST') {
    globalThis.gc?.();
    return res.end(String(process.memoryUsage().heapUsed));
  }
  if (url.pathname === '/publish' && req.method === 'POST') {
    const count = Number(url.searchParams.get('count') ?? 1);
    const rate = Number(url.searchParams.get('rate') ?? 0);
    const start = performance.now();
    for (let i = 1; i <= count; i++) {
      if (rate > 0) {
        const wait = start + ((i - 1) * 1000) / rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      publish(i);
    }
    return res.end('published');
  }
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', () => room.add(ws));
  ws.on('close', () => room.delete(ws));
  ws.on('error', () => room.delete(ws));
});
http.listen(port, '127.0.0.1', () => console.log('ready'));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
