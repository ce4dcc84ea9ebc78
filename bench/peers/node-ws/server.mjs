// Benchmark peer: rooms on Node `ws` as the TypeScript original does it (serialize once, send to each
// member). Same endpoints as the .NET peers: WebSocket on /ws (any message joins the bench room),
// POST /publish (one event's payload, answered once sent: the http publish mode), commands on stdin
// (publish COUNT RATE PAD MODE DEADLINE KEYS → published N P50 P99, KEYS ignored: ws has no conflation; gc). Ends when stdin closes.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const room = new Set();
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

const frame = (data) => JSON.stringify({ type: 'event', room: 'bench:room', event: 'bench', data });

// Fire and forget (the loop mode): ws queues each send on its socket.
function broadcast(msg) {
  for (const ws of room) ws.send(msg);
}

// Awaited (the awaited and http modes): done when every member's send has been written (ws's callback).
function broadcastAwaited(msg) {
  const sends = [];
  for (const ws of room) sends.push(new Promise((resolve) => ws.send(msg, () => resolve())));
  return Promise.all(sends);
}

const http = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    await broadcastAwaited(frame(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    res.end();
  });
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', () => room.add(ws));
  ws.on('close', () => room.delete(ws));
  ws.on('error', () => room.delete(ws));
});
http.listen(port, '127.0.0.1', () => console.log('ready'));

const percentile = (sorted, q) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);

// due: when the event was scheduled; sent: when publish ran (see BenchPayload.cs).
async function publishRound(count, rate, pad, mode, deadlineSeconds) {
  const padding = 'x'.repeat(pad);
  const start = performance.now();
  const calls = [];
  for (let i = 1; i <= count && performance.now() - start < deadlineSeconds * 1000; i++) {
    let due = nowMicros();
    if (rate > 0) {
      const at = start + ((i - 1) * 1000) / rate;
      due = Math.round((performance.timeOrigin + at) * 1000);
      const wait = at - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    const began = performance.now();
    const msg = frame({ due, sent: nowMicros(), seq: i, pad: padding });
    if (mode === 'awaited') await broadcastAwaited(msg);
    else broadcast(msg);
    calls.push((performance.now() - began) * 1000);
  }
  calls.sort((a, b) => a - b);
  return `published ${calls.length} ${percentile(calls, 0.5).toFixed(1)} ${percentile(calls, 0.99).toFixed(1)}`;
}

// Driven like the .NET peers: one command a line on stdin, one answer line on stdout.
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const [cmd, count, rate, pad, mode, deadline] = line.trim().split(/\s+/);
  if (cmd === 'publish') {
    console.log(await publishRound(Number(count), Number(rate), Number(pad), mode, Number(deadline)));
  } else if (cmd === 'gc') {
    globalThis.gc?.();
    console.log(String(process.memoryUsage().heapUsed));
  } else {
    console.log('unknown command');
  }
});
lines.on('close', () => process.exit(0));
