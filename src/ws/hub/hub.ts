/**
 * Where this instance's namespaces meet the broker and presence: it creates a namespace when its
 * first client joins and removes it, publishes what a namespace broadcasts, and hands what comes
 * back from the broker to the namespace it is for.
 *
 * A broadcast walks forward through named objects:
 * `LiveNamespace.broadcast` -> `Hub.publish` -> `Fanout.publishSequenced` -> `Broker.append`, then on
 * every instance hosting the namespace `NamespaceChannels` (its subscription) -> `Fanout.receive`
 * -> `Hub.deliver` -> `LiveNamespace.deliverBroadcast` -> the sockets.
 */
import { BroadcastScope } from '../live/broadcast-scope.ts';
import type { Broker, LogPolicy } from '../broker/types.ts';
import { NamespaceChannels } from './channels.ts';
import type { MemberHost, NamespaceMember } from '../member.ts';
import type { MessageSchemas, NamespaceDefinition } from '../definition.ts';
import type { RealtimeEvents } from '../events.ts';
import { Fanout, type Recipients } from './fanout.ts';
import { LiveNamespace, type NamespaceHost, type Target } from '../live/live-namespace.ts';
import { encodeFrame } from '../wire/messages.ts';
import { MessageError } from '../message-error.ts';
import { newCorrelationId, withCorrelation } from '../observe/correlation.ts';
import type { Logger } from '../observe/logger.ts';
import type { Presence, PresenceEntry } from '../presence/types.ts';
import { NamespaceRegistry } from './registry.ts';
import type { Limits } from '../safety/limits.ts';

export interface HubOptions {
  instanceId: string;
  broker: Broker;
  presence: Presence;
  events: RealtimeEvents;
  limits: Limits;
  log: Logger;
  /** How long a removed namespace keeps its channel subscribed (a leave and a join a moment later do not churn). */
  unsubscribeDelayMs: number;
}

export class Hub implements NamespaceHost, MemberHost, Recipients {
  readonly instanceId: string;
  readonly registry = new NamespaceRegistry<LiveNamespace>();
  readonly broker: Broker;
  readonly presence: Presence;
  readonly events: RealtimeEvents;
  readonly limits: Limits;
  readonly log: Logger;
  readonly fanout: Fanout;
  /** The broker subscription of each hosted namespace. */
  readonly channels: NamespaceChannels;
  /** The definition each hosted namespace was created from (its handlers, for members it never saw connect here). */
  readonly #definitions = new WeakMap<LiveNamespace, NamespaceDefinition<MessageSchemas>>();
  /** Sockets whose close path (presence, `onDisconnect`) has begun and not ended. */
  #leaving = 0;
  #allLeft: (() => void) | undefined;
  /** Set by `drain`: broadcasts in flight are tracked so the stores outlive them. */
  #draining = false;
  readonly #inflight = new Set<Promise<boolean>>();

  constructor(options: HubOptions) {
    this.instanceId = options.instanceId;
    this.broker = options.broker;
    this.presence = options.presence;
    this.events = options.events;
    this.limits = options.limits;
    this.log = options.log;
    this.fanout = new Fanout(this.instanceId, this.broker, this, this.events, this.log);
    this.channels = new NamespaceChannels(this.broker, this.registry, this.fanout, options.unsubscribeDelayMs, this.log);
    this.channels.on('failed', () => this.events.emit('brokerError', { op: 'subscribe' }));
    // Whatever was published while this instance's subscription was down never came here: its
    // clients are told where each log stands, and sync over what they missed.
    this.channels.on('restored', (path) => void this.#tellHead(path));
    // A dead instance's members leave through the namespace's own onDisconnect, on the one instance
    // that reaped them; members others took for ghosts while this instance was cut off come back
    // through onConnect.
    this.presence.onGhosts((path, ghosts) => this.#ghostsLeft(path, ghosts));
    this.presence.onRestored((path, restored) => this.#restored(path, restored));
    this.#followBrokerState();
  }

  /** Queued bytes past which a socket is closed as a slow consumer. */
  get maxBufferedBytes(): number {
    return this.limits.maxBufferedBytes;
  }

  /** Gets or creates the connection's namespace and adds it; `ready` once it receives broadcasts and counts in presence. */
  join(conn: NamespaceMember): { ns: LiveNamespace; ready: Promise<void> } {
    const { path } = conn;
    // Created when the socket opens, not before: a handshake that fails leaves nothing behind.
    const ns = this.registry.getOrCreate(path, () => {
      const created = new LiveNamespace(path, conn.pattern, conn.params, this, conn.log);
      this.#definitions.set(created, conn.definition);
      return created;
    });
    ns.addClient(conn);
    const member = { clientId: conn.clientId, username: conn.ctx.username, connectedAt: conn.connectedAt };
    return { ns, ready: Promise.all([this.channels.subscribe(path), this.presence.add(path, member, conn.ctx)]).then(() => {}) };
  }

  leave(ns: LiveNamespace, clientId: string): Promise<void> {
    this.#leaving++;
    ns.deleteClient(clientId);
    return this.presence.remove(ns.path, clientId);
  }

  left(ns: LiveNamespace, dropWhenEmpty: boolean): void {
    if (--this.#leaving === 0) this.#allLeft?.();
    if (dropWhenEmpty) this.remove(ns, true);
  }

  /** Removes a namespace: only if it has no clients with `onlyIfEmpty`, else its clients are closed with 4410 first. */
  remove(ns: LiveNamespace, onlyIfEmpty: boolean): boolean {
    if (this.registry.get(ns.path) !== ns) return false;
    if (onlyIfEmpty && ns.size > 0) return false;
    ns.closeClients();
    if (!this.registry.delete(ns)) return false;
    this.channels.unsubscribeLater(ns.path);
    return true;
  }

  /**
   * Every broadcast's way out: sequenced and logged in a namespace with a log, plain otherwise,
   * volatile when asked. A non-volatile one counts in the scope of the message or request that
   * began it (its ack or 2xx waits for it).
   */
  publish(path: string, frame: Buffer, target: Target, log: LogPolicy | undefined, volatile: boolean): Promise<boolean> {
    if (volatile) return this.fanout.publish(path, frame, target, true);
    const accepted = log
      ? this.fanout.publishSequenced(path, frame, target, log).then((head) => head !== undefined)
      : this.fanout.publish(path, frame, target, false);
    if (target.to === undefined) BroadcastScope.current()?.track(accepted);
    // While shutting down, the stores stay open until what the last disconnects broadcast is out.
    if (this.#draining) {
      this.#inflight.add(accepted);
      void accepted.finally(() => this.#inflight.delete(accepted));
    }
    return accepted;
  }

  has(path: string): boolean {
    return this.registry.has(path);
  }

  isSubscribed(path: string): boolean {
    return this.channels.isSubscribed(path);
  }

  /** What the broker brought (or the origin kept) for the local clients of `path`. */
  deliver(path: string, frame: Buffer, target: Target): void {
    const ns = this.registry.get(path);
    if (!ns) return;
    if (target.to !== undefined) {
      ns.deliverTo(target.to, frame);
      return;
    }
    const recipients = ns.deliverBroadcast(frame, target.except);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ path, recipients }, 'broadcast delivered');
  }

  /** Another instance removed the namespace everywhere: close its clients here too. */
  removeEverywhere(path: string): void {
    const ns = this.registry.get(path);
    if (ns) this.remove(ns, false);
  }

  /** Shutdown began: broadcasts from now on are waited for by `settle`. */
  drain(): void {
    this.#draining = true;
  }

  /**
   * Waits, at most `timeoutMs`, for the close paths of the sockets just closed (`onDisconnect`)
   * and the broadcasts they made (a `left`), so that the stores are not closed under them.
   */
  async settle(timeoutMs: number): Promise<void> {
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

  /** Closes every namespace's clients with `code`, then presence and the broker. */
  async close(code: number, reason: string): Promise<void> {
    for (const ns of this.registry.list()) ns.closeClients(code, reason);
    this.channels.close();
    await Promise.all([this.presence.close(), this.broker.close()]);
  }

  /** One log line per change of the broker's state, never one per request or broadcast; every subscription again after a reconnect. */
  #followBrokerState(): void {
    let previous = this.broker.state();
    let everUp = previous === 'ok';
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
  async #runHandler(ns: LiveNamespace, handler: string, fn: () => unknown): Promise<void> {
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
        this.registry.get(path)?.deliverBroadcast(encodeFrame('head', head));
        return;
      } catch (err) {
        this.log.debug({ err: String(err), path }, 'could not read the head after resubscribing');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)).unref());
      }
    }
  }
}
