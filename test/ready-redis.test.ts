/**
 * `/ready`, the broker metric and the state-change log lines through real Redis outages: of every
 * connection at once, and of each one the instance depends on alone (presence, the app's store).
 */
import { afterEach, expect, it } from 'vitest';
import { RedisMapStore } from '../src/routes/bubblemap/redis-store.ts';
import { createLogger } from '../src/log.ts';
import type { Broker, BrokerState } from '../src/ws/broker/types.ts';
import { RedisPresence } from '../src/ws/presence/redis.ts';
import { startApp, type TestApp } from './helpers.ts';
import { startProxy, type Proxy } from './proxy.ts';
import { describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';
import { describeRedisServer } from './support/describe-redis.ts';
import { startRedisServer } from './support/redis-server.ts';

let app: TestApp | undefined;
const proxies: Proxy[] = [];
afterEach(async () => {
  await app?.close();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  app = undefined;
});

async function proxy(): Promise<Proxy> {
  const p = await startProxy(REDIS_URL);
  proxies.push(p);
  return p;
}

function stateBecomes(broker: Broker, state: BrokerState): Promise<void> {
  return new Promise((resolve) => broker.onStateChange((s) => s === state && resolve()));
}

/** Polls `/ready` until its status is `status` (the dependency's state flips on its socket's close event). */
async function readyBecomes(url: string, status: number): Promise<Record<string, any>> {
  for (;;) {
    const res = await fetch(`${url}/ready`);
    if (res.status === status) return (await res.json()) as Record<string, any>;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeRedis('readiness on Redis', () => {
  it('is not ready while Redis is unreachable, and ready again once it is back', async () => {
    const p = await proxy();
    const lines: Array<Record<string, any>> = [];
    const logger = createLogger('info', { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
    app = await startApp({ redisUrl: p.url, redisPrefix: uniquePrefix(), metrics: { mode: 'public', token: undefined } }, { logger });
    if (app.rt.broker.state() !== 'ok') await stateBecomes(app.rt.broker, 'ok');
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);
    expect(await (await fetch(`${app.url}/health`)).json()).toMatchObject({ status: 'ok', mode: 'redis' });

    const down = stateBecomes(app.rt.broker, 'degraded');
    p.cut();
    await down;
    const body = await readyBecomes(app.url, 503);
    expect(body.reasons).toContain('broker (redis) unreachable');
    expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('hns_broker_up{kind="redis"} 0');
    expect(lines.filter((l) => l.msg.startsWith('broker connection lost'))).toEqual([expect.objectContaining({ level: 40, state: 'degraded' })]);

    const up = stateBecomes(app.rt.broker, 'ok');
    p.restore();
    await up;
    await readyBecomes(app.url, 200);
    // The first connect is no recovery; the one after the outage is.
    expect(lines.filter((l) => l.msg === 'broker connected')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'broker connection restored')).toHaveLength(1);
  });

  it('is not ready while presence alone, or an app store registered with dependsOn, is unreachable', async () => {
    const [forPresence, forStore] = [await proxy(), await proxy()];
    const prefix = uniquePrefix();
    const logger = createLogger('silent');
    const presence = new RedisPresence({ url: forPresence.url, prefix, instanceId: 'i1', logger });
    const mapStore = new RedisMapStore({ url: forStore.url, prefix, connectionName: `${prefix}store`, logger });
    app = await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix }, { presence, mapStore });
    await readyBecomes(app.url, 200);

    forPresence.cut();
    expect((await readyBecomes(app.url, 503)).reasons).toEqual(['presence (redis) unreachable']);
    forPresence.restore();
    await readyBecomes(app.url, 200);

    forStore.cut();
    expect((await readyBecomes(app.url, 503)).reasons).toEqual(['bubble map store (redis) unreachable']);
    forStore.restore();
    await readyBecomes(app.url, 200);
  });
});

describeRedisServer('readiness on a Redis without sharded pub/sub', () => {
  it('says once, plainly, that Redis 7.0 is needed, and is never ready', async () => {
    // What a Redis 6 answers to SPUBLISH and SSUBSCRIBE, from a Redis 7 with them renamed away.
    const old = await startRedisServer({ args: ['--rename-command', 'SPUBLISH', '', '--rename-command', 'SSUBSCRIBE', ''] });
    try {
      const lines: Array<Record<string, any>> = [];
      const logger = createLogger('info', { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
      app = await startApp({ redisUrl: old.url, redisPrefix: uniquePrefix() }, { logger });
      const body = await readyBecomes(app.url, 503);
      expect(body.reasons).toEqual(['broker (redis) unreachable']);
      expect(app.rt.broker.state()).toBe('degraded');
      expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual(['this Redis has no SPUBLISH: the broker needs Redis 7.0 or later (or Valkey 7.2 or later)']);
    } finally {
      await app?.close();
      app = undefined;
      await old.stop();
    }
  });
});
