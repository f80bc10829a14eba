/**
 * The multiplexed client against a scripted socket: what it sends, in what order, and what each
 * subscription makes of the server's tagged frames. The real server is in multiplex-integration.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connectMany, RequestError, type MultiplexOptions, type Status, type Subscription } from '../../src/client/index.ts';
import { FakeSocket } from './fake-socket.ts';

const BERLIN = '/api/1/ws/hello-rooms/Berlin';
const CAIRO = '/api/1/ws/hello-rooms/Cairo';
const LOBBY = '/api/1/ws/hello-rooms';

function open(options: MultiplexOptions = {}) {
  const errors: unknown[] = [];
  const mux = connectMany('/api/1/ws', { baseUrl: 'http://example.test', WebSocket: FakeSocket, network: null, random: () => 0.5, onError: (e) => errors.push(e), ...options });
  return { mux, errors, socket: FakeSocket.last };
}

function statuses(sub: Subscription): Status[] {
  const seen: Status[] = [];
  sub.onStatusChange((status) => seen.push(status));
  return seen;
}

const subscribeFrame = (path: string) => ({ type: 'subscribe', data: { path } });
const unsubscribeFrame = (path: string) => ({ type: 'unsubscribe', data: { path } });

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('one socket, many subscriptions', () => {
  it('opens one socket, subscribes each path once it is welcomed, and hands each its own frames', () => {
    const { mux, socket } = open();
    expect(socket.url).toBe('ws://example.test/api/1/ws');
    const berlin = mux.subscribe(BERLIN);
    const cairo = mux.subscribe(CAIRO);
    expect(socket.take()).toEqual([]);
    socket.acceptMany();
    expect(mux.status).toBe('connected');
    expect(mux.welcome?.maxSubscriptions).toBe(100);
    expect(socket.take()).toEqual([subscribeFrame(BERLIN), subscribeFrame(CAIRO)]);
    expect([berlin.status, cairo.status]).toEqual(['connecting', 'connecting']);

    socket.welcomeSub(BERLIN);
    socket.welcomeSub(CAIRO);
    expect([berlin.status, cairo.status]).toEqual(['connected', 'connected']);
    expect(berlin.welcome?.clientId).toBe(`c-${BERLIN}`);

    const got: Record<string, unknown[]> = { berlin: [], cairo: [] };
    berlin.on('chat', (data) => got.berlin!.push(data));
    cairo.on('chat', (data) => got.cairo!.push(data));
    socket.receive({ type: 'chat', data: 'hallo', path: BERLIN });
    socket.receive({ type: 'chat', data: 'salam', path: CAIRO });
    socket.receive({ type: 'chat', data: 'nobody', path: '/api/1/ws/hello-rooms/Kyiv' });
    expect(got).toEqual({ berlin: ['hallo'], cairo: ['salam'] });
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('tags what a subscription sends with its path, and settles its requests by id and path', async () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    const cairo = mux.subscribe(CAIRO);
    socket.welcomeSub(BERLIN);
    socket.welcomeSub(CAIRO);
    socket.take();

    expect(berlin.send('typing', { on: true })).toBe(true);
    const acked = berlin.request('chat', { text: 'hallo' });
    const refused = cairo.request('chat', { text: '' });
    const [typing, chat, bad] = socket.take();
    expect(typing).toEqual({ type: 'typing', data: { on: true }, path: BERLIN });
    expect(chat).toMatchObject({ type: 'chat', data: { text: 'hallo' }, path: BERLIN });
    expect(bad).toMatchObject({ path: CAIRO });
    socket.receive({ type: 'ack', data: { id: 'm1' }, id: chat.id, path: BERLIN });
    socket.receive({ type: 'error', data: { code: 'invalid_data', error: 'empty message' }, id: bad.id, path: CAIRO });
    await expect(acked).resolves.toEqual({ id: 'm1' });
    await expect(refused).rejects.toMatchObject({ code: 'invalid_data', fromServer: true });
  });

  it('subscribes with the path as the server names it, so an encoded name gets its frames', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const named = '/api/1/ws/hello-rooms/été';
    const sub = mux.subscribe(`/api/1/ws/hello-rooms/${encodeURIComponent('été')}`);
    expect(sub.path).toBe(named);
    expect(socket.take()).toEqual([subscribeFrame(named)]);
    socket.welcomeSub(named);
    const got: unknown[] = [];
    sub.on('chat', (data) => got.push(data));
    socket.receive({ type: 'chat', data: 'salut', path: named });
    expect([sub.status, got]).toEqual(['connected', ['salut']]);
  });

  it('reports a frame of the socket itself (no path) to onError, and delivers it to no subscription', () => {
    const { mux, socket, errors } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    socket.welcomeSub(BERLIN);
    const seen: unknown[] = [];
    berlin.onMessage((frame) => seen.push(frame));
    socket.receive({ type: 'error', data: { code: 'bad_message', error: 'frames on a multiplexed socket carry the path of their subscription' } });
    expect(seen).toEqual([]);
    expect(String(errors[0])).toMatch(/bad_message: frames on a multiplexed socket/);
  });

  it('hands what a status handler of the app throws to onError; the other handlers and the subscriptions carry on', () => {
    const { mux, socket, errors } = open();
    const seen: string[] = [];
    mux.onStatusChange(() => {
      throw new Error('app handler broke');
    });
    mux.onStatusChange((status) => seen.push(status));
    const berlin = mux.subscribe(BERLIN);
    socket.acceptMany();
    socket.welcomeSub(BERLIN);
    expect(seen).toEqual(['connected']);
    expect(String(errors[0])).toMatch(/app handler broke/);
    expect(berlin.status).toBe('connected');
  });

  it('throws for a path that is no plain absolute path, and for a second subscription to one path', () => {
    const { mux } = open();
    for (const bad of ['', 'api/1/ws/x', '/a?b=1', '/a#b', '/a/../b', '//evil.test/x', `/${'x'.repeat(1024)}`]) {
      expect(() => mux.subscribe(bad), bad).toThrow(TypeError);
    }
    mux.subscribe(BERLIN);
    expect(() => mux.subscribe(BERLIN)).toThrow(/already subscribed/);
    // Percent escapes are the same path as the server names it: the same subscription.
    expect(() => mux.subscribe(BERLIN.replace('Berlin', '%42erlin'))).toThrow(/already subscribed/);
    mux.close();
    expect(() => mux.subscribe(CAIRO)).toThrow(/disconnected/);
  });
});

describe('refusals and ends of one subscription', () => {
  it('ends a refused subscription for good (rejected, with the code), the socket and the others carrying on', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    const bad = mux.subscribe('/api/1/ws/hello-rooms/no%20spaces');
    const seen = statuses(bad);
    const details: unknown[] = [];
    bad.onStatusChange((_s, _o, detail) => details.push(detail));
    socket.welcomeSub(BERLIN);
    // The subscribe names the path as the server does (escapes decoded), and its end comes tagged so.
    expect(bad.path).toBe('/api/1/ws/hello-rooms/no spaces');
    socket.receive({ type: 'unsubscribed', data: { code: 4400, reason: 'invalid params: roomName: room names are...' }, path: '/api/1/ws/hello-rooms/no spaces' });
    expect(seen).toEqual(['rejected']);
    expect(details).toEqual([{ code: 4400, reason: 'invalid params: roomName: room names are...' }]);
    expect(berlin.status).toBe('connected');
    expect(mux.status).toBe('connected');
    expect(socket.closedWith).toBeUndefined();

    // A reconnect subscribes Berlin again, not the refused path.
    socket.take();
    socket.drop();
    vi.advanceTimersToNextTimer();
    FakeSocket.last.acceptMany();
    expect(FakeSocket.last.take()).toEqual([subscribeFrame(BERLIN)]);
    expect(bad.status).toBe('rejected');
  });

  it('retries a subscription refused as retryable (1013) after Retry-After, spread by jitter', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    socket.take();
    const delays: Array<number | undefined> = [];
    berlin.onStatusChange((status, _old, detail) => status === 'reconnecting' && delays.push(detail.delayMs));
    socket.receive({ type: 'unsubscribed', data: { code: 1013, reason: 'namespace full', retryAfter: 2 }, path: BERLIN });
    expect(berlin.status).toBe('reconnecting');
    // 2 s, plus half of the first backoff step (random() pinned at 0.5).
    expect(delays).toEqual([2250]);
    vi.advanceTimersByTime(2249);
    expect(socket.take()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(socket.take()).toEqual([subscribeFrame(BERLIN)]);
    socket.welcomeSub(BERLIN);
    expect(berlin.status).toBe('connected');
  });

  it('unsubscribes: tells the server, stops delivery at once, and a new subscription waits for the old one to end', async () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const first = mux.subscribe(BERLIN);
    socket.welcomeSub(BERLIN, undefined, 'old');
    socket.take();
    const pending = first.request('chat', { text: 'x' });
    const old: unknown[] = [];
    first.on('chat', (data) => old.push(data));
    socket.take();

    first.unsubscribe();
    first.unsubscribe();
    expect(first.status).toBe('disconnected');
    expect(socket.take()).toEqual([unsubscribeFrame(BERLIN)]);
    await expect(pending).rejects.toBeInstanceOf(RequestError);

    const second = mux.subscribe(BERLIN);
    const fresh: unknown[] = [];
    second.on('chat', (data) => fresh.push(data));
    // Sent before the server took the unsubscribe: they belong to the old membership.
    socket.receive({ type: 'chat', data: 'late', path: BERLIN });
    expect(socket.take()).toEqual([]);
    socket.receive({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: BERLIN });
    expect(socket.take()).toEqual([subscribeFrame(BERLIN)]);
    socket.welcomeSub(BERLIN, undefined, 'new');
    socket.receive({ type: 'chat', data: 'fresh', path: BERLIN });
    expect(old).toEqual([]);
    expect(fresh).toEqual(['fresh']);
    expect(second.welcome?.clientId).toBe('new');
    expect(first.status).toBe('disconnected');
  });

  it('cancels a subscribe on its way, ignoring a welcome that crossed the unsubscribe', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const sub = mux.subscribe(BERLIN);
    socket.take();
    sub.unsubscribe();
    expect(sub.status).toBe('disconnected');
    expect(socket.take()).toEqual([unsubscribeFrame(BERLIN)]);
    const next = mux.subscribe(BERLIN);
    socket.welcomeSub(BERLIN, undefined, 'crossed');
    expect(sub.welcome).toBeNull();
    expect(socket.take()).toEqual([]);
    socket.receive({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: BERLIN });
    expect(socket.take()).toEqual([subscribeFrame(BERLIN)]);
    socket.welcomeSub(BERLIN, undefined, 'fresh');
    expect(next.welcome?.clientId).toBe('fresh');
  });

  it('forgets a subscription unsubscribed while the socket is down, without sending anything', () => {
    const { mux, socket } = open();
    const sub = mux.subscribe(BERLIN);
    sub.unsubscribe();
    socket.acceptMany();
    expect(socket.take()).toEqual([]);
    expect(() => mux.subscribe(BERLIN)).not.toThrow();
  });
});

describe('the socket dropping', () => {
  it('puts every subscription back to reconnecting, reconnects once and subscribes and syncs each again', async () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    const lobby = mux.subscribe(LOBBY);
    socket.welcomeSub(BERLIN, { seq: 4, epoch: 'e1' });
    socket.welcomeSub(LOBBY);
    socket.receive({ type: 'chat', data: 'five', seq: 5, epoch: 'e1', path: BERLIN });
    expect(berlin.position).toEqual({ seq: 5, epoch: 'e1' });
    const waiting = berlin.request('chat', { text: 'in flight' });
    const reconnects: string[] = [];
    berlin.onReconnect((w) => reconnects.push(w.clientId));

    socket.drop(1006);
    await expect(waiting).rejects.toMatchObject({ code: 'disconnected' });
    expect([mux.status, berlin.status, lobby.status]).toEqual(['reconnecting', 'reconnecting', 'reconnecting']);
    expect(berlin.send('chat', { text: 'x' })).toBe(false);

    vi.advanceTimersToNextTimer();
    expect(FakeSocket.all).toHaveLength(2);
    const again = FakeSocket.last;
    again.acceptMany();
    expect(again.take()).toEqual([subscribeFrame(BERLIN), subscribeFrame(LOBBY)]);
    again.welcomeSub(BERLIN, { seq: 7, epoch: 'e1' }, 'b2');
    expect(again.take()).toEqual([{ type: 'sync', data: { since: 5, epoch: 'e1' }, path: BERLIN }]);
    again.receive({ type: 'chat', data: 'six', seq: 6, epoch: 'e1', replayed: true, path: BERLIN });
    again.receive({ type: 'chat', data: 'seven', seq: 7, epoch: 'e1', replayed: true, path: BERLIN });
    again.receive({ type: 'synced', data: { seq: 7, epoch: 'e1' }, path: BERLIN });
    expect(berlin.position).toEqual({ seq: 7, epoch: 'e1' });
    expect(reconnects).toEqual(['b2']);
    again.welcomeSub(LOBBY);
    expect(lobby.status).toBe('connected');
  });

  it('resubscribes one subscription whose resync failed, leaving the socket and the others alone', async () => {
    const failures: unknown[] = [];
    const { mux, socket } = open({ onError: (e) => failures.push(e) });
    socket.acceptMany();
    let calls = 0;
    const berlin = mux.subscribe(BERLIN, { resync: () => (++calls === 1 ? Promise.reject(new Error('REST down')) : Promise.resolve({ seq: 3, epoch: 'e1' })) });
    const cairo = mux.subscribe(CAIRO);
    socket.welcomeSub(BERLIN, { seq: 3, epoch: 'e1' });
    socket.welcomeSub(CAIRO);
    socket.take();
    await vi.waitFor(() => expect(socket.sent).toEqual([unsubscribeFrame(BERLIN)]));
    expect(berlin.status).toBe('reconnecting');
    expect(cairo.status).toBe('connected');
    socket.take();
    socket.receive({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: BERLIN });
    expect(socket.take()).toEqual([subscribeFrame(BERLIN)]);
    socket.welcomeSub(BERLIN, { seq: 3, epoch: 'e1' });
    await vi.waitFor(() => expect(calls).toBe(2));
    expect(berlin.status).toBe('connected');
    expect(FakeSocket.all).toHaveLength(1);
    expect(String(failures[0])).toMatch(/REST down/);
  });

  it('ends every subscription with the socket: close() disconnects them, a permanent refusal of the socket rejects them', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const a = mux.subscribe(BERLIN);
    mux.close();
    expect([mux.status, a.status]).toEqual(['disconnected', 'disconnected']);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'client closed' });

    const other = open();
    const b = other.mux.subscribe(CAIRO);
    const details: unknown[] = [];
    b.onStatusChange((_s, _o, detail) => details.push(detail));
    other.socket.drop(4404, 'no route');
    expect([other.mux.status, b.status]).toEqual(['rejected', 'rejected']);
    expect(details).toEqual([{ code: 4404, reason: 'no route' }]);
  });
});

describe('a sync the server dropped for the rate limit', () => {
  it('subscribes again (unsubscribe, subscribe, sync from the new welcome) instead of waiting for a synced that never comes', () => {
    const { mux, socket } = open();
    socket.acceptMany();
    const berlin = mux.subscribe(BERLIN);
    socket.welcomeSub(BERLIN, { seq: 5, epoch: 'e1' });
    socket.take();
    // A hole (7 after 5): the subscription asks for what it missed...
    socket.receive({ type: 'chat', data: 'x', seq: 7, epoch: 'e1', path: BERLIN });
    expect(socket.take()).toEqual([{ type: 'sync', data: { since: 5, epoch: 'e1' }, path: BERLIN }]);
    // ...and the socket's rate drops that sync: the answer is a rate_limited on the path, no synced.
    socket.receive({ type: 'error', data: { code: 'rate_limited', error: 'too many messages; slow down' }, path: BERLIN });
    expect(socket.take()).toEqual([unsubscribeFrame(BERLIN)]);
    socket.receive({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: BERLIN });
    expect(socket.take()).toEqual([subscribeFrame(BERLIN)]);
    socket.welcomeSub(BERLIN, { seq: 7, epoch: 'e1' });
    expect(socket.take()).toEqual([{ type: 'sync', data: { since: 5, epoch: 'e1' }, path: BERLIN }]);
    expect(berlin.status).toBe('connected');
  });
});
