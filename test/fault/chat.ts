/**
 * What the fault suite counts: chat traffic in Dynamic Rooms from senders whose acks (WS) and 201s
 * (REST) are recorded, and observers that follow the protocol through the real client library
 * (replay, `resync` from the room's REST state), each keeping the list of messages its page would
 * show; some observers are subscriptions of a multiplexed socket (one per instance, holding both
 * rooms). A stand-in load balancer sends every (re)connect and REST call to a live instance.
 * After the fault, the suite checks that every observer shows every accepted message, none twice,
 * all in one order, and that every resync state held every message accepted before it was asked.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { connect, connectMany, RequestError, type MultiplexClient, type RealtimeClient, type Subscription, type WebSocketLike } from '../../src/client/index.ts';

/** An instance as the balancer sees it. */
export interface Backend {
  url: string;
  alive: boolean;
}

/** How the suite's sockets reach `home` through the balancer, and retry fast. */
function socketOptions(balancer: Balancer, home: number) {
  return { baseUrl: balancer.pick(home).url, WebSocket: balancer.webSocket(home), network: null, minReconnectDelayMs: 20, maxReconnectDelayMs: 300, onError: () => {} };
}

/** A multiplexed socket homed at `home`, for observers that subscribe through it. */
export function multiplexed(balancer: Balancer, home: number): MultiplexClient {
  return connectMany('/api/1/ws', socketOptions(balancer, home));
}

/** Round robin over the live instances; a client keeps its home instance while that one lives. */
export class Balancer {
  #next = 0;
  constructor(readonly backends: Backend[]) {}

  /** The next live instance, or `home` while it is alive. */
  pick(home?: number): Backend {
    const preferred = home === undefined ? undefined : this.backends[home];
    if (preferred?.alive) return preferred;
    const live = this.backends.filter((b) => b.alive);
    if (live.length === 0) throw new Error('no live instance');
    return live[this.#next++ % live.length]!;
  }

  /** A WebSocket class whose every socket goes to `home` while it lives, else where the balancer picks. */
  webSocket(home?: number): new (url: string) => WebSocketLike {
    const balancer = this;
    return class BalancedWebSocket extends WebSocket {
      constructor(url: string) {
        const target = new URL(balancer.pick(home).url);
        const u = new URL(url);
        u.host = target.host;
        super(u.href);
      }
    };
  }
}

export const roomPath = (room: string) => `/api/1/ws/hello-rooms/${room}`;

interface ChatMessage {
  id: string;
  text: string;
}

/** Accepted messages (acked or 201), with when they were accepted. */
export class Accepted {
  readonly byRoom = new Map<string, Map<string, number>>();
  add(room: string, id: string): void {
    let ids = this.byRoom.get(room);
    if (!ids) this.byRoom.set(room, (ids = new Map()));
    ids.set(id, performance.now());
  }
  of(room: string): Map<string, number> {
    return this.byRoom.get(room) ?? new Map();
  }
}

/** A page in a room: its view of the messages, as Dynamic Rooms shows them. */
export class Observer extends EventEmitter {
  readonly view: string[] = [];
  readonly #seen = new Set<string>();
  duplicates = 0;
  resyncs = 0;
  /** The clientId of its first connection. */
  firstClientId: string | undefined;
  /** Whether it ever had to reconnect. */
  reconnected = false;
  /** `left` notices received, by the clientId that left. */
  readonly lefts = new Map<string, number>();
  /** Messages accepted before a resync was asked that its state did not hold. */
  readonly resyncMisses: string[] = [];
  /** A direct connection of its own, or a subscription of `via`'s socket. */
  readonly client: RealtimeClient | Subscription;

  constructor(
    readonly room: string,
    balancer: Balancer,
    accepted: Accepted,
    /** The instance it connects to while that one lives (that of `via`'s socket, when given). */
    readonly home: number,
    via?: MultiplexClient,
  ) {
    super();
    const options = {
      requestTimeoutMs: 5000,
      resync: async () => {
        const askedAt = performance.now();
        const res = await fetch(`${balancer.pick().url}/api/1/rooms/${room}`);
        if (!res.ok) throw new Error(`resync: HTTP ${res.status}`);
        const state = (await res.json()) as { seq: number; epoch: string; messages: ChatMessage[] };
        const ids = new Set(state.messages.map((m) => m.id));
        // The page replaces what it shows by the state (merging by id, as the demo does).
        for (const [id, at] of accepted.of(room)) if (at < askedAt && !ids.has(id) && this.#seen.has(id) === false) this.resyncMisses.push(id);
        for (const m of state.messages) this.#add(m.id, false);
        this.resyncs++;
        this.emit('change');
        return { seq: state.seq, epoch: state.epoch };
      },
    };
    this.client = via
      ? via.subscribe(roomPath(room), options)
      : connect(roomPath(room), { ...options, ...socketOptions(balancer, home) });
    this.client.on<ChatMessage>('chat', (m) => {
      this.#add(m.id, true);
      this.emit('change');
    });
    this.client.on<{ clientId: string }>('left', ({ clientId }) => {
      this.lefts.set(clientId, (this.lefts.get(clientId) ?? 0) + 1);
      this.emit('left');
    });
    this.client.onStatusChange((status) => {
      if (status === 'connected') this.firstClientId ??= this.client.welcome?.clientId;
      if (status === 'reconnecting') this.reconnected = true;
    });
  }

  /** Whether the page shows `id`. */
  has(id: string): boolean {
    return this.#seen.has(id);
  }

  #add(id: string, live: boolean): void {
    if (this.#seen.has(id)) {
      // A state may repeat what the page shows (merged by id); a live frame must not.
      if (live) this.duplicates++;
      return;
    }
    this.#seen.add(id);
    this.view.push(id);
  }
}

/** Sends a chat every `intervalMs` over its own socket, recording what was acked. */
export class WsSender {
  readonly client: RealtimeClient;
  readonly errors = new Map<string, number>();
  sent = 0;
  #stop = false;
  #loop: Promise<void> | undefined;
  /** The clientId of its first connection. */
  firstClientId: string | undefined;

  constructor(
    readonly room: string,
    balancer: Balancer,
    readonly accepted: Accepted,
    readonly home: number,
  ) {
    this.client = connect(roomPath(room), { ...socketOptions(balancer, home), requestTimeoutMs: 5000 });
    this.client.onStatusChange((status) => {
      if (status === 'connected') this.firstClientId ??= this.client.welcome?.clientId;
    });
  }

  start(intervalMs: number): void {
    this.#loop = (async () => {
      while (!this.#stop) {
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
        if (this.client.status !== 'connected') continue;
        this.sent++;
        try {
          const ack = await this.client.request<{ id: string }>('chat', { text: `ws ${this.sent}` });
          this.accepted.add(this.room, ack.id);
        } catch (err) {
          const code = err instanceof RequestError ? err.code : 'other';
          this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }
}

/** Posts a chat every `intervalMs` through the balancer, recording what was answered 201. */
export class RestSender {
  readonly statuses = new Map<number | string, number>();
  #stop = false;
  #loop: Promise<void> | undefined;

  constructor(
    readonly room: string,
    readonly balancer: Balancer,
    readonly accepted: Accepted,
  ) {}

  start(intervalMs: number): void {
    let n = 0;
    this.#loop = (async () => {
      while (!this.#stop) {
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
        let status: number | string;
        try {
          const res = await fetch(`${this.balancer.pick().url}/api/1/rooms/${this.room}/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ text: `rest ${++n}` }),
          });
          status = res.status;
          if (res.status === 201) this.accepted.add(this.room, ((await res.json()) as { message: ChatMessage }).message.id);
          else await res.body?.cancel();
        } catch {
          status = 'network';
        }
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }
}

/** What the suite reports per room: the counts the issue asks for. */
export interface Tally {
  room: string;
  accepted: number;
  observers: number;
  /** Accepted messages an observer never showed, summed over observers. */
  lost: number;
  /** Live frames an observer was handed twice, summed. */
  duplicates: number;
  /** Distinct orders among the observers' views (1: all the same). */
  orders: number;
  resyncs: number;
  /** Accepted-before-asked messages missing from a resync state, summed. */
  resyncMisses: number;
}

/**
 * Waits until every observer shows every accepted message of its room (or `timeoutMs` passed),
 * then counts.
 */
export async function settle(observers: Observer[], accepted: Accepted, timeoutMs = 15_000): Promise<Tally[]> {
  const complete = (o: Observer) => [...accepted.of(o.room).keys()].every((id) => o.has(id));
  await Promise.all(
    observers.map(
      (o) =>
        new Promise<void>((resolve) => {
          if (complete(o)) return resolve();
          const timer = setTimeout(done, timeoutMs);
          function done() {
            clearTimeout(timer);
            o.off('change', check);
            resolve();
          }
          function check() {
            if (complete(o)) done();
          }
          o.on('change', check);
        }),
    ),
  );
  const rooms = [...new Set(observers.map((o) => o.room))];
  return rooms.map((room) => {
    const mine = observers.filter((o) => o.room === room);
    const ids = [...accepted.of(room).keys()];
    return {
      room,
      accepted: ids.length,
      observers: mine.length,
      lost: mine.reduce((n, o) => n + ids.filter((id) => !o.has(id)).length, 0),
      duplicates: mine.reduce((n, o) => n + o.duplicates, 0),
      orders: new Set(mine.map((o) => o.view.filter((id) => accepted.of(room).has(id)).join(','))).size,
      resyncs: mine.reduce((n, o) => n + o.resyncs, 0),
      resyncMisses: mine.reduce((n, o) => n + o.resyncMisses.length, 0),
    };
  });
}
