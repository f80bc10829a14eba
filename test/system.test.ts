import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { MemoryBroker } from '../src/ws/broker/memory.ts';
import type { BrokerState } from '../src/ws/broker/types.ts';
import { startApp, type TestApp } from './helpers.ts';

/** A memory broker whose health the test sets, as a Redis connection that drops would. */
class SwitchableBroker extends MemoryBroker {
  current: BrokerState = 'ok';
  override state(): BrokerState {
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
    expect(await ready.json()).toEqual({ ready: true, draining: false });
    expect(await (await fetch(`${app.url}/health`)).json()).toEqual({ status: 'ok', mode: 'memory', broker: 'ok', presence: 'ok' });

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
    const broker = new SwitchableBroker();
    const app = await startApp({ metrics: { mode: 'public', token: undefined } }, { broker });
    apps.push(app);
    broker.current = 'degraded';
    const res = await fetch(`${app.url}/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, reasons: ['broker (memory) unreachable'] });
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'degraded', mode: 'memory', broker: 'degraded', degraded: ['broker (memory)'] });
    expect(await (await fetch(`${app.url}/metrics`)).text()).toContain('hns_broker_up{kind="memory"} 0');

    broker.current = 'ok';
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
