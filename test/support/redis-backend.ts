/**
 * The two ways instances share Redis, for suites that run against both: the shared standalone
 * Redis (`REDIS_URL`, a key prefix of their own) and a private local cluster
 * (`startRedisCluster`). A backend gives the settings an app needs (in-process or as a child
 * process) and the admin views a test inspects, over every node where there are several.
 *
 * @example
 * const backend = clusterBackend(await startRedisCluster());
 * const app = await startApp({ ...backend.config(prefix) });
 * expect(await backend.killClient(`${prefix}A:subscriber`)).toBeGreaterThan(0);
 */
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import type { Config } from '../../src/config.ts';
import type { NodeAddress } from '../../src/ws/redis-connection.ts';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redis-cluster.ts';
import { redisCommand } from './redis-server.ts';

/** One of the two (see the module comment). */
export interface RedisBackend {
  readonly kind: 'redis' | 'cluster';
  /** The settings of an in-process app (`startApp`). */
  config(prefix: string): Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisPrefix'>;
  /** The environment of an app process (`startAppProcess`). */
  env(prefix: string): Record<string, string>;
  /**
   * CLIENT KILL, on every node, of the connections named `name`: a standalone connection, or a
   * cluster client's connections and its sharded subscribers (`ioredis-cluster(ssubscriber):<name>`).
   * Returns how many were killed. `port`: on that node only.
   */
  killClient(name: string, port?: number): Promise<number>;
  /** Shard channels under `prefix` (PUBSUB SHARDCHANNELS), per node port. */
  shardChannels(prefix: string): Promise<Map<number, string[]>>;
  /** Subscribers of a shard channel (PUBSUB SHARDNUMSUB on the node serving it). */
  subscribers(channel: string): Promise<number>;
  /** Keys under `prefix`, per node port. */
  keys(prefix: string): Promise<Map<number, string[]>>;
  /** Deletes every key under `prefix`, on every node. */
  deleteKeys(prefix: string): Promise<void>;
  /** Releases what the backend opened itself (not the cluster: its owner stops it). */
  close(): Promise<void>;
}

/** A cluster backend: also the cluster and its nodes in `REDIS_CLUSTER_NODES` form. */
export type ClusterBackend = RedisBackend & { readonly cluster: RedisCluster; readonly nodes: NodeAddress[] };

type Command = (port: number, command: string, ...args: Array<string | number>) => Promise<unknown>;

/** Kills, on `port`, the connections whose name is `name` or a cluster client's `ioredis-cluster(<role>):<name>`. */
async function killNamed(run: Command, port: number, name: string): Promise<number> {
  let killed = 0;
  for (const line of String(await run(port, 'CLIENT', 'LIST')).split('\n')) {
    const fields = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')));
    const own = fields.name === name || (typeof fields.name === 'string' && /^ioredis-cluster\(ssubscriber\):/.test(fields.name) && fields.name.endsWith(`:${name}`));
    if (own) killed += Number(await run(port, 'CLIENT', 'KILL', 'ID', fields.id));
  }
  return killed;
}

async function scanKeys(run: Command, port: number, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await run(port, 'SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)) as [string, string[]];
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Admin views over a set of nodes (one, for a standalone Redis); `portOf` names the node serving a key or channel. */
function views(ports: () => number[], portOf: (key: string) => number, run: Command): Pick<RedisBackend, 'killClient' | 'shardChannels' | 'subscribers' | 'keys' | 'deleteKeys'> {
  const perNode = async <T>(fn: (port: number) => Promise<T>) => new Map(await Promise.all(ports().map(async (p) => [p, await fn(p)] as const)));
  return {
    async killClient(name, port) {
      if (port !== undefined) return killNamed(run, port, name);
      return [...(await perNode((p) => killNamed(run, p, name))).values()].reduce((a, b) => a + b, 0);
    },
    shardChannels: (prefix) => perNode(async (p) => ((await run(p, 'PUBSUB', 'SHARDCHANNELS', `${prefix}*`)) as string[]).sort()),
    subscribers: async (channel) => Number(((await run(portOf(channel), 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1]),
    keys: (prefix) => perNode((p) => scanKeys(run, p, prefix)),
    async deleteKeys(prefix) {
      // One DEL per key: on a cluster, keys of one call must share a slot.
      await perNode(async (p) => {
        for (const key of await scanKeys(run, p, prefix)) await run(p, 'DEL', key);
      });
    },
  };
}

/** The shared standalone Redis at `url` (the suites' `REDIS_URL`). */
export function standaloneBackend(url: string): RedisBackend {
  const { hostname, port } = new URL(url);
  const target = Number(port || 6379);
  // One admin connection for the run, not one per command: the shared Redis serves everyone.
  let admin: Redis | undefined;
  const run: Command = (_port, command, ...args) => {
    admin ??= new Redis({ host: hostname, port: target, maxRetriesPerRequest: 1, lazyConnect: false });
    return admin.call(command, ...args);
  };
  const backend = {
    kind: 'redis' as const,
    config: (prefix: string) => ({ redisUrl: url, redisClusterNodes: undefined, redisPrefix: prefix }),
    env: (prefix: string) => ({ REDIS_URL: url, REDIS_PREFIX: prefix }),
    ...views(() => [target], () => target, run),
    /** Closes the admin connection. */
    async close() {
      await admin?.quit();
      admin = undefined;
    },
  };
  return backend;
}

/** A private local cluster (every running master is inspected). */
export function clusterBackend(cluster: RedisCluster): ClusterBackend {
  const nodes = cluster.nodesString.split(',').map((address) => ({ host: '127.0.0.1', port: Number(address.split(':')[1]) }));
  return {
    kind: 'cluster',
    cluster,
    nodes,
    config: (prefix) => ({ redisUrl: undefined, redisClusterNodes: nodes, redisPrefix: prefix }),
    env: (prefix) => ({ REDIS_CLUSTER_NODES: cluster.nodesString, REDIS_PREFIX: prefix }),
    ...views(() => cluster.masters.map((m) => m.port), (key) => cluster.nodeForSlot(calculateSlot(key)).port, redisCommand),
    close: async () => {},
  };
}

/**
 * One cluster for a whole test file, started on first use (a start is 2-3 s): `get()` in the
 * tests that need it, `stop()` in `afterAll` (a no-op when it never started).
 */
export function lazyCluster(options: RedisClusterOptions = {}): { get(): Promise<ClusterBackend>; stop(): Promise<void> } {
  let started: Promise<RedisCluster> | undefined;
  return {
    async get() {
      started ??= startRedisCluster(options);
      return clusterBackend(await started);
    },
    async stop() {
      const cluster = await started?.catch(() => undefined);
      await cluster?.stop();
    },
  };
}

/** A backend a suite runs against (see `redisBackends`). */
export interface BackendCase {
  /** `one Redis` or `a Redis Cluster`, for the suite's title. */
  name: string;
  /** Unusable here (no Redis, no redis-server 7): the suite is skipped. */
  skip: boolean;
  get(): Promise<RedisBackend>;
}

/**
 * Both backends for a suite: the shared Redis at `url` and a cluster started on first use;
 * `stop()` in `afterAll`.
 * @example
 * const backends = redisBackends(REDIS_URL, redisReachable, redisClusterUsable);
 * afterAll(() => backends.stop());
 * for (const { name, skip, get } of backends.cases) describe.skipIf(skip)(`... on ${name}`, () => {...});
 */
export function redisBackends(url: string, reachable: boolean, clusterUsable: boolean): { cases: BackendCase[]; stop(): Promise<void> } {
  const cluster = lazyCluster();
  const standalone = standaloneBackend(url);
  return {
    cases: [
      { name: 'one Redis', skip: !reachable, get: async () => standalone },
      { name: 'a Redis Cluster', skip: !clusterUsable, get: () => cluster.get() },
    ],
    stop: async () => {
      await Promise.all([cluster.stop(), standalone.close()]);
    },
  };
}
