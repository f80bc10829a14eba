import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, RequestError, type ClientOptions, type NetworkEvents, type Status } from '../../src/client/index.ts';
import { FakeSocket } from './fake-socket.ts';

const PATH = '/api/1/ws/hello-rooms/Berlin';

function open(options: ClientOptions = {}) {
  const client = connect(PATH, { baseUrl: 'http://example.test', WebSocket: FakeSocket, network: null, random: () => 0.5, ...options });
  const statuses: Array<[Status, Status]> = [];
  client.onStatusChange((status, old) => statuses.push([status, old]));
  return { client, statuses };
}

class FakeNetwork implements NetworkEvents {
  readonly listeners = new Map<string, Set<() => void>>();
  addEventListener(type: string, fn: () => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: () => void) {
    this.listeners.get(type)?.delete(fn);
  }
  emit(type: 'online' | 'offline') {
    for (const fn of this.listeners.get(type) ?? []) fn();
  }
}

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('client construction', () => {
  it('resolves the path against the base URL as ws(s)', () => {
    expect(connect(PATH, { baseUrl: 'https://x.test/page#frag', WebSocket: FakeSocket, network: null }).url).toBe(`wss://x.test${PATH}`);
    expect(FakeSocket.last.url).toBe(`wss://x.test${PATH}`);
  });

  it('throws on programmer misuse', () => {
    expect(() => connect(PATH, { WebSocket: FakeSocket, network: null })).toThrow(/baseUrl/);
    vi.stubGlobal('WebSocket', undefined);
    expect(() => connect(PATH, { baseUrl: 'http://x', network: null })).toThrow(/options\.WebSocket/);
    vi.unstubAllGlobals();
    expect(() => connect(PATH, { baseUrl: 'http://x', WebSocket: FakeSocket, minReconnectDelayMs: -1 })).toThrow(RangeError);
    expect(() => connect(PATH, { baseUrl: 'http://x', WebSocket: FakeSocket, minReconnectDelayMs: 10, maxReconnectDelayMs: 5 })).toThrow(RangeError);
    expect(() => connect('', { baseUrl: 'http://x', WebSocket: FakeSocket })).toThrow(TypeError);
    expect(() => connect('ftp://x/y', { WebSocket: FakeSocket })).toThrow(/scheme/);
  });
});

describe('client statuses', () => {
  it('goes connecting -> connected on welcome (not on open)', () => {
    const { client, statuses } = open();
    expect(client.status).toBe('connecting');
    FakeSocket.last.readyState = 1;
    FakeSocket.last.onopen?.({});
    expect(client.status).toBe('connecting');
    FakeSocket.last.accept('c1');
    expect(client.status).toBe('connected');
    expect(client.welcome?.clientId).toBe('c1');
    expect(statuses).toEqual([['connected', 'connecting']]);
  });

  it.each([1001, 1006, 1012, 1013, 1000, 1011])('reconnects after retryable close %i', (code) => {
    const { client, statuses } = open();
    FakeSocket.last.accept();
    FakeSocket.last.drop(code);
    expect(client.status).toBe('reconnecting');
    expect(FakeSocket.all).toHaveLength(1);
    vi.runOnlyPendingTimers();
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last.accept();
    expect(statuses).toEqual([
      ['connected', 'connecting'],
      ['reconnecting', 'connected'],
      ['connected', 'reconnecting'],
    ]);
  });

  it.each([4400, 4401, 4403, 4404, 4410, 4499])('stops on permanent close %i and reports the reason', (code) => {
    const { client } = open();
    const details: unknown[] = [];
    client.onStatusChange((_s, _o, detail) => details.push(detail));
    FakeSocket.last.readyState = 1;
    FakeSocket.last.drop(code, 'invalid params: roomName');
    expect(client.status).toBe('rejected');
    expect(details).toEqual([{ code, reason: 'invalid params: roomName' }]);
    vi.runAllTimers();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('retries a first attempt that fails (server down, HTTP 503 seen as 1006)', () => {
    const { client, statuses } = open();
    FakeSocket.last.drop(1006);
    expect(client.status).toBe('reconnecting');
    vi.runOnlyPendingTimers();
    FakeSocket.last.accept();
    expect(statuses.map(([s]) => s)).toEqual(['reconnecting', 'connected']);
  });

  it('waits full-jitter delays that grow per failed attempt and reset after a stable connection', () => {
    open({ random: () => 0.999, minReconnectDelayMs: 100, maxReconnectDelayMs: 1000, stableAfterMs: 5000 });
    const nextDelay = (drop: () => void) => {
      drop();
      const before = Date.now();
      const sockets = FakeSocket.all.length;
      vi.advanceTimersToNextTimer();
      expect(FakeSocket.all.length).toBe(sockets + 1);
      return Date.now() - before;
    };
    const fail = () => FakeSocket.last.drop(1006);
    const shortLived = () => {
      FakeSocket.last.accept();
      vi.advanceTimersByTime(4999);
      FakeSocket.last.drop(1006);
    };
    const delays = [fail, fail, fail, shortLived, fail, fail].map(nextDelay);
    // Ceilings 100, 200, 400, 800, then capped at 1000; a connection shorter than stableAfterMs
    // does not reset the sequence.
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);

    FakeSocket.last.accept();
    vi.advanceTimersByTime(5000);
    expect(nextDelay(fail)).toBe(99);
  });

  it('close() is final and idempotent, from any status', () => {
    const { client, statuses } = open();
    FakeSocket.last.accept();
    const socket = FakeSocket.last;
    client.close();
    client.close();
    expect(client.status).toBe('disconnected');
    expect(socket.closedWith?.code).toBe(1000);
    expect(statuses.at(-1)).toEqual(['disconnected', 'connected']);
    vi.runAllTimers();
    expect(FakeSocket.all).toHaveLength(1);
    expect(client.send('chat', { text: 'x' })).toBe(false);
  });

  it('close() while a retry is scheduled cancels it', () => {
    const { client } = open();
    FakeSocket.last.drop(1006);
    client.close();
    vi.runAllTimers();
    expect(FakeSocket.all).toHaveLength(1);
    expect(client.status).toBe('disconnected');
  });

  it('ignores every event of a stale socket', () => {
    const { client } = open({ connectTimeoutMs: 1000 });
    const first = FakeSocket.last;
    vi.advanceTimersByTime(1000); // connect timeout: the first socket is abandoned
    vi.runOnlyPendingTimers();
    const second = FakeSocket.last;
    expect(second).not.toBe(first);
    const seen: string[] = [];
    client.onMessage((f) => seen.push(f.type));
    // Even with handlers captured before they were detached, the guard drops them.
    second.accept();
    const handlers = { msg: second.onmessage!, close: second.onclose! };
    client.close();
    handlers.msg({ data: JSON.stringify({ type: 'chat', data: {} }) });
    handlers.close({ code: 1006, reason: '' });
    expect(seen).toEqual(['welcome']);
    expect(client.status).toBe('disconnected');
  });

  it('abandons an attempt that gets no welcome in time, closing it once it opens', () => {
    const { client } = open({ connectTimeoutMs: 1000 });
    const stuck = FakeSocket.last;
    vi.advanceTimersByTime(1000);
    expect(client.status).toBe('reconnecting');
    expect(stuck.closedWith).toBeUndefined(); // still CONNECTING: closed when it opens
    stuck.readyState = 1;
    stuck.onopen?.({});
    expect(stuck.closedWith?.code).toBe(4000);
  });
});

describe('client online/offline', () => {
  it('drops the socket when offline, waits, and reconnects at once when online', () => {
    const network = new FakeNetwork();
    const { client, statuses } = open({ network });
    FakeSocket.last.accept();
    const socket = FakeSocket.last;
    network.emit('offline');
    expect(client.status).toBe('reconnecting');
    expect(socket.closedWith?.code).toBe(1000);
    vi.runAllTimers();
    expect(FakeSocket.all).toHaveLength(1);
    network.emit('online');
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last.accept();
    expect(statuses.map(([s]) => s)).toEqual(['connected', 'reconnecting', 'connected']);
  });

  it('stops listening once closed', () => {
    const network = new FakeNetwork();
    const { client } = open({ network });
    client.close();
    expect(network.listeners.get('online')?.size).toBe(0);
    expect(network.listeners.get('offline')?.size).toBe(0);
  });
});

describe('client messages', () => {
  it('dispatches frames by type and to onMessage; handler errors are contained', () => {
    const errors: unknown[] = [];
    const { client } = open({ onError: (e) => errors.push(e) });
    const chats: unknown[] = [];
    client.on('chat', () => {
      throw new Error('app bug');
    });
    const off = client.on('chat', (data) => chats.push(data));
    FakeSocket.last.accept();
    FakeSocket.last.receive({ type: 'chat', data: { text: 'a' } });
    off();
    FakeSocket.last.receive({ type: 'chat', data: { text: 'b' } });
    FakeSocket.last.receive('not json');
    FakeSocket.last.receive({ nope: 1 });
    expect(chats).toEqual([{ text: 'a' }]);
    expect(errors).toHaveLength(4);
    expect(client.status).toBe('connected');
  });

  it('request() resolves with the ack and rejects with the server error', async () => {
    const { client } = open();
    FakeSocket.last.accept();
    const ok = client.request('chat', { text: 'hi' });
    const bad = client.request('chat', { text: '' });
    const [first, second] = FakeSocket.last.sent;
    expect(first).toEqual({ type: 'chat', data: { text: 'hi' }, id: expect.any(String) });
    expect(second.id).not.toBe(first.id);
    FakeSocket.last.receive({ type: 'error', data: { code: 'invalid_data', error: 'empty message' }, id: second.id });
    FakeSocket.last.receive({ type: 'ack', data: { id: 'm1' }, id: first.id });
    await expect(ok).resolves.toEqual({ id: 'm1' });
    await expect(bad).rejects.toMatchObject({ name: 'RequestError', code: 'invalid_data', message: 'empty message', fromServer: true });
  });

  it('request() rejects when not connected, on disconnect and on timeout', async () => {
    const { client } = open({ requestTimeoutMs: 1000 });
    await expect(client.request('chat', {})).rejects.toMatchObject({ code: 'not_connected' });
    FakeSocket.last.accept();
    const lost = client.request('chat', {});
    FakeSocket.last.drop(1006);
    await expect(lost).rejects.toMatchObject({ code: 'disconnected' });
    vi.runOnlyPendingTimers();
    FakeSocket.last.accept();
    const slow = client.request('chat', {});
    vi.advanceTimersByTime(1000);
    await expect(slow).rejects.toBeInstanceOf(RequestError);
    await expect(slow).rejects.toMatchObject({ code: 'timeout' });
  });

  it('calls onReconnect after every welcome but the first', () => {
    const { client } = open();
    const reconnects: string[] = [];
    client.onReconnect((w) => reconnects.push(w.clientId));
    FakeSocket.last.accept('first');
    expect(reconnects).toEqual([]);
    FakeSocket.last.drop(1012);
    vi.runOnlyPendingTimers();
    FakeSocket.last.accept('second');
    expect(reconnects).toEqual(['second']);
  });
});
