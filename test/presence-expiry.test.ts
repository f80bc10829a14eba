/**
 * An instance killed without any cleanup (a real process, SIGKILL): its members are gone from
 * presence within PRESENCE_TTL_MS (short here), and each of them is reported as a ghost exactly
 * once across the surviving instances.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';
import type { RedisPresence } from '../src/ws/presence/redis.ts';
import { login, startApp, TEST_SECRET, TestClient, type TestApp } from './helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TTL_MS = 2000;
const ON_DEAD = 4;

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
      if (typeof entry.port === 'number') resolve({ child, port: entry.port });
    });
  });
}

let cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describeRedis('presence when an instance dies', () => {
  // A child process starts slowly on a loaded machine: a bound for the whole test, not a timing claim.
  it('forgets the members of a killed instance within the TTL, each reported once across the survivors', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix();
    const admin = adminRedis();
    cleanup.push(async () => {
      await deleteKeys(admin, prefix);
      await admin.quit();
    });
    const config = { redisUrl: REDIS_URL, redisPrefix: prefix, presenceTtlMs: TTL_MS };
    const [A, B]: TestApp[] = await Promise.all([startApp(config, { instanceId: 'A' }), startApp(config, { instanceId: 'B' })]);
    cleanup.push(() => Promise.all([A!.close(), B!.close()]));
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
    const survivors = [A!, B!].map((app) => app.rt.presence as RedisPresence);
    const ghosts: string[] = [];
    let allGhostsAt = 0;
    for (const presence of survivors) {
      presence.onGhosts((path, entries) => {
        ghosts.push(...entries.map((e) => `${path} ${e.member.clientId}`));
        if (ghosts.length === ON_DEAD) allGhostsAt = Date.now();
      });
    }

    const room = '/api/1/ws/hello-rooms/Berlin';
    const onA = await TestClient.connect(A!.wsUrl(room));
    const onB = await TestClient.connect(B!.wsUrl(room));
    const onC = await Promise.all(Array.from({ length: ON_DEAD }, () => TestClient.connect(`ws://127.0.0.1:${port}${room}`)));
    const ids = (clients: Array<Awaited<ReturnType<typeof TestClient.connect>>>) => clients.map((c) => c.welcome.data.clientId as string).sort();
    // Member lists are for signed-in users.
    const cookie = await login(A!, 'observer');
    const clientIds = async () => {
      const state = (await (await fetch(`${A!.url}/api/1/rooms/Berlin`, { headers: { cookie } })).json()) as { members: Array<{ clientId: string }> };
      return state.members.map((m) => m.clientId).sort();
    };
    await vi.waitFor(async () => expect(await clientIds()).toEqual(ids([onA, onB, ...onC])), { timeout: 5000, interval: 50 });

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    // Polls (no fixed sleep), bounded well past the TTL; the TTL itself is checked on the clock.
    await vi.waitFor(async () => expect(await clientIds()).toEqual(ids([onA, onB])), { timeout: 10 * TTL_MS, interval: 50 });
    const goneAt = Date.now();
    await vi.waitFor(() => expect(ghosts).toHaveLength(ON_DEAD), { timeout: 10 * TTL_MS, interval: 50 });
    expect(goneAt - killedAt).toBeLessThanOrEqual(TTL_MS);
    expect(allGhostsAt - killedAt).toBeLessThanOrEqual(TTL_MS);

    // More rounds on both survivors report nobody again.
    for (let i = 0; i < 3; i++) await Promise.all(survivors.map((p) => p.refresh()));
    expect(ghosts.sort()).toEqual(ids(onC).map((id) => `${room} ${id}`));
    const rooms = (await (await fetch(`${A!.url}/api/1/rooms`)).json()) as { rooms: unknown[] };
    expect(rooms.rooms).toContainEqual({ name: 'Berlin', members: 2 });
  });
});
