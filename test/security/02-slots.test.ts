/**
 * Item 2: a connection slot (total, per IP, per user) is held only by a genuine upgrade. Requests
 * that carry `Upgrade: websocket` without `Connection: upgrade` are ordinary requests: any number
 * of them on one keep-alive socket take nothing, and the slots stay free for real sockets.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { parseReply } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({ limits: { maxConnections: 30, maxConnectionsPerIp: 5, maxConnectionsPerUser: 3 } });
});
afterEach(() => app.close());

/** Sends `count` keep-alive GETs with `Upgrade: websocket` on one socket; returns their statuses. */
async function pseudoUpgrades(count: number, cookie?: string): Promise<number[]> {
  const socket = net.connect({ port: app.port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const extra = cookie ? `Cookie: ${cookie}\r\n` : '';
  const request = `GET /api/1/ws/hello-rooms/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
  let text = '';
  socket.setEncoding('latin1');
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    socket.write(request);
    // One response at a time: each is a complete JSON body (Content-Length).
    for (;;) {
      const reply = parseReply(text, false);
      const length = Number(reply.headers['content-length'] ?? NaN);
      if (reply.status !== undefined && Buffer.byteLength(reply.body, 'latin1') >= length) {
        statuses.push(reply.status);
        text = reply.body.slice(length);
        break;
      }
      text += (await once(socket, 'data'))[0] as string;
    }
  }
  // The socket stays open: a slot taken by one of its requests would still be held.
  return statuses.length === count ? statuses : Promise.reject(new Error('missing responses'));
}

describe('connection slots (item 2)', () => {
  it('are not taken by requests that only carry an Upgrade header', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const statuses = await pseudoUpgrades(100);
      expect(new Set(statuses)).toEqual(new Set([426]));
      // All five per-IP slots are still free for real sockets.
      const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/x'))));
      expect(clients.map((c) => c.welcome.type)).toEqual(Array(5).fill('welcome'));
      await Promise.all(clients.map((c) => c.close()));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('of a user are not taken by them either', async () => {
    const cookie = await login(app, 'ann');
    expect(new Set(await pseudoUpgrades(20, cookie))).toEqual(new Set([426]));
    const clients = await Promise.all(Array.from({ length: 3 }, () => TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/x'), { cookie })));
    expect(clients).toHaveLength(3);
    await Promise.all(clients.map((c) => c.close()));
  });
});
