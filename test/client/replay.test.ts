/**
 * The client's replay bookkeeping against a scripted server: duplicates, skips, holes, gaps, and a
 * reconnect while a resync is on its way.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { connect, type ClientOptions, type Frame } from '../../src/client/index.ts';
import { FakeSocket } from './fake-socket.ts';

const PATH = '/api/1/ws/replay/x';
const E = 'epochA';

function open(options: ClientOptions = {}) {
  const client = connect(PATH, { baseUrl: 'http://example.test', WebSocket: FakeSocket, network: null, minReconnectDelayMs: 1, maxReconnectDelayMs: 1, ...options });
  const got: Frame[] = [];
  client.on('m', (_data, frame) => got.push(frame));
  return { client, got, seqs: () => got.map((f) => f.seq) };
}

function welcome(socket: FakeSocket, seq: number, epoch = E) {
  socket.readyState = 1;
  socket.onopen?.({});
  socket.receive({ type: 'welcome', data: { clientId: 'c', path: PATH, ctx: { username: 'u', roles: [], params: {} }, replay: { seq, epoch } } });
}

const m = (seq: number, extra: object = {}) => ({ seq, epoch: E, type: 'm', data: { seq }, ...extra });

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

beforeEach(() => FakeSocket.reset());

describe('client replay', () => {
  it('hands frames over in seq order, once; skips advance without reaching handlers', () => {
    const { seqs } = open();
    welcome(FakeSocket.last, 3);
    const s = FakeSocket.last;
    s.receive(m(4));
    s.receive(m(4));
    s.receive({ seq: 5, epoch: E, type: 'skip', data: null });
    s.receive(m(6));
    expect(seqs()).toEqual([4, 6]);
    expect(s.sent).toEqual([]);
  });

  it('syncs on a hole, drops what comes out of place, and takes the replay', () => {
    const { client, seqs, got } = open();
    welcome(FakeSocket.last, 0);
    const s = FakeSocket.last;
    s.receive(m(1));
    s.receive(m(3));
    expect(s.sent).toEqual([{ type: 'sync', data: { since: 1, epoch: E } }]);
    s.receive(m(4));
    s.receive(m(2, { replayed: true }));
    s.receive(m(3, { replayed: true }));
    s.receive(m(4, { replayed: true }));
    s.receive({ type: 'synced', data: { seq: 4, epoch: E } });
    s.receive(m(4));
    s.receive(m(5));
    expect(seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(got.map((f) => !!f.replayed)).toEqual([false, true, true, true, false]);
    expect(client.position).toEqual({ seq: 5, epoch: E });
  });

  it('on gap, resyncs and keeps only the live frames after the seq the resync reports', async () => {
    const loaded = deferred<{ seq: number; epoch: string }>();
    let calls = 0;
    const { seqs } = open({ resync: () => (calls++ === 0 ? Promise.resolve({ seq: 0, epoch: E }) : loaded.promise) });
    welcome(FakeSocket.last, 0);
    await settle();
    const s = FakeSocket.last;
    s.receive({ seq: 1, epoch: 'epochB', type: 'm', data: {} });
    expect(s.sent.at(-1)).toEqual({ type: 'sync', data: { since: 0, epoch: E } });
    s.receive({ type: 'gap', data: { seq: 7, epoch: 'epochB' } });
    for (const seq of [8, 9, 10]) s.receive({ seq, epoch: 'epochB', type: 'm', data: {} });
    await settle();
    expect(calls).toBe(2);
    loaded.resolve({ seq: 8, epoch: 'epochB' });
    await settle();
    expect(seqs()).toEqual([9, 10]);
  });

  it('catches up from the resync when a reconnect came while it was on its way', async () => {
    const loaded = deferred<number>();
    const { seqs } = open({ resync: () => loaded.promise });
    welcome(FakeSocket.last, 5);
    FakeSocket.last.drop();
    await new Promise((r) => setTimeout(r, 5));
    const second = FakeSocket.last;
    welcome(second, 9);
    second.receive(m(10));
    loaded.resolve(6);
    await settle();
    expect(second.sent).toEqual([{ type: 'sync', data: { since: 6, epoch: E } }]);
    second.receive(m(7, { replayed: true }));
    expect(seqs()).toEqual([7]);
  });

  it('without a resync hook, a gap continues from the server seq', () => {
    const { seqs } = open();
    welcome(FakeSocket.last, 2);
    const s = FakeSocket.last;
    s.receive(m(5));
    s.receive({ type: 'gap', data: { seq: 5, epoch: E } });
    s.receive(m(6));
    expect(seqs()).toEqual([6]);
  });

  it('takes the first epoch of a namespace that had no log when it connected, from seq 1 only', () => {
    const { client, seqs } = open();
    welcome(FakeSocket.last, 0, '');
    const s = FakeSocket.last;
    s.receive(m(1));
    s.receive(m(2));
    expect(seqs()).toEqual([1, 2]);
    expect(client.position).toEqual({ seq: 2, epoch: E });
    expect(s.sent).toEqual([]);

    const late = open();
    welcome(FakeSocket.last, 0, '');
    const t = FakeSocket.last;
    t.receive(m(3));
    expect(late.seqs()).toEqual([]);
    expect(t.sent).toEqual([{ type: 'sync', data: { since: 0, epoch: '' } }]);
    t.receive(m(1, { replayed: true }));
    t.receive(m(2, { replayed: true }));
    t.receive(m(3, { replayed: true }));
    t.receive({ type: 'synced', data: { seq: 3, epoch: E } });
    expect(late.seqs()).toEqual([1, 2, 3]);
  });

  it('syncs when the server tells it a head it has not reached, one behind it, or another epoch; not when it is there', () => {
    const { seqs } = open();
    welcome(FakeSocket.last, 2);
    const s = FakeSocket.last;
    s.receive({ type: 'head', data: { seq: 2, epoch: E } });
    expect(s.sent).toEqual([]);
    s.receive({ type: 'head', data: { seq: 4, epoch: E } });
    expect(s.sent).toEqual([{ type: 'sync', data: { since: 2, epoch: E } }]);
    s.receive(m(3, { replayed: true }));
    s.receive(m(4, { replayed: true }));
    s.receive({ type: 'synced', data: { seq: 4, epoch: E } });
    expect(seqs()).toEqual([3, 4]);
    s.receive({ type: 'head', data: { seq: 0, epoch: '' } });
    expect(s.sent.at(-1)).toEqual({ type: 'sync', data: { since: 4, epoch: E } });
    s.receive({ type: 'synced', data: { seq: 4, epoch: E } });
    // The log lost its newest entries (a failover): the sync is answered with a gap.
    s.receive({ type: 'head', data: { seq: 3, epoch: E } });
    expect(s.sent.at(-1)).toEqual({ type: 'sync', data: { since: 4, epoch: E } });
    expect(s.sent).toHaveLength(3);
  });
});
