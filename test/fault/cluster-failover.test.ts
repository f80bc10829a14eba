/**
 * Fault: on a Redis Cluster with one replica per master, a master SIGKILLed while chats flow
 * through three instances, and its replica promoted. Broadcasts to its slots are refused while no
 * node serves them (retryable); the instances resubscribe on the promoted replica, and the log
 * found there begins a new epoch, so every client that stays syncs over the change: nothing
 * accepted is lost, nothing shown twice, one order.
 */
import calculateSlot from 'cluster-key-slot';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { RedisBroker } from '../../src/ws/broker/redis.ts';
import { startApp, type TestApp } from '../helpers.ts';
import { uniquePrefix } from '../redis.ts';
import { describeRedisCluster } from '../support/describe-redis.ts';
import { clusterBackend, type ClusterBackend } from '../support/redis-backend.ts';
import { startRedisCluster, type ClusterNode } from '../support/redis-cluster.ts';
import { redisCommand } from '../support/redis-server.ts';
import { roomPath } from './chat.ts';
import { expectClean, ROOMS, run } from './scenario.ts';

let backend: ClusterBackend;
const apps: TestApp[] = [];
const brokers: RedisBroker[] = [];
beforeAll(async () => {
  backend = clusterBackend(await startRedisCluster({ replicas: 1 }));
});
afterAll(async () => {
  await backend?.cluster.stop();
});
afterEach(async () => {
  await Promise.all([...apps.splice(0).map((a) => a.close()), ...brokers.splice(0).map((b) => b.close())]);
});

/** The master serving `key`'s slot. */
const masterOf = (key: string): ClusterNode => backend.cluster.nodeForSlot(calculateSlot(key));

/** Kills a master once its replica has every write (WAIT), and resolves once the replica serves its slots. */
async function failOver(master: ClusterNode): Promise<void> {
  await redisCommand(master.port, 'WAIT', 1, 2000);
  await backend.cluster.kill(master);
  await backend.cluster.waitForFailover(master);
}

describeRedisCluster('fault: a cluster master killed and failed over mid-stream', { timeout: 60_000 }, () => {
  it('loses nothing accepted for a client that stays, shows nothing twice, and keeps one order', async () => {
    const prefix = uniquePrefix();
    for (const id of ['A', 'B', 'C']) apps.push(await startApp(backend.config(prefix), { instanceId: id }));
    const victim = masterOf(`{${roomPath(ROOMS[0]!)}}`);
    const { tallies, senders } = await run({
      name: 'cluster master SIGKILL + failover',
      backends: apps.map((a) => ({ url: a.url, alive: true })),
      async fault() {
        await backend.cluster.kill(victim);
        await backend.cluster.waitForFailover(victim);
      },
      afterMs: 2500,
    });
    expectClean(tallies, expect);
    // Refused while no node served the room, as retryable, never silently.
    expect(senders.rest.flatMap((s) => [...s.statuses.keys()]).filter((status) => status !== 201 && status !== 503)).toEqual([]);
    for (const s of senders.ws) expect([...s.errors.keys()].filter((c) => c !== 'unavailable')).toEqual([]);
  });

  it("begins a new epoch when a namespace's log turns up on another node, keeping its entries and counting on", async () => {
    const prefix = uniquePrefix();
    const broker = new RedisBroker({ clusterNodes: backend.nodes, prefix, logger: createLogger('silent') });
    brokers.push(broker);
    await broker.ready();
    // A namespace on a master that still has a replica (the test before took one).
    const replicated = new Set(backend.cluster.nodes.filter((n) => n.role === 'replica' && n.running).map((n) => n.masterId));
    let path = '';
    for (let i = 0; path === '' || !replicated.has(masterOf(`${prefix}{${path}}:meta`).id); i++) path = `/failover/${i}`;
    const policy = { size: 10, maxAgeMs: 60_000 };
    const body = (n: number) => Buffer.from(JSON.stringify({ type: 't', data: n }));
    let before = { seq: 0, epoch: '' };
    for (let n = 1; n <= 3; n++) before = await broker.append(path, '{"o":"i"}', body(n), policy);

    await failOver(masterOf(`${prefix}{${path}}:meta`));
    expect(await broker.head(path)).toEqual(before);
    const after = await broker.append(path, '{"o":"i"}', body(4), policy);
    expect(after.seq).toBe(4);
    expect(after.epoch).not.toBe(before.epoch);
    expect((await broker.since(path, 3, before.epoch, policy)).ok).toBe(false);
    expect((await broker.history(path, { limit: 10 }, policy)).entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(await broker.append(path, '{"o":"i"}', body(5), policy)).toEqual({ seq: 5, epoch: after.epoch });
  });
});
