/**
 * The Socket.IO 4.8 baseline, websocket transport only, compression off: a room per handshake
 * query, a `chat` event relayed to the room (sender included) with the same JSON envelope.
 * With `BENCH_REDIS_URL` it uses `@socket.io/redis-adapter` (the cross-instance scenario).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { serveControl, trackBrokerSockets } from './control.ts';

const server = createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
});

let closeRedis = async () => {};
if (process.env.BENCH_REDIS_URL) {
  trackBrokerSockets();
  const { Redis } = await import('ioredis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = new Redis(process.env.BENCH_REDIS_URL);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub, { key: process.env.BENCH_REDIS_PREFIX ?? 'bench-sio' }));
  closeRedis = async () => {
    pub.disconnect();
    sub.disconnect();
  };
}

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? '');
  void socket.join(room);
  socket.emit('msg', { type: 'welcome', data: { clientId: socket.id, path: room } });
  socket.on('chat', (data: { text?: unknown }) => {
    if (typeof data?.text !== 'string') return;
    io.to(room).emit('msg', { type: 'chat', data: { text: data.text } });
  });
});

server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  serveControl((server.address() as AddressInfo).port, async () => {
    io.disconnectSockets(true);
    await closeRedis();
    await new Promise<void>((done) => io.close(() => done()));
  });
});
