// Benchmark peer: rooms on Node `ws` as the TypeScript original does it (serialize once, send to each
// member). Same endpoints as the .NET peers: WebSocket on /ws (any message joins the bench room),
// commands on stdin (publish COUNT RATE, gc). Ends when stdin closes.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const room = new Set();
let pad = 'x'.repeat(120);
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

// due: when the event was scheduled; sent: when publish ran (see BenchPayload.cs).
function publish(seq, due) {
  const msg = JSON.stringify({ type: 'event', room: 'bench:room', event: 'bench', data: { due, sent: nowMicros(), seq, pad } });
  for (const ws of room) ws.send(msg);
}

const http = createServer((req, res) => {
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
// Driven like the .NET peers: one command a line on stdin, one answer line on stdout.
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const [cmd, a, b, c] = line.trim().split(/\s+/);
  if (cmd === 'publish') {
    pad = 'x'.repeat(Number(c ?? 120));
    const count = Number(a);
    const rate = Number(b);
    const start = performance.now();
    for (let i = 1; i <= count; i++) {
      let due = nowMicros();
      if (rate > 0) {
        const at = start + ((i - 1) * 1000) / rate;
        due = Math.round((performance.timeOrigin + at) * 1000);
        const wait = at - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      publish(i, due);
    }
    console.log('published');
  } else if (cmd === 'gc') {
    globalThis.gc?.();
    console.log(String(process.memoryUsage().heapUsed));
  } else {
    console.log('unknown command');
  }
});
lines.on('close', () => process.exit(0));
