// Benchmark load clients on Node `ws` (the permessage-deflate figures, bench/MoltBeat.Bench/Harness/Scenarios.Compression.cs):
//   node clients.mjs URL COUNT DEFLATE ROOM
// COUNT clients of URL, each subscribed to ROOM, offering permessage-deflate as `ws` does by default when DEFLATE is 1
// (`permessage-deflate; client_max_window_bits`), nothing when 0. Prints `ready EXTENSIONS` once every client is
// subscribed (EXTENSIONS: what the first negotiated, `-` for none); on `wait N`, prints `reached EVENTS BYTES` once the
// clients have received N event messages in all (BYTES: read off their TCP sockets, WebSocket headers and payloads).
// Ends when stdin closes.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const [url, countArg, deflateArg, room] = process.argv.slice(2);
const count = Number(countArg);
const deflate = deflateArg === '1';
const sockets = [];
let events = 0;
let waitingFor = Infinity;
const EVENT = Buffer.from('"type":"event"');

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate });
    const timer = setTimeout(() => reject(new Error('subscribe timed out')), 30_000);
    let subscribed = false;
    ws.on('message', (data) => {
      if (subscribed) {
        if (data.indexOf(EVENT) >= 0 && ++events >= waitingFor) reached();
        return;
      }
      const text = data.toString();
      if (text.includes('"type":"connected"')) ws.send(JSON.stringify({ type: 'subscribe', id: 1, room }));
      else if (text.includes('"type":"subscribed"')) {
        subscribed = true;
        clearTimeout(timer);
        resolve(ws);
      }
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

for (let i = 0; i < count; i += 50) {
  const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
  sockets.push(...batch);
}
console.log(`ready ${sockets[0]?.extensions || '-'}`);

function reached() {
  waitingFor = Infinity;
  const bytes = sockets.reduce((sum, ws) => sum + ws._socket.bytesRead, 0);
  console.log(`reached ${events} ${bytes}`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, n] = line.trim().split(' ');
  if (command !== 'wait') return;
  waitingFor = Number(n);
  if (events >= waitingFor) reached();
});
lines.on('close', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
