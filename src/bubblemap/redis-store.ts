import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { closeRedis, connectRedis, whenReady } from '../ws/redis-connection.ts';
import {
  patched,
  StoreFullError,
  type Bubble,
  type BubbleChange,
  type BubblePatch,
  type MapInfo,
  type MapState,
  type MapStore,
  type MayChange,
} from './store.ts';

export interface RedisMapStoreOptions {
  url: string;
  /** Key prefix shared by all instances (`REDIS_PREFIX`). */
  prefix: string;
  /** Connection name shown by `CLIENT LIST`. */
  connectionName: string;
  logger: Logger;
  /** Most bubbles per map. Default 500. */
  maxBubbles?: number;
  /** Most maps in the store. Default 100000. */
  maxMaps?: number;
}

/** Creates a map unless its id is taken (0) or the index is full (-1). */
const CREATE_MAP = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], 'info', ARGV[2], 'version', 0)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`;

/** Adds a bubble to an existing map below the bound; returns the new version, or an error word. */
const CREATE_BUBBLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_map' end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'version', 1)`;

/**
 * Replaces (or with an empty ARGV[3], deletes) a bubble only if it is still exactly what the
 * caller read and judged: the compare-and-set that makes "check then write" one step.
 */
const SWAP_BUBBLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_map' end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 'conflict' end
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return redis.call('HINCRBY', KEYS[1], 'version', 1)`;

/** Attempts of a compare-and-set before giving up (each failure means someone else changed the bubble). */
const MAX_SWAPS = 20;

interface Scripts {
  bmCreateMap(meta: string, index: string, id: string, info: string, score: number, maxMaps: number): Promise<number>;
  bmCreateBubble(meta: string, bubbles: string, id: string, bubble: string, maxBubbles: number): Promise<number | string>;
  bmSwapBubble(meta: string, bubbles: string, id: string, expected: string, next: string): Promise<number | string>;
}

/**
 * Maps in Redis, so that every instance serves the same map. Per map a hash
 * `<prefix>bubblemap:m:<id>` (`info` JSON, `version`) and a hash `<prefix>bubblemap:m:<id>:bubbles`
 * (bubble id -> JSON); an index `<prefix>bubblemap:index` (sorted by creation time) bounds and
 * lists the maps. Each change is one script run, so bounds hold and versions never repeat
 * under concurrent writers on several instances. Commands fail fast while Redis is down.
 */
export class RedisMapStore implements MapStore {
  readonly kind = 'redis';
  readonly maxBubbles: number;
  readonly maxMaps: number;
  readonly #redis: Redis & Scripts;
  readonly #prefix: string;

  constructor(options: RedisMapStoreOptions) {
    this.maxBubbles = options.maxBubbles ?? 500;
    this.maxMaps = options.maxMaps ?? 100_000;
    if (!(this.maxBubbles >= 1) || !(this.maxMaps >= 1)) throw new RangeError('maxBubbles and maxMaps must be at least 1');
    this.#prefix = `${options.prefix}bubblemap:`;
    const redis = connectRedis(options.url, options.connectionName, options.logger);
    redis.defineCommand('bmCreateMap', { numberOfKeys: 2, lua: CREATE_MAP });
    redis.defineCommand('bmCreateBubble', { numberOfKeys: 2, lua: CREATE_BUBBLE });
    redis.defineCommand('bmSwapBubble', { numberOfKeys: 2, lua: SWAP_BUBBLE });
    this.#redis = redis as Redis & Scripts;
  }

  /** Resolves once the connection is up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return whenReady(this.#redis);
  }

  async createMap(info: MapInfo): Promise<boolean> {
    const created = await this.#redis.bmCreateMap(this.#meta(info.id), this.#index(), info.id, JSON.stringify(info), Date.parse(info.createdAt), this.maxMaps);
    if (created === -1) throw new StoreFullError(`the store holds its maximum of ${this.maxMaps} maps`);
    return created === 1;
  }

  async getMap(mapId: string): Promise<MapInfo | null> {
    const info = await this.#redis.hget(this.#meta(mapId), 'info');
    return info === null ? null : (JSON.parse(info) as MapInfo);
  }

  async listMaps(limit: number): Promise<MapInfo[]> {
    const ids = await this.#redis.zrevrange(this.#index(), 0, limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hget(this.#meta(id), 'info');
    const replies = (await pipeline.exec()) ?? [];
    return replies.flatMap(([err, info]) => (err || typeof info !== 'string' ? [] : [JSON.parse(info) as MapInfo]));
  }

  async state(mapId: string): Promise<MapState | null> {
    const replies = await this.#redis.multi().hgetall(this.#meta(mapId)).hgetall(this.#bubbles(mapId)).exec();
    const [[metaErr, meta], [bubblesErr, bubbles]] = replies as [[Error | null, Record<string, string>], [Error | null, Record<string, string>]];
    if (metaErr || bubblesErr) throw metaErr ?? bubblesErr;
    if (meta.info === undefined) return null;
    const list = Object.values(bubbles).map((raw) => JSON.parse(raw) as Bubble);
    list.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    return { map: JSON.parse(meta.info) as MapInfo, bubbles: list, version: Number(meta.version ?? 0) };
  }

  async deleteMap(mapId: string): Promise<boolean> {
    const replies = await this.#redis.multi().del(this.#meta(mapId)).del(this.#bubbles(mapId)).zrem(this.#index(), mapId).exec();
    return replies?.[0]?.[1] === 1;
  }

  async createBubble(mapId: string, bubble: Bubble): Promise<BubbleChange> {
    const result = await this.#redis.bmCreateBubble(this.#meta(mapId), this.#bubbles(mapId), bubble.id, JSON.stringify(bubble), this.maxBubbles);
    if (result === 'no_map' || result === 'full') return { ok: false, reason: result };
    return { ok: true, bubble, version: Number(result) };
  }

  updateBubble(mapId: string, id: string, patch: BubblePatch, updatedAt: string, may: MayChange): Promise<BubbleChange> {
    return this.#swap(mapId, id, may, (bubble) => patched(bubble, patch, updatedAt));
  }

  deleteBubble(mapId: string, id: string, may: MayChange): Promise<BubbleChange> {
    return this.#swap(mapId, id, may, () => null);
  }

  async close(): Promise<void> {
    await closeRedis(this.#redis);
  }

  /** Read, judge, compute, then write only if the bubble did not change meanwhile; else again. */
  async #swap(mapId: string, id: string, may: MayChange, next: (bubble: Bubble) => Bubble | null): Promise<BubbleChange> {
    for (let attempt = 0; attempt < MAX_SWAPS; attempt++) {
      const raw = await this.#redis.hget(this.#bubbles(mapId), id);
      if (raw === null) {
        return { ok: false, reason: (await this.#redis.exists(this.#meta(mapId))) ? 'not_found' : 'no_map' };
      }
      const bubble = JSON.parse(raw) as Bubble;
      if (!may(bubble)) return { ok: false, reason: 'forbidden' };
      const after = next(bubble);
      const result = await this.#redis.bmSwapBubble(this.#meta(mapId), this.#bubbles(mapId), id, raw, after ? JSON.stringify(after) : '');
      if (result === 'no_map') return { ok: false, reason: 'no_map' };
      if (result !== 'conflict') return { ok: true, bubble: after ?? bubble, version: Number(result) };
    }
    throw new Error(`bubble ${id} changed ${MAX_SWAPS} times while being written`);
  }

  #meta(mapId: string): string {
    return `${this.#prefix}m:${mapId}`;
  }

  #bubbles(mapId: string): string {
    return `${this.#prefix}m:${mapId}:bubbles`;
  }

  #index(): string {
    return `${this.#prefix}index`;
  }
}
