/**
 * The realtime server's public API, bound to one Hono app: declaring namespaces, broadcasting and
 * reading logs from REST, removal, health, stats, serving and shutdown. It builds the hub (the
 * namespaces and their way to the broker) and the upgrade pipeline, and delegates to them.
 */
import { randomUUID } from 'node:crypto';
import type { Server, ServerOptions } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import type { WebSocketServerLike } from '@hono/node-server';
import type { Context, ErrorHandler, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from './observe/logger.ts';
import { MemoryBroker } from './broker/memory.ts';
import type { Broker, BrokerState, HistoryQuery, LogPolicy } from './broker/types.ts';
import type { NamespaceChannels } from './hub/channels.ts';
import {
  checkDefinition,
  replayPolicy,
  type BroadcastSchemas,
  type DefinitionContract,
  type MessageSchemas,
  type NamespaceDefinition,
  type ParamsSchema,
} from './definition.ts';
import type { NamespaceContract, NamespaceResponse } from '../protocol/contract.ts';
import { RealtimeEvents } from './events.ts';
import { Hub } from './hub/hub.ts';
import { encodeFrame } from './wire/messages.ts';
import type { BroadcastOptions, NamespaceStats } from './namespace.ts';
import { MemoryPresence } from './presence/memory.ts';
import type { Presence, PresenceState } from './presence/types.ts';
import { ReplayRoutes } from './replay/routes.ts';
import type { ReplayHead } from '../protocol/frames.ts';
import { unwrapEnvelope } from './broker/envelope.ts';
import { WsRefusal } from './upgrade/refusal.ts';
import type { NamespaceRegistry } from './hub/registry.ts';
import { httpErrorResponse } from './rest.ts';
import { restGuards } from './safety/rest-guard.ts';
import type { DrainOptions } from './safety/drain.ts';
import { httpServerOptions } from './safety/http-connections.ts';
import { resolveLimits, type Limits } from './safety/limits.ts';
import type { AppEnv } from './types.ts';
import { UpgradePipeline, type Fetch } from './upgrade/pipeline.ts';

/** What `rt.namespace()` returns: the route's last middleware, whose declared response carries the namespace's contract. */
export type NamespaceHandler<C extends NamespaceContract> = MiddlewareHandler<AppEnv, string, {}, NamespaceResponse<C>>;

export interface RealtimeOptions {
  /**
   * What crosses instances: the bus and the namespaces' logs (`MemoryBroker` in one process,
   * `RedisBroker` across several). Default: an in-memory broker private to this instance.
   */
  broker?: Broker;
  /** Who is in each namespace across instances. Default: in-memory, private to this instance. */
  presence?: Presence;
  /** This instance's id, stamped on everything it publishes. Default: a random UUID. */
  instanceId?: string;
  /**
   * How long a removed namespace keeps its bus subscription, so that a client leaving and another
   * joining a moment later does not unsubscribe and subscribe again. Default 2000 ms.
   */
  unsubscribeDelayMs?: number;
  logger: Logger;
  /** Protective limits (see `docs/limits.md`); each one missing takes its default. */
  limits?: Partial<Limits>;
}

export interface RealtimeStats {
  instanceId: string;
  /**
   * `localOnly`: broadcasts this instance delivered to its own clients itself (volatile ones while
   * the broker was down, or while a channel was not subscribed); `refused`: broadcasts the broker
   * could not take, sent to nobody (their senders were told).
   */
  broker: { kind: string; state: BrokerState; localOnly: number; refused: number };
  presence: { kind: string; state: PresenceState };
  namespaces: number;
  clients: number;
  list: NamespaceStats[];
}

/** One logged broadcast as `rt.history()` returns it. */
export interface HistoryEntry {
  seq: number;
  /** When the broker logged it (ms since the epoch). */
  at: number;
  type: string;
  data: unknown;
}

/** A page of a namespace's log with the head it was read at (`rt.history()`). */
export interface History extends ReplayHead {
  /** Oldest first. */
  entries: HistoryEntry[];
}

/** Something an instance needs to serve its clients (see `Realtime.dependsOn`). */
export interface Dependency {
  /** Shown in `/ready`'s reasons. */
  name: string;
  state(): 'ok' | 'degraded';
}

/** Any Node server the WebSocket upgrade can be attached to. */
export type UpgradeServer = Server | Http2Server | Http2SecureServer;

/** What `serve()` of `@hono/node-server` needs from the realtime server (`rt.serveOptions()`). */
export interface RealtimeServeOptions {
  /** The app's fetch, wrapped so that a refused upgrade gets its whole answer and a closed socket. */
  fetch: Fetch;
  /** The `ws` server every socket is accepted by, built with the limits. */
  websocket: { server: WebSocketServerLike };
  /** HTTP server options: header and request timeouts (`httpHeadersTimeoutMs`). */
  serverOptions: ServerOptions;
}

/**
 * The realtime server bound to one Hono app: what route modules, REST handlers and the app's
 * root use. The namespaces and their way to the broker are the hub's; the way from an upgrade to a
 * connection is the upgrade pipeline's.
 */
export class Realtime {
  readonly instanceId: string;
  /** This instance's namespaces by literal path. */
  readonly registry: NamespaceRegistry;
  /** The bus and the logs between instances. */
  readonly broker: Broker;
  readonly presence: Presence;
  /** The bus subscription of each hosted namespace. */
  readonly channels: NamespaceChannels;
  readonly log: Logger;
  /** Typed events (connect, disconnect, refused, delivered...) that metrics subscribe to. */
  readonly events = new RealtimeEvents();
  readonly limits: Limits;
  readonly #hub: Hub;
  readonly #pipeline: UpgradePipeline;
  readonly #replayRoutes: ReplayRoutes;
  #closed: Promise<void> | undefined;
  readonly #onClose: Array<() => Promise<void>> = [];
  readonly #dependencies: Dependency[] = [];

  /**
   * Binds to `app` and installs the upgrade guard (shutdown, connection limits, admission, origin)
   * as a middleware of it: build the realtime server before adding other middleware, so that the
   * guard runs first.
   */
  constructor(app: Hono<AppEnv>, options: RealtimeOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.broker = options.broker ?? new MemoryBroker();
    this.presence = options.presence ?? new MemoryPresence();
    this.log = options.logger.child({ instanceId: this.instanceId });
    this.limits = resolveLimits(options.limits);
    this.#hub = new Hub({
      instanceId: this.instanceId,
      broker: this.broker,
      presence: this.presence,
      events: this.events,
      limits: this.limits,
      log: this.log,
      unsubscribeDelayMs: options.unsubscribeDelayMs ?? 2000,
    });
    this.registry = this.#hub.registry;
    this.channels = this.#hub.channels;
    this.#replayRoutes = new ReplayRoutes(app);
    this.#pipeline = new UpgradePipeline(app, this.#hub);
  }

  /**
   * The last middleware of a namespace route: validates params, builds ctx, runs the `onCreate`
   * callbacks, then completes the upgrade and gets or creates the namespace for the literal path.
   * @example
   * app.get('/api/1/ws/hello-rooms/:roomName', sessions.middleware, access(),
   *   rt.namespace({ params: z.object({ roomName: RoomName }), messages: { chat: Chat }, onMessage }))
   */
  namespace<M extends MessageSchemas, B extends BroadcastSchemas = BroadcastSchemas, A = unknown, P extends ParamsSchema = ParamsSchema>(
    definition: NamespaceDefinition<M, B, A, P>,
  ): NamespaceHandler<DefinitionContract<M, B, A, P>> {
    const def = definition as unknown as NamespaceDefinition<MessageSchemas>;
    checkDefinition(def);
    const policy = replayPolicy(def);
    const handler = this.#pipeline.handler(def, policy);
    if (policy) this.#replayRoutes.register(handler, policy);
    // The declared response type is only a type: it carries the contract to `typeof handler` and
    // to Hono's route schema (`typeof app`), where the typed client reads it.
    return handler as unknown as NamespaceHandler<DefinitionContract<M, B, A, P>>;
  }

  /**
   * The multiplexed endpoint: one socket carrying many subscriptions. Each `subscribe` runs the
   * route of its path (its middleware, `access`, `onCreate`, params schema and namespace) with the
   * socket's session, as a direct connect would; every frame of a subscription carries its path.
   * Mount it before the `/api/1/ws/*` catch-all. The protocol is in docs/guide/protocol.md.
   * @example
   * app.get('/api/1/ws', rt.multiplex());
   */
  multiplex(): MiddlewareHandler<AppEnv> {
    return this.#pipeline.multiplex();
  }

  /**
   * Answers a refused upgrade: a permanent refusal completes the upgrade and closes with its code
   * and reason, so that a browser can tell "forbidden" from "network down"; a retryable one, or a
   * plain HTTP request, gets the HTTP status with a JSON body (and `Retry-After` when retryable).
   */
  refuse(c: Context<AppEnv>, refusal: WsRefusal): Response | Promise<Response> {
    return this.#pipeline.refuse(c, refusal);
  }

  /**
   * The app's `onError`, in one call: a `WsRefusal` is answered as `refuse()` does (a close code a
   * browser can read, or a retryable status), an `HTTPException` in the REST error shape
   * `{ error, issues? }`, anything else logged once with its stack and answered 500 without it.
   * @example
   * app.onError(rt.errorHandler());
   */
  errorHandler(): ErrorHandler<AppEnv> {
    return (err, c) => {
      if (err instanceof WsRefusal) return this.refuse(c, err);
      if (err instanceof HTTPException) return httpErrorResponse(c, err);
      this.log.error({ err, path: c.req.path, ip: this.clientIp(c) }, 'request failed');
      return c.json({ error: 'the server failed to handle this request (it logged why)' }, 500);
    };
  }

  /**
   * The REST guards of the limits (docs/limits.md): the body size, the same-origin check of
   * state-changing requests, and their rate per address and per signed-in user. Place them after
   * the session middleware, so that the rate counts per user too.
   * @example
   * app.use('*', sessions.middleware, ...rt.restGuards());
   */
  restGuards(): MiddlewareHandler<AppEnv>[] {
    return restGuards(this.limits, (c) => this.clientIp(c));
  }

  /**
   * Broadcasts to a namespace on every instance, whether or not it lives here (REST, jobs). In a
   * namespace with a log (known by its route) it is sequenced and logged. Resolves false when the
   * broker could not take it (then it reached nobody); never rejects. In a REST request the
   * framework answers 503 with Retry-After instead of the route's 2xx when one of the request's
   * broadcasts failed, awaited or not.
   */
  broadcast(path: string, type: string, data: unknown, options: BroadcastOptions = {}): Promise<boolean> {
    const target = options.except ? { except: options.except } : {};
    return this.#hub.publish(path, encodeFrame(type, data), target, this.#policyOf(path), options.volatile === true);
  }

  /**
   * Where the log of the namespace at `path` stands (for a REST resync to report with its state);
   * undefined if it keeps no log. Rejects when the broker cannot be read. Creates nothing.
   */
  async replayHead(path: string): Promise<ReplayHead | undefined> {
    return this.#policyOf(path) && this.broker.head(path);
  }

  /**
   * A page of the log of the namespace at `path`, read at one instant with its head: the newest
   * `limit` broadcasts (before seq `before`, to page back), oldest first; undefined if it keeps no
   * log. A REST resync that returns these with their seq loses nothing replay would have given.
   * Rejects when the broker cannot be read. Creates nothing.
   * @example
   * const page = await rt.history(`/api/1/ws/hello-rooms/${room}`, { limit: 50 });
   * return c.json({ seq: page.seq, epoch: page.epoch, messages: page.entries.map((e) => e.data) });
   */
  async history(path: string, query: HistoryQuery): Promise<History | undefined> {
    const policy = this.#policyOf(path);
    if (!policy) return undefined;
    if (!(Number.isInteger(query.limit) && query.limit >= 1)) throw new RangeError(`history limit must be a whole number >= 1 (got ${query.limit})`);
    const page = await this.broker.history(path, query, policy);
    const entries: HistoryEntry[] = [];
    for (const entry of page.entries) {
      const frame = unwrapEnvelope(entry.envelope)?.frame;
      if (!frame) continue;
      const { type, data } = JSON.parse(frame.toString()) as { type: string; data: unknown };
      entries.push({ seq: entry.seq, at: entry.at, type, data });
    }
    return { ...page.head, entries };
  }

  /** The log policy of the namespace at `path`: its own if hosted here, else its route's. */
  #policyOf(path: string): LogPolicy | undefined {
    const hosted = this.#hub.registry.get(path);
    return hosted ? hosted.log : this.#replayRoutes.policyOf(path);
  }

  /**
   * Removes a namespace. With `removeIfEmpty` (default) only when it has no clients; with
   * `removeIfEmpty: false` its clients are closed with 4410 first. Returns whether it was removed.
   */
  removeNamespace(path: string, options: { removeIfEmpty?: boolean } = {}): boolean {
    const ns = this.#hub.registry.get(path);
    return ns ? this.#hub.remove(ns, options.removeIfEmpty !== false) : false;
  }

  /**
   * Removes a namespace on every instance where it lives, closing its clients with 4410: at once
   * here, and on the others through a control message on the namespace's own bus channel (only
   * instances hosting it are subscribed, so nobody else is bothered). Rejects when the bus could
   * not carry the message (other instances then keep it); this instance's part is done anyway.
   * A client that connects again afterwards creates the namespace anew: refuse it in `onCreate`
   * once the resource is gone.
   * @example
   * await maps.delete(mapId); await rt.removeNamespaceEverywhere(`/api/1/ws/bubblemap/${mapId}`)
   */
  async removeNamespaceEverywhere(path: string): Promise<void> {
    this.removeNamespace(path, { removeIfEmpty: false });
    await this.#hub.fanout.publishControl(path, 'remove');
  }

  /**
   * What `serve()` of `@hono/node-server` needs: the app's fetch, the WebSocket server and the
   * HTTP timeouts. Pass it, then call `injectWebSocket` on the server it returns.
   * @example
   * const server = serve({ ...rt.serveOptions(), port: 3000 });
   * rt.injectWebSocket(server);
   */
  serveOptions(): RealtimeServeOptions {
    return { fetch: this.#pipeline.fetch, websocket: { server: this.#pipeline.websocketServer }, serverOptions: httpServerOptions(this.limits) };
  }

  /**
   * Completes the wiring of a server made by `serve({ ...rt.serveOptions() })`: every upgrade
   * socket ends open or answered and closed, and the server's TCP connections are capped
   * (`httpMaxConnections`, `httpMaxConnectionsPerIp`).
   */
  injectWebSocket(server: UpgradeServer): void {
    if (server.listenerCount('upgrade') === 0) {
      throw new Error('injectWebSocket: the server takes no upgrades; create it with serve({ ...rt.serveOptions(), port })');
    }
    this.#pipeline.attach(server as Server);
  }

  stats(): RealtimeStats {
    const list = this.registry.list().map((ns) => ns.getStats());
    return {
      instanceId: this.instanceId,
      broker: { kind: this.broker.kind, state: this.broker.state(), localOnly: this.#hub.fanout.localOnly, refused: this.#hub.fanout.refused },
      presence: { kind: this.presence.kind, state: this.presence.state() },
      namespaces: list.length,
      clients: list.reduce((n, s) => n + s.clients, 0),
      list,
    };
  }

  /**
   * Graceful shutdown: from now on upgrades are refused as retryable (503), clients are closed
   * with 1012 in batches spread over `spreadMs`, those still open after `timeoutMs` are
   * terminated; then the broker connections are closed.
   */
  async shutdown(options: DrainOptions = {}): Promise<void> {
    this.#hub.drain();
    await this.#pipeline.drain(options);
    await this.#hub.settle(options.timeoutMs ?? 10_000);
    await this.close();
  }

  /** Whether `shutdown()` has begun. */
  get draining(): boolean {
    return this.#pipeline.draining;
  }

  /**
   * Adds a connection the instance cannot serve without (e.g. an app's store on Redis): while its
   * state is not `ok`, `/ready` answers 503 naming it. The broker and presence are built in.
   * @example
   * rt.dependsOn({ name: 'map store', state: () => (store.connected ? 'ok' : 'degraded') })
   */
  dependsOn(dependency: Dependency): void {
    this.#dependencies.push(dependency);
  }

  /** The names of what this instance depends on and cannot reach now (empty: all well). */
  unhealthy(): string[] {
    const all: Dependency[] = [
      { name: `broker (${this.broker.kind})`, state: () => this.broker.state() },
      { name: `presence (${this.presence.kind})`, state: () => this.presence.state() },
      ...this.#dependencies,
    ];
    const down = all.filter((d) => d.state() !== 'ok').map((d) => d.name);
    // On a cluster one node can be lost while the broker still works: the namespaces it served
    // here receive nothing from other instances until they are subscribed again.
    const failing = this.channels.failing();
    if (failing.length > 0) down.push(`broker channels of ${failing.length} hosted namespace${failing.length > 1 ? 's' : ''} (${failing.slice(0, 3).join(', ')}${failing.length > 3 ? ', ...' : ''})`);
    return down;
  }

  /** Runs `fn` when the realtime server closes, with its own connections (e.g. an app's Redis connection). */
  onClose(fn: () => Promise<void>): void {
    this.#onClose.push(fn);
  }

  /** Closes every client with `code`, forgets this instance's presence and closes the broker connections. Idempotent. */
  close(code = 1001, reason = 'server closing'): Promise<void> {
    this.#closed ??= (async () => {
      // The hub closes every client with `code` first; what is still open then is terminated.
      const closing = this.#hub.close(code, reason);
      this.#pipeline.close();
      await Promise.all([closing, ...this.#onClose.map((fn) => fn())]);
    })();
    return this.#closed;
  }

  /** The client address of a request (through trusted proxies, see `docs/limits.md`). */
  clientIp(c: Context<AppEnv>): string {
    return this.#pipeline.clientIp(c);
  }
}
