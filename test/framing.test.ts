import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { preFrame, writeFrame } from '../src/ws/wire/framing.ts';

/** A bare ws server whose sockets the test writes to with writeFrame. */
async function serve(perMessageDeflate: boolean) {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate });
  const sockets: WebSocket[] = [];
  wss.on('connection', (s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of wss.clients) s.terminate();
      server.close(() => resolve());
    }),
  };
}

function connect(url: string, perMessageDeflate: boolean) {
  const socket = new WebSocket(url, { perMessageDeflate });
  const received: Array<{ text: string; isBinary: boolean }> = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data: Buffer, isBinary) => {
    received.push({ text: data.toString(), isBinary });
    for (const wake of waiters.splice(0)) wake();
  });
  const upTo = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return received;
  };
  return { socket, opened: new Promise((resolve) => socket.once('open', resolve)), upTo };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup) await fn();
  cleanup = [];
});

describe('pre-framed broadcast frames', () => {
  it.each([false, true])('arrive as text frames, in order, with permessage-deflate %s', async (deflate) => {
    const srv = await serve(deflate);
    cleanup.push(srv.close);
    const a = connect(srv.url, deflate);
    const b = connect(srv.url, deflate);
    await Promise.all([a.opened, b.opened]);
    const texts = ['{"type":"chat","data":{"text":"one"}}', JSON.stringify({ type: 'chat', data: { text: 'x'.repeat(70_000) } })];
    const frames = texts.map((t) => preFrame(Buffer.from(t)));
    for (const frame of frames) for (const s of srv.sockets) expect(writeFrame(s, frame)).toBe(true);
    // ws's own send still goes out after the held frames.
    srv.sockets[0]!.send('{"type":"after"}');
    const got = await a.upTo(3);
    expect(got.map((m) => m.text)).toEqual([...texts, '{"type":"after"}']);
    expect(got.every((m) => !m.isBinary)).toBe(true);
    expect((await b.upTo(2)).map((m) => m.text)).toEqual(texts);
  });

  it('refuses a socket that is not open', async () => {
    const srv = await serve(false);
    cleanup.push(srv.close);
    const a = connect(srv.url, false);
    await a.opened;
    const closed = new Promise((resolve) => srv.sockets[0]!.once('close', resolve));
    a.socket.close();
    await closed;
    expect(writeFrame(srv.sockets[0]!, preFrame(Buffer.from('{}')))).toBe(false);
  });
});
