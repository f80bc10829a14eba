/**
 * Item 1: no REST request body can crash the process or stall it: a body past
 * `HTTP_MAX_BODY_BYTES` is answered 413 before it is parsed, whether its size is announced or
 * streamed, and the process stays up with its heap where it was.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, parseReply } from './helpers.ts';

let app: AppProcess;
beforeAll(async () => {
  app = await AppProcess.start();
});
afterAll(() => app.stop());

/** Resolves at the first of `events` (never rejects: a reset is an expected outcome here). */
function first(socket: net.Socket, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    for (const event of events) socket.once(event, () => resolve());
  });
}

/** Sends the head of a POST and then `body` in pieces, stopping as soon as the server answers. */
async function post(head: string, body: () => Buffer | null): Promise<{ status: number | undefined; bytesSent: number }> {
  const socket = net.connect({ port: app.port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let answered = false;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    answered = true;
  });
  socket.write(head);
  let bytesSent = 0;
  for (let piece = body(); piece && !answered && !socket.destroyed; piece = body()) {
    if (!socket.write(piece)) await first(socket, ['drain', 'close', 'error']);
    bytesSent += piece.length;
  }
  if (!answered) await first(socket, ['data', 'close']);
  socket.destroy();
  return { status: parseReply(Buffer.concat(chunks).toString('latin1'), false).status, bytesSent };
}

describe('REST request bodies (item 1)', () => {
  it('answers an announced 300 MB JSON body with 413 before reading it', async () => {
    const heapBefore = await app.heap();
    const head = 'POST /api/1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n[';
    const piece = Buffer.alloc(64 * 1024, '0,');
    let left = 300_000_000 / piece.length;
    const { status, bytesSent } = await post(head, () => (left-- > 0 ? piece : null));
    expect(status).toBe(413);
    // Answered long before the body was sent (the kernel's buffers take a few MB meanwhile).
    expect(bytesSent).toBeLessThan(100_000_000);
    expect(app.alive).toBe(true);
    expect(await app.heap()).toBeLessThan(heapBefore + 4 * 1024 * 1024);
  });

  it('answers a streamed (chunked) body with 413 once it passes the limit', async () => {
    const heapBefore = await app.heap();
    const head = 'POST /api/1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const data = Buffer.alloc(64 * 1024, '0,');
    const piece = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
    let left = 4096; // 256 MiB if the server kept reading
    const { status, bytesSent } = await post(head, () => (left-- > 0 ? piece : null));
    expect(status).toBe(413);
    expect(bytesSent).toBeLessThan(100_000_000);
    expect(app.alive).toBe(true);
    expect(await app.heap()).toBeLessThan(heapBefore + 4 * 1024 * 1024);
    const health = await fetch(`http://127.0.0.1:${app.port}/health`);
    expect(health.status).toBe(200);
  });
});
