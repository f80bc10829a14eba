import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import { closeRedis, openRedis, whenReady, whileReady, type NodeAddress } from 'hono-namespaces';
import {
  QuotaError,
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
  /** `redis://` or `rediss://` URL of one Redis. */
  url?: string;
  /** Or nodes of a Redis Cluster. One of the two. */
  clusterNodes?: readonly NodeAddress[];
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

/** Creates a map's hash unless its id is taken (0). */
const CREATE_MAP = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'info', ARGV[1], 'version', 0)
return 1`;

/**
 * Lists a map in the index and in its creator's, unless the index is full (-1) or the creator's
 * is (-2): both bounds are checked and taken in one step (the two keys share a slot).
 */
const INDEX_MAP = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1`;

/** Adds a bubble to an existing map below the bound; returns the new version, or an error word. */
const CREATE_BUBBLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_map' end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'version', 1)`;

/**
 * Merges a patch (JSON) into a bubble and stamps `updatedAt`, in Redis, so that concurrent updates
 * of one bubble each keep the fields they did not touch; returns {version, bubble JSON}.
 */
const UPDATE_BUBBLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_map' end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 'not_found' end
local bubble = cjson.decode(raw)
for key, value in pairs(cjson.decode(ARGV[2])) do bubble[key] = value end
bubble.updatedAt = ARGV[3]
local out = cjson.encode(bubble)
redis.call('HSET', KEYS[2], ARGV[1], out)
return { redis.call('HINCRBY', KEYS[1], 'version', 1), out }`;

/** Deletes a bubble; returns {version, the deleted bubble's JSON}. */
const DELETE_BUBBLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_map' end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 'not_found' end
redis.call('HDEL', KEYS[2], ARGV[1])
return { redis.call('HINCRBY', KEYS[1], 'version', 1), raw }`;

interface Scripts {
  bmCreateMap(meta: string, info: string): Promise<number>;
  bmIndexMap(index: string, owned: string, id: string, score: number, maxMaps: number, maxPerUser: number): Promise<number>;
  bmCreateBubble(meta: string, bubbles: string, id: string, bubble: string, maxBubbles: number): Promise<number | string>;
  bmUpdateBubble(meta: string, bubbles: string, id: string, patch: string, updatedAt: string): Promise<[number, string] | string>;
  bmDeleteBubble(meta: string, bubbles: string, id: string): Promise<[number, string] | string>;
}

/**
 * Maps in Redis (one Redis or a Redis Cluster), so that every instance serves the same map. Per
 * map a hash `<prefix>bubblemap:{<id>}:m` (`info` JSON, `version`) and a hash
 * `<prefix>bubblemap:{<id>}:bubbles` (bubble id -> JSON), under one hash tag so that a change is
 * one script on one cluster node; an index `<prefix>bubblemap:{index}` (sorted by creation time)
 * bounds and lists the maps, and `<prefix>bubblemap:{index}:owned:<user>` bounds each creator's,
 * both in the index's slot. Each bubble change is one script run, so bounds hold, versions never
 * repeat and concurrent updates of one bubble keep each other's fields, under writers on several
 * instances. The indexes live in a slot of their own and are written in a step of their own,
 * ordered so that a failure between the steps leaves at worst a map nobody lists, never a listed
 * map that is not there. Commands fail fast while Redis is down.
 */
export class RedisMapStore implements MapStore {
  readonly kind = 'redis';
  readonly maxBubbles: number;
  readonly maxMaps: number;
  readonly #redis: (Redis | Cluster) & Scripts;
  readonly #prefix: string;

  constructor(options: RedisMapStoreOptions) {
    this.maxBubbles = options.maxBubbles ?? 500;
    this.maxMaps = options.maxMaps ?? 100_000;
    if (!(this.maxBubbles >= 1) || !(this.maxMaps >= 1)) throw new RangeError('maxBubbles and maxMaps must be at least 1');
    this.#prefix = `${options.prefix}bubblemap:`;
    if ((options.url === undefined) === (options.clusterNodes === undefined)) throw new TypeError('RedisMapStore takes either url or clusterNodes');
    const target = options.clusterNodes ? { clusterNodes: options.clusterNodes } : { url: options.url! };
    const redis = openRedis(target, options.connectionName, options.logger);
    redis.defineCommand('bmCreateMap', { numberOfKeys: 1, lua: CREATE_MAP });
    redis.defineCommand('bmIndexMap', { numberOfKeys: 2, lua: INDEX_MAP });
    redis.defineCommand('bmCreateBubble', { numberOfKeys: 2, lua: CREATE_BUBBLE });
    redis.defineCommand('bmUpdateBubble', { numberOfKeys: 2, lua: UPDATE_BUBBLE });
    redis.defineCommand('bmDeleteBubble', { numberOfKeys: 2, lua: DELETE_BUBBLE });
    this.#redis = redis as (Redis | Cluster) & Scripts;
  }

  /** Resolves once the connection is up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return whenReady(this.#redis);
  }

  health(): 'ok' | 'degraded' {
    return this.#redis.status === 'ready' ? 'ok' : 'degraded';
  }

  async createMap(info: MapInfo, maxPerUser = Number.MAX_SAFE_INTEGER): Promise<boolean> {
    if ((await this.#live.bmCreateMap(this.#meta(info.id), JSON.stringify(info))) === 0) return false;
    let listed: number;
    try {
      listed = await this.#live.bmIndexMap(this.#index(), this.#owned(info.createdBy), info.id, Date.parse(info.createdAt), this.maxMaps, Math.min(maxPerUser, Number.MAX_SAFE_INTEGER));
    } catch (err) {
      await this.#unmake(info.id);
      throw err;
    }
    if (listed < 0) await this.#unmake(info.id);
    if (listed === -1) throw new StoreFullError(`the store holds its maximum of ${this.maxMaps} maps`);
    if (listed === -2) throw new QuotaError(`you hold your maximum of ${maxPerUser} maps; delete one first`);
    return true;
  }

  async getMap(mapId: string): Promise<MapInfo | null> {
    const info = await this.#live.hget(this.#meta(mapId), 'info');
    return info === null ? null : (JSON.parse(info) as MapInfo);
  }

  async listMaps(limit: number): Promise<MapInfo[]> {
    const ids = await this.#live.zrevrange(this.#index(), 0, limit - 1);
    // One read per map, each in its map's slot (a pipeline may not span cluster nodes).
    const infos = await Promise.all(ids.map((id) => this.#live.hget(this.#meta(id), 'info')));
    return infos.flatMap((info) => (info === null ? [] : [JSON.parse(info) as MapInfo]));
  }

  async state(mapId: string): Promise<MapState | null> {
    const replies = await this.#live.multi().hgetall(this.#meta(mapId)).hgetall(this.#bubbles(mapId)).exec();
    const [[metaErr, meta], [bubblesErr, bubbles]] = replies as [[Error | null, Record<string, string>], [Error | null, Record<string, string>]];
    if (metaErr || bubblesErr) throw metaErr ?? bubblesErr;
    if (meta.info === undefined) return null;
    const list = Object.values(bubbles).map((raw) => JSON.parse(raw) as Bubble);
    list.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    return { map: JSON.parse(meta.info) as MapInfo, bubbles: list, version: Number(meta.version ?? 0) };
  }

  async deleteMap(mapId: string): Promise<boolean> {
    // Unlisted first: if the rest fails, the map is still there to delete again, and listed nowhere.
    const info = await this.getMap(mapId);
    const unlisting = this.#live.multi().zrem(this.#index(), mapId);
    if (info) unlisting.zrem(this.#owned(info.createdBy), mapId);
    await unlisting.exec();
    const replies = await this.#live.multi().del(this.#meta(mapId)).del(this.#bubbles(mapId)).exec();
    return replies?.[0]?.[1] === 1;
  }

  async createBubble(mapId: string, bubble: Bubble): Promise<BubbleChange> {
    const result = await this.#live.bmCreateBubble(this.#meta(mapId), this.#bubbles(mapId), bubble.id, JSON.stringify(bubble), this.maxBubbles);
    if (result === 'no_map' || result === 'full') return { ok: false, reason: result };
    return { ok: true, bubble, version: Number(result) };
  }

  async updateBubble(mapId: string, id: string, patch: BubblePatch, updatedAt: string, may: MayChange): Promise<BubbleChange> {
    const refused = await this.#judge(mapId, id, may);
    if (refused) return refused;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    return this.#changed(await this.#live.bmUpdateBubble(this.#meta(mapId), this.#bubbles(mapId), id, JSON.stringify(defined), updatedAt));
  }

  async deleteBubble(mapId: string, id: string, may: MayChange): Promise<BubbleChange> {
    const refused = await this.#judge(mapId, id, may);
    if (refused) return refused;
    return this.#changed(await this.#live.bmDeleteBubble(this.#meta(mapId), this.#bubbles(mapId), id));
  }

  async close(): Promise<void> {
    await closeRedis(this.#redis);
  }

  /** The connection, if it is up (a command fails at once otherwise). */
  get #live(): (Redis | Cluster) & Scripts {
    return whileReady(this.#redis);
  }

  /** Takes back a map that could not be listed. A failure leaves an unlisted map, which only its creator (told of the failure) could know. */
  async #unmake(mapId: string): Promise<void> {
    try {
      await this.#live.del(this.#meta(mapId), this.#bubbles(mapId));
    } catch {
      // left unlisted
    }
  }

  /**
   * Runs `may` on the bubble as stored. What it judges (the creator) no update changes, so the
   * verdict still holds when the script writes; a bubble deleted in between is `not_found` then.
   */
  async #judge(mapId: string, id: string, may: MayChange): Promise<Extract<BubbleChange, { ok: false }> | null> {
    const raw = await this.#live.hget(this.#bubbles(mapId), id);
    if (raw === null) return { ok: false, reason: (await this.#live.exists(this.#meta(mapId))) ? 'not_found' : 'no_map' };
    return may(JSON.parse(raw) as Bubble) ? null : { ok: false, reason: 'forbidden' };
  }

  #changed(result: [number, string] | string): BubbleChange {
    if (result === 'no_map' || result === 'not_found') return { ok: false, reason: result };
    if (typeof result === 'string') throw new Error(`unexpected script reply ${result}`);
    return { ok: true, bubble: JSON.parse(result[1]) as Bubble, version: Number(result[0]) };
  }

  #meta(mapId: string): string {
    return `${this.#prefix}{${mapId}}:m`;
  }

  #bubbles(mapId: string): string {
    return `${this.#prefix}{${mapId}}:bubbles`;
  }

  /** All maps by creation time: lists and bounds them. */
  #index(): string {
    return `${this.#prefix}{index}`;
  }

  /** The maps a user created, to bound how many one user holds; in the index's slot, so that both bounds are one script. */
  #owned(username: string): string {
    return `${this.#prefix}{index}:owned:${username}`;
  }
}
