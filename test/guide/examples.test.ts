/**
 * Runs the guide's examples (`docs/guide/examples/`), so that the code the guide shows works, not
 * only compiles: the lists namespace in a server of its own and in the demo app, the client side
 * in Node, and the API reference's short uses.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RealtimeClient, Status } from '../../src/client/index.ts';
import { buildCtx, MemoryBroker, MemoryHub, type AppEnv, type Realtime } from '../../src/ws/index.ts';
import {
  audit,
  CountingBroker,
  auditLog,
  ctxExamples,
  describeUser,
  explain,
  lastMessages,
  openUnless,
  presencePair,
  publicLimits,
  quietRealtime,
  rawLog,
  realtimeTour,
  rejoin,
  renameRoute,
  sessionsFor,
  stop,
  tour,
  traced,
  tunedRealtime,
  twoInstances,
  watchPresence,
  whoIs,
  whoIsHere,
} from '../../docs/guide/examples/api.ts';
import { addItem, delays, errorText, loggingWebSocket, ManualNetwork, nodeWebSocket, openList, statusText, whoAmI, willRetry, type ListView } from '../../docs/guide/examples/client.ts';
import { listPath, listRoutes, type Item } from '../../docs/guide/examples/lists.ts';
import { openRooms, say, socketInfo, watch, type Room, type RoomsView } from '../../docs/guide/examples/many.ts';
import { connect } from '../../src/client/index.ts';
import { listen } from '../../docs/guide/examples/server.ts';
import { Hono } from 'hono';
import { startApp, TEST_SECRET, TestClient, type TestApp } from '../helpers.ts';
import { adminRedis, describeRedis, REDIS_URL, uniquePrefix } from '../redis.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A view that records what the page would show, with a promise per awaited event. */
function recorder() {
  const items: Array<{ item: Item; replayed: boolean }> = [];
  const states: Item[][] = [];
  const statuses: Status[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const view: ListView = {
    all: (list) => (states.push(list), wake()),
    item: (item, replayed) => (items.push({ item, replayed }), wake()),
    status: (status) => (statuses.push(status), wake()),
  };
  async function until(test: () => boolean): Promise<void> {
    while (!test()) await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return { view, items, states, statuses, until };
}

function track(client: RealtimeClient): RealtimeClient {
  cleanup.push(() => client.close());
  return client;
}

describe('the server of its own (server.ts, lists.ts, client.ts)', () => {
  it('serves the lists: items reach every client, refusals are final, REST broadcasts arrive', async () => {
    process.env.LOG_LEVEL = 'silent';
    process.env.SESSION_SECRET = TEST_SECRET;
    const running = await listen(0);
    cleanup.push(() => new Promise<void>((done) => running.server.close(() => done())), () => running.rt.close());
    const origin = `http://127.0.0.1:${running.port}`;
    const res = await fetch(`${origin}/login`, { method: 'POST', body: JSON.stringify({ username: 'alice' }), headers: { 'content-type': 'application/json' } });
    const { token } = (await res.json()) as { token: string };
    const cookie = `session=${token}`;

    const a = recorder();
    const b = recorder();
    const alice = track(openList(origin, 'groceries', a.view, { WebSocket: nodeWebSocket(cookie), network: null }));
    const guest = track(openList(origin, 'groceries', b.view, { WebSocket, network: null }));
    await a.until(() => a.states.length > 0 && alice.status === 'connected');
    await b.until(() => b.states.length > 0 && guest.status === 'connected');
    expect(alice.welcome?.ctx.username).toBe('alice');
    expect(statusText(alice.status, {})).toBe('live');

    expect(await addItem(alice, 'milk')).toBe(1);
    await b.until(() => b.items.length > 0);
    expect(b.items[0]).toEqual({ item: { id: 1, text: 'milk', done: false, by: 'alice' }, replayed: false });
    expect(await addItem(alice, '   ')).toBeUndefined(); // invalid_data

    const post = await fetch(`${origin}/api/1/lists/groceries/items`, { method: 'POST', body: JSON.stringify({ text: 'eggs' }), headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(201);
    await b.until(() => b.items.some((i) => i.item.text === 'eggs' && i.item.by === '(guest)'));

    const state = (await (await fetch(`${origin}/api/1/lists/groceries`)).json()) as { items: Item[]; seq: number; epoch: string };
    expect(state.items.map((i) => i.text)).toEqual(['milk', 'eggs']);
    expect(state.seq).toBeGreaterThanOrEqual(2);

    const c = recorder();
    const team = track(openList(origin, 'team-plans', c.view, { WebSocket: nodeWebSocket(cookie), network: null }));
    await c.until(() => team.status === 'rejected');
    const rejected = await new Promise<string>((resolve) => {
      const d = recorder();
      const bad = track(openList(origin, 'Not_Valid', d.view, { network: null, WebSocket }));
      bad.onStatusChange((status, _old, detail) => status === 'rejected' && resolve(statusText(status, detail)));
    });
    expect(rejected).toMatch(/^refused: invalid params/);
    expect(statusText('rejected', { code: 4403 })).toBe('this list is not yours to see');
  });
});

describe('the lists in the demo app, and the API reference uses', () => {
  let app: TestApp;

  async function start(broker?: CountingBroker, more: (rt: Realtime) => Hono<AppEnv>[] = () => []): Promise<TestApp> {
    app = await startApp({}, { routes: (rt) => [listRoutes(rt), ...more(rt)], ...(broker ? { broker } : {}) });
    cleanup.push(() => app.close());
    return app;
  }

  it('mounts through buildApp routes; tour, audit, presence, counting pub/sub', async () => {
    const broker = new CountingBroker(new MemoryBroker(new MemoryHub()));
    await start(broker);
    const lines: string[] = [];
    audit(app.rt, lines);
    const one = await TestClient.connect(app.wsUrl(listPath('chores')));
    const two = await TestClient.connect(app.wsUrl(listPath('chores')));
    expect(lines).toContain('(guest) joined /api/1/ws/lists/chores');

    const ns = app.rt.registry.get(listPath('chores'))!;
    const { members, stats } = await tour(ns, one.welcome.data.clientId);
    expect((await one.next('hello')).data).toEqual({ path: '/api/1/ws/lists/chores', pattern: '/api/1/ws/lists/:listId', params: { listId: 'chores' } });
    expect((await two.next('count')).data).toEqual({ here: 2 });
    expect(members).toHaveLength(2);
    expect(stats.clients).toBe(2);
    expect(broker.published).toBeGreaterThan(0);
    expect(await whoIsHere(app.rt.presence, ns.path)).toEqual({ usernames: ['(guest)', '(guest)'], partial: false, count: 2, state: 'ok' });
    expect(await lastMessages(app.rt, ns.path)).toMatchObject({ quiet: false, data: [expect.anything(), expect.anything(), expect.anything()] });
    expect(await lastMessages(app.rt, listPath('never-used'))).toEqual({ quiet: true, data: [] });
    expect(await rawLog(app.rt.broker, ns.path)).toEqual([1, 2, 3]);

    const done = await one.request('item-done', { id: 7 });
    expect(done.data).toEqual({ code: 'not_found', error: 'no item 7' });
    expect(errorText(done as never)).toBe('no item 7');

    const stats2 = realtimeTour(app.rt, ns.path);
    expect(stats2.instanceId).toBe(app.rt.instanceId);
    expect((await one.closed).code).toBe(4410);
    expect(willRetry(4410)).toBe(false);
    expect(willRetry(1012)).toBe(true);
  });

  it('refuses through openUnless, and stops with shutdown', async () => {
    const state = { maintenance: false, archived: (path: string) => path.endsWith('/old') };
    await start(undefined, (rt) => [new Hono<AppEnv>().get('/api/1/ws/archive/:name', openUnless(state), rt.namespace({}))]);
    const archived = await TestClient.open(app.wsUrl('/api/1/ws/archive/old'));
    expect((await archived.closed).code).toBe(4403);
    state.maintenance = true;
    await expect(TestClient.open(app.wsUrl('/api/1/ws/archive/new'))).rejects.toMatchObject({ status: 503 });
    const client = await TestClient.connect(app.wsUrl(listPath('chores')));
    await stop(app.rt);
    expect((await client.closed).code).toBe(1012);
  });

  it('answers REST errors in one shape: validate() for the input, the route for the rest', async () => {
    await start(undefined, () => [renameRoute(new Map([['groceries', 'Groceries']]))]);
    const put = (list: string, body: unknown) =>
      fetch(`${app.url}/api/1/lists/${list}/name`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bad = await put('groceries', { name: ' ' });
    expect(bad.status).toBe(400);
    expect(await bad.clone().json()).toEqual({ error: 'invalid request body: name: a list needs a name', issues: [{ path: 'name', message: 'a list needs a name' }] });
    expect(await explain(bad)).toBe('name: a list needs a name');
    const missing = await put('chores', { name: 'Chores' });
    expect(missing.status).toBe(404);
    expect(await explain(missing)).toBe('no list chores');
    expect(await (await put('groceries', { name: 'Food' })).json()).toEqual({ name: 'Food' });
  });

  it('builds ctx, limits, two in-process instances and delays as the reference says', async () => {
    const { alice, guest, system, shown } = ctxExamples();
    expect(alice).toMatchObject({ username: 'alice', initials: 'AL', roles: ['editor'], params: { listId: 'groceries' } });
    expect(guest).toMatchObject({ username: '(guest)', roles: [], firstName: '', params: {} });
    expect(system.username).toBe('_system');
    expect('ip' in shown).toBe(false);

    const tuned = tunedRealtime(new Hono());
    expect(tuned.limits.messageRate).toBe(5);
    expect(tuned.limits.maxPayload).toBe(16 * 1024);
    await tuned.close();

    const [a, b] = twoInstances();
    expect(await a.broadcast('/api/1/ws/lists/x', 'notice', {})).toBe(true);
    await Promise.all([a.close(), b.close()]);

    for (const d of delays(8)) expect(d).toBeLessThan(20_000);

    const sessions = sessionsFor(TEST_SECRET);
    expect(whoIs(sessions, 'not-a-token')).toBe('(guest)');
    expect(whoAmI(null)).toBe('not connected yet');
  });

  it('reports the members of a cut-off instance once, a rejoin never, and the instance back', async () => {
    const { store, a, b } = presencePair(400);
    cleanup.push(() => a.close(), () => b.close());
    const seenByA: string[] = [];
    const seenByB: string[] = [];
    watchPresence(a, seenByA);
    watchPresence(b, seenByB);
    const ctx = buildCtx(null, '10.0.0.1');
    const member = (clientId: string) => ({ clientId, username: ctx.username, connectedAt: Date.now() });
    await a.add('/rooms/x', member('x1'), ctx);
    await a.add('/rooms/x', member('x2'), ctx);
    await b.add('/rooms/x', member('y1'), ctx);
    await rejoin(b, '/rooms/x', member('x2-again'), ctx, 'x2');
    store.cut(a);
    await vi.waitFor(() => expect(seenByB).toEqual(['(guest) (x1) left /rooms/x with its instance']), { timeout: 5000, interval: 20 });
    await a.remove('/rooms/x', 'x2'); // a sees x2's old socket close
    store.restore(a);
    await vi.waitFor(() => expect(seenByA).toEqual(['presence degraded', 'presence ok', '1 back in /rooms/x']), { timeout: 5000, interval: 20 });
  });

  it('runs the client over a logging WebSocket and a manual network', async () => {
    await start();
    const sent: string[] = [];
    const network = new ManualNetwork();
    const view = recorder();
    const WS = loggingWebSocket(WebSocket, (data) => sent.push(data));
    const list = track(openList(app.url, 'errands', view.view, { WebSocket: WS, network }));
    await view.until(() => list.status === 'connected' && view.states.length > 0);
    expect(whoAmI(list.welcome)).toBe('(guest) on /api/1/ws/lists/errands at seq 0');
    expect(await addItem(list, 'stamps')).toBe(1);
    expect(sent.some((frame) => frame.includes('"item-add"'))).toBe(true);
    network.set(false);
    expect(list.status).toBe('reconnecting');
    network.set(true);
    await view.until(() => list.status === 'connected');
  });

  it('logs through any Logger, carries correlation ids, reads roles and limits as the server does', async () => {
    const quiet = quietRealtime(new Hono<AppEnv>());
    expect(quiet.log.isLevelEnabled('info')).toBe(false);
    await quiet.close();
    const { id, result } = traced(() => 42);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(result).toBe(42);
    expect(describeUser({ alice: ['editor'] }, 'alice', 'Alice', 'Liddell')).toEqual({ roles: ['editor'], initials: 'AL' });
    expect(describeUser({ alice: ['editor'] }, 'constructor')).toEqual({ roles: [], initials: 'CO' });
    expect(publicLimits).toMatchObject({ maxConnectionsPerIp: 20, trustProxy: 1, httpMaxConnectionsPerIp: 200 });
  });
});

describeRedis('the API reference on Redis', () => {
  it('gives an app store the framework\'s kind of connection, which /ready waits for', async () => {
    const app = await startApp();
    cleanup.push(() => app.close());
    const key = `${uniquePrefix()}audit`;
    const admin = adminRedis();
    cleanup.push(async () => {
      await admin.del(key);
      await admin.quit();
    });
    const audit = auditLog(app.rt, { url: REDIS_URL }, key);
    await audit.ready();
    expect(app.rt.unhealthy()).toEqual([]);
    expect(await audit.append('hello')).toBeGreaterThan(0);
  });
});

describe('many namespaces over one socket (many.ts), in the demo app', () => {
  it('shows the lobby counts and the open room on one socket, switches rooms on it, and says to either kind of connection', async () => {
    const app = await startApp();
    cleanup.push(() => app.close());
    const counts = new Map<string, number>();
    const chats: Array<{ room: string; text: string }> = [];
    const waiters: Array<() => void> = [];
    const wake = () => waiters.splice(0).forEach((w) => w());
    const until = async (test: () => boolean) => {
      while (!test()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const woken = <S extends { onStatusChange(h: () => void): unknown }>(sub: S): S => (sub.onStatusChange(wake), sub);
    const view: RoomsView = {
      rooms: (rooms) => (rooms.forEach((r) => counts.set(r.name, r.members)), wake()),
      count: (room, count) => (counts.set(room, count), wake()),
      chat: (room, message) => (chats.push({ room, text: message.text }), wake()),
    };
    const page = openRooms(app.url, view, { WebSocket, network: null });
    cleanup.push(() => page.mux.close());
    await until(() => counts.get('Berlin') === 0);

    const berlin = woken(page.open('Berlin'));
    await until(() => counts.get('Berlin') === 1 && berlin.status === 'connected');
    expect(socketInfo(page.mux.welcome)).toBe('(guest), up to 100 subscriptions');
    const ack = await say(berlin, 'hallo');
    expect(ack.id).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => chats.length === 1);

    const cairo = woken(page.open('Cairo'));
    await until(() => counts.get('Berlin') === 0 && counts.get('Cairo') === 1 && cairo.status === 'connected');
    expect(berlin.status).toBe('disconnected');
    // The same function with a direct connection.
    const direct = connect<Room>(`${app.url}/api/1/ws/hello-rooms/Cairo`, { WebSocket, network: null });
    cleanup.push(() => direct.close());
    await new Promise<void>((resolve) => direct.onStatusChange((s) => s === 'connected' && resolve()));
    await say(direct, 'salam');
    await until(() => chats.some((c) => c.text === 'salam'));
    expect(chats).toEqual([{ room: 'Berlin', text: 'hallo' }, { room: 'Cairo', text: 'salam' }]);

    // Namespaces this app does not serve are refused one by one; the socket carries on.
    const ticks: string[] = [];
    const [ticker, raw] = watch(page.mux, (at) => ticks.push(at)).map(woken);
    await until(() => ticker!.status === 'rejected' && raw!.status === 'rejected');
    expect(page.lobby.status).toBe('connected');
    expect(cairo.status).toBe('connected');
  });
});
