/**
 * Item 10: who is in a room (usernames, client ids) is shown to signed-in users only; a guest
 * gets the count, so that nobody can list everyone connected without signing in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app.close());

describe('member lists (item 10)', () => {
  it('are not shown to guests', async () => {
    const cookie = await login(app, 'ann');
    const member = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/Cairo'), { cookie });
    const rooms = await (await fetch(`${app.url}/api/1/rooms`)).json();
    expect(rooms.rooms).toContainEqual({ name: 'Cairo', members: 1 });
    const guest = await (await fetch(`${app.url}/api/1/rooms/Cairo`)).json();
    expect(guest).toMatchObject({ room: 'Cairo', count: 1 });
    expect(JSON.stringify(guest)).not.toContain('ann');
    expect(JSON.stringify(guest)).not.toContain(member.welcome.data.clientId);
    const signedIn = await (await fetch(`${app.url}/api/1/rooms/Cairo`, { headers: { cookie } })).json();
    expect(signedIn.members).toEqual([{ clientId: member.welcome.data.clientId, username: 'ann' }]);
    await member.close();
  });
});
