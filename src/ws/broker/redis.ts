/**
 * The broker on Redis (7.0 or later), shared by every instance: one Redis, or a Redis Cluster.
 * Two connections: commands (publish, the log scripts, reads) and a subscriber. A sequenced
 * broadcast is one Lua script (EVALSHA, loaded once by ioredis) that takes the next seq, stores
 * the final frame in the namespace's capped list and SPUBLISHes the same bytes: all instances see
 * one order, and what a sync or a history read returns is byte for byte what was published.
 *
 * Every key and the channel of one namespace carry the hash tag `{<path>}`, so that a namespace
 * lives in one Redis Cluster slot: its script runs on one node, and its shard channel (SPUBLISH /
 * SSUBSCRIBE) lives on that node too, instead of being copied to every node as PUBLISH would be.
 * The same commands and the same script serve one Redis. Reads run read-only commands: they
 * create nothing.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observe/logger.ts';
import { loggedAt } from './envelope.ts';
import { closeRedis, connectRedis, connectRedisCluster, whenReady, whileReady, type NodeAddress } from '../redis-connection.ts';
import { newEpoch } from './sequence.ts';
import type { ReplayHead } from '../../protocol/frames.ts';
import { ClusterShardSubscriber, RedisShardSubscriber, type ShardSubscriber, type SubscriberEvents } from './subscriber.ts';
import { EMPTY_HEAD, type Broker, type BrokerState, type HistoryQuery, type LogEntry, type LogPage, type LogPolicy, type LogRead, type PayloadHandler } from './types.ts';

export interface RedisBrokerOptions {
  /** `redis://` or `rediss://` URL of one Redis. */
  url?: string;
  /** Or nodes of a Redis Cluster to start from (the client discovers the others). One of the two. */
  clusterNodes?: readonly NodeAddress[];
  /**
   * Prefix of every key and channel (`<prefix>{<path>}:log`, `:meta`, `:ch`). Default `hns:`. On a
   * cluster it may hold no `{` or `}`: a hash tag in it would put every namespace in one slot.
   */
  prefix?: string;
  logger: Logger;
  /** Prefix of the connection names shown by `CLIENT LIST` (`<name>:broker`, `<name>:subscriber`). Default `hns`. */
  connectionName?: string;
}

/**
 * A log's seq and epoch live at least this long after its last broadcast, so that a quiet
 * namespace keeps counting where it was (its clients see no hole) long after its frames expired.
 */
const MIN_META_TTL_MS = 24 * 60 * 60 * 1000;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: meta, log, channel (a key, so that client and server both hold it to the keys' slot).
 * ARGV: epoch candidate, meta TTL, header, body, size, max age, '1' on a cluster.
 * A missing meta (never used, expired, flushed, evicted) starts a new epoch with an empty log, so
 * a seq is never given twice in one epoch. On a cluster the meta also names the node that wrote
 * it: a log found on another node came there by a failover (replication is asynchronous, so its
 * newest entries may not have) or a resharding, and a new epoch begins, keeping the entries and
 * counting on; otherwise a seq that clients saw for a broadcast lost with the old master would be
 * given to another, and they would drop that one as a duplicate. The candidate epoch comes from
 * the caller because math.random in a script is seeded the same on every run. Returns { seq, epoch }.
 */
const APPEND = `${NOW}
local node = ''
if ARGV[7] == '1' then node = redis.call('CLUSTER', 'MYID') end
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'node')
local epoch = meta[1]
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0, 'node', node)
elseif (meta[2] or '') ~= node then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'node', node)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local envelope = '{"a":' .. string.format('%d', now) .. ',' .. string.sub(ARGV[3], 2) .. '\\n{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(ARGV[4], 2)
redis.call('LPUSH', KEYS[2], envelope)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SPUBLISH', KEYS[3], envelope)
return { seq, epoch }
`;

/**
 * KEYS: meta, log. ARGV: since, epoch, max age. Read-only. Returns { seq, epoch, ok (1/0),
 * entries newest first }. A client that read an empty head (epoch '', since 0) is served from
 * seq 1 of whatever epoch began since.
 */
const SINCE = `
local meta = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local since = tonumber(ARGV[1])
local fresh = ARGV[2] == '' and since == 0
if not meta[2] then
  if fresh then return { 0, '', 1, {} } end
  return { 0, '', 0 }
end
local seq, epoch = tonumber(meta[1]), meta[2]
local wanted = seq - since
if (epoch ~= ARGV[2] and not fresh) or wanted < 0 then return { seq, epoch, 0 } end
if wanted == 0 then return { seq, epoch, 1, {} } end
local entries = redis.call('LRANGE', KEYS[2], 0, wanted - 1)
if #entries < wanted then return { seq, epoch, 0 } end
${NOW}
local at = tonumber(string.match(entries[wanted], '^{"a":(%d+)'))
if (not at) or at < now - tonumber(ARGV[3]) then return { seq, epoch, 0 } end
return { seq, epoch, 1, entries }
`;

/**
 * KEYS: meta, log. ARGV: before (0: from the head), limit, max age. Read-only. Returns
 * { seq, epoch, entries newest first } without those past the age limit.
 */
const HISTORY = `
local meta = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
if not meta[2] then return { 0, '', {} } end
local seq, epoch = tonumber(meta[1]), meta[2]
local before = tonumber(ARGV[1])
if before <= 0 or before > seq + 1 then before = seq + 1 end
local first = seq - before + 1
local entries = redis.call('LRANGE', KEYS[2], first, first + tonumber(ARGV[2]) - 1)
${NOW}
local oldest = now - tonumber(ARGV[3])
local kept = {}
for i = 1, #entries do
  local at = tonumber(string.match(entries[i], '^{"a":(%d+)'))
  if (not at) or at < oldest then break end
  kept[i] = entries[i]
end
return { seq, epoch, kept }
`;

type HeadReply = [number | string, Buffer | string];
type ReadReply = [number | string, Buffer | string, number?, Buffer[]?];
type HistoryReply = [number | string, Buffer | string, Buffer[]];

interface BrokerCommands {
  hnsAppendBuffer(meta: string, log: string, channel: string, ...argv: Array<string | Buffer | number>): Promise<HeadReply>;
  hnsSinceBuffer(meta: string, log: string, ...argv: Array<string | number>): Promise<ReadReply>;
  hnsHistoryBuffer(meta: string, log: string, ...argv: Array<string | number>): Promise<HistoryReply>;
}

/** How often a cluster broker asks whether the cluster serves queries (`cluster_state`). */
const CLUSTER_STATE_INTERVAL_MS = 1000;

/**
 * Commands fail fast while a connection is down. Redis forgets subscriptions with the connection,
 * so after `onStateChange('ok')` the caller subscribes again (it knows what it still hosts); on a
 * cluster, channels of a node whose subscriber connection died or of a slot that moved are
 * reported through `onSubscriptionsLost` while the state stays `ok`.
 */
export class RedisBroker implements Broker {
  /** `redis` (one Redis) or `cluster`. */
  readonly kind: 'redis' | 'cluster';
  readonly #cmd: (Redis | Cluster) & BrokerCommands;
  readonly #sub: ShardSubscriber;
  readonly #prefix: string;
  readonly #handlers = new Map<string, PayloadHandler>();
  /** Channel name to path, for routing what the subscriber receives. */
  readonly #paths = new Map<string, string>();
  readonly #listeners: Array<(state: BrokerState) => void> = [];
  readonly #lostListeners: Array<(paths: string[]) => void> = [];
  readonly #log: Logger;
  #state: BrokerState = 'degraded';
  /** Why Redis cannot serve this broker at all (too old), once known. */
  #unsupported: string | undefined;
  /** False while a cluster node says `cluster_state:fail` (every command answers CLUSTERDOWN). */
  #clusterServes = true;
  readonly #stateTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    if ((options.url === undefined) === (options.clusterNodes === undefined)) throw new TypeError('RedisBroker takes either url or clusterNodes');
    const name = options.connectionName ?? 'hns';
    this.#prefix = options.prefix ?? 'hns:';
    this.#log = options.logger;
    this.kind = options.clusterNodes ? 'cluster' : 'redis';
    if (options.clusterNodes && /[{}]/.test(this.#prefix)) throw new TypeError(`prefix "${this.#prefix}" holds { or }: on a cluster that hash tag would put every namespace in one slot`);
    const cmd = options.clusterNodes
      ? connectRedisCluster(options.clusterNodes, `${name}:broker`, this.#log, { autoPipelining: true })
      : connectRedis(options.url!, `${name}:broker`, this.#log, { autoPipelining: true });
    cmd.defineCommand('hnsAppend', { numberOfKeys: 3, lua: APPEND });
    cmd.defineCommand('hnsSince', { numberOfKeys: 2, lua: SINCE });
    cmd.defineCommand('hnsHistory', { numberOfKeys: 2, lua: HISTORY });
    this.#cmd = cmd as (Redis | Cluster) & BrokerCommands;
    const events: SubscriberEvents = {
      message: (channel, payload) => this.#receive(channel, payload),
      change: () => this.#update(),
      lost: (channels) => this.#lost(channels),
    };
    this.#sub = options.clusterNodes
      ? new ClusterShardSubscriber(options.clusterNodes, `${name}:subscriber`, this.#log, events)
      : new RedisShardSubscriber(options.url!, `${name}:subscriber`, this.#log, events);
    cmd.on('ready', () => {
      this.#update();
      void this.#checkSupport();
    });
    cmd.on('close', () => this.#update());
    if (this.kind === 'cluster') {
      this.#stateTimer = setInterval(() => void this.#checkClusterState(), CLUSTER_STATE_INTERVAL_MS);
      this.#stateTimer.unref();
    }
  }

  /** Resolves once both connections are up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return Promise.all([whenReady(this.#cmd), this.#sub.ready()]).then(() => {});
  }

  state(): BrokerState {
    return this.#state;
  }

  onStateChange(listener: (state: BrokerState) => void): void {
    this.#listeners.push(listener);
  }

  onSubscriptionsLost(listener: (paths: string[]) => void): void {
    this.#lostListeners.push(listener);
  }

  /** On a cluster: the masters and replicas the client knows of (from the slot map it routes by). */
  nodes(): { masters: number; replicas: number } | undefined {
    if (this.kind !== 'cluster') return undefined;
    const masters = new Set<string>();
    const replicas = new Set<string>();
    for (const owners of (this.#cmd as Cluster).slots) {
      if (!owners?.[0]) continue;
      masters.add(owners[0]);
      for (const replica of owners.slice(1)) replicas.add(replica);
    }
    return { masters: masters.size, replicas: replicas.size };
  }

  /** Why the broker cannot work on this Redis at all (older than 7.0), once found out. */
  get unsupported(): string | undefined {
    return this.#unsupported;
  }

  /** The bus channel of a namespace path (its hash tag is the path's). */
  channelOf(path: string): string {
    return `${this.#prefix}{${path}}:ch`;
  }

  async subscribe(path: string, handler: PayloadHandler): Promise<void> {
    this.#open();
    const channel = this.channelOf(path);
    const again = this.#handlers.has(path);
    this.#handlers.set(path, handler);
    this.#paths.set(channel, path);
    try {
      await this.#sub.subscribe(channel, again);
    } catch (err) {
      // Roll back, so that what this object routes matches what Redis sends.
      if (this.#handlers.get(path) === handler) {
        this.#handlers.delete(path);
        this.#paths.delete(channel);
      }
      throw err;
    }
  }

  async unsubscribe(path: string): Promise<void> {
    const channel = this.channelOf(path);
    // Dropped at once (not after the reply): a SSUBSCRIBE issued right after goes out after this
    // SUNSUBSCRIBE on the same connection, and Redis applies them in that order.
    this.#handlers.delete(path);
    this.#paths.delete(channel);
    await this.#sub.unsubscribe(channel);
  }

  async publish(path: string, payload: Buffer): Promise<void> {
    this.#open();
    await this.#live().spublish(this.channelOf(path), payload);
  }

  async append(path: string, header: string, body: Buffer, policy: LogPolicy): Promise<ReplayHead> {
    this.#open();
    const [meta, log] = this.#keys(path);
    const reply = await this.#live().hnsAppendBuffer(meta, log, this.channelOf(path), newEpoch(), metaTtl(policy), header, body, policy.size, policy.maxAgeMs, this.kind === 'cluster' ? '1' : '0');
    return toHead(reply);
  }

  async head(path: string): Promise<ReplayHead> {
    this.#open();
    const [seq, epoch] = await this.#live().hmget(this.#keys(path)[0], 'seq', 'epoch');
    return epoch ? { seq: Number(seq), epoch } : { ...EMPTY_HEAD };
  }

  async since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead> {
    this.#open();
    const reply = await this.#live().hnsSinceBuffer(...this.#keys(path), since, epoch, policy.maxAgeMs);
    const head = toHead(reply);
    if (reply[2] !== 1) return { ok: false, head };
    return { ok: true, head, entries: toEntries(reply[3] ?? [], since + 1) };
  }

  async history(path: string, query: HistoryQuery, policy: LogPolicy): Promise<LogPage> {
    this.#open();
    const reply = await this.#live().hnsHistoryBuffer(...this.#keys(path), query.before ?? 0, query.limit, policy.maxAgeMs);
    const head = toHead(reply);
    const newestFirst = reply[2];
    const before = query.before !== undefined && query.before > 0 && query.before <= head.seq ? query.before : head.seq + 1;
    return { head, entries: toEntries(newestFirst, before - newestFirst.length) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#stateTimer);
    this.#handlers.clear();
    this.#paths.clear();
    await Promise.all([closeRedis(this.#cmd), this.#sub.close()]);
  }

  /** The keys of a path: its seq and epoch (`meta`), and its frames newest first (`log`). */
  #keys(path: string): [string, string] {
    const base = `${this.#prefix}{${path}}:`;
    return [`${base}meta`, `${base}log`];
  }

  #open(): void {
    if (this.#closed) throw new Error('broker is closed');
  }

  /** The command connection, if it is up (a command fails at once otherwise). */
  #live(): (Redis | Cluster) & BrokerCommands {
    return whileReady(this.#cmd);
  }

  #receive(channel: Buffer, payload: Buffer): void {
    const path = this.#paths.get(channel.toString());
    const handler = path === undefined ? undefined : this.#handlers.get(path);
    if (!handler) return;
    try {
      handler(payload);
    } catch (err) {
      this.#log.error({ err }, 'broker handler threw');
    }
  }

  #lost(channels: string[]): void {
    const paths = channels.flatMap((c) => this.#paths.get(c) ?? []);
    if (paths.length === 0 || this.#closed) return;
    this.#log.warn({ namespaces: paths.length }, 'broker subscriptions lost with a cluster node or a moved slot: resubscribing');
    for (const listener of this.#lostListeners) listener(paths);
  }

  /**
   * Sharded pub/sub came with Redis 7.0: on an older Redis nothing could be broadcast, so say so
   * once, plainly, and stay degraded (`/ready` 503) instead of failing every broadcast obscurely.
   */
  async #checkSupport(): Promise<void> {
    if (this.#unsupported) return;
    try {
      await this.#live().spublish(`${this.#prefix}{hns}:check`, '');
    } catch (err) {
      if (!/unknown command/i.test(String(err))) return;
      this.#unsupported = 'this Redis has no SPUBLISH: the broker needs Redis 7.0 or later (or Valkey 7.2 or later)';
      this.#log.error({ err: String(err) }, this.#unsupported);
      this.#update();
    }
  }

  /**
   * With `cluster-require-full-coverage yes` (Redis' default) one master lost without a replica
   * makes every node answer CLUSTERDOWN, while the subscriptions stay up: only the cluster's own
   * state tells. A probe that fails (its node unreachable) says nothing either way.
   */
  async #checkClusterState(): Promise<void> {
    if (this.#cmd.status !== 'ready') return;
    let serves: boolean;
    try {
      serves = !/cluster_state:fail/.test(String(await (this.#live() as Cluster).cluster('INFO')));
    } catch {
      return;
    }
    if (serves === this.#clusterServes) return;
    this.#clusterServes = serves;
    this.#log[serves ? 'info' : 'warn']({ broker: this.kind }, serves ? 'cluster serves queries again' : 'cluster state fail: it answers CLUSTERDOWN');
    this.#update();
  }

  #update(): void {
    const up = this.#cmd.status === 'ready' && this.#sub.up() && this.#clusterServes && !this.#unsupported;
    const next: BrokerState = up ? 'ok' : 'degraded';
    if (next === this.#state || this.#closed) return;
    this.#state = next;
    for (const listener of this.#listeners) listener(next);
  }
}

function metaTtl(policy: LogPolicy): number {
  return Math.max(MIN_META_TTL_MS, policy.maxAgeMs);
}

function toHead(reply: HeadReply | ReadReply | HistoryReply): ReplayHead {
  const epoch = String(reply[1]);
  return epoch ? { seq: Number(reply[0]), epoch } : { ...EMPTY_HEAD };
}

/** Entries read newest first, returned oldest first; the oldest has seq `firstSeq`. */
function toEntries(newestFirst: Buffer[], firstSeq: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = newestFirst.length - 1, seq = firstSeq; i >= 0; i--, seq++) {
    const envelope = newestFirst[i]!;
    out.push({ seq, at: loggedAt(envelope) ?? 0, envelope });
  }
  return out;
}
