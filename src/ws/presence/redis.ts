import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observe/logger.ts';
import type { Member } from './types.ts';
import { closeRedis, openRedis, whileReady, type NodeAddress } from '../redis-connection.ts';
import { InstancePresence } from './instance.ts';
import { ADD, BEAT, COUNT, LEAVE, LIST_PATHS, LISTED, MEMBERS, REMOVE, REWRITE } from './scripts.ts';
import { DEFAULT_PRESENCE_TTL_MS, timingOf, userKeyOf, type PathStatus, type PresenceStore, type PresenceTiming, type RefreshReply } from './store.ts';
import type { PresenceEntry } from './types.ts';

export interface RedisPresenceOptions {
  /** `redis://` or `rediss://` URL: presence opens its own connection (`<prefix><instanceId>:presence`) and closes it. */
  url?: string;
  /** Or nodes of a Redis Cluster: presence opens its own cluster client (same name) and closes it. */
  clusterNodes?: readonly NodeAddress[];
  /**
   * Or a connection to use instead (a `Redis`, or a `Cluster`: every command stays in one slot):
   * the caller made it (fail fast: no offline queue) and closes it. Exactly one of the three.
   */
  redis?: Redis | Cluster;
  /** Key prefix shared by all instances (`REDIS_PREFIX`). */
  prefix: string;
  /** This instance's id: letters, digits, `.`, `_`, `-`. */
  instanceId: string;
  /**
   * A dead instance's members are gone from reads, and reported as ghosts, within this many ms
   * of its death (`PRESENCE_TTL_MS`). Each instance beats every quarter of it. Default 10000.
   */
  ttlMs?: number;
  logger: Logger;
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,100}$/;

type Reply = [number, string[], number];

/** The scripts, as ioredis defines them on the connection. */
interface PresenceCommands {
  hnsPresenceAdd(...args: string[]): Promise<number>;
  hnsPresenceRemove(...args: string[]): Promise<number>;
  hnsPresenceBeat(...args: string[]): Promise<Reply>;
  hnsPresenceRewrite(...args: string[]): Promise<Reply>;
  hnsPresenceLeave(...args: string[]): Promise<number>;
  hnsPresenceMembers(key: string): Promise<string[]>;
  hnsPresenceCount(instances: string, users: string): Promise<number>;
  hnsPresenceListPaths(key: string, ...argv: string[]): Promise<number>;
  hnsPresenceListed(key: string): Promise<string[]>;
}

const STATUS: readonly PathStatus[] = ['ok', 'absent', 'reaped'];

/**
 * Presence in Redis (standalone or Cluster). Per namespace path, every key shares the hash tag
 * `{<path>}` (the keys are described in `scripts.ts`), and each operation is one script on that
 * path's keys; only the instance-wide list of paths is a key of its own, touched by single-key
 * commands. No command spans two slots.
 */
export class RedisPresence extends InstancePresence {
  readonly kind = 'redis';
  readonly #store: RedisPresenceStore;

  constructor(options: RedisPresenceOptions) {
    const store = new RedisPresenceStore(options, timingOf(options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS));
    super(store, store.timing.ttlMs, options.logger);
    this.#store = store;
  }

  /** Resolves once the connection is up (start-up, tests). */
  ready(): Promise<void> {
    return this.#store.ready();
  }
}

/** The Redis side of one instance: the scripts, run on the path's keys. */
class RedisPresenceStore implements PresenceStore {
  readonly timing: PresenceTiming;
  readonly #redis: Redis | Cluster;
  readonly #scripts: PresenceCommands;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #me: string;
  readonly #log: Logger;
  readonly #listeners: Array<(up: boolean) => void> = [];
  readonly #onReady = () => this.#emit(true);
  readonly #onClose = () => this.#emit(false);
  /**
   * The list of paths is another key (on a cluster, maybe another node): a failure there is no
   * failure of the path's own write. The next round lists again; a stale entry runs out.
   */
  readonly #listFailed = (err: unknown) => {
    this.#log.debug({ err: String(err) }, 'presence list of paths not updated');
    return 0;
  };

  constructor(options: RedisPresenceOptions, timing: PresenceTiming) {
    if (!INSTANCE_ID.test(options.instanceId)) throw new TypeError(`instanceId must match ${INSTANCE_ID} (got "${options.instanceId}")`);
    if ([options.url, options.clusterNodes, options.redis].filter((o) => o !== undefined).length !== 1) throw new TypeError('RedisPresence takes one of url, clusterNodes or redis');
    this.timing = timing;
    this.#prefix = options.prefix;
    this.#me = options.instanceId;
    this.#log = options.logger;
    this.#owned = options.redis === undefined;
    const name = `${options.prefix}${options.instanceId}:presence`;
    this.#redis = options.redis ?? (options.clusterNodes ? openRedis({ clusterNodes: options.clusterNodes }, name, this.#log) : openRedis({ url: options.url! }, name, this.#log));
    const scripts = { Add: ADD, Remove: REMOVE, Beat: BEAT, Rewrite: REWRITE, Leave: LEAVE };
    for (const [name, lua] of Object.entries(scripts)) this.#redis.defineCommand(`hnsPresence${name}`, { lua, numberOfKeys: 4 });
    this.#redis.defineCommand('hnsPresenceMembers', { lua: MEMBERS, numberOfKeys: 1 });
    this.#redis.defineCommand('hnsPresenceCount', { lua: COUNT, numberOfKeys: 2 });
    this.#redis.defineCommand('hnsPresenceListPaths', { lua: LIST_PATHS, numberOfKeys: 1 });
    this.#redis.defineCommand('hnsPresenceListed', { lua: LISTED, numberOfKeys: 1 });
    this.#scripts = this.#redis as unknown as PresenceCommands;
    this.#redis.on('ready', this.#onReady);
    this.#redis.on('close', this.#onClose);
    this.#redis.on('end', this.#onClose);
  }

  /** The scripts, on a connection that is up (a call fails at once otherwise). */
  get #commands(): PresenceCommands {
    whileReady(this.#redis);
    return this.#scripts;
  }

  ready(): Promise<void> {
    if (this.connected()) return Promise.resolve();
    return new Promise((resolve) => this.#redis.once('ready', () => resolve()));
  }

  async add(path: string, entry: PresenceEntry, options: { replaces: string | undefined; first: boolean; expected: boolean }): Promise<PathStatus> {
    const [status] = await Promise.all([
      this.#commands.hnsPresenceAdd(
        ...this.#pathArgs(path),
        entry.member.clientId,
        encodeEntry(entry),
        options.replaces ?? '',
        options.expected ? '1' : '0',
      ),
      options.first ? this.#list([path]).catch(this.#listFailed) : undefined,
    ]);
    return STATUS[status]!;
  }

  async remove(path: string, clientId: string, last: boolean): Promise<PathStatus> {
    const [status] = await Promise.all([this.#commands.hnsPresenceRemove(...this.#pathArgs(path), clientId), last ? this.#unlist(path).catch(this.#listFailed) : undefined]);
    return STATUS[status]!;
  }

  async beat(path: string): Promise<RefreshReply> {
    return this.#refreshReply(await this.#commands.hnsPresenceBeat(...this.#pathArgs(path)));
  }

  async rewrite(path: string, entries: readonly PresenceEntry[]): Promise<RefreshReply> {
    const pairs = entries.flatMap((e) => [e.member.clientId, encodeEntry(e)]);
    return this.#refreshReply(await this.#commands.hnsPresenceRewrite(...this.#pathArgs(path), ...pairs));
  }

  async leave(path: string): Promise<void> {
    await Promise.all([this.#commands.hnsPresenceLeave(...this.#pathArgs(path)), this.#unlist(path).catch(this.#listFailed)]);
  }

  async members(path: string): Promise<Member[]> {
    const entries = await this.#commands.hnsPresenceMembers(this.#key(path, 'i'));
    return entries.flatMap((raw) => this.#decode(raw)?.member ?? []);
  }

  count(path: string): Promise<number> {
    return this.#commands.hnsPresenceCount(this.#key(path, 'i'), this.#key(path, 'u'));
  }

  async paths(): Promise<string[]> {
    const entries = await this.#commands.hnsPresenceListed(this.#listKey());
    return [...new Set(entries.map((e) => e.slice(e.indexOf(' ') + 1)))];
  }

  async listPaths(paths: readonly string[]): Promise<void> {
    await this.#list(paths);
  }

  connected(): boolean {
    return this.#redis.status === 'ready';
  }

  onConnection(listener: (up: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#redis.off('ready', this.#onReady);
    this.#redis.off('close', this.#onClose);
    this.#redis.off('end', this.#onClose);
    this.#listeners.length = 0;
    if (!this.#owned) return;
    await closeRedis(this.#redis);
  }

  /** KEYS i, u, r, m:<me> of a path, then this instance, deadline and expiry. */
  #pathArgs(path: string): string[] {
    const { deadlineMs, expireMs } = this.timing;
    return [this.#key(path, 'i'), this.#key(path, 'u'), this.#key(path, 'r'), this.#key(path, `m:${this.#me}`), this.#me, String(deadlineMs), String(expireMs)];
  }

  /** A key of a path: `<prefix>{<path>}:presence:<name>`, so that all of them share the tag `{<path>}`. */
  #key(path: string, name: string): string {
    return `${this.#prefix}{${path}}:presence:${name}`;
  }

  #listKey(): string {
    return `${this.#prefix}presence:paths`;
  }

  #list(paths: readonly string[]): Promise<number> {
    const { ttlMs, expireMs } = this.timing;
    return this.#commands.hnsPresenceListPaths(this.#listKey(), String(ttlMs), String(expireMs), ...paths.map((p) => `${this.#me} ${p}`));
  }

  #unlist(path: string): Promise<number> {
    return whileReady(this.#redis).zrem(this.#listKey(), `${this.#me} ${path}`);
  }

  #refreshReply([status, ghosts, next]: Reply): RefreshReply {
    return {
      status: STATUS[status]!,
      ghosts: ghosts.flatMap((raw) => this.#decode(raw) ?? []),
      nextDeadlineInMs: next < 0 ? undefined : next,
    };
  }

  /** An entry as stored; undefined (logged) for one that is not ours to read. */
  #decode(raw: string): PresenceEntry | undefined {
    try {
      const { m, c } = JSON.parse(raw) as { m: PresenceEntry['member']; c: PresenceEntry['ctx'] };
      if (m && typeof m.clientId === 'string' && c) return { member: m, ctx: c };
    } catch {
      // fall through
    }
    this.#log.warn({ raw: raw.slice(0, 200) }, 'presence entry unreadable: skipped');
    return undefined;
  }

  #emit(up: boolean): void {
    for (const listener of this.#listeners) listener(up);
  }
}

/** The stored form of an entry: its user key first, which the scripts count by. */
function encodeEntry({ member, ctx }: PresenceEntry): string {
  return JSON.stringify({ k: userKeyOf(member), m: member, c: ctx });
}
