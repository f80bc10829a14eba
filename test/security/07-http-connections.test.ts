/**
 * Item 7: plain TCP connections are capped per address (HTTP_MAX_CONNECTIONS_PER_IP) and in all
 * (HTTP_MAX_CONNECTIONS), and a client that does not finish its request headers in
 * HTTP_HEADERS_TIMEOUT_MS is cut: idle or slowloris sockets from one address cannot lock others
 * out of /health or the upgrade.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApp, type TestApp } from '../helpers.ts';
import { OTHER_ADDRESS, rawRequest } from './helpers.ts';

let app: TestApp | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await app?.close();
  app = undefined;
});

/** Opens `count` idle TCP connections; resolves with how many the server closed at once. */
async function idleConnections(port: number, count: number): Promise<{ open: net.Socket[]; closed: number }> {
  const opened = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => {});
      sockets.push(socket);
      await once(socket, 'connect');
      return socket;
    }),
  );
  // A request on each tells the ones the server kept from the ones it dropped.
  const kept = await Promise.all(
    opened.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          socket.once('data', () => resolve(true));
          socket.once('close', () => resolve(false));
          socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
        }),
    ),
  );
  return { open: opened.filter((_, i) => kept[i]), closed: kept.filter((k) => !k).length };
}

describe('HTTP connections (item 7)', () => {
  it('are capped per address; other addresses still reach /health and the upgrade', async () => {
    app = await startApp({ limits: { httpMaxConnectionsPerIp: 20 } });
    const { open, closed } = await idleConnections(app.port, 50);
    expect(open).toHaveLength(20);
    expect(closed).toBe(30);
    const health = await rawRequest(app.port, 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { localAddress: OTHER_ADDRESS });
    expect(health.status).toBe(200);
    const socket = new WebSocket(app.wsUrl('/api/1/ws/hello-rooms/x'), { localAddress: OTHER_ADDRESS });
    const [welcome] = (await once(socket, 'message')) as [Buffer];
    expect(JSON.parse(welcome.toString()).type).toBe('welcome');
    socket.close();
  });

  it('are capped in all', async () => {
    app = await startApp({ limits: { maxConnections: 10, httpMaxConnections: 10, httpMaxConnectionsPerIp: 1000 } });
    const { open, closed } = await idleConnections(app.port, 15);
    expect(open).toHaveLength(10);
    expect(closed).toBe(5);
  });

  it('are cut when the request headers do not arrive in time (slowloris)', async () => {
    app = await startApp({ limits: { httpHeadersTimeoutMs: 1000 } });
    const slow = net.connect({ port: app.port, host: '127.0.0.1' });
    sockets.push(slow);
    slow.on('error', () => {});
    await once(slow, 'connect');
    slow.write('GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const chunks: Buffer[] = [];
    slow.on('data', (c: Buffer) => chunks.push(c));
    await once(slow, 'close');
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('are cut when they send nothing at all', async () => {
    app = await startApp({ limits: { httpHeadersTimeoutMs: 1000 } });
    const idle = net.connect({ port: app.port, host: '127.0.0.1' });
    sockets.push(idle);
    idle.on('error', () => {});
    idle.resume();
    await once(idle, 'connect');
    await once(idle, 'close');
  });
});
