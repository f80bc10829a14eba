/**
 * No ghosts: the members of an instance that stopped proving it is alive leave through the
 * namespace's own `onDisconnect`, run once across all instances (the rooms broadcast `left` with
 * the count without them); and when that instance turns out to be alive after all, its members
 * come back through `onConnect`. Three instances in one process; `MemoryPresenceStore.cut` stands
 * for the first one losing its presence connection (a crash, as far as the others can tell).
 */
import { afterEach, expect, it } from 'vitest';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import { MemoryPresence, MemoryPresenceStore } from '../src/ws/presence/memory.ts';
import { login, startApp, TestClient, type Frame, type TestApp } from './helpers.ts';

const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const TTL_MS = 400;
const room = (app: TestApp) => app.wsUrl('/api/1/ws/hello-rooms/Ghosts');

async function frames(client: TestClient, type: string, n: number): Promise<Frame[]> {
  while (client.frames.filter((f) => f.type === type).length < n) await client.next(type);
  return client.frames.filter((f) => f.type === type);
}

it('says goodbye once for each member of a lost instance, and hello again when it is back', async () => {
  const hub = new MemoryHub();
  const store = new MemoryPresenceStore();
  const presences = [0, 1, 2].map(() => new MemoryPresence(store, { ttlMs: TTL_MS }));
  for (const [i, presence] of presences.entries()) {
    apps.push(await startApp({}, { instanceId: `I${i}`, broker: new MemoryBroker(hub), presence }));
  }
  const [A, B, C] = apps as [TestApp, TestApp, TestApp];
  const alice = await TestClient.connect(room(A), { cookie: await login(A, 'alice') });
  const guest = await TestClient.connect(room(A));
  const bob = await TestClient.connect(room(B), { cookie: await login(B, 'bob') });
  const carol = await TestClient.connect(room(C), { cookie: await login(C, 'carol') });
  await frames(bob, 'joined', 1);

  store.cut(presences[0]!);
  const gone = new Set([alice.welcome.data.clientId, guest.welcome.data.clientId]);
  for (const survivor of [bob, carol]) {
    const left = await frames(survivor, 'left', 2);
    expect(new Set(left.map((f) => f.data.clientId))).toEqual(gone);
    // Sent after the ghosts were forgotten: bob and carol are who is left.
    expect(left.map((f) => f.data.count).sort()).toEqual([2, 2]);
  }
  expect((await B.rt.presence.counts(['/api/1/ws/hello-rooms/Ghosts'])).get('/api/1/ws/hello-rooms/Ghosts')).toBe(2);

  store.restore(presences[0]!);
  await presences[0]!.refresh();
  const joined = await frames(carol, 'joined', 2);
  expect(new Set(joined.slice(-2).map((f) => f.data.clientId))).toEqual(gone);
  expect((await B.rt.presence.counts(['/api/1/ws/hello-rooms/Ghosts'])).get('/api/1/ws/hello-rooms/Ghosts')).toBe(4);
  // Exactly one goodbye each: nothing more came while the others beat on.
  await presences[1]!.refresh();
  await presences[2]!.refresh();
  expect(bob.frames.filter((f) => f.type === 'left')).toHaveLength(2);
  expect(carol.frames.filter((f) => f.type === 'left')).toHaveLength(2);
});
