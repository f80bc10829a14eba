/**
 * The broker on one Redis, shared by every instance. Two connections: commands (publish, the log
 * scripts, reads) and a subscriber (a subscribed connection can run nothing else). A sequenced
 * broadcast is one Lua script (EVALSHA, loaded once by ioredis) that takes the next seq, stores
 * the final frame in the namespace's capped list and PUBLISHes the same bytes: all instances see
 * one order, and what a sync or a history read returns is byte for byte what was published.
 *
 * Every key and the channel of one namespace carry the hash tag `{<path>}`, so that a namespace
 * lives in one Redis Cluster slot. Reads run read-only commands: they create nothing.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.ts';
import { loggedAt } from '../envelope.ts';
import { closeRedis, connectRedis, whenReady } from '../redis-connection.ts';
import { newEpoch } from '../replay/frame.ts';
import type { ReplayHead } from '../../protocol/frames.ts';
import { EMPTY_HEAD, type Broker, type BrokerState, type HistoryQuery, type LogEntry, type LogPage, type LogPolicy, type LogRead, type PayloadHandler } from './types.ts';

export interface RedisBrokerOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /** Prefix of every key and channel (`<prefix>{<path>}:log`, `:meta`, `:ch`). Default `hns:`. */
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
 * KEYS: meta, log. ARGV: epoch candidate, meta TTL, channel, header, body, size, max age.
 * A missing meta (never used, expired, flushed, evicted) starts a new epoch with an empty log, so
 * a seq is never given twice in one epoch. The candidate epoch comes from the caller because
 * math.random in a script is seeded the same on every run. Returns { seq, epoch }.
 */
const APPEND = `${NOW}
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local envelope = '{"a":' .. string.format('%d', now) .. ',' .. string.sub(ARGV[4], 2) .. '\\n{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(ARGV[5], 2)
redis.call('LPUSH', KEYS[2], envelope)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], envelope)
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
  hnsAppendBuffer(meta: string, log: string, ...argv: Array<string | Buffer | number>): Promise<HeadReply>;
  hnsSinceBuffer(meta: string, log: string, ...argv: Array<string | number>): Promise<ReadReply>;
  hnsHistoryBuffer(meta: string, log: string, ...argv: Array<string | number>): Promise<HistoryReply>;
}

/**
 * Commands fail fast while a connection is down. Redis forgets subscriptions with the connection,
 * so after `onStateChange('ok')` the caller subscribes again (it knows what it still hosts).
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly #cmd: Redis & BrokerCommands;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #handlers = new Map<string, PayloadHandler>();
  /** Channel name to path, for routing what the subscriber receives. */
  readonly #paths = new Map<string, string>();
  readonly #listeners: Array<(state: BrokerState) => void> = [];
  readonly #log: Logger;
  #state: BrokerState = 'degraded';
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    const name = options.connectionName ?? 'hns';
    this.#prefix = options.prefix ?? 'hns:';
    this.#log = options.logger;
    const cmd = connectRedis(options.url, `${name}:broker`, this.#log, { autoPipelining: true });
    cmd.defineCommand('hnsAppend', { numberOfKeys: 2, lua: APPEND });
    cmd.defineCommand('hnsSince', { numberOfKeys: 2, lua: SINCE });
    cmd.defineCommand('hnsHistory', { numberOfKeys: 2, lua: HISTORY });
    this.#cmd = cmd as Redis & BrokerCommands;
    this.#sub = connectRedis(options.url, `${name}:subscriber`, this.#log);
    for (const conn of [this.#cmd, this.#sub]) {
      conn.on('ready', () => this.#update());
      conn.on('close', () => this.#update());
    }
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const path = this.#paths.get(channel.toString());
      const handler = path === undefined ? undefined : this.#handlers.get(path);
      if (!handler) return;
      try {
        handler(message);
      } catch (err) {
        this.#log.error({ err }, 'broker handler threw');
      }
    });
  }

  /** Resolves once both connections are up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return Promise.all([whenReady(this.#cmd), whenReady(this.#sub)]).then(() => {});
  }

  state(): BrokerState {
    return this.#state;
  }

  onStateChange(listener: (state: BrokerState) => void): void {
    this.#listeners.push(listener);
  }

  /** The bus channel of a namespace path (its hash tag is the path's). */
  channelOf(path: string): string {
    return `${this.#prefix}{${path}}:ch`;
  }

  async subscribe(path: string, handler: PayloadHandler): Promise<void> {
    this.#open();
    const channel = this.channelOf(path);
    this.#handlers.set(path, handler);
    this.#paths.set(channel, path);
    try {
      await this.#sub.subscribe(channel);
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
    // Dropped at once (not after the reply): a SUBSCRIBE issued right after goes out after this
    // UNSUBSCRIBE on the same connection, and Redis applies them in that order.
    this.#handlers.delete(path);
    this.#paths.delete(channel);
    // A connection that is down has no subscriptions left to drop.
    if (this.#sub.status === 'ready') await this.#sub.unsubscribe(channel);
  }

  async publish(path: string, payload: Buffer): Promise<void> {
    this.#open();
    await this.#cmd.publish(this.channelOf(path), payload);
  }

  async append(path: string, header: string, body: Buffer, policy: LogPolicy): Promise<ReplayHead> {
    this.#open();
    const [meta, log] = this.#keys(path);
    const reply = await this.#cmd.hnsAppendBuffer(meta, log, newEpoch(), metaTtl(policy), this.channelOf(path), header, body, policy.size, policy.maxAgeMs);
    return toHead(reply);
  }

  async head(path: string): Promise<ReplayHead> {
    this.#open();
    const [seq, epoch] = await this.#cmd.hmget(this.#keys(path)[0], 'seq', 'epoch');
    return epoch ? { seq: Number(seq), epoch } : { ...EMPTY_HEAD };
  }

  async since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead> {
    this.#open();
    const reply = await this.#cmd.hnsSinceBuffer(...this.#keys(path), since, epoch, policy.maxAgeMs);
    const head = toHead(reply);
    if (reply[2] !== 1) return { ok: false, head };
    return { ok: true, head, entries: toEntries(reply[3] ?? [], since + 1) };
  }

  async history(path: string, query: HistoryQuery, policy: LogPolicy): Promise<LogPage> {
    this.#open();
    const reply = await this.#cmd.hnsHistoryBuffer(...this.#keys(path), query.before ?? 0, query.limit, policy.maxAgeMs);
    const head = toHead(reply);
    const newestFirst = reply[2];
    const before = query.before !== undefined && query.before > 0 && query.before <= head.seq ? query.before : head.seq + 1;
    return { head, entries: toEntries(newestFirst, before - newestFirst.length) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    this.#paths.clear();
    await Promise.all([closeRedis(this.#cmd), closeRedis(this.#sub)]);
  }

  /** The keys of a path: its seq and epoch (`meta`), and its frames newest first (`log`). */
  #keys(path: string): [string, string] {
    const base = `${this.#prefix}{${path}}:`;
    return [`${base}meta`, `${base}log`];
  }

  #open(): void {
    if (this.#closed) throw new Error('broker is closed');
  }

  #update(): void {
    const next: BrokerState = this.#cmd.status === 'ready' && this.#sub.status === 'ready' ? 'ok' : 'degraded';
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
