/**
 * Self-test of the local Redis Cluster harness: every slot served, a Cluster client works through
 * `nodesString`, a SIGKILLed master is failed over, and nothing is left after `stop()`.
 */
import { Cluster } from 'ioredis';
import { it, type TestContext } from 'vitest';
import { describeRedisCluster } from './describe-redis.ts';
import { pidAlive } from './owned-process.ts';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redis-cluster.ts';
import { redisCommand } from './redis-server.ts';

/** A cluster and a Cluster client of it, both gone when the test ends (passed or failed). */
async function ownCluster(test: TestContext, options: RedisClusterOptions = {}): Promise<{ cluster: RedisCluster; client: Cluster }> {
  const cluster = await startRedisCluster(options);
  const nodes = cluster.nodesString.split(',').map((addr) => ({ host: addr.split(':')[0], port: Number(addr.split(':')[1]) }));
  const client = new Cluster(nodes, { clusterRetryStrategy: () => 50 });
  test.onTestFinished(async () => {
    client.disconnect();
    await cluster.stop();
  });
  return { cluster, client };
}

/** One key per master: `k0`, `k1`, ... until each master serves one. */
async function keyPerMaster(c: RedisCluster): Promise<Map<number, string>> {
  const keys = new Map<number, string>();
  for (let i = 0; keys.size < c.masters.length; i++) {
    const owner = c.nodeForSlot(await c.keySlot(`k${i}`));
    if (!keys.has(owner.port)) keys.set(owner.port, `k${i}`);
  }
  return keys;
}

// A cluster start is ~2 s (redis-cli waits a second for the join) and a failover ~2.5 s with a
// 1 s node timeout; the bounds leave room for a loaded machine.
// Concurrent: a start is mostly waiting, so two clusters start in about the time of one.
describeRedisCluster.concurrent('a local Redis Cluster', { timeout: 60_000 }, () => {
  it('3 masters serve all 16384 slots, reached through nodesString; stop() leaves no process', async (test) => {
    const { expect } = test;
    const { cluster, client } = await ownCluster(test);
    expect(cluster.masters).toHaveLength(3);
    expect(cluster.nodes).toHaveLength(3);
    const ranges = cluster.masters.flatMap((m) => m.slots).sort(([a], [b]) => a - b);
    expect(ranges[0]![0]).toBe(0);
    expect(ranges.at(-1)![1]).toBe(16383);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
    for (const node of cluster.nodes) expect(await redisCommand(node.port, 'CLUSTER', 'INFO')).toMatch(/cluster_state:ok/);

    for (const [port, key] of await keyPerMaster(cluster)) {
      await client.set(key, port);
      expect(await redisCommand(port, 'GET', key)).toBe(String(port));
    }
    const pids = cluster.nodes.map((n) => n.pid);
    await cluster.stop();
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
  });

  it('3 masters + 3 replicas: a SIGKILLed master is replaced by its replica, and revive() brings it back as a replica', async (test) => {
    const { expect } = test;
    const { cluster, client } = await ownCluster(test, { replicas: 1 });
    expect(cluster.masters).toHaveLength(3);
    expect(cluster.nodes.filter((n) => n.role === 'replica')).toHaveLength(3);
    const victim = cluster.masters[0]!;
    const key = (await keyPerMaster(cluster)).get(victim.port)!;
    await client.set(key, 'before');
    // The client reads CLUSTER SLOTS, which lists a replica only once it has synced something.
    expect(client.nodes('slave')).toHaveLength(3);

    await cluster.kill(victim);
    expect(pidAlive(victim.pid)).toBe(false);
    const promoted = await cluster.waitForFailover(victim);
    expect(promoted.masterId).toBeUndefined();
    expect(promoted.slots).toEqual(victim.slots);
    expect(cluster.nodeForSlot(await cluster.keySlot(key)).port).toBe(promoted.port);
    // The replica had the write: the failover of a synced replica keeps it.
    expect(await redisCommand(promoted.port, 'GET', key)).toBe('before');
    await client.set(key, 'after');
    expect(await redisCommand(promoted.port, 'GET', key)).toBe('after');

    await cluster.revive(victim);
    const back = cluster.nodes.find((n) => n.port === victim.port)!;
    expect(back).toMatchObject({ role: 'replica', masterId: promoted.id, running: true });
  });
});
