/**
 * Item 12, the smaller ones: the origin check compares schemes; state-changing REST requests are
 * refused cross-site; one user cannot fill the map store; a ping flood is closed with a close
 * frame; retryable refusals carry their JSON body and Retry-After; shutdown keeps the stores open
 * until the last `left` is out.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { CloseCode } from '../../src/ws/codes.ts';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { rawRequest, upgradeRequest } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const ROOM = '/api/1/ws/hello-rooms/Berlin';

describe('origin check (item 12)', () => {
  it('refuses https://host on an http server: the scheme is part of the origin', async () => {
    app = await startApp();
    const host = `127.0.0.1:${app.port}`;
    const same = await TestClient.connect(app.wsUrl(ROOM), { origin: `http://${host}` });
    expect(same.welcome.type).toBe('welcome');
    await same.close();
    const other = await TestClient.open(app.wsUrl(ROOM), { origin: `https://${host}` });
    expect((await other.closed).code).toBe(CloseCode.FORBIDDEN);
  });
});

describe('cross-site REST requests (item 12)', () => {
  const form = (origin: Record<string, string>, cookie: string) =>
    fetch(`${app!.url}/api/1/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...origin },
      body: 'x=1',
    });

  it('are refused: a cross-site form cannot sign a user out', async () => {
    app = await startApp();
    const cookie = await login(app, 'ann');
    const evil = await form({ origin: 'https://evil.example' }, cookie);
    expect(evil.status).toBe(403);
    expect(await evil.json()).toEqual({ error: 'cross-site request refused' });
    expect(evil.headers.get('set-cookie')).toBeNull();
    expect((await form({ 'sec-fetch-site': 'cross-site' }, cookie)).status).toBe(403);
    // The page's own origin, and clients that are no browser (no Origin), are served.
    expect((await form({ origin: app.url }, cookie)).status).toBe(200);
    expect((await form({}, cookie)).status).toBe(200);
  });
});

describe('the map store (item 12)', () => {
  it('holds at most BUBBLEMAP_MAX_MAPS_PER_USER maps of one user', async () => {
    app = await startApp({ bubblemapMaxMapsPerUser: 3 });
    const create = (cookie: string, title: string) =>
      fetch(`${app!.url}/api/1/bubblemap`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ title }) });
    const ann = await login(app, 'ann');
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await create(ann, `m${i}`)).status);
    expect(statuses).toEqual([201, 201, 201, 403, 403]);
    // Everyone else still can.
    expect((await create(await login(app, 'bob'), 'mine')).status).toBe(201);
  });
});

describe('ping floods (item 12)', () => {
  /** A masked ping frame (RFC 6455 5.5.2). */
  const ping = Buffer.from([0x89, 0x80, 1, 2, 3, 4]);

  it('are closed with 1008 and a close frame past WS_MAX_PENDING_PONGS', async () => {
    app = await startApp({ limits: { maxPendingPongs: 60 } });
    const client = await TestClient.connect(app.wsUrl(ROOM));
    const raw = (client.socket as unknown as { _socket: net.Socket })._socket;
    raw.write(Buffer.concat(Array(200).fill(ping)));
    expect(await client.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'too many pings' });
  });

  it('are answered below it, and the socket stays', async () => {
    app = await startApp();
    const client = await TestClient.connect(app.wsUrl(ROOM));
    let pongs = 0;
    client.socket.on('pong', () => pongs++);
    const raw = (client.socket as unknown as { _socket: net.Socket })._socket;
    raw.write(Buffer.concat(Array(10).fill(ping)));
    while (pongs < 10) await once(client.socket, 'pong');
    expect((await client.request('chat', { text: 'still here' })).type).toBe('ack');
    await client.close();
  });
});

describe('retryable refusals (item 12)', () => {
  it('carry their JSON body and Retry-After', async () => {
    app = await startApp({ limits: { maxConnectionsPerIp: 1 } });
    const first = await TestClient.connect(app.wsUrl(ROOM));
    const reply = await rawRequest(app.port, upgradeRequest(ROOM));
    expect(reply.status).toBe(429);
    expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(reply.body)).toEqual({ error: 'too many connections from this address', closeCode: CloseCode.TRY_AGAIN_LATER, retryAfter: Number(reply.headers['retry-after']) });
    expect(reply.closedByServer).toBe(true);
    await first.close();
  });
});

describe('shutdown (item 12)', () => {
  it('broadcasts the last `left`s before it closes the stores', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
    app = await startApp({}, { logger });
    await Promise.all([1, 2, 3].map(() => TestClient.connect(app!.wsUrl(ROOM))));
    await app.rt.shutdown({ spreadMs: 0, timeoutMs: 5000 });
    expect(lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('replay store unavailable'))).toEqual([]);
    expect(lines.filter((l) => l.level === 40 || l.level === 50)).toEqual([]);
  });
});
