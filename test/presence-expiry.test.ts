/**
 * An instance killed without any cleanup (a real process, SIGKILL) stops counting in presence once
 * its entries expire (PRESENCE_TTL_MS, short here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';
import { login, startApp, TEST_SECRET, TestClient, type TestApp } from './helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TTL_MS = 600;

/** Starts `src/app.ts` in a child process; resolves with its port once it listens. */
function spawnInstance(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/app.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`instance exited early with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: { msg?: string; port?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg?.startsWith('listening') && entry.port) resolve({ child, port: entry.port });
    });
  });
}

let cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describeRedis('presence when an instance dies', () => {
  // A child process starts slowly on a loaded machine: a bound for the whole test, not a timing claim.
  it('forgets the members of a killed instance within the expiry', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix();
    const admin = adminRedis();
    cleanup.push(async () => {
      await deleteKeys(admin, prefix);
      await admin.quit();
    });
    const A: TestApp = await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix, presenceTtlMs: TTL_MS }, { instanceId: 'A' });
    cleanup.push(() => A.close());
    const { child, port } = await spawnInstance({
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      PRESENCE_TTL_MS: String(TTL_MS),
      SESSION_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
    });
    cleanup.push(() => child.kill('SIGKILL'));

    const onA = await TestClient.connect(A.wsUrl('/api/1/ws/hello-rooms/Berlin'));
    const onB = await TestClient.connect(`ws://127.0.0.1:${port}/api/1/ws/hello-rooms/Berlin`);
    const cookie = await login(A, 'observer');
    const clientIds = async () => {
      const room = (await (await fetch(`${A.url}/api/1/rooms/Berlin`, { headers: { cookie } })).json()) as { members: Array<{ clientId: string }> };
      return room.members.map((m) => m.clientId).sort();
    };
    const both = [onA.welcome.data.clientId, onB.welcome.data.clientId].sort();
    await vi.waitFor(async () => expect(await clientIds()).toEqual(both), { timeout: 5000, interval: 50 });

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // Polls (no fixed sleep): the killed instance's member goes once its entries expire.
    await vi.waitFor(async () => expect(await clientIds()).toEqual([onA.welcome.data.clientId]), { timeout: 10 * TTL_MS, interval: 50 });
    const rooms = (await (await fetch(`${A.url}/api/1/rooms`)).json()) as { rooms: unknown[] };
    expect(rooms.rooms).toContainEqual({ name: 'Berlin', members: 1 });
  });
});
