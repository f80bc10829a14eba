/**
 * Fault: one of three instances (real processes) SIGKILLed while chats flow, on one Redis and on a
 * Redis Cluster. Its clients reconnect to the others through the balancer and catch up from the
 * room's log; nothing accepted by any instance before it died is lost for anyone.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REDIS_URL, redisReachable, uniquePrefix } from '../redis.ts';
import { startAppProcess, type AppProcess } from '../support/app-process.ts';
import { redisClusterUsable } from '../support/describe-redis.ts';
import { redisBackends, type RedisBackend } from '../support/redis-backend.ts';
import { expectClean, ROOMS, run } from './scenario.ts';

const PRESENCE_TTL_MS = 2000;

const targets = redisBackends(REDIS_URL, redisReachable, redisClusterUsable);
const prefix = uniquePrefix();
const instances: AppProcess[] = [];
let used: RedisBackend | undefined;
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.kill('SIGKILL')));
  await used?.deleteKeys(prefix);
});
afterAll(async () => {
  await targets.stop();
});

for (const { name, skip, get } of targets.cases) describe.skipIf(skip)(`fault: an instance SIGKILLed mid-stream, on ${name}`, () => {
  it('loses nothing accepted, shows nothing twice, and keeps one order', { timeout: 60_000 }, async () => {
    const backend = (used = await get());
    // A short presence TTL: the dead instance's members must be gone, with one goodbye each, within it.
    const started = await Promise.all([0, 1, 2].map(() => startAppProcess({ ...backend.env(prefix), PRESENCE_TTL_MS: String(PRESENCE_TTL_MS) })));
    instances.push(...started);
    await Promise.all(started.map((i) => i.ready()));
    const backends = started.map((i) => ({ url: i.url, alive: true }));
    const { tallies } = await run({
      name: `instance SIGKILL (${backend.kind})`,
      backends,
      async fault() {
        backends[0]!.alive = false;
        const exit = await started[0]!.kill('SIGKILL');
        expect(exit.signal).toBe('SIGKILL');
      },
      afterMs: 2500,
      async after({ observers, ws }) {
        // No ghosts: every client the dead instance had is gone from presence, and every observer
        // that stayed connected was told once that each of them left.
        const deadIn = (room: string) => [...observers, ...ws].filter((c) => c.home === 0 && c.room === room).map((c) => c.firstClientId!);
        const dead = ROOMS.flatMap(deadIn);
        expect(dead.length).toBeGreaterThan(0);
        const stayed = observers.filter((o) => o.home !== 0 && !o.reconnected);
        expect(stayed.length).toBeGreaterThan(0);
        const toldAll = (o: (typeof observers)[number]) => deadIn(o.room).every((id) => o.lefts.has(id));
        await Promise.all(stayed.map((o) => (toldAll(o) ? undefined : new Promise<void>((resolve) => o.on('left', () => toldAll(o) && resolve())))));
        for (const o of stayed) expect(deadIn(o.room).map((id) => o.lefts.get(id))).toEqual(deadIn(o.room).map(() => 1));
        // Member lists are for signed-in users.
        const signedIn = await fetch(`${started[1]!.url}/api/1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'observer' }) });
        const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
        for (const room of ROOMS) {
          const state = (await (await fetch(`${started[1]!.url}/api/1/rooms/${room}`, { headers: { cookie } })).json()) as { members: Array<{ clientId: string }> };
          expect(state.members.filter((m) => dead.includes(m.clientId))).toEqual([]);
        }
      },
    });
    expectClean(tallies, expect);
  });
});
