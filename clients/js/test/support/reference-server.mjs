#!/usr/bin/env node
// A small in-memory implementation of the MoltBeat wire protocol (shared/protocol.md), for running the
// client's integration tests before/without the C# server:
//   MOLTBEAT_SERVER_CMD="node test/support/reference-server.mjs" npm run test:integration
// It is NOT the product: no limits, no rate limiting, no metrics. Loopback only.
//
// Options: --urls http://127.0.0.1:PORT   --jwt-secret S   --history N (per room, default 1000)
// HTTP: GET /api/health, POST /api/publish {"room"|"rooms","event","data"}, GET /api/stats
import http from 'node:http';
import crypto from 'node:crypto';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const urls = new URL(arg('--urls', 'http://127.0.0.1:3000'));
const host = urls.hostname;
if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error('loopback only');
const port = Number(urls.port);
const jwtSecret = arg('--jwt-secret', undefined);
const HISTORY = Number(arg('--history', '1000'));
const HEARTBEAT = 30000;
const ROOM_RE = /^[A-Za-z0-9_\-.:]{1,128}$/;

const bootEpoch = crypto.randomBytes(4).toString('hex');
/** room -> { epoch, offset, history: [{ offset, json }] } */
const rooms = new Map();
const conns = new Set();
let clientSeq = 0;

function roomState(name) {
  let st = rooms.get(name);
  if (!st) {
    st = { epoch: bootEpoch, offset: 0, history: [] };
    rooms.set(name, st);
  }
  return st;
}

/** 'a:b:c' -> ['a:b:c', 'a:b', 'a', 'all'] */
function recordedRooms(names) {
  const out = [];
  for (const room of names) {
    const parts = room.split(':');
    for (let i = parts.length; i >= 1; i--) {
      const r = parts.slice(0, i).join(':');
      if (!out.includes(r)) out.push(r);
    }
  }
  if (!out.includes('all')) out.push('all');
  return out;
}

function publish(names, event, data) {
  const recorded = recordedRooms(names);
  const offsets = {};
  for (const r of recorded) offsets[r] = ++roomState(r).offset;
  const msg = { type: 'event', room: names[0], event, data, ts: Date.now(), offsets };
  if (names.length > 1) msg.rooms = names;
  const json = JSON.stringify(msg);
  for (const r of recorded) {
    const st = roomState(r);
    st.history.push({ offset: offsets[r], json });
    if (st.history.length > HISTORY) st.history.shift();
  }
  for (const c of conns) {
    if (recorded.some((r) => c.subs.has(r))) c.enqueue(json);
  }
  return offsets;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** HS256 JWT -> payload, or null. */
function verifyJwt(token) {
  if (!token) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const sig = b64url(crypto.createHmac('sha256', jwtSecret).update(`${parts[0]}.${parts[1]}`).digest());
  if (sig.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(parts[2]))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    if (header.alg !== 'HS256') return null;
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    if (typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now()) return null;
    return payload;
  } catch {
    return null;
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/api/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (req.method === 'GET' && url.pathname === '/api/stats') {
    const counts = new Map();
    for (const c of conns) for (const r of c.subs) counts.set(r, (counts.get(r) ?? 0) + 1);
    const body = { totalClients: conns.size, totalRooms: counts.size, rooms: [...counts].map(([room, subscribers]) => ({ room, subscribers })) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/api/publish') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
      if (body.length > 1 << 20) req.destroy();
    });
    req.on('end', () => {
      try {
        const p = JSON.parse(body);
        const names = Array.isArray(p.rooms) ? p.rooms : [p.room];
        if (!names.every((r) => typeof r === 'string' && ROOM_RE.test(r)) || typeof p.event !== 'string') throw new Error('bad');
        const offsets = publish(names, p.event, p.data ?? null);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ offsets }));
      } catch {
        res.writeHead(400).end('{"error":"bad_request"}');
      }
    });
    return;
  }
  res.writeHead(404).end();
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url, req));
});

function onConnection(ws, url, req) {
  const batch = url.searchParams.get('batch') === '1';
  let token = url.searchParams.get('token') ?? undefined;
  const auth = req.headers.authorization;
  if (!token && auth?.startsWith('Bearer ')) token = auth.slice(7);
  let user = { userId: 'anonymous' };
  let expiryTimer = null;
  const armExpiry = (payload) => {
    clearTimeout(expiryTimer);
    if (typeof payload.exp === 'number') {
      expiryTimer = setTimeout(() => ws.close(4001, 'token_expired'), Math.max(0, payload.exp * 1000 - Date.now()));
    }
  };
  if (jwtSecret) {
    const payload = verifyJwt(token);
    if (!payload) {
      ws.close(4001, 'unauthorized');
      return;
    }
    user = { userId: String(payload.sub ?? '') };
    armExpiry(payload);
  }
  const c = {
    subs: new Set(),
    queue: [],
    scheduled: false,
    enqueue(json) {
      this.queue.push(json);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    },
    flush() {
      this.scheduled = false;
      const q = this.queue;
      this.queue = [];
      if (ws.readyState !== 1 || q.length === 0) return;
      if (batch) ws.send(q.join('\n'));
      else for (const m of q) ws.send(m);
    },
    send(obj) {
      this.enqueue(JSON.stringify(obj));
    },
  };
  conns.add(c);
  const clientId = `c_${(++clientSeq).toString(16)}`;
  c.send({ type: 'connected', clientId, user, heartbeatInterval: HEARTBEAT, protocol: 1 });

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'binary');
      return;
    }
    let m;
    try {
      m = JSON.parse(data.toString());
    } catch {
      c.send({ type: 'error', code: 'bad_request', message: 'malformed JSON' });
      return;
    }
    const id = Number.isInteger(m?.id) ? m.id : undefined;
    const reply = (o) => c.send(id === undefined ? o : { ...o, id });
    switch (m?.type) {
      case 'ping':
        return reply({ type: 'pong' });
      case 'subscribe': {
        if (typeof m.room !== 'string' || !ROOM_RE.test(m.room)) return reply({ type: 'error', code: 'invalid_room', message: 'invalid room' });
        if (m.room.startsWith('admin:')) return reply({ type: 'error', code: 'forbidden', message: `not allowed to subscribe to ${m.room}` });
        const st = roomState(m.room);
        const since = m.since;
        if (since && typeof since === 'object') {
          const first = st.history.length ? st.history[0].offset : st.offset + 1;
          const ok = since.epoch === st.epoch && Number.isInteger(since.offset) && since.offset >= first - 1 && since.offset <= st.offset;
          reply({ type: 'subscribed', room: m.room, epoch: st.epoch, offset: st.offset, recovered: ok });
          if (ok) for (const h of st.history) if (h.offset > since.offset) c.enqueue(h.json);
        } else {
          reply({ type: 'subscribed', room: m.room, epoch: st.epoch, offset: st.offset });
        }
        c.subs.add(m.room);
        return;
      }
      case 'unsubscribe':
        c.subs.delete(m.room);
        return reply({ type: 'unsubscribed', room: m.room });
      case 'auth': {
        if (!jwtSecret) return reply({ type: 'authenticated', expiresAt: null });
        const payload = verifyJwt(m.token);
        if (!payload) {
          reply({ type: 'error', code: 'unauthorized', message: 'invalid token' });
          c.flush();
          ws.close(4001, 'unauthorized');
          return;
        }
        armExpiry(payload);
        return reply({ type: 'authenticated', expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null });
      }
      default:
        return reply({ type: 'error', code: 'unknown_type', message: `unknown type ${m?.type}` });
    }
  });
  ws.on('close', () => {
    clearTimeout(expiryTimer);
    conns.delete(c);
  });
  ws.on('error', () => {});
}

server.listen(port, host, () => {
  console.log(`reference server listening on http://${host}:${server.address().port} (epoch ${bootEpoch})`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const c of conns) c.flush();
  for (const ws of wss.clients) ws.close(1001, 'server shutdown');
  server.close();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
