/**
 * The Dynamic Rooms lobby (`/api/1/ws/hello-rooms`): a snapshot of the rooms and their counts to
 * each client that joins it, then a volatile `count { room, count }` at every join and leave of
 * a room. Real sockets; the lobby is a plain namespace, reached directly here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp, TestClient, type TestApp } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp();
});
afterEach(async () => {
  await app.close();
});

const room = (name: string) => app.wsUrl(`/api/1/ws/hello-rooms/${name}`);
const lobbyUrl = () => app.wsUrl('/api/1/ws/hello-rooms');

describe('the rooms lobby', () => {
  it('sends a joining client the rooms with their counts', async () => {
    await TestClient.connect(room('Berlin'));
    await TestClient.connect(room('Berlin'));
    await TestClient.connect(room('Kyiv'));
    const lobby = await TestClient.connect(lobbyUrl());
    expect((await lobby.next('rooms')).data).toEqual({
      rooms: [
        { name: 'Amsterdam', members: 0 },
        { name: 'Berlin', members: 2 },
        { name: 'Cairo', members: 0 },
        { name: 'Kyiv', members: 1 },
      ],
    });
  });

  it('broadcasts the count of a room at each join and leave, volatile (no seq)', async () => {
    const lobby = await TestClient.connect(lobbyUrl());
    await lobby.next('rooms');
    const ann = await TestClient.connect(room('Cairo'));
    expect(await lobby.next('count')).toMatchObject({ data: { room: 'Cairo', count: 1 } });
    const bob = await TestClient.connect(room('Cairo'));
    expect((await lobby.next('count')).data).toEqual({ room: 'Cairo', count: 2 });
    ann.socket.close();
    expect((await lobby.next('count')).data).toEqual({ room: 'Cairo', count: 1 });
    bob.socket.close();
    const last = await lobby.next('count');
    expect(last.data).toEqual({ room: 'Cairo', count: 0 });
    expect(last.seq).toBeUndefined();
  });

  it('takes no messages: the lobby is read-only', async () => {
    const lobby = await TestClient.connect(lobbyUrl());
    const reply = await lobby.request('chat', { text: 'hi' });
    expect(reply).toMatchObject({ type: 'error', data: { code: 'unknown_type' } });
  });
});
