/**
 * Self-test of the private redis-server harness: start, restart empty on the same port, SHUTDOWN
 * NOSAVE, SIGKILL, and no redis-server left behind however the test process ends.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { pdeathsigAvailable, pidAlive } from './owned-process.ts';
import { describeRedisServer } from './describe-redis.ts';
import { redisCommand, startRedisServer, type RedisServer } from './redis-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let server: RedisServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describeRedisServer('a private redis-server', () => {
  it('starts on a free port without persistence, and restart() brings back an empty server on that port', async () => {
    server = await startRedisServer();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.port).not.toBe(6379);
    expect(await redisCommand(server.port, 'CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await redisCommand(server.port, 'CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
    await redisCommand(server.port, 'SET', 'k', 'v');
    const first = server.pid;

    await server.restart();
    expect(server.pid).not.toBe(first);
    expect(pidAlive(first)).toBe(false);
    expect(await redisCommand(server.port, 'GET', 'k')).toBeNull();
  });

  it('shutdown() is SHUTDOWN NOSAVE from a client: connections end, and start() serves again', async () => {
    server = await startRedisServer();
    const client = new Redis(server.url, { retryStrategy: () => null });
    client.on('error', () => {});
    await client.set('k', 'v');
    const ended = once(client, 'end');
    const pid = server.pid;

    await server.shutdown();
    await ended;
    expect(server.running).toBe(false);
    expect(pidAlive(pid)).toBe(false);
    await expect(redisCommand(server.port, 'PING')).rejects.toThrow();
    expect(server.log()).toMatch(/User requested shutdown/);

    await server.start();
    expect(await redisCommand(server.port, 'GET', 'k')).toBeNull();
  });

  it('kill() ends the process with the signal; stop() leaves neither process nor directory', async () => {
    server = await startRedisServer();
    expect(await server.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await server.start();
    const { pid, dir } = server;
    await server.stop();
    expect(pidAlive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await expect(server.start()).rejects.toThrow(/was stopped/);
  });

  // A test process that starts a server and then ends without stopping it, in each way a vitest
  // worker can end: an uncaught exception (the exit hook, as process.exit), and the signals vitest
  // stops forks with (the signal handler, and the parent-death signal).
  const endings: Array<'throw' | 'SIGTERM' | 'SIGKILL'> = ['throw', 'SIGTERM', ...(pdeathsigAvailable ? (['SIGKILL'] as const) : [])];
  it.concurrent.each(endings)('leaves no redis-server behind when the test process ends by %s', async (ending) => {
    const script = `
      import { startRedisServer } from './test/support/redis-server.ts';
      const server = await startRedisServer();
      console.log(JSON.stringify({ pid: server.pid, dir: server.dir }));
      // Ends once told to, so that the test sees the server running first.
      process.stdin.once('data', () => {
        if (${JSON.stringify(ending)} === 'throw') throw new Error('test failed');
      });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] });
    const exited = once(child, 'exit');
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
    expect(pidAlive(pid)).toBe(true);
    if (ending === 'throw') child.stdin.write('end\n');
    else child.kill(ending);
    await exited;
    // The orphan is not ours to wait for: poll until the kernel (pdeathsig) or the exit hook has ended it.
    await vi.waitFor(() => expect(pidAlive(pid)).toBe(false), { timeout: 5000, interval: 20 });
    // Only a SIGKILL leaves the directory (a log of a few KB); this test removes it then.
    if (ending !== 'SIGKILL') expect(existsSync(dir)).toBe(false);
    else rmSync(dir, { recursive: true, force: true });
  });
});
