/**
 * The client against the real server: real sockets on an ephemeral port, `ws` as the injected
 * WebSocket, statuses awaited as events.
 */
import { Hono } from 'hono';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type ClientOptions, type RealtimeClient, type Status, type StatusDetail, type WebSocketConstructor } from '../../src/client/index.ts';
import { WsRefusal } from '../../src/ws/upgrade/refusal.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';

let app: TestApp;
const clients: RealtimeClient[] = [];
beforeEach(async () => {
  app = await startApp();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await app.close();
});

/** `ws` with a cookie header, as a browser would send after login. */
function withCookie(cookie: string): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { headers: { cookie } });
    }
  };
}

function open(path: string, options: ClientOptions = {}): RealtimeClient {
  const client = connect(path, { baseUrl: app.url, WebSocket, network: null, ...options });
  clients.push(client);
  return client;
}

/** Resolves when the client reaches `status` (at once if it is there already). */
function reach(client: RealtimeClient, status: Status): Promise<StatusDetail> {
  if (client.status === status) return Promise.resolve({});
  return new Promise((resolve) => {
    const off = client.onStatusChange((now, _old, detail) => {
      if (now !== status) return;
      off();
      resolve(detail);
    });
  });
}

function nextOf<T = any>(client: RealtimeClient, type: string): Promise<T> {
  return new Promise((resolve) => {
    const off = client.on<T>(type, (data) => {
      off();
      resolve(data);
    });
  });
}

const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;

describe('client against the server', () => {
  it('connects with the session, chats, and gets the ack of its own message', async () => {
    const cookie = await login(app, 'ann');
    const ann = open(room('Berlin'), { WebSocket: withCookie(cookie) });
    const bob = open(room('Berlin'));
    await Promise.all([reach(ann, 'connected'), reach(bob, 'connected')]);
    expect(ann.welcome?.ctx.username).toBe('ann');
    expect(bob.welcome?.ctx.username).toBe('(guest)');

    const seen = nextOf(bob, 'chat');
    const ack = await ann.request<{ id: string }>('chat', { text: 'hallo' });
    const chat = await seen;
    expect(chat).toMatchObject({ id: ack.id, username: 'ann', text: 'hallo' });
  });

  it('rejects a request the server refuses, and stays connected', async () => {
    const c = open(room('Cairo'));
    await reach(c, 'connected');
    await expect(c.request('chat', { text: '   ' })).rejects.toMatchObject({ code: 'invalid_data', fromServer: true });
    await expect(c.request('dance', {})).rejects.toMatchObject({ code: 'unknown_type' });
    expect(c.status).toBe('connected');
  });

  it.each([
    ['an invalid room name', room('no%20spaces!'), 4400, /roomName/],
    ['an unknown path', '/api/1/ws/nowhere/1', 4404, /no namespace/],
  ])('is rejected for good on %s, with the reason', async (_what, path, code, reason) => {
    const c = open(path);
    const detail = await reach(c, 'rejected');
    expect(detail.code).toBe(code);
    expect(detail.reason).toMatch(reason);
  });

  it('reconnects after a server restart on the same port and calls onReconnect', async () => {
    const port = app.port;
    const c = open(room('Amsterdam'), { minReconnectDelayMs: 50, maxReconnectDelayMs: 200 });
    await reach(c, 'connected');
    const firstId = c.welcome!.clientId;
    const reconnected = new Promise<string>((resolve) => c.onReconnect((w) => resolve(w.clientId)));

    const dropped = reach(c, 'reconnecting');
    await app.close();
    expect((await dropped).code).toBe(1001);

    app = await startApp({ port });
    const newId = await reconnected;
    expect(c.status).toBe('connected');
    expect(newId).not.toBe(firstId);

    // The new connection is a member of the room on the new server.
    const probe = await TestClient.connect(app.wsUrl(room('Amsterdam')));
    const ack = await probe.request('chat', { text: 'after restart' });
    expect(ack.type).toBe('ack');
    const res = await fetch(`${app.url}/api/1/rooms/Amsterdam`, { headers: { cookie: await login(app, 'observer') } });
    const body = (await res.json()) as { members: Array<{ clientId: string }> };
    expect(body.members.map((m) => m.clientId)).toContain(newId);
    await probe.close();
  });

  it('keeps retrying while the server is down', async () => {
    const port = app.port;
    await app.close();
    const c = open(room('Berlin'), { baseUrl: `http://127.0.0.1:${port}`, minReconnectDelayMs: 20, maxReconnectDelayMs: 50 });
    const detail = await reach(c, 'reconnecting');
    expect(detail.code).toBe(1006);
    app = await startApp({ port });
    await reach(c, 'connected');
  });

  it('retries an HTTP 503 refusal (overload, shutdown) until it is accepted', async () => {
    await app.close();
    let refusals = 2;
    app = await startApp({}, {
      routes: (rt) => [
        new Hono<AppEnv>().get(
          '/api/1/ws/busy/:id',
          async function busyTwice(_c, next) {
            if (refusals-- > 0) throw WsRefusal.unavailable('overloaded');
            await next();
          },
          rt.namespace({}),
        ),
      ],
    });
    const c = open('/api/1/ws/busy/1', { minReconnectDelayMs: 20, maxReconnectDelayMs: 50 });
    const seen: Array<[Status, number | undefined]> = [];
    c.onStatusChange((status, _old, detail) => seen.push([status, detail.code]));
    await reach(c, 'connected');
    expect(refusals).toBe(-1);
    expect(seen).toEqual([
      ['reconnecting', 1006],
      ['connected', undefined],
    ]);
  });
});
