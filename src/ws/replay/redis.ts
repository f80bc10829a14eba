import type { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import { closeRedis, connectRedis, whenReady } from '../redis-connection.ts';
import { newEpoch } from './frame.ts';
import type { ReplayHead, ReplayPolicy, ReplayRead, ReplayStore } from './types.ts';

export interface RedisReplayStoreOptions {
  url: string;
  /** Key prefix (`<prefix>replay:{<path>}:seq|epoch|buf`). Default `hns:`. */
  prefix?: string;
  logger: Logger;
  /** Name of the connection in `CLIENT LIST`. Default `hns:replay`. */
  connectionName?: string;
}

/**
 * Sequence, epoch and meta keys live at least this long after the last broadcast or join, so that
 * a quiet room keeps counting where it was (its clients see no hole) long after its messages expired.
 */
const MIN_META_TTL_MS = 24 * 60 * 60 * 1000;

// A missing epoch or seq (never used, expired, flushed, evicted) starts a new epoch with an empty
// buffer, so a seq is never given twice in one epoch. The origin's candidate epoch comes in ARGV
// because math.random in a Redis script is seeded the same on every run.
const ENSURE = `
local epoch = redis.call('GET', KEYS[2])
if (not epoch) or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[1], 0)
  redis.call('DEL', KEYS[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
`;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** ARGV: epoch candidate, meta TTL, channel, header, body, size, max age. Returns { seq, epoch }. */
const APPEND = `${ENSURE}${NOW}
local seq = redis.call('INCR', KEYS[1])
local envelope = '{"a":' .. string.format('%d', now) .. ',' .. string.sub(ARGV[4], 2) .. '\\n{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(ARGV[5], 2)
redis.call('LPUSH', KEYS[3], envelope)
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('PUBLISH', ARGV[3], envelope)
return { seq, epoch }
`;

/** ARGV: epoch candidate, meta TTL. Returns { seq, epoch }. */
const HEAD = `${ENSURE}
return { tonumber(redis.call('GET', KEYS[1])), epoch }
`;

/** ARGV: since, epoch, max age. Returns { seq, epoch, ok (1/0), envelopes newest first }. */
const SINCE = `
local epoch = redis.call('GET', KEYS[2])
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if not epoch then return { 0, '', 0 } end
local wanted = seq - tonumber(ARGV[1])
if epoch ~= ARGV[2] or wanted < 0 then return { seq, epoch, 0 } end
if wanted == 0 then return { seq, epoch, 1, {} } end
local entries = redis.call('LRANGE', KEYS[3], 0, wanted - 1)
if #entries < wanted then return { seq, epoch, 0 } end
${NOW}
local at = tonumber(string.match(entries[wanted], '^{"a":(%d+)'))
if (not at) or at < now - tonumber(ARGV[3]) then return { seq, epoch, 0 } end
return { seq, epoch, 1, entries }
`;

type Reply = [number, Buffer | string, number?, Buffer[]?];

interface ReplayCommands {
  hnsReplayAppendBuffer(k1: string, k2: string, k3: string, ...argv: Array<string | Buffer | number>): Promise<Reply>;
  hnsReplayHeadBuffer(k1: string, k2: string, k3: string, ...argv: Array<string | number>): Promise<Reply>;
  hnsReplaySinceBuffer(k1: string, k2: string, k3: string, ...argv: Array<string | number>): Promise<Reply>;
}

/**
 * Replay buffers in Redis, shared by every instance. Each broadcast runs one Lua script (EVALSHA,
 * loaded once by ioredis) that takes the next seq, stores the final frame in a capped list and
 * PUBLISHes it on the namespace's channel: all instances see one order, and what a sync reads is
 * byte for byte what was published. Its own connection (fail fast, like the others).
 */
export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis';
  readonly #redis: Redis & ReplayCommands;
  readonly #prefix: string;

  constructor(options: RedisReplayStoreOptions) {
    this.#prefix = options.prefix ?? 'hns:';
    const redis = connectRedis(options.url, options.connectionName ?? `${this.#prefix}replay`, options.logger);
    redis.defineCommand('hnsReplayAppend', { numberOfKeys: 3, lua: APPEND });
    redis.defineCommand('hnsReplayHead', { numberOfKeys: 3, lua: HEAD });
    redis.defineCommand('hnsReplaySince', { numberOfKeys: 3, lua: SINCE });
    this.#redis = redis as Redis & ReplayCommands;
  }

  /** Resolves once connected (start-up, tests). */
  ready(): Promise<void> {
    return whenReady(this.#redis);
  }

  async append(path: string, channel: string, header: string, body: Buffer, policy: ReplayPolicy): Promise<ReplayHead> {
    const reply = await this.#redis.hnsReplayAppendBuffer(
      ...this.#keys(path), newEpoch(), metaTtl(policy), channel, header, body, policy.size, policy.maxAgeMs,
    );
    return toHead(reply);
  }

  async head(path: string, policy: ReplayPolicy): Promise<ReplayHead> {
    return toHead(await this.#redis.hnsReplayHeadBuffer(...this.#keys(path), newEpoch(), metaTtl(policy)));
  }

  async since(path: string, since: number, epoch: string, policy: ReplayPolicy): Promise<ReplayRead> {
    const reply = await this.#redis.hnsReplaySinceBuffer(...this.#keys(path), since, epoch, policy.maxAgeMs);
    const head = toHead(reply);
    if (reply[2] !== 1) return { ok: false, head };
    return { ok: true, head, envelopes: (reply[3] ?? []).reverse() };
  }

  close(): Promise<void> {
    return closeRedis(this.#redis);
  }

  /** The three keys of a path, hash-tagged so that a Redis Cluster keeps them in one slot. */
  #keys(path: string): [string, string, string] {
    const base = `${this.#prefix}replay:{${path}}:`;
    return [`${base}seq`, `${base}epoch`, `${base}buf`];
  }
}

function metaTtl(policy: ReplayPolicy): number {
  return Math.max(MIN_META_TTL_MS, policy.maxAgeMs);
}

function toHead(reply: Reply): ReplayHead {
  return { seq: Number(reply[0]), epoch: String(reply[1]) };
}
