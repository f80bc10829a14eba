/**
 * The receiving side of the Redis broker: one shard channel (SSUBSCRIBE, Redis 7.0 or later) per
 * hosted namespace, on one Redis or on a Redis Cluster, where each channel lives on the node that
 * owns its slot. The broker decides what is subscribed; a subscriber only carries it out and says
 * when Redis may have dropped subscriptions without being asked to.
 */
import type { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import type { Logger } from '../observe/logger.ts';
import { closeRedis, connectRedis, connectRedisCluster, whenReady, whileReady, type NodeAddress } from '../redis-connection.ts';

/** What a subscriber reports to the broker. */
export interface SubscriberEvents {
  /** A payload published on `channel`. */
  message(channel: Buffer, payload: Buffer): void;
  /** Its connection went up or down (see `up()`). */
  change(): void;
  /**
   * Redis may have dropped these channels while the connection stayed up (a cluster node's
   * subscriber connection died, or a slot moved to another node): whatever was published on
   * them meanwhile never came. The broker's owner subscribes them again.
   */
  lost(channels: string[]): void;
}

/** One Redis or a Cluster, as the broker subscribes through it. */
export interface ShardSubscriber {
  /** Whether it is connected (subscribing can succeed). */
  up(): boolean;
  /**
   * Subscribes `channel`, resolving once Redis confirmed it. `again`: it was subscribed before and
   * may have been dropped; subscribe it anew on whichever node serves it now.
   */
  subscribe(channel: string, again: boolean): Promise<void>;
  /** Drops `channel` (commands go out in call order, after any earlier subscribe). Never rejects. */
  unsubscribe(channel: string): Promise<void>;
  /** Resolves once connected for the first time. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** On one Redis: a connection of its own (a subscribed connection can run nothing else). */
export class RedisShardSubscriber implements ShardSubscriber {
  readonly #conn: Redis;

  constructor(url: string, name: string, log: Logger, events: SubscriberEvents) {
    // Redis forgets subscriptions with the connection, and the connection does not restore them
    // (autoResubscribe off): after `up()` turns true again the broker's owner subscribes anew.
    this.#conn = connectRedis(url, name, log);
    this.#conn.on('smessageBuffer', (channel: Buffer, payload: Buffer) => events.message(channel, payload));
    this.#conn.on('ready', () => events.change());
    this.#conn.on('close', () => events.change());
  }

  up(): boolean {
    return this.#conn.status === 'ready';
  }

  async subscribe(channel: string): Promise<void> {
    await this.#conn.ssubscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    // A connection that is down has no subscriptions left to drop.
    if (this.up()) await this.#conn.sunsubscribe(channel).catch(() => {});
  }

  ready(): Promise<void> {
    return whenReady(this.#conn);
  }

  close(): Promise<void> {
    return closeRedis(this.#conn);
  }
}

/** Where a channel's subscription was last confirmed: the node serving its slot, and which of that node's subscriber connections. */
interface Confirmed {
  node: string;
  generation: number;
}

/**
 * On a Redis Cluster: the client's sharded subscribers (one connection per master, each channel on
 * the master that owns its slot). ioredis moves them by itself after a failover or a resharding,
 * but tells nobody whether a channel was off meanwhile, and may fail to move one and say nothing.
 * So each channel's subscription is confirmed by its own SSUBSCRIBE reply, recorded with the node
 * that owns the slot and that node's subscriber generation; when a subscriber connection ends (a
 * new generation) or the slot map names another owner, the channel is reported lost and the
 * broker's owner subscribes it again, from what it hosts.
 */
export class ClusterShardSubscriber implements ShardSubscriber {
  readonly #cluster: Cluster;
  readonly #events: SubscriberEvents;
  readonly #confirmed = new Map<string, Confirmed>();
  /** Per node: how many of its subscriber connections have ended so far. */
  readonly #generations = new Map<string, number>();
  #checkPending = false;

  constructor(nodes: readonly NodeAddress[], name: string, log: Logger, events: SubscriberEvents) {
    this.#events = events;
    this.#cluster = connectRedisCluster(nodes, name, log, { sharded: true });
    this.#cluster.on('smessageBuffer', (channel: Buffer, payload: Buffer) => events.message(channel, payload));
    this.#cluster.on('ready', () => events.change());
    this.#cluster.on('close', () => {
      // Every subscriber connection goes with the client; the broker's owner resubscribes all
      // once it is back, so nothing is left to report as lost.
      this.#confirmed.clear();
      events.change();
    });
    // A sharded subscriber's connection ended (the pool's own connections emit it without a node).
    this.#cluster.on('-node', (_redis: unknown, node?: string) => {
      if (typeof node !== 'string') return;
      this.#generations.set(node, this.#generation(node) + 1);
      this.#scheduleCheck();
    });
    for (const event of ['refresh', '+subscriber', '-subscriber', 'subscribersReady']) this.#cluster.on(event, () => this.#scheduleCheck());
  }

  up(): boolean {
    return this.#cluster.status === 'ready';
  }

  async subscribe(channel: string, again: boolean): Promise<void> {
    // Fails at once while the client is not connected (it would queue the command until it is):
    // once it is back, the broker's owner resubscribes everything anyway.
    whileReady(this.#cluster);
    this.#confirmed.delete(channel);
    // Through the client's API, which keeps its own list of channels to restore: unsubscribing
    // first keeps that list free of copies (and the reply to the SSUBSCRIBE that follows on the
    // same connection is what confirms the channel on the node serving it now).
    if (again) await this.#cluster.sunsubscribe(channel).catch(() => {});
    try {
      await this.#cluster.ssubscribe(channel);
    } catch (err) {
      // Out of the client's list too, or it would restore a channel nobody routes.
      await this.#cluster.sunsubscribe(channel).catch(() => {});
      throw err;
    }
    const node = this.#owner(channel);
    if (node) this.#confirmed.set(channel, { node, generation: this.#generation(node) });
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#confirmed.delete(channel);
    // Sent even while the client is not connected (it must leave the client's list of channels
    // to restore, or the channel would come back with the connection), but then not awaited: the
    // client queues it until it is back.
    const sent = this.#cluster.sunsubscribe(channel).catch(() => {});
    if (this.up()) await sent;
  }

  /** The node serving `channel`'s slot (as the client last read the slot map). */
  nodeOf(channel: string): string | undefined {
    return this.#owner(channel);
  }

  ready(): Promise<void> {
    return whenReady(this.#cluster);
  }

  close(): Promise<void> {
    this.#confirmed.clear();
    return closeRedis(this.#cluster);
  }

  #owner(channel: string): string | undefined {
    return this.#cluster.slots[calculateSlot(channel)]?.[0];
  }

  #generation(node: string): number {
    return this.#generations.get(node) ?? 0;
  }

  /** Events come in bursts (a failover is dozens of them): one check after the burst. */
  #scheduleCheck(): void {
    if (this.#checkPending) return;
    this.#checkPending = true;
    setImmediate(() => {
      this.#checkPending = false;
      this.#check();
    });
  }

  #check(): void {
    const lost: string[] = [];
    for (const [channel, at] of this.#confirmed) {
      if (this.#owner(channel) === at.node && this.#generation(at.node) === at.generation) continue;
      this.#confirmed.delete(channel);
      lost.push(channel);
    }
    if (lost.length > 0) this.#events.lost(lost);
  }
}
