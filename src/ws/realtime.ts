/**
 * The realtime server: namespace registry, pub/sub fan-out and the WebSocket upgrade, bound to
 * one Hono app. Everything a route module or a REST handler needs goes through it.
 */
import { randomUUID } from 'node:crypto';
import type { Server, ServerOptions } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import { upgradeWebSocket, type WebSocketServerLike } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import type { Context, ErrorHandler, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { newCorrelationId, withCorrelation } from './observe/correlation.ts';
import type { Logger } from './observe/logger.ts';
import { buildCtx } from './ctx.ts';
import { BroadcastScope } from './broadcast-scope.ts';
import { MemoryBroker } from './broker/memory.ts';
import type { Broker, BrokerState, HistoryQuery, LogPolicy } from './broker/types.ts';
import { Connection, type ConnectionHost, type ConnectionRoute } from './connection.ts';
import { NamespaceChannels } from './channels.ts';
import { checkDefinition, replayPolicy, type MessageSchemas, type NamespaceDefinition } from './definition.ts';
import { MessageError } from './message-error.ts';
import { RealtimeEvents } from './events.ts';
import { Fanout, type Target } from './fanout.ts';
import { encodeFrame } from './protocol.ts';
import { Namespace, type BroadcastOptions, type NamespaceHost, type NamespaceStats } from './namespace.ts';
import { MemoryPresence } from './presence/memory.ts';
import type { Presence, PresenceEntry, PresenceState } from './presence/types.ts';
import { ReplayRoutes } from './replay/routes.ts';
import type { ReplayHead } from '../protocol/frames.ts';
import { unwrapEnvelope } from './envelope.ts';
import { closeReason, RefusalReason, WsRefusal } from './refusal.ts';
import { httpErrorResponse } from './rest.ts';
import { restGuards } from './safety/rest-guard.ts';
import { NamespaceRegistry } from './registry.ts';
import { Admission } from './safety/admission.ts';
import { drainSockets, type DrainOptions } from './safety/drain.ts';
import { startHeartbeat } from './safety/heartbeat.ts';
import { httpServerOptions, limitConnections } from './safety/http-connections.ts';
import { resolveLimits, type Limits } from './safety/limits.ts';
import { answerPings } from './safety/pings.ts';
import { DetachedUpgrade } from './upgrade-context.ts';
import { UpgradeSockets, upgradeRequestOf } from './upgrade-socket.ts';
import type { AppEnv } from './types.ts';

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
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  /** The `ws` server every socket is accepted by, built with the limits. */
  websocket: { server: WebSocketServerLike };
  /** HTTP server options: header and request timeouts (`httpHeadersTimeoutMs`). */
  serverOptions: ServerOptions;
}

export class Realtime {
  readonly instanceId: string;
  readonly registry = new NamespaceRegistry();
  /** The bus and the logs between instances. */
  readonly broker: Broker;
  readonly presence: Presence;
  /** The bus subscription of each hosted namespace. */
  readonly channels: NamespaceChannels;
  readonly log: Logger;
  /** Typed events (connect, disconnect, refused, delivered...) that metrics subscribe to. */
  readonly events = new RealtimeEvents();
  readonly limits: Limits;
  readonly #admission: Admission;
  readonly #stopHeartbeat: () => void;
  #closed: Promise<void> | undefined;
  readonly #onClose: Array<() => Promise<void>> = [];
  readonly #dependencies: Dependency[] = [];
  /** The definition each hosted namespace was created from (its handlers, for members it never saw connect here). */
  readonly #definitions = new WeakMap<Namespace, NamespaceDefinition<MessageSchemas>>();
  readonly #wss: WebSocketServer;
  /** Sockets whose close path (presence, `onDisconnect`) has begun and not ended. */
  #leaving = 0;
  #allLeft: (() => void) | undefined;
  /** Broadcasts in flight while shutting down. */
  readonly #inflight = new Set<Promise<boolean>>();
  readonly #upgrades: UpgradeSockets;
  readonly #fetch: RealtimeServeOptions['fetch'];
  readonly #fanout: Fanout;
  readonly #replayRoutes: ReplayRoutes;
  readonly #nsHost: NamespaceHost;
  readonly #connHost: ConnectionHost;
  /** Errors inside @hono/node-server's own socket listeners go to our log, not to console.error. */
  readonly #wsOptions = { onError: (err: unknown) => this.log.error({ err }, 'websocket event failed') };

  /**
   * Binds to `app` and installs the upgrade guard (shutdown, connection limits, admission, origin)
   * as a middleware of it: build the realtime server before adding other middleware, so that the
   * guard runs first.
   */
  constructor(app: Hono<AppEnv>, options: RealtimeOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.broker = options.broker ?? new MemoryBroker();
    this.presence = options.presence ?? new MemoryPresence();
    this.#replayRoutes = new ReplayRoutes(app);
    this.log = options.logger.child({ instanceId: this.instanceId });
    this.limits = resolveLimits(options.limits);
    this.#admission = new Admission(this.limits);
    // Registered here so that it runs before any middleware added after the realtime server is
    // built (sessions, routes): a refused upgrade costs no session or routing work.
    app.use('*', this.#admission.guard, broadcastScope);
    // closeTimeout, maxFragments and autoPong are ws 8 options that @types/ws does not list yet.
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxPayload,
      // ws's default (16,384) lets one guest pin megabytes of buffers with tiny fragments.
      maxFragments: this.limits.maxFragments,
      closeTimeout: this.limits.closeTimeoutMs,
      perMessageDeflate: false,
      // Pings are answered by answerPings, which closes a ping flood with a close frame.
      autoPong: false,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    answerPings(this.#wss, this.limits.maxPendingPongs);
    this.#upgrades = new UpgradeSockets(this.log, this.#wss);
    this.#fetch = this.#upgrades.fetch((request, env) => app.fetch(request, env as AppEnv['Bindings']));
    this.#stopHeartbeat = startHeartbeat(this.#wss, this.limits.pingIntervalMs);

    this.channels = new NamespaceChannels({
      broker: this.broker,
      isHosted: (path) => this.registry.has(path),
      onPayload: (path, payload) => this.#fanout.receive(path, payload),
      unsubscribeDelayMs: options.unsubscribeDelayMs ?? 2000,
      log: this.log,
    });
    this.#fanout = new Fanout({
      instanceId: this.instanceId,
      broker: this.broker,
      isHosted: (path) => this.registry.has(path),
      isSubscribed: (path) => this.channels.isSubscribed(path),
      deliver: (path, frame, except, to) => {
        const recipients = this.registry.get(path)?.deliver(frame, except, to) ?? 0;
        if (to === undefined) this.log.debug({ path, recipients }, 'broadcast delivered');
      },
      control: (path) => void this.removeNamespace(path, { removeIfEmpty: false }),
      log: this.log,
      events: this.events,
    });
    this.channels.on('failed', () => this.events.emit('brokerError', { op: 'subscribe' }));
    // Whatever was published while this instance's subscription was down never came here: its
    // clients are told where each log stands, and sync over what they missed.
    this.channels.on('restored', (path) => void this.#tellHead(path));
    this.#nsHost = {
      maxBufferedBytes: this.limits.maxBufferedBytes,
      publish: (path, frame, target, log, volatile) => this.#publish(path, frame, target, log, volatile),
      remove: (ns, opts) => this.#remove(ns, opts.removeIfEmpty),
      events: this.events,
    };
    this.#connHost = {
      join: (conn) => {
        const { path } = conn;
        // Created when the socket opens, not before: a handshake that fails leaves nothing behind.
        const ns = this.registry.getOrCreate(path, () => {
          const created = new Namespace(path, conn.pattern, conn.params, this.#nsHost, conn.log);
          this.#definitions.set(created, conn.definition);
          return created;
        });
        ns.add(conn);
        const member = { clientId: conn.clientId, username: conn.ctx.username, connectedAt: conn.connectedAt };
        return { ns, ready: Promise.all([this.channels.want(path), this.presence.add(path, member, conn.ctx)]).then(() => {}) };
      },
      leave: (ns, clientId) => {
        this.#leaving++;
        ns.delete(clientId);
        return this.presence.remove(ns.path, clientId);
      },
      left: (ns, dropWhenEmpty) => {
        if (--this.#leaving === 0) this.#allLeft?.();
        if (dropWhenEmpty) this.#remove(ns, true);
      },
      broker: this.broker,
      log: this.log,
      events: this.events,
      limits: this.limits,
    };
    // A dead instance's members leave through the namespace's own onDisconnect, on the one instance
    // that reaped them; members others took for ghosts while this instance was cut off come back
    // through onConnect.
    this.presence.onGhosts((path, ghosts) => this.#ghostsLeft(path, ghosts));
    this.presence.onRestored((path, restored) => this.#restored(path, restored));
    this.registry.on('create', (ns) => void this.channels.want(ns.path));
    this.registry.on('delete', (ns) => this.channels.release(ns.path));
    let previous = this.broker.state();
    let everUp = previous === 'ok';
    // One line per change of state, never one per request or broadcast.
    this.broker.onStateChange((state) => {
      const line = { broker: this.broker.kind, state };
      if (state !== 'ok') this.log.warn(line, 'broker connection lost: broadcasts are refused until it is back');
      else if (everUp) this.log.info(line, 'broker connection restored');
      else this.log.info(line, 'broker connected');
      this.events.emit('brokerState', { state, previous });
      previous = state;
      if (state === 'ok' && everUp) this.channels.resubscribeAll();
      everUp ||= state === 'ok';
    });
  }

  /**
   * The last middleware of a namespace route: validates params, builds ctx, runs the `onCreate`
   * callbacks, then completes the upgrade and gets or creates the namespace for the literal path.
   * @example
   * app.get('/api/1/ws/hello-rooms/:roomName', sessions.middleware, access(),
   *   rt.namespace({ params: z.object({ roomName: RoomName }), messages: { chat: Chat }, onMessage }))
   */
  namespace<M extends MessageSchemas>(definition: NamespaceDefinition<M>): MiddlewareHandler<AppEnv> {
    const def = definition as unknown as NamespaceDefinition<MessageSchemas>;
    checkDefinition(def);
    const policy = replayPolicy(def);
    const route: ConnectionRoute = { def, log: policy };
    const handler: MiddlewareHandler<AppEnv> = async (c) => {
      // An `Upgrade: websocket` header on an ordinary request (no `Connection: upgrade`) is no upgrade.
      if (!upgradeRequestOf(c)) {
        throw new HTTPException(426, { message: 'this path takes WebSocket upgrades only' });
      }
      this.#admission.acquireUser(c, c.get('session')?.username);
      // The namespace's own string when it is hosted: one copy for all its connections.
      const path = this.registry.get(c.req.path)?.path ?? c.req.path;
      if (!this.registry.has(path) && this.registry.size >= this.limits.maxNamespaces) {
        throw WsRefusal.unavailable('this instance hosts its maximum of namespaces', 503, RefusalReason.NAMESPACE_LIMIT);
      }
      const rawParams = c.req.param() as Record<string, string>;
      let params: Record<string, string> = rawParams;
      if (def.params) {
        const result = def.params.safeParse(rawParams);
        if (!result.success) {
          const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
          throw WsRefusal.invalidParams(`invalid params: ${issues}`);
        }
        params = result.data;
      }
      // Every connection of a namespace has the same params: they share the namespace's object.
      params = sameParams(this.registry.get(path)?.params, params) ?? params;
      let ctx = buildCtx(c.get('session') ?? null, this.clientIp(c), params);
      for (const fn of c.get('onCreate') ?? []) {
        const amended = await fn(c, ctx);
        if (!amended) throw WsRefusal.forbidden('refused by onCreate');
        ctx = amended;
      }
      // One object per socket: it is the namespace's client and the events upgradeWebSocket calls.
      const upgrade = new DetachedUpgrade(c);
      const conn = new Connection(this.#connHost, route, path, c.req.routePath, params, ctx, upgrade);
      this.#upgrades.accept(c);
      return upgradeWebSocket(upgrade.context, conn, this.#wsOptions);
    };
    if (policy) this.#replayRoutes.register(handler, policy);
    return handler;
  }

  /**
   * Answers a refused upgrade: a permanent refusal completes the upgrade and closes with its code
   * and reason, so that a browser can tell "forbidden" from "network down"; a retryable one, or a
   * plain HTTP request, gets the HTTP status with a JSON body (and `Retry-After` when retryable).
   */
  refuse(c: Context<AppEnv>, refusal: WsRefusal): Response | Promise<Response> {
    const isUpgrade = upgradeRequestOf(c) !== undefined;
    const ip = this.clientIp(c);
    const line = { path: c.req.path, ip, reason: refusal.reason, closeCode: refusal.closeCode, status: refusal.status, error: refusal.message };
    if (isUpgrade) {
      this.log.info(line, 'upgrade refused');
      this.events.emit('refused', { reason: refusal.reason, closeCode: refusal.closeCode, status: refusal.status, ip });
    } else {
      this.log.debug(line, 'request to a namespace path refused');
    }
    if (isUpgrade && !refusal.retryable) {
      const reason = closeReason(refusal.message);
      this.#upgrades.accept(c);
      return upgradeWebSocket(c, {
        onOpen: (_event, ws) => ws.close(refusal.closeCode, reason),
      }, this.#wsOptions);
    }
    if (!refusal.retryable) return c.json({ error: refusal.message, closeCode: refusal.closeCode }, refusal.status);
    const retryAfter = refusal.retryAfterSeconds;
    return c.json({ error: refusal.message, closeCode: refusal.closeCode, retryAfter }, refusal.status, { 'retry-after': String(retryAfter) });
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
    return this.#publish(path, encodeFrame(type, data), target, this.#policyOf(path), options.volatile === true);
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
    const hosted = this.registry.get(path);
    return hosted ? hosted.log : this.#replayRoutes.policyOf(path);
  }

  /**
   * Every broadcast's way out: sequenced and logged in a namespace with a log, plain otherwise,
   * volatile when asked. A non-volatile one counts in the scope of the message or request that
   * began it (its ack or 2xx waits for it).
   */
  #publish(path: string, frame: Buffer, target: Target, log: LogPolicy | undefined, volatile: boolean): Promise<boolean> {
    if (volatile) return this.#fanout.publish(path, frame, target, true);
    const accepted = log
      ? this.#fanout.publishSequenced(path, frame, target, log).then((head) => head !== undefined)
      : this.#fanout.publish(path, frame, target, false);
    if (target.to === undefined) BroadcastScope.current()?.track(accepted);
    // While shutting down, the stores stay open until what the last disconnects broadcast is out.
    if (this.#admission.draining) {
      this.#inflight.add(accepted);
      void accepted.finally(() => this.#inflight.delete(accepted));
    }
    return accepted;
  }

  /** Runs the namespace's onDisconnect for members of an instance that died (code 1006: it never closed). */
  #ghostsLeft(path: string, ghosts: PresenceEntry[]): void {
    const ns = this.registry.get(path);
    const def = ns && this.#definitions.get(ns);
    this.log.info({ path, members: ghosts.length }, 'members of a lost instance left');
    if (!ns || !def?.onDisconnect) return;
    for (const { member, ctx } of ghosts) {
      const conn = { clientId: member.clientId, ctx, code: 1006, reason: 'instance lost' };
      void withCorrelation(newCorrelationId(), () => this.#runHandler(ns, 'onDisconnect', () => def.onDisconnect!(conn, ns)));
    }
  }

  /** Runs onConnect again for local members that other instances had said goodbye to. */
  #restored(path: string, restored: PresenceEntry[]): void {
    const ns = this.registry.get(path);
    const def = ns && this.#definitions.get(ns);
    this.log.info({ path, members: restored.length }, 'members taken for ghosts are back');
    if (!ns || !def?.onConnect) return;
    for (const { member, ctx } of restored) {
      if (!ns.ctxOf(member.clientId)) continue;
      void withCorrelation(newCorrelationId(), () => this.#runHandler(ns, 'onConnect', () => def.onConnect!({ clientId: member.clientId, ctx }, ns)));
    }
  }

  /** A handler run for no connection of this instance: a throw is logged, never the process's problem. */
  async #runHandler(ns: Namespace, handler: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof MessageError) return;
      this.log.error({ err, path: ns.path, handler }, `${handler} handler threw`);
      this.events.emit('handlerError', { ns, handler });
    }
  }

  /**
   * Tells the local clients of a logged namespace where its log stands, so that they sync over a
   * hole. Tries again while the log cannot be read but the channel stays subscribed (a cluster
   * node that just came back takes subscriptions a moment before it serves reads); once the
   * channel is lost again, the next restoration tells them.
   */
  async #tellHead(path: string): Promise<void> {
    for (let attempt = 0; this.registry.get(path)?.log && this.channels.isSubscribed(path); attempt++) {
      try {
        const head = await this.broker.head(path);
        this.registry.get(path)?.deliver(encodeFrame('head', head));
        return;
      } catch (err) {
        this.log.debug({ err: String(err), path }, 'could not read the head after resubscribing');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)).unref());
      }
    }
  }

  /**
   * Removes a namespace. With `removeIfEmpty` (default) only when it has no clients; with
   * `removeIfEmpty: false` its clients are closed with 4410 first. Returns whether it was removed.
   */
  removeNamespace(path: string, options: { removeIfEmpty?: boolean } = {}): boolean {
    const ns = this.registry.get(path);
    return ns ? this.#remove(ns, options.removeIfEmpty !== false) : false;
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
    await this.#fanout.publishControl(path, 'remove');
  }

  /**
   * What `serve()` of `@hono/node-server` needs: the app's fetch, the WebSocket server and the
   * HTTP timeouts. Pass it, then call `injectWebSocket` on the server it returns.
   * @example
   * const server = serve({ ...rt.serveOptions(), port: 3000 });
   * rt.injectWebSocket(server);
   */
  serveOptions(): RealtimeServeOptions {
    return { fetch: this.#fetch, websocket: { server: this.#wss as unknown as WebSocketServerLike }, serverOptions: httpServerOptions(this.limits) };
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
    this.#upgrades.attach(server as Server);
    limitConnections(server as Server, this.limits);
  }

  stats(): RealtimeStats {
    const list = this.registry.list().map((ns) => ns.getStats());
    return {
      instanceId: this.instanceId,
      broker: { kind: this.broker.kind, state: this.broker.state(), localOnly: this.#fanout.localOnly, refused: this.#fanout.refused },
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
    this.#admission.drain();
    await drainSockets(this.#wss.clients, options);
    await this.#settle(options.timeoutMs ?? 10_000);
    await this.close();
  }

  /**
   * Waits, at most `timeoutMs`, for the close paths of the sockets just closed (`onDisconnect`)
   * and the broadcasts they made (a `left`), so that the stores are not closed under them.
   */
  async #settle(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    const settled = (async () => {
      while (this.#leaving > 0 || this.#inflight.size > 0) {
        if (this.#leaving > 0) await new Promise<void>((resolve) => (this.#allLeft = resolve));
        this.#allLeft = undefined;
        await Promise.allSettled([...this.#inflight]);
      }
    })();
    await Promise.race([settled, deadline]);
    clearTimeout(timer);
  }

  /** Whether `shutdown()` has begun. */
  get draining(): boolean {
    return this.#admission.draining;
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
      this.#stopHeartbeat();
      for (const ns of this.registry.list()) ns.closeAll(code, reason);
      for (const client of this.#wss.clients) client.terminate();
      this.channels.close();
      await Promise.all([this.presence.close(), this.broker.close(), ...this.#onClose.map((fn) => fn())]);
    })();
    return this.#closed;
  }

  /** The client address of a request (through trusted proxies, see `docs/limits.md`). */
  clientIp(c: Context<AppEnv>): string {
    return this.#admission.ipOf(c);
  }

  #remove(ns: Namespace, onlyIfEmpty: boolean): boolean {
    if (this.registry.get(ns.path) !== ns) return false;
    if (onlyIfEmpty && ns.size > 0) return false;
    ns.closeAll();
    return this.registry.delete(ns);
  }
}

/**
 * Runs a REST request in a broadcast scope: when a broadcast it began (awaited or not) could not
 * be sequenced and published, the client gets a retryable 503 instead of the route's success.
 */
const broadcastScope: MiddlewareHandler<AppEnv> = async function broadcastScope(c, next) {
  if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return next();
  const scope = new BroadcastScope();
  await scope.run(next);
  if (!(await scope.settled()) && c.res.status < 400) {
    c.res = new Response(JSON.stringify({ error: 'the broadcast could not be delivered right now; try again' }), {
      status: 503,
      headers: { 'content-type': 'application/json', 'retry-after': '1' },
    });
  }
};

/** `hosted` when it holds the same params as `params`, so a connection can share it. */
function sameParams(hosted: Readonly<Record<string, string>> | undefined, params: Record<string, string>): Record<string, string> | undefined {
  if (!hosted) return undefined;
  const keys = Object.keys(params);
  if (keys.length !== Object.keys(hosted).length) return undefined;
  for (const key of keys) if (hosted[key] !== params[key]) return undefined;
  return hosted as Record<string, string>;
}
