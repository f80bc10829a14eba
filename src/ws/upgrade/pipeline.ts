/**
 * The way from an HTTP upgrade to a connection in its namespace: the guard in front of the app
 * (shutdown, connection limits, admission, origin), then at the end of a namespace route the
 * params, ctx and `onCreate`, then the `ws` handshake. A refusal on the way is answered so that a
 * browser can read it, and every upgrade socket ends open or answered and closed.
 */
import type { Server } from 'node:http';
import { upgradeWebSocket, type WebSocketServerLike } from '@hono/node-server';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { WebSocketServer } from 'ws';
import { restBroadcastScope } from '../live/broadcast-scope.ts';
import type { LogPolicy } from '../broker/types.ts';
import { Connection } from '../connection.ts';
import type { MemberRoute } from '../member.ts';
import { buildCtx } from '../ctx.ts';
import type { MessageSchemas, NamespaceDefinition } from '../definition.ts';
import type { Hub } from '../hub/hub.ts';
import { RefusalReason, WsRefusal } from './refusal.ts';
import { closeReason } from '../wire/framing.ts';
import { Admission } from './admission.ts';
import { drainSockets, type DrainOptions } from '../safety/drain.ts';
import { startHeartbeat } from '../safety/heartbeat.ts';
import { limitConnections } from '../safety/http-connections.ts';
import type { Limits } from '../safety/limits.ts';
import { answerPings } from '../safety/pings.ts';
import type { AppEnv } from '../types.ts';
import { DetachedUpgrade } from './detached.ts';
import { UpgradeSockets, upgradeRequestOf } from './sockets.ts';
import { subscriptionOf } from './marker.ts';
import { MuxSocket, type AppFetch, type MuxShared } from '../mux/socket.ts';
import { Counter } from '../safety/counter.ts';
import { subscribeBase } from '../mux/request.ts';

export type Fetch = (request: Request, env?: unknown) => Response | Promise<Response>;

export class UpgradePipeline {
  readonly #hub: Hub;
  readonly #limits: Limits;
  readonly #admission: Admission;
  /** Every socket is accepted by this server, built with the limits. */
  readonly wss: WebSocketServer;
  readonly #upgrades: UpgradeSockets;
  /** The app's fetch, wrapped so that a refused upgrade gets its whole answer and a closed socket. */
  readonly fetch: Fetch;
  /** The app's own fetch, which a multiplexed socket's subscribes call (no upgrade socket to answer). */
  readonly #appFetch: AppFetch;
  /** What the multiplexed sockets share: subscriptions per client IP. */
  readonly #mux: MuxShared = { subscriptionsByIp: new Counter() };
  readonly #stopHeartbeat: () => void;
  /** Errors inside @hono/node-server's own socket listeners go to our log, not to console.error. */
  readonly #wsOptions: { onError: (err: unknown) => void };

  /** Installs the guard as a middleware of `app`: built before other middleware, it runs first. */
  constructor(app: Hono<AppEnv>, hub: Hub) {
    this.#hub = hub;
    this.#limits = hub.limits;
    this.#admission = new Admission(this.#limits);
    this.#wsOptions = { onError: (err: unknown) => hub.log.error({ err }, 'websocket event failed') };
    // A refused upgrade costs no session or routing work.
    app.use('*', this.#admission.guard, restBroadcastScope);
    // closeTimeout, maxFragments and autoPong are ws 8 options that @types/ws does not list yet.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#limits.maxPayload,
      // ws's default (16,384) lets one guest pin megabytes of buffers with tiny fragments.
      maxFragments: this.#limits.maxFragments,
      closeTimeout: this.#limits.closeTimeoutMs,
      perMessageDeflate: false,
      // Pings are answered by answerPings, which closes a ping flood with a close frame.
      autoPong: false,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    answerPings(this.wss, this.#limits.maxPendingPongs);
    this.#upgrades = new UpgradeSockets(hub.log, this.wss);
    this.#appFetch = (request, env) => app.fetch(request, env as unknown as AppEnv['Bindings']);
    this.fetch = this.#upgrades.fetch((request, env) => app.fetch(request, env as AppEnv['Bindings']));
    this.#stopHeartbeat = startHeartbeat(this.wss, this.#limits.pingIntervalMs);
  }

  /** The last middleware of a namespace route: params, ctx and `onCreate`, then the handshake. */
  handler(def: NamespaceDefinition<MessageSchemas>, log: LogPolicy | undefined): MiddlewareHandler<AppEnv> {
    const route: MemberRoute = { def, log };
    const registry = this.#hub.registry;
    return async (c) => {
      // A subscribe of a multiplexed socket runs this route like an upgrade: the socket holds the slots.
      const subscription = subscriptionOf(c);
      // An `Upgrade: websocket` header on an ordinary request (no `Connection: upgrade`) is no upgrade.
      if (!subscription && !upgradeRequestOf(c)) {
        throw new HTTPException(426, { message: 'this path takes WebSocket upgrades only' });
      }
      this.#admission.acquireUser(c, c.get('session')?.username);
      // The namespace's own string when it is hosted: one copy for all its connections.
      const hosted = registry.get(c.req.path);
      const path = hosted?.path ?? c.req.path;
      if (!hosted && registry.size >= this.#limits.maxNamespaces) {
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
      params = sameParams(registry.get(path)?.params, params) ?? params;
      let ctx = buildCtx(c.get('session') ?? null, this.clientIp(c), params);
      for (const fn of c.get('onCreate') ?? []) {
        // Awaited only when it is a promise (or any thenable): most onCreate callbacks answer at once.
        const result = fn(c, ctx);
        const amended = typeof (result as PromiseLike<unknown> | null)?.then === 'function' ? await result : (result as Awaited<typeof result>);
        if (!amended) throw WsRefusal.forbidden('refused by onCreate');
        ctx = amended;
      }
      if (subscription) {
        subscription.accept(route, path, c.req.routePath, params, ctx);
        return c.body(null, 204);
      }
      // One object per socket: it is the namespace's client and the events upgradeWebSocket calls.
      const upgrade = new DetachedUpgrade(c);
      const conn = new Connection(this.#hub, route, path, c.req.routePath, params, ctx, upgrade);
      this.#upgrades.accept(c);
      return upgradeWebSocket(upgrade.context, conn, this.#wsOptions);
    };
  }

  /**
   * The multiplexed endpoint: a socket admitted like any upgrade, welcomed with its ctx, whose
   * subscribes run the routes of their paths through the app's own fetch.
   */
  multiplex(): MiddlewareHandler<AppEnv> {
    return async (c) => {
      if (subscriptionOf(c)) throw WsRefusal.invalidParams('the multiplexed endpoint cannot be subscribed to');
      if (!upgradeRequestOf(c)) throw new HTTPException(426, { message: 'this path takes WebSocket upgrades only' });
      const session = c.get('session') ?? null;
      this.#admission.acquireUser(c, session?.username);
      const upgrade = new DetachedUpgrade(c);
      const mux = new MuxSocket(this.#hub, this.#mux, this.#appFetch, subscribeBase(c), c.req.path, buildCtx(session, this.clientIp(c)), upgrade);
      this.#upgrades.accept(c);
      return upgradeWebSocket(upgrade.context, mux, this.#wsOptions);
    };
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
    // A multiplexed socket's subscribe counts as the upgrade it stands for (its answer becomes `unsubscribed`).
    const subscription = !isUpgrade && subscriptionOf(c) !== undefined;
    if (isUpgrade || subscription) {
      this.#hub.log.info(line, subscription ? 'subscription refused' : 'upgrade refused');
      this.#hub.events.emit('refused', { reason: refusal.reason, closeCode: refusal.closeCode, status: refusal.status, ip });
    } else {
      this.#hub.log.debug(line, 'request to a namespace path refused');
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

  /** The `ws` server in the shape `serve()` of `@hono/node-server` takes. */
  get websocketServer(): WebSocketServerLike {
    return this.wss as unknown as WebSocketServerLike;
  }

  /** Takes the upgrades of `server` (which `serve()` made with this pipeline's fetch and ws server) and caps its TCP connections. */
  attach(server: Server): void {
    this.#upgrades.attach(server);
    limitConnections(server, this.#limits);
  }

  /** The client address of a request (through trusted proxies, see `docs/limits.md`). */
  clientIp(c: Context<AppEnv>): string {
    return this.#admission.ipOf(c);
  }

  /** Whether shutdown has begun. */
  get draining(): boolean {
    return this.#admission.draining;
  }

  /** Refuses upgrades from now on as retryable (503) and closes the open sockets in batches. */
  async drain(options: DrainOptions): Promise<void> {
    this.#admission.drain();
    await drainSockets(this.wss.clients, options);
  }

  /** Stops the heartbeat and terminates every socket still open. */
  close(): void {
    this.#stopHeartbeat();
    for (const client of this.wss.clients) client.terminate();
  }
}

/** `hosted` when it holds the same params as `params`, so a connection can share it. */
function sameParams(hosted: Readonly<Record<string, string>> | undefined, params: Record<string, string>): Record<string, string> | undefined {
  if (!hosted) return undefined;
  const keys = Object.keys(params);
  if (keys.length !== Object.keys(hosted).length) return undefined;
  for (const key of keys) if (hosted[key] !== params[key]) return undefined;
  return hosted as Record<string, string>;
}
