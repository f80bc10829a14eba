/**
 * The raw `ws` baseline, the practical limit: rooms are maps of sockets, a broadcast is
 * serialized once and handed to every socket of the room as a text frame.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveControl } from './control.ts';

const PREFIX = '/api/1/ws/bench/';

const server = createServer((req, res) => {
  if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  else res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });
const rooms = new Map<string, Set<WebSocket>>();

wss.on('connection', (socket, req) => {
  const url = req.url ?? '';
  if (!url.startsWith(PREFIX)) return socket.close(4404, 'unknown path');
  const room = url.slice(PREFIX.length);
  let members = rooms.get(room);
  if (!members) rooms.set(room, (members = new Set()));
  members.add(socket);
  const clientId = randomUUID();
  socket.send(JSON.stringify({ type: 'welcome', data: { clientId, path: url } }));
  socket.on('message', (raw, isBinary) => {
    if (isBinary) return;
    let msg: { type?: unknown; data?: { text?: unknown } };
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return;
    }
    if (msg.type !== 'chat' || typeof msg.data?.text !== 'string') return;
    const frame = Buffer.from(JSON.stringify({ type: 'chat', data: { text: msg.data.text } }));
    for (const peer of members!) if (peer.readyState === 1) peer.send(frame, { binary: false });
  });
  socket.on('close', () => {
    members!.delete(socket);
    if (members!.size === 0) rooms.delete(room);
  });
  socket.on('error', () => {});
});

// BENCH_PING_MS: the usual ws heartbeat (ping everyone, terminate who did not answer the last one),
// so that scenario 6 compares like with like; off unless set.
const PING_MS = Number(process.env.BENCH_PING_MS ?? 0);
if (PING_MS > 0) {
  const alive = new WeakSet<WebSocket>();
  wss.on('connection', (socket) => {
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
  });
  setInterval(() => {
    for (const socket of wss.clients) {
      if (!alive.has(socket)) {
        socket.terminate();
        continue;
      }
      alive.delete(socket);
      socket.ping();
    }
  }, PING_MS).unref();
}

server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  serveControl((server.address() as AddressInfo).port, async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((done) => server.close(() => done()));
  });
});
