import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { MemoryPubSub } from '../src/ws/pubsub/memory.ts';
import type { PubSubState } from '../src/ws/pubsub/types.ts';
import { startApp, type TestApp } from './helpers.ts';

/** A memory bus whose broker health the test sets, as a Redis connection that drops would. */
class SwitchablePubSub extends MemoryPubSub {
  current: PubSubState = 'ok';
  override state(): PubSubState {
    return this.current;
  }
}

const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('GET /health and GET /ready', () => {
  it('/ready is 200 when serving, 503 while shutting down; /health stays 200', async () => {
    const app = await startApp();
    apps.push(app);
    const ready = await fetch(`${app.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, pubsub: 'ok', draining: false });

    const shutdown = app.rt.shutdown({ spreadMs: 0, timeoutMs: 1000 });
    const draining = await fetch(`${app.url}/ready`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ ready: false, reasons: ['shutting down'], draining: true });
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'draining' });
    await shutdown;
  });

  it('/ready is 503 while the broker is unreachable, and the metric says so', async () => {
    const pubsub = new SwitchablePubSub();
    const app = await startApp({ metrics: { mode: 'public', token: undefined } }, { pubsub });
    apps.push(app);
    pubsub.current = 'degraded';
    const res = await fetch(`${app.url}/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, reasons: ['pubsub (memory) degraded'], pubsub: 'degraded' });
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'degraded', pubsub: 'degraded' });
    expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('hns_pubsub_up{kind="memory"} 0');

    pubsub.current = 'ok';
    expect((await fetch(`${app.url}/ready`)).status).toBe(200);
  });
});

describe('metrics configuration', () => {
  it('is off by default, on with a token when METRICS_TOKEN is set', () => {
    expect(loadConfig({}).metrics).toEqual({ mode: 'off', token: undefined });
    expect(loadConfig({ METRICS_TOKEN: 'x'.repeat(16) }).metrics).toEqual({ mode: 'token', token: 'x'.repeat(16) });
    expect(loadConfig({ METRICS: 'public' }).metrics).toEqual({ mode: 'public', token: undefined });
  });

  it('names the variable when the combination is wrong', () => {
    expect(() => loadConfig({ METRICS: 'token' })).toThrow(/METRICS_TOKEN \(not set\): required when METRICS=token/);
    expect(() => loadConfig({ METRICS: 'public', METRICS_TOKEN: 'x'.repeat(16) })).toThrow(/METRICS_TOKEN \(16 characters, not shown\): set, but METRICS=public/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN \(5 characters, not shown\): expected at least 16/);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });
});
