/**
 * Replay across instances, on the in-memory bus and store and on real Redis: what a client that
 * drops, reconnects anywhere, or sees a hole gets, through the real client library.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Frame, type RealtimeClient, type Status, type WebSocketLike } from '../src/client/index.ts';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import { MemoryPresence, MemoryPresenceStore } from '../src/ws/presence/memory.ts';
import { REPLAY_SIZE, replayPath, replayRoutes } from './fixtures/replay-routes.ts';
import { testRoutes } from './fixtures/test-routes.ts';
import { startApp, TestClient, type TestApp } from './helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

interface Backend {
  start(id: string): Promise<TestApp>;
  /** Loses every replay buffer (Redis flushed or restarted, process restarted). */
  loseBuffers(): Promise<void>;
  cleanup(): Promise<void>;
}

function memoryBackend(): Backend {
  const hub = new MemoryHub();
  const presence = new MemoryPresenceStore();
  const apps: TestApp[] = [];
  return {
    async start(id) {
      const app = await startApp(
        { unsubscribeDelayMs: 0 },
        { instanceId: id, broker: new MemoryBroker(hub), presence: new MemoryPresence(presence), routes: replayRoutes },
      );
      apps.push(app);
      return app;
    },
    async loseBuffers() {
      hub.clearLogs();
    },
    async cleanup() {
      await Promise.all(apps.splice(0).map((a) => a.close()));
    },
  };
}

function redisBackend(): Backend {
  const prefix = uniquePrefix();
  const admin: Redis = adminRedis();
  const apps: TestApp[] = [];
  return {
    async start(id) {
      const app = await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix, unsubscribeDelayMs: 0 }, { instanceId: id, routes: replayRoutes });
      apps.push(app);
      return app;
    },
    async loseBuffers() {
      // What a restart without persistence loses: every namespace's log and its seq.
      for (const suffix of [':log', ':meta']) {
        const keys = await admin.keys(`${prefix}{*}${suffix}`);
        if (keys.length) await admin.del(...keys);
      }
    },
    async cleanup() {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await deleteKeys(admin, prefix);
      await admin.quit();
    },
  };
}

/** `online`/`offline` under the test's control. */
function fakeNetwork() {
  const events = new EventEmitter();
  return {
    addEventListener: (type: string, listener: () => void) => void events.on(type, listener),
    removeEventListener: (type: string, listener: () => void) => void events.off(type, listener),
    go: (type: 'online' | 'offline') => events.emit(type),
  };
}

/** What the app behind a client sees: the resource's items, in order, from resyncs and broadcasts. */
class View extends EventEmitter {
  items: number[] = [];
  frames: Array<Frame<{ n: number }>> = [];
  resyncs = 0;

  set(items: number[]): void {
    this.items = [...items];
    this.resyncs++;
    this.emit('change');
  }

  add(frame: Frame<{ n: number }>): void {
    this.frames.push(frame);
    this.items.push(frame.data.n);
    this.emit('change');
  }

  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!cond()) return;
        this.off('change', check);
        resolve();
      };
      this.on('change', check);
    });
  }

  has(n: number): Promise<void> {
    return this.until(() => this.items.includes(n));
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function suite(name: string, describeFn: typeof describeRedis, makeBackend: () => Backend) {
  describeFn(`replay (${name})`, () => {
    let backend: Backend;
    const clients: RealtimeClient[] = [];
    let id: string;
    beforeEach(() => {
      backend = makeBackend();
      id = randomBytes(4).toString('hex');
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await backend.cleanup();
    });

    /** A client of the test namespace whose socket goes to whichever instance `to()` names last. */
    function client(first: TestApp, options: { resync?: boolean; drop?: (frame: Frame) => boolean; failResyncs?: number } = {}) {
      let failures = options.failResyncs ?? 0;
      let target = first;
      const network = fakeNetwork();
      const view = new View();
      const WS = class implements WebSocketLike {
        readonly #inner: WebSocket;
        onmessage: WebSocketLike['onmessage'] = null;
        constructor(url: string) {
          this.#inner = new WebSocket(url.replace(/:\d+\//, `:${target.port}/`));
          // Loses chosen frames on the way in: a hole the client must notice by itself.
          this.#inner.onmessage = (event) => {
            if (!options.drop?.(JSON.parse(String(event.data)))) this.onmessage?.(event);
          };
        }
        get readyState() {
          return this.#inner.readyState;
        }
        set onopen(fn: WebSocketLike['onopen']) {
          this.#inner.onopen = fn;
        }
        get onopen() {
          return this.#inner.onopen;
        }
        set onclose(fn: WebSocketLike['onclose']) {
          this.#inner.onclose = fn as WebSocket['onclose'];
        }
        get onclose(): WebSocketLike['onclose'] {
          return this.#inner.onclose as WebSocketLike['onclose'];
        }
        set onerror(fn: WebSocketLike['onerror']) {
          this.#inner.onerror = fn;
        }
        get onerror() {
          return this.#inner.onerror;
        }
        send(data: string) {
          this.#inner.send(data);
        }
        close(code?: number, reason?: string) {
          this.#inner.close(code, reason);
        }
      };
      const rc = connect(replayPath(id), {
        baseUrl: first.url,
        WebSocket: WS,
        network,
        minReconnectDelayMs: 5,
        maxReconnectDelayMs: 20,
        onError: () => {},
        ...(options.resync === false
          ? {}
          : {
              resync: async () => {
                if (failures-- > 0) throw new Error('REST down');
                const state = (await (await fetch(`${target.url}/api/1/replay/${id}`)).json()) as { seq: number; epoch: string; items: number[] };
                view.set(state.items);
                return state;
              },
            }),
      });
      rc.on('said', (_data, frame) => view.add(frame as Frame<{ n: number }>));
      clients.push(rc);
      return {
        rc,
        view,
        to(app: TestApp) {
          target = app;
        },
        offline: () => network.go('offline'),
        online: () => network.go('online'),
      };
    }

    function reach(rc: RealtimeClient, status: Status): Promise<void> {
      if (rc.status === status) return Promise.resolve();
      return new Promise((resolve) => {
        const off = rc.onStatusChange((now) => {
          if (now === status) {
            off();
            resolve();
          }
        });
      });
    }

    /** A raw socket that says things. */
    async function sayer(app: TestApp) {
      const ws = await TestClient.connect(app.wsUrl(replayPath(id)));
      return {
        ws,
        async say(...ns: number[]) {
          for (const n of ns) expect((await ws.request('say', { n })).data).toEqual({ ok: true });
        },
      };
    }

    it('replays exactly what was missed, in order, on another instance, then goes live', async () => {
      const [A, B] = [await backend.start('A'), await backend.start('B')];
      const s = await sayer(B);
      const c = client(A);
      await c.view.until(() => c.view.resyncs === 1);
      await s.say(1, 2);
      await c.view.has(2);

      c.offline();
      await s.say(...range(3, 12));
      c.to(B);
      c.online();
      await c.view.has(12);
      await s.say(13, 14);
      await c.view.has(14);
      expect(c.view.items).toEqual(range(1, 14));
      expect(c.view.frames.map((f) => f.seq)).toEqual(range(1, 14));
      expect(c.view.frames.filter((f) => f.replayed).map((f) => f.data.n)).toEqual(range(3, 12));
      expect(c.view.resyncs).toBe(1);
    });

    it('falls back to the resync when the buffer does not reach back far enough: no loss, no duplicate', async () => {
      const [A, B] = [await backend.start('A'), await backend.start('B')];
      const s = await sayer(A);
      const c = client(A);
      await c.view.until(() => c.view.resyncs === 1);
      await s.say(1);
      await c.view.has(1);
      c.offline();
      await s.say(...range(2, 2 + REPLAY_SIZE + 2));
      c.to(B);
      c.online();
      await c.view.until(() => c.view.resyncs === 2);
      await s.say(100, 101);
      await c.view.has(101);
      expect(c.view.items).toEqual([...range(1, 2 + REPLAY_SIZE + 2), 100, 101]);
      expect(c.view.frames.filter((f) => f.replayed)).toEqual([]);
    });

    it('delivers one seq order on every instance under concurrent broadcasters', async () => {
      const [A, B] = [await backend.start('A'), await backend.start('B')];
      const [a, b] = [await sayer(A), await sayer(B)];
      const watchers = [client(A, { resync: false }), client(B, { resync: false })];
      await Promise.all(watchers.map((w) => reach(w.rc, 'connected')));
      await Promise.all([a.say(...range(1, 30)), b.say(...range(101, 130))]);
      await Promise.all(watchers.map((w) => w.view.until(() => w.view.items.length === 60)));
      const [first, second] = watchers.map((w) => w.view.frames);
      expect(first!.map((f) => f.data.n)).toEqual(second!.map((f) => f.data.n));
      expect(first!.map((f) => f.seq)).toEqual(range(1, 60));
      // The raw sockets saw the same order too.
      const raw = (t: TestClient) => t.frames.filter((f) => f.type === 'said').map((f) => [f.seq, f.data.n]);
      expect(raw(a.ws)).toEqual(first!.map((f) => [f.seq, f.data.n]));
      expect(raw(b.ws)).toEqual(raw(a.ws));
    });

    it('says gap when the buffers are lost (new epoch), never replays wrong messages', async () => {
      const [A, B] = [await backend.start('A'), await backend.start('B')];
      const s = await sayer(A);
      const away = client(A);
      const stays = client(B);
      await Promise.all([away, stays].map((c) => c.view.until(() => c.view.resyncs === 1)));
      await s.say(1, 2);
      await away.view.has(2);
      away.offline();
      await s.say(3);
      await stays.view.has(3);
      await backend.loseBuffers();
      // The sequence starts over in a new epoch; the connected client notices it live.
      await s.say(4, 5);
      await stays.view.has(5);
      away.to(B);
      away.online();
      await away.view.until(() => away.view.resyncs === 2);
      await s.say(6);
      await Promise.all([away.view.has(6), stays.view.has(6)]);
      expect(away.view.items).toEqual(range(1, 6));
      expect(stays.view.items).toEqual(range(1, 6));
      expect(stays.view.resyncs).toBe(2);
      expect(away.view.frames.filter((f) => f.replayed)).toEqual([]);
    });

    it('neither loses nor duplicates live broadcasts that arrive while a replay is served', async () => {
      const [A, B] = [await backend.start('A'), await backend.start('B')];
      const s = await sayer(B);
      const c = client(A);
      await c.view.until(() => c.view.resyncs === 1);
      c.offline();
      await s.say(1, 2, 3);
      let n = 3;
      let stop = false;
      const flowing = (async () => {
        while (!stop) await s.say(++n);
      })();
      c.to(B);
      c.online();
      await c.view.until(() => c.view.items.length >= 3 && c.view.frames.some((f) => !f.replayed));
      stop = true;
      await flowing;
      await c.view.has(n);
      expect(c.view.items).toEqual(range(1, n));
      expect(c.view.frames.map((f) => f.seq)).toEqual(range(1, n));
    });

    it('notices a hole on a live connection and syncs without reconnecting', async () => {
      const A = await backend.start('A');
      const s = await sayer(A);
      let dropped = 0;
      const c = client(A, { drop: (f) => f.type === 'said' && f.seq === 2 && !f.replayed && ++dropped === 1 });
      await c.view.until(() => c.view.resyncs === 1);
      await s.say(1, 2, 3);
      await c.view.has(3);
      expect(dropped).toBe(1);
      expect(c.view.items).toEqual([1, 2, 3]);
      expect(c.view.frames.map((f) => !!f.replayed)).toEqual([false, true, true]);
      expect(c.rc.status).toBe('connected');
    });

    it('replays from a buffer that outlived its namespace (the room emptied and was dropped)', async () => {
      const A = await backend.start('A');
      const c = client(A);
      await c.view.until(() => c.view.resyncs === 1);
      const dropped = once(A.rt.registry, 'delete');
      c.offline();
      await dropped;
      for (const n of [1, 2, 3]) expect((await fetch(`${A.url}/api/1/replay/${id}/${n}`, { method: 'POST' })).status).toBe(200);
      c.online();
      await c.view.has(3);
      expect(c.view.items).toEqual([1, 2, 3]);
      expect(c.view.frames.every((f) => f.replayed)).toBe(true);
      expect(c.view.resyncs).toBe(1);
    });

    it('reconnects and tries again when the resync fails', async () => {
      const A = await backend.start('A');
      const s = await sayer(A);
      await s.say(1);
      const c = client(A, { failResyncs: 1 });
      const statuses: Status[] = [];
      c.rc.onStatusChange((now) => statuses.push(now));
      await c.view.until(() => c.view.resyncs === 1);
      await s.say(2);
      await c.view.has(2);
      expect(c.view.items).toEqual([1, 2]);
      expect(statuses).toEqual(['connected', 'reconnecting', 'connected']);
    });

    it('gives the client left out of a broadcast its seq alone (skip), so it sees no hole', async () => {
      const A = await backend.start('A');
      const s = await sayer(A);
      const c = client(A);
      await c.view.until(() => c.view.resyncs === 1);
      expect((await s.ws.request('say-to-others', { n: 1 })).data).toEqual({ ok: true });
      await s.say(2);
      await c.view.has(2);
      const skip = s.ws.frames.find((f) => f.type === 'skip');
      expect(skip).toMatchObject({ seq: 1, data: null });
      expect(s.ws.frames.filter((f) => f.type === 'said').map((f) => f.seq)).toEqual([2]);
      expect(c.view.items).toEqual([1, 2]);
    });
  });
}

suite('memory', describe, memoryBackend);
suite('redis', describeRedis, redisBackend);

describe('replay protocol', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startApp({}, { routes: (rt) => [...replayRoutes(rt), ...testRoutes(rt)] });
  });
  afterEach(() => app.close());

  it('reports the head in welcome, replays after since with the flag, and answers gap for an unknown epoch', async () => {
    const path = replayPath('proto');
    const a = await TestClient.connect(app.wsUrl(path));
    // Nothing broadcast yet: an empty head, and nothing created by reading it.
    expect(a.welcome.data.replay).toEqual({ seq: 0, epoch: '' });
    await a.request('say', { n: 1 });
    await a.request('say', { n: 2 });
    const epoch = (await app.rt.replayHead(path))!.epoch;
    expect(epoch).toMatch(/^[\w-]+$/);
    a.send({ type: 'sync', data: { since: 0, epoch } });
    // (`request` read past the live copies already.)
    const replayed = [await a.next('said'), await a.next('said')];
    expect(replayed.map((f) => [f.seq, f.replayed, f.data.n])).toEqual([
      [1, true, 1],
      [2, true, 2],
    ]);
    expect((await a.next('synced')).data).toEqual({ seq: 2, epoch });
    a.send({ type: 'sync', data: { since: 0, epoch: 'other' }, id: 'g' });
    expect(await a.next('gap')).toEqual({ type: 'gap', data: { seq: 2, epoch }, id: 'g' });
    expect((await a.request('sync', { since: -1, epoch })).data.code).toBe('invalid_data');
  });

  it('answers sync in a namespace without replay with unknown_type; its welcome has no replay', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    expect(c.welcome.data.replay).toBeUndefined();
    expect((await c.request('sync', { since: 0, epoch: 'x' })).data.code).toBe('unknown_type');
  });

  it('refuses bad replay options when the namespace is declared', () => {
    expect(() => app.rt.namespace({ replay: { size: 0 } })).toThrow(/replay.size/);
    expect(() => app.rt.namespace({ replay: { maxAgeMs: 10 } })).toThrow(/replay.maxAgeMs/);
  });
});
