import type { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import type { Member } from '../namespace.ts';
import { closeRedis, connectRedis, whenReady } from '../redis-connection.ts';
import { LocalMembers } from './local.ts';
import type { Presence, PresenceResult, PresenceState } from './types.ts';

export interface RedisPresenceOptions {
  url: string;
  /** Key prefix shared by all instances (`REDIS_PREFIX`). */
  prefix: string;
  /** This instance's id: letters, digits, `.`, `_`, `-`. */
  instanceId: string;
  /** How long an instance's members outlive its last refresh (refreshed every third of it). Default 15000. */
  ttlMs?: number;
  logger: Logger;
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Presence in Redis. Each instance keeps, per namespace it has members in, its own hash
 * `<prefix>presence:m:<instance>:<path>` (clientId -> member) and adds itself to the set
 * `<prefix>presence:i:<path>`; both expire `ttlMs` after the last refresh, and a live instance
 * rewrites them every `ttlMs / 3` from its local state. So a killed instance stops counting
 * `ttlMs` after its last refresh, and a live one restores its entries after an outage by itself.
 * Redis key expiry does the forgetting, so member reads compare no clocks. Only the list of paths
 * (`<prefix>presence:paths`, for listing rooms) is scored by the instances' clocks, so skew only
 * makes an emptied path linger a little; its count says 0.
 */
export class RedisPresence implements Presence {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #local = new LocalMembers();
  readonly #prefix: string;
  readonly #instanceId: string;
  readonly #ttlMs: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;

  constructor(options: RedisPresenceOptions) {
    if (!INSTANCE_ID.test(options.instanceId)) throw new TypeError(`instanceId must match ${INSTANCE_ID} (got "${options.instanceId}")`);
    this.#ttlMs = options.ttlMs ?? 15_000;
    if (!Number.isInteger(this.#ttlMs) || this.#ttlMs < 30) throw new TypeError('ttlMs must be a whole number of at least 30');
    this.#prefix = `${options.prefix}presence:`;
    this.#instanceId = options.instanceId;
    this.#log = options.logger;
    this.#redis = connectRedis(options.url, `${options.prefix}${options.instanceId}:presence`, this.#log);
    this.#redis.on('ready', () => void this.#refresh());
    this.#timer = setInterval(() => void this.#refresh(), Math.floor(this.#ttlMs / 3));
    this.#timer.unref();
  }

  /** Resolves once the connection is up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return whenReady(this.#redis);
  }

  async add(path: string, member: Member): Promise<void> {
    this.#local.add(path, member);
    const key = this.#membersKey(path);
    await this.#run('add', () =>
      this.#redis
        .multi()
        .hset(key, member.clientId, JSON.stringify(member))
        .pexpire(key, this.#ttlMs)
        .sadd(this.#instancesKey(path), this.#instanceId)
        .pexpire(this.#instancesKey(path), this.#ttlMs)
        .zadd(this.#pathsKey(), Date.now() + this.#ttlMs, path)
        .pexpire(this.#pathsKey(), this.#ttlMs)
        .exec(),
    );
  }

  async remove(path: string, clientId: string): Promise<void> {
    const left = this.#local.remove(path, clientId);
    const key = this.#membersKey(path);
    await this.#run('remove', () =>
      left > 0 ? this.#redis.hdel(key, clientId) : this.#redis.multi().del(key).srem(this.#instancesKey(path), this.#instanceId).exec(),
    );
  }

  async members(path: string): Promise<PresenceResult> {
    try {
      const perInstance = await this.#read([path], 'hvals');
      const members = perInstance.get(path)!.flatMap((values) => (values as string[]).map((v) => JSON.parse(v) as Member));
      return { members, partial: false };
    } catch (err) {
      this.#readFailed(err, 'local members only');
      return { members: this.#local.of(path), partial: true };
    }
  }

  async paths(): Promise<string[]> {
    try {
      return await this.#redis.zrangebyscore(this.#pathsKey(), Date.now(), '+inf');
    } catch (err) {
      this.#readFailed(err, 'local paths only');
      return this.#local.paths();
    }
  }

  async counts(paths: readonly string[]): Promise<Map<string, number>> {
    try {
      const perInstance = await this.#read(paths, 'hlen');
      return new Map([...perInstance].map(([p, lens]) => [p, (lens as number[]).reduce((a, b) => a + b, 0)]));
    } catch (err) {
      this.#readFailed(err, 'local counts only');
      return new Map(paths.map((p) => [p, this.#local.count(p)]));
    }
  }

  state(): PresenceState {
    return this.#redis.status === 'ready' ? 'ok' : 'degraded';
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const paths = this.#local.paths();
    this.#local.clear();
    if (paths.length && this.#redis.status === 'ready') {
      const tx = this.#redis.multi();
      for (const path of paths) tx.del(this.#membersKey(path)).srem(this.#instancesKey(path), this.#instanceId);
      await this.#run('close', () => tx.exec());
    }
    await closeRedis(this.#redis);
  }

  /** For each path, one `command` reply per live instance; forgets instances whose entries expired. */
  async #read(paths: readonly string[], command: 'hvals' | 'hlen'): Promise<Map<string, unknown[]>> {
    const sets = await this.#redis.pipeline(paths.map((p) => ['smembers', this.#instancesKey(p)])).exec();
    const asked: Array<{ path: string; instance: string }> = [];
    paths.forEach((path, i) => {
      const [err, ids] = sets![i]!;
      if (err) throw err;
      for (const instance of ids as string[]) asked.push({ path, instance });
    });
    const replies = asked.length
      ? await this.#redis.pipeline(asked.map(({ path, instance }) => [command, this.#membersKey(path, instance)])).exec()
      : [];
    const out = new Map<string, unknown[]>(paths.map((p) => [p, []]));
    const expired: Array<{ path: string; instance: string }> = [];
    asked.forEach((a, i) => {
      const [err, value] = replies![i]!;
      if (err) throw err;
      const empty = Array.isArray(value) ? value.length === 0 : value === 0;
      if (empty) expired.push(a);
      else out.get(a.path)!.push(value);
    });
    // A member set that lists an instance whose hash is gone: that instance died (or left).
    if (expired.length) {
      void this.#run('forget expired', () => this.#redis.pipeline(expired.map(({ path, instance }) => ['srem', this.#instancesKey(path), instance])).exec());
    }
    return out;
  }

  /** Rewrites this instance's entries from local state and pushes their expiry back. */
  async #refresh(): Promise<void> {
    const paths = this.#local.paths();
    if (!paths.length || this.#redis.status !== 'ready') return;
    const tx = this.#redis.multi();
    for (const path of paths) {
      const key = this.#membersKey(path);
      const fields = this.#local.of(path).flatMap((m) => [m.clientId, JSON.stringify(m)]);
      tx.del(key).hset(key, ...fields).pexpire(key, this.#ttlMs);
      tx.sadd(this.#instancesKey(path), this.#instanceId).pexpire(this.#instancesKey(path), this.#ttlMs);
      tx.zadd(this.#pathsKey(), Date.now() + this.#ttlMs, path);
    }
    tx.zremrangebyscore(this.#pathsKey(), '-inf', Date.now()).pexpire(this.#pathsKey(), this.#ttlMs);
    await this.#run('refresh', () => tx.exec());
  }

  /** Logs a failed read: a warning when Redis was up, debug while it is known to be down (no flood). */
  #readFailed(err: unknown, fallback: string): void {
    const level = this.#redis.status === 'ready' ? 'warn' : 'debug';
    this.#log[level]({ err: String(err) }, `presence read failed: ${fallback}`);
  }

  /** Runs a command; a failure is logged (the next refresh repairs what it missed), never thrown. */
  async #run(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#log.debug({ err: String(err) }, `presence ${what} failed`);
    }
  }

  #membersKey(path: string, instance = this.#instanceId): string {
    return `${this.#prefix}m:${instance}:${path}`;
  }

  /** Every path with members, scored by when its last refresh runs out (ms; instances' clocks). */
  #pathsKey(): string {
    return `${this.#prefix}paths`;
  }

  #instancesKey(path: string): string {
    return `${this.#prefix}i:${path}`;
  }
}
