/**
 * The multiplexed client against the real server: one `ws` socket on an ephemeral port to
 * `/api/1/ws`, Dynamic Rooms' namespaces and the test fixtures subscribed over it, statuses and
 * frames awaited as events.
 */
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectMany, type MultiplexClient, type MultiplexOptions, type Status, type Subscription, type WebSocketConstructor } from '../../src/client/index.ts';
import type { lobbyNamespace, roomNamespace } from '../../src/routes/rooms.ts';
import { ManualNetwork } from '../../docs/guide/examples/client.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { login, startApp, type TestApp } from '../helpers.ts';

let app: TestApp;
const muxes: MultiplexClient[] = [];
beforeEach(async () => {
  app = await startApp({}, { routes: testRoutes });
});
afterEach(async () => {
  for (const mux of muxes.splice(0)) mux.close();
  await app.close();
});

const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;
const LOBBY = '/api/1/ws/hello-rooms';

/** `ws`, remembering every socket it opened (and with a cookie, when given). */
function trackedWebSocket(opened: WebSocket[], cookie?: string): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, cookie ? { headers: { cookie } } : {});
      opened.push(this);
    }
  };
}

function open(options: MultiplexOptions = {}): MultiplexClient {
  const mux = connectMany('/api/1/ws', { baseUrl: app.url, WebSocket, network: null, minReconnectDelayMs: 20, maxReconnectDelayMs: 50, ...options });
  muxes.push(mux);
  return mux;
}

/** Resolves when `target` reaches `status` (at once if it is there), with the change's detail. */
function reach(target: { status: Status; onStatusChange: MultiplexClient['onStatusChange'] }, status: Status): Promise<{ code?: number; reason?: string }> {
  if (target.status === status) return Promise.resolve({});
  return new Promise((resolve) => {
    const off = target.onStatusChange((now, _old, detail) => {
      if (now !== status) return;
      off();
      resolve(detail);
    });
  });
}

/** Collects the data of every `type` frame a subscription gets, with a way to await the nth. */
function collect<T>(sub: Subscription<any>, type: string) {
  const got: T[] = [];
  const waiters: Array<() => void> = [];
  sub.on(type, (data: T) => {
    got.push(data);
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    got,
    async until(test: (got: T[]) => boolean): Promise<T[]> {
      while (!test(got)) await new Promise<void>((resolve) => waiters.push(resolve));
      return got;
    },
  };
}

describe('one multiplexed socket against the server', () => {
  it('carries three rooms: each gets its own broadcasts and only those, and acks come back typed', async () => {
    const opened: WebSocket[] = [];
    const cookie = await login(app, 'ann');
    const mux = open({ WebSocket: trackedWebSocket(opened, cookie) });
    const subs = ['Amsterdam', 'Berlin', 'Cairo'].map((name) => mux.subscribe<typeof roomNamespace>(room(name)));
    await Promise.all(subs.map((sub) => reach(sub, 'connected')));
    expect(opened).toHaveLength(1);
    expect(mux.welcome).toMatchObject({ ctx: { username: 'ann' }, maxSubscriptions: 100 });
    const [amsterdam, berlin, cairo] = subs as [Subscription<any>, Subscription<any>, Subscription<any>];
    expect(new Set(subs.map((s) => s.welcome?.clientId)).size).toBe(3);
    expect(berlin.welcome).toMatchObject({ path: room('Berlin'), ctx: { username: 'ann', params: { roomName: 'Berlin' } } });

    const chats = subs.map((sub) => collect<{ text: string }>(sub, 'chat'));
    const ack = await subs[1]!.request('chat', { text: 'hallo Berlin' });
    expect(ack.id).toMatch(/[0-9a-f-]{36}/);
    await subs[2]!.request('chat', { text: 'salam Cairo' });
    // A marker in Amsterdam after both: had Amsterdam got either, it would be there first.
    await subs[0]!.request('chat', { text: 'marker' });
    await chats[0]!.until((got) => got.length === 1);
    await chats[1]!.until((got) => got.length === 1);
    await chats[2]!.until((got) => got.length === 1);
    expect(chats.map((c) => c.got.map((m) => m.text))).toEqual([['marker'], ['hallo Berlin'], ['salam Cairo']]);
    await expect(cairo.request('chat', { text: '   ' })).rejects.toMatchObject({ code: 'invalid_data', fromServer: true });
    expect([amsterdam.status, berlin.status, cairo.status, mux.status]).toEqual(['connected', 'connected', 'connected', 'connected']);
  });

  it('ends refused subscriptions with their codes (4400, 4401, 4403, 4404); the socket and the others carry on', async () => {
    const opened: WebSocket[] = [];
    const mux = open({ WebSocket: trackedWebSocket(opened) });
    const berlin = mux.subscribe(room('Berlin'));
    const refused = {
      4400: mux.subscribe(room('no%20spaces')),
      4401: mux.subscribe('/api/1/ws/members-only/1'),
      4403: mux.subscribe('/api/1/ws/gated/deny'),
      4404: mux.subscribe('/api/1/ws/nothing-here'),
    };
    const details = await Promise.all(Object.values(refused).map((sub) => reach(sub, 'rejected')));
    expect(details.map((d) => d.code)).toEqual([4400, 4401, 4403, 4404]);
    expect(details[0]!.reason).toMatch(/^invalid params: roomName/);
    await reach(berlin, 'connected');
    expect(mux.status).toBe('connected');
    await berlin.request('chat', { text: 'still here' });
    expect(opened).toHaveLength(1);
    expect(opened[0]!.readyState).toBe(WebSocket.OPEN);
    // A refused path can be subscribed again (and is refused again): the client kept nothing of it.
    await reach(mux.subscribe('/api/1/ws/gated/deny'), 'rejected');
  });

  it('subscribes a path as the server names it, whether given with percent escapes or without', async () => {
    const mux = open();
    const decoded = mux.subscribe('/api/1/ws/gated/été');
    await reach(decoded, 'connected');
    expect(decoded.welcome?.path).toBe('/api/1/ws/gated/été');
    decoded.unsubscribe();
    const encoded = mux.subscribe('/api/1/ws/gated/%C3%A9t%C3%A9');
    expect(encoded.path).toBe('/api/1/ws/gated/été');
    await reach(encoded, 'connected');
    expect(await encoded.request('echo', { n: 1 })).toEqual({ n: 1 });
  });

  it('subscribes more paths at once than the message burst allows (45 > 40): those past it come back, and all connect', async () => {
    const mux = open();
    const subs = Array.from({ length: 45 }, (_, i) => mux.subscribe(room(`Burst${i}`)));
    await Promise.all(subs.map((sub) => reach(sub, 'connected')));
    expect(app.rt.registry.get(room('Burst44'))!.size).toBe(1);
  });

  it('unsubscribes: delivery stops, the member leaves (the lobby sees the count drop), the socket stays', async () => {
    const mux = open();
    const lobby = mux.subscribe<typeof lobbyNamespace>(LOBBY);
    const counts = collect<{ room: string; count: number }>(lobby, 'count');
    const snapshot = collect<{ rooms: Array<{ name: string; members: number }> }>(lobby, 'rooms');
    await snapshot.until((got) => got.length === 1);
    const cairo = mux.subscribe<typeof roomNamespace>(room('Cairo'));
    await reach(cairo, 'connected');
    await counts.until((got) => got.some((c) => c.room === 'Cairo' && c.count === 1));
    const seen = collect<{ text: string }>(cairo, 'chat');

    cairo.unsubscribe();
    expect(cairo.status).toBe('disconnected');
    await counts.until((got) => got.at(-1)?.room === 'Cairo' && got.at(-1)?.count === 0);
    const res = await fetch(`${app.url}/api/1/rooms/Cairo`);
    expect(((await res.json()) as { count: number }).count).toBe(0);
    const post = await fetch(`${app.url}/api/1/rooms/Cairo/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'after' }) });
    expect(post.status).toBe(201);

    // Switching back: the same path again, on the same socket, a new member.
    const again = mux.subscribe<typeof roomNamespace>(room('Cairo'));
    await reach(again, 'connected');
    expect(again.welcome?.clientId).not.toBe(cairo.welcome?.clientId);
    await counts.until((got) => got.at(-1)?.room === 'Cairo' && got.at(-1)?.count === 1);
    expect(seen.got).toEqual([]);
    expect(lobby.status).toBe('connected');
  });

  it('cancels a subscribe still on its way; the path is taken again at once, by one member', async () => {
    const mux = open();
    await reach(mux, 'connected');
    const gone = mux.subscribe(room('Kyiv'));
    gone.unsubscribe();
    const again = mux.subscribe(room('Kyiv'));
    await reach(again, 'connected');
    expect(gone.status).toBe('disconnected');
    expect(gone.welcome).toBeNull();
    const state = (await (await fetch(`${app.url}/api/1/rooms/Kyiv`)).json()) as { count: number };
    expect(state.count).toBe(1);
  });

  it('after a blip, reconnects once, resubscribes every subscription and replays what each missed', async () => {
    const opened: WebSocket[] = [];
    const network = new ManualNetwork();
    const mux = open({ WebSocket: trackedWebSocket(opened), network });
    const berlin = mux.subscribe<typeof roomNamespace>(room('Berlin'));
    const cairo = mux.subscribe<typeof roomNamespace>(room('Cairo'));
    const lobby = mux.subscribe<typeof lobbyNamespace>(LOBBY);
    await Promise.all([berlin, cairo, lobby].map((sub) => reach(sub, 'connected')));
    const berlinChats = collect<{ text: string }>(berlin, 'chat');
    const cairoChats = collect<{ text: string }>(cairo, 'chat');
    await berlin.request('chat', { text: 'before' });
    await berlinChats.until((got) => got.length === 1);

    // Offline holds the client back (it waits for `online`), so these are missed for sure.
    network.set(false);
    await Promise.all([mux, berlin, cairo, lobby].map((target) => reach(target, 'reconnecting')));
    for (const [name, text] of [['Berlin', 'missed in Berlin'], ['Cairo', 'missed in Cairo']]) {
      const res = await fetch(`${app.url}/api/1/rooms/${name}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      expect(res.status).toBe(201);
    }
    const replayed: boolean[] = [];
    berlin.on('chat', (_m, frame) => replayed.push(frame.replayed === true));
    network.set(true);

    await berlinChats.until((got) => got.length === 2);
    await cairoChats.until((got) => got.length === 1);
    expect(berlinChats.got.map((m) => m.text)).toEqual(['before', 'missed in Berlin']);
    expect(cairoChats.got.map((m) => m.text)).toEqual(['missed in Cairo']);
    expect(replayed).toEqual([true]);
    await reach(lobby, 'connected');
    expect(opened).toHaveLength(2);
    expect(berlin.position.seq).toBe(2);
  });

  it('ends only the subscription of a removed namespace (4410), for good', async () => {
    const mux = open();
    const berlin = mux.subscribe(room('Berlin'));
    const cairo = mux.subscribe(room('Cairo'));
    await Promise.all([reach(berlin, 'connected'), reach(cairo, 'connected')]);
    const ended = reach(cairo, 'rejected');
    expect(app.rt.removeNamespace(room('Cairo'), { removeIfEmpty: false })).toBe(true);
    expect((await ended).code).toBe(4410);
    await berlin.request('chat', { text: 'Berlin carries on' });
    expect([mux.status, berlin.status, cairo.status]).toEqual(['connected', 'connected', 'rejected']);
  });

  it('refuses the subscription past the socket limit (4429) and takes it once another left', async () => {
    await app.close();
    app = await startApp({ limits: { maxSubscriptions: 2 } }, { routes: testRoutes });
    const mux = open();
    const a = mux.subscribe(room('Amsterdam'));
    const b = mux.subscribe(room('Berlin'));
    const c = mux.subscribe(room('Cairo'));
    expect((await reach(c, 'rejected')).code).toBe(4429);
    await Promise.all([reach(a, 'connected'), reach(b, 'connected')]);
    a.unsubscribe();
    await reach(mux.subscribe(room('Cairo')), 'connected');
  });
});
