/**
 * Self-test of the app-instance harness: the instance listens on the port its log names, its pid
 * is the server itself (a SIGKILL leaves nothing listening), and with a private redis-server its
 * readiness follows that Redis going away and coming back.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { uniquePrefix } from '../redis.ts';
import { startAppProcess, type AppProcess } from './app-process.ts';
import { describeRedisServer } from './describe-redis.ts';
import { pidAlive } from './owned-process.ts';
import { startRedisServer, type RedisServer } from './redis-server.ts';

let app: AppProcess | undefined;
let redis: RedisServer | undefined;
afterEach(async () => {
  await app?.kill();
  await redis?.stop();
  app = redis = undefined;
});

// A child process compiles the app with tsx on start: bounds for a loaded machine, not timing claims.
describe('an app instance in a child process', { timeout: 60_000 }, () => {
  it('listens on the port its JSON log names, without the test environment; a SIGKILL hits the server itself', async () => {
    // A REDIS_URL of the test run must not reach an instance started without one.
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1');
    try {
      app = await startAppProcess();
    } finally {
      vi.unstubAllEnvs();
    }
    expect(await (await fetch(`${app.url}/health`)).json()).toMatchObject({ status: 'ok', broker: 'ok' });
    expect(app.logs.some((line) => line.port === app!.port)).toBe(true);
    // No npm or shell in between: the pid runs src/app.ts.
    expect(readFileSync(`/proc/${app.pid}/cmdline`, 'utf8').split('\0')).toEqual([process.execPath, '--import', 'tsx', 'src/app.ts', '']);

    expect(await app.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(pidAlive(app.pid)).toBe(false);
    await expect(fetch(`${app.url}/health`)).rejects.toThrow();
  });

  describeRedisServer('on a private redis-server', () => {
    it('is ready once its Redis is up, not ready while it is shut down, and ready again after the restart', async () => {
      redis = await startRedisServer();
      app = await startAppProcess({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() });
      await app.ready();

      await redis.shutdown();
      await vi.waitFor(async () => expect((await fetch(`${app!.url}/ready`)).status).toBe(503), { timeout: 10_000, interval: 25 });
      await redis.start();
      await app.ready();

      const exit = await app.kill('SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      expect(app.logs.some((line) => line.msg === 'shut down cleanly')).toBe(true);
    });
  });
});
