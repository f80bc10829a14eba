/**
 * Item 5: a message may come in at most WS_MAX_FRAGMENTS fragments; past it the connection is
 * closed with 1008, so a guest cannot pin megabytes with tiny fragments (ws's own default lets
 * 16,384 of them wait).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers.ts';
import { AppProcess } from './helpers.ts';

/** A masked client frame (RFC 6455 5.2) with a short payload. */
function frame(opcode: number, fin: boolean, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), mask, masked]);
}

/** One text message of `count` fragments (a first text frame, then continuations). */
function fragmented(text: string, count: number): Buffer {
  const parts = Array.from({ length: count }, (_, i) => (i === count - 1 ? Buffer.from(text) : Buffer.from(' ')));
  return Buffer.concat(parts.map((part, i) => frame(i === 0 ? 0x1 : 0x0, i === count - 1, part)));
}

let app: AppProcess;
beforeAll(async () => {
  // One address opens all the sockets here: no per-address admission share.
  app = await AppProcess.start({ WS_ADMISSION_RATE_PER_IP: '0' });
});
afterAll(() => app.stop());

const url = () => `ws://127.0.0.1:${app.port}/api/1/ws/hello-rooms/frag`;
const raw = (client: TestClient) => (client.socket as unknown as { _socket: import('node:net').Socket })._socket;

describe('message fragments (item 5)', () => {
  it('take a message of up to 64 fragments', async () => {
    const client = await TestClient.connect(url());
    raw(client).write(fragmented('{"type":"chat","data":{"text":"in pieces"},"id":"f1"}', 64));
    expect(await client.next('ack')).toMatchObject({ type: 'ack', id: 'f1' });
    await client.close();
  });

  it('close with 1008 past the limit, and 50 such guests leave the heap where it was', async () => {
    const before = await app.heap();
    const clients = await Promise.all(Array.from({ length: 50 }, () => TestClient.connect(url())));
    // 16,000 one-byte fragments each: 800,000 buffers held if the server kept them.
    const flood = fragmented('x', 16_000).subarray(0, -7);
    for (const client of clients) raw(client).write(flood);
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1008]));
    expect(await app.heap()).toBeLessThan(before + 4 * 1024 * 1024);
  });
});
