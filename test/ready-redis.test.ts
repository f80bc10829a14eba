/** `/ready`, the broker metric and the state-change log lines through a real Redis outage. */
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import type { PubSub, PubSubState } from '../src/ws/pubsub/types.ts';
import { startApp, type TestApp } from './helpers.ts';
import { startProxy, type Proxy } from './proxy.ts';
import { describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

let app: TestApp | undefined;
let proxy: Proxy | undefined;
afterEach(async () => {
  await app?.close();
  await proxy?.close();
  app = proxy = undefined;
});

function stateBecomes(pubsub: PubSub, state: PubSubState): Promise<void> {
  return new Promise((resolve) => pubsub.onStateChange((s) => s === state && resolve()));
}

describeRedis('readiness on Redis', () => {
  it('is not ready while Redis is unreachable, and ready again once it is back', async () => {
    proxy = await startProxy(REDIS_URL);
    const lines: Array<Record<string, any>> = [];
    const logger = createLogger('info', { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
    app = await startApp({ redisUrl: proxy.url, redisPrefix: uniquePrefix(), metrics: { mode: 'public', token: undefined } }, { logger });
    if (app.rt.pubsub.state() !== 'ok') await stateBecomes(app.rt.pubsub, 'ok');
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);

    const down = stateBecomes(app.rt.pubsub, 'degraded');
    proxy.cut();
    await down;
    const res = await fetch(`${app.url}/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, reasons: ['pubsub (redis) degraded'] });
    expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('hns_pubsub_up{kind="redis"} 0');
    expect(lines.filter((l) => l.msg === 'pubsub connection lost')).toEqual([expect.objectContaining({ level: 40, state: 'degraded', previous: 'ok' })]);

    const up = stateBecomes(app.rt.pubsub, 'ok');
    proxy.restore();
    await up;
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);
    // The first connect says so without a `previous` that would read like a recovery; the
    // return after the outage is one.
    expect(lines.filter((l) => l.msg === 'pubsub connected')).toEqual([expect.not.objectContaining({ previous: expect.anything() })]);
    expect(lines.filter((l) => l.msg === 'pubsub reconnected')).toEqual([expect.objectContaining({ state: 'ok', previous: 'degraded' })]);
  });
});
