/**
 * The realtime server: namespace registry, pub/sub fan-out and the WebSocket upgrade, bound to
 * one Hono app. Everything a route module or a REST handler needs goes through it.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import { createNodeWebSocket } from '@hono/node-ws';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from '../log.ts';
import { buildCtx } from './ctx.ts';
import { connectionEvents, type ConnectionHost } from './connection.ts';
import { checkDefinition, type MessageSchemas, type NamespaceDefinition } from './definition.ts';
import { unwrapEnvelope, wrapEnvelope } from './envelope.ts';
import { Namespace, type NamespaceHost, type NamespaceStats } from './namespace.ts';
import { MemoryPubSub } from './pubsub/memory.ts';
import type { PubSub, PubSubState } from './pubsub/types.ts';
import { closeReason, WsRefusal } from './refusal.ts';
import { NamespaceRegistry } from './registry.ts';
import { detachedUpgrade } from './upgrade-context.ts';
import type { AppEnv } from './types.ts';

export interface RealtimeOptions {
  /** The broker between instances. Default: an in-memory bus private to this instance. */
  pubsub?: PubSub;
  /** This instance's id, stamped on everything it publishes. Default: a random UUID. */
  instanceId?: string;
  logger: Logger;
  /** Prefix of every bus channel (`<prefix>ns:<path>`). Default `hns:`. */
  channelPrefix?: string;
  /** Largest accepted frame in bytes; a larger one closes the socket with 1009. Default 64 KiB. */
  maxPayload?: number;
}

export interface RealtimeStats {
  instanceId: string;
  pubsub: { kind: string; state: PubSubState };
  namespaces: number;
  clients: number;
  list: NamespaceStats[];
}

/** Any Node server the WebSocket upgrade can be attached to. */
export type UpgradeServer = Server | Http2Server | Http2SecureServer;

export class Realtime {
  readonly instanceId: string;
  readonly registry = new NamespaceRegistry();
  readonly pubsub: PubSub;
  readonly log: Logger;
  readonly #prefix: string;
  readonly #nodeWs: ReturnType<typeof createNodeWebSocket>;
  readonly #subscriptions = new Map<string, Promise<void>>();
  readonly #nsHost: NamespaceHost;
  readonly #connHost: ConnectionHost;

  constructor(app: Hono<AppEnv>, options: RealtimeOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.pubsub = options.pubsub ?? new MemoryPubSub();
    this.log = options.logger.child({ instanceId: this.instanceId });
    this.#prefix = options.channelPrefix ?? 'hns:';
    this.#nodeWs = createNodeWebSocket({ app: app as unknown as Hono });
    // @hono/node-ws builds its WebSocketServer with ws defaults (100 MiB frames); ws reads these
    // options at each handshake, so setting them here applies to every socket.
    Object.assign(this.#nodeWs.wss.options, { maxPayload: options.maxPayload ?? 64 * 1024, perMessageDeflate: false });

    this.#nsHost = {
      publish: (path, frame, target) => this.#publish(path, frame, target),
      remove: (ns, opts) => this.#remove(ns, opts.removeIfEmpty),
    };
    this.#connHost = {
      join: (path, create) => {
        const ns = this.registry.getOrCreate(path, create);
        return { ns, ready: this.#subscriptions.get(path) ?? Promise.resolve() };
      },
      left: (ns, dropWhenEmpty) => {
        if (dropWhenEmpty) this.#remove(ns, true);
      },
      log: this.log,
    };
    this.registry.on('create', (ns) => this.#subscribe(ns.path));
    this.registry.on('delete', (ns) => this.#unsubscribe(ns.path));
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
    return async (c) => {
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
        throw new HTTPException(426, { message: 'this path takes WebSocket upgrades only' });
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
      let ctx = buildCtx(c.get('session') ?? null, clientIp(c), params);
      for (const fn of c.get('onCreate') ?? []) {
        const amended = await fn(c, ctx);
        if (!amended) throw WsRefusal.forbidden('refused by onCreate');
        ctx = amended;
      }
      const path = c.req.path;
      const pattern = c.req.routePath;
      // Created when the socket opens, not before: a handshake that fails leaves nothing behind.
      const create = () => new Namespace(path, pattern, params, this.#nsHost);
      const upgrade = detachedUpgrade(c, connectionEvents(this.#connHost, def, path, create, ctx));
      return this.#nodeWs.upgradeWebSocket(upgrade.context, upgrade.events);
    };
  }

  /**
   * Answers a refused upgrade: a permanent refusal completes the upgrade and closes with its code
   * and reason, so that a browser can tell "forbidden" from "network down"; a retryable one, or a
   * plain HTTP request, gets the HTTP status with a JSON body.
   */
  refuse(c: Context<AppEnv>, refusal: WsRefusal): Response | Promise<Response> {
    const isUpgrade = c.req.header('upgrade')?.toLowerCase() === 'websocket';
    if (isUpgrade && !refusal.retryable) {
      const reason = closeReason(refusal.message);
      return this.#nodeWs.upgradeWebSocket(c, {
        onOpen: (_event, ws) => ws.close(refusal.closeCode, reason),
      });
    }
    return c.json({ error: refusal.message, closeCode: refusal.closeCode }, refusal.status);
  }

  /** Broadcasts to a namespace on every instance, whether or not it lives here (REST, jobs). */
  broadcast(path: string, type: string, data: unknown, options: { except?: string } = {}): Promise<void> {
    const local = this.registry.get(path);
    if (local) return local.broadcast(type, data, options);
    return new Namespace(path, '', {}, this.#nsHost).broadcast(type, data, options);
  }

  /**
   * Removes a namespace. With `removeIfEmpty` (default) only when it has no clients; with
   * `removeIfEmpty: false` its clients are closed with 4410 first. Returns whether it was removed.
   */
  removeNamespace(path: string, options: { removeIfEmpty?: boolean } = {}): boolean {
    const ns = this.registry.get(path);
    return ns ? this.#remove(ns, options.removeIfEmpty !== false) : false;
  }

  /** Attaches the WebSocket upgrade to a listening Node server. */
  injectWebSocket(server: UpgradeServer): void {
    // The socket has no error listener while the upgrade is routed: a peer reset then would
    // otherwise be an uncaught exception.
    server.on('upgrade', (_req, socket) => {
      socket.on('error', (err: Error) => this.log.debug({ err }, 'upgrade socket error'));
    });
    this.#nodeWs.injectWebSocket(server as Server);
  }

  stats(): RealtimeStats {
    const list = this.registry.list().map((ns) => ns.getStats());
    return {
      instanceId: this.instanceId,
      pubsub: { kind: this.pubsub.kind, state: this.pubsub.state() },
      namespaces: list.length,
      clients: list.reduce((n, s) => n + s.clients, 0),
      list,
    };
  }

  /** Closes every client with `code` and the broker connections. */
  async close(code = 1001, reason = 'server closing'): Promise<void> {
    for (const ns of this.registry.list()) ns.closeAll(code, reason);
    for (const client of this.#nodeWs.wss.clients) client.terminate();
    await this.pubsub.close();
  }

  /** Channel of a namespace path on the bus. */
  channelOf(path: string): string {
    return `${this.#prefix}ns:${path}`;
  }

  #remove(ns: Namespace, onlyIfEmpty: boolean): boolean {
    if (this.registry.get(ns.path) !== ns) return false;
    if (onlyIfEmpty && ns.size > 0) return false;
    ns.closeAll();
    return this.registry.delete(ns);
  }

  #publish(path: string, frame: Buffer, target: { except?: string; to?: string }): Promise<void> {
    const payload = wrapEnvelope({ o: this.instanceId, ...(target.except ? { x: target.except } : {}), ...(target.to ? { t: target.to } : {}) }, frame);
    return this.pubsub.publish(this.channelOf(path), payload).catch((err: unknown) => {
      this.log.error({ err, path }, 'publish failed');
    });
  }

  #subscribe(path: string): void {
    const ready = this.pubsub
      .subscribe(this.channelOf(path), (payload) => {
        const envelope = unwrapEnvelope(payload);
        if (!envelope) {
          this.log.warn({ path }, 'dropped a malformed bus message');
          return;
        }
        this.registry.get(path)?.deliver(envelope.frame, envelope.header.x, envelope.header.t);
      })
      .catch((err: unknown) => {
        this.log.error({ err, path }, 'subscribe failed');
      });
    this.#subscriptions.set(path, ready);
  }

  #unsubscribe(path: string): void {
    this.#subscriptions.delete(path);
    this.pubsub.unsubscribe(this.channelOf(path)).catch((err: unknown) => {
      this.log.error({ err, path }, 'unsubscribe failed');
    });
  }
}

/** The peer address of the request (proxy headers are a later, configurable concern). */
function clientIp(c: Context<AppEnv>): string {
  try {
    return getConnInfo(c).remote.address ?? '';
  } catch {
    return '';
  }
}
