/**
 * A user's first app, written against the installed package: one namespace, a client that joins
 * and chats. `test/package.test.ts` copies it into an empty project that installed the packed
 * tarball (and hono, @hono/node-server, pino, ws, zod, as a user would), type-checks it with
 * `tsc` against the shipped types, compiles it and runs it with plain `node`. It prints one JSON
 * line: what the client saw. Its `#minimal` region is the package README's example.
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { connect } from 'hono-namespaces/client';
// #region minimal
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { z } from 'zod';
import { access, createSessions, Realtime, type AppEnv } from 'hono-namespaces';

const app = new Hono<AppEnv>();
// First: its upgrade guard runs before any other middleware.
const rt = new Realtime(app, { logger: pino({ level: 'warn' }) });
const sessions = createSessions({ secret: process.env.SESSION_SECRET ?? 'a development secret of 32+ characters' });
app.use('*', sessions.middleware);
export const roomNs = rt.namespace({
  params: z.object({ room: z.string().regex(/^[a-z]{1,20}$/) }),
  messages: { chat: z.object({ text: z.string().min(1).max(200) }) },
  broadcasts: { chat: z.object({ from: z.string(), text: z.string() }) }, // types the client's on('chat')
  replay: {}, // a client back within 5 minutes gets what it missed
  onMessage({ ctx, message }, ns) {
    void ns.broadcast('chat', { from: ctx.username, text: message.data.text });
    return { ok: true }; // the ack, once the broadcast is out
  },
});
app.get('/api/1/ws/rooms/:room', access({ requireAuth: false }), roomNs);
app.onError(rt.errorHandler());

const server = serve({ ...rt.serveOptions(), port: Number(process.env.PORT ?? 3000) });
rt.injectWebSocket(server);
// #endregion

// The browser client, in Node with `ws`, typed by the namespace: join, chat, read the broadcast back.
server.once('listening', () => {
  const { port } = server.address() as AddressInfo;
  const room = connect<typeof roomNs>('/api/1/ws/rooms/lobby', { baseUrl: `http://127.0.0.1:${port}`, WebSocket, network: null });
  const chat = new Promise<{ data: { from: string; text: string }; seq: number | undefined }>((resolve) => room.on('chat', (data, frame) => resolve({ data, seq: frame.seq })));
  room.onStatusChange(async (status) => {
    if (status !== 'connected') return;
    const ack: { ok: boolean } = await room.request('chat', { text: 'hello' });
    const seen = await chat;
    console.log(JSON.stringify({ ack, chat: seen.data, seq: seen.seq, username: room.welcome?.ctx.username }));
    room.close();
    await rt.shutdown({ spreadMs: 0, timeoutMs: 1000 });
    server.close(() => process.exit(0));
  });
});
