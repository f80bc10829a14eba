import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp();
});
afterEach(async () => {
  await app.close();
});

const room = (name: string) => app.wsUrl(`/api/1/ws/hello-rooms/${name}`);

describe('Dynamic Rooms', () => {
  it('relays chat to the room and never to another room', async () => {
    const a = await TestClient.connect(room('Berlin'));
    const b = await TestClient.connect(room('Berlin'));
    const c = await TestClient.connect(room('Cairo'));

    const ack = await a.request('chat', { text: 'hallo' });
    expect(ack.type).toBe('ack');
    const got = await b.next('chat');
    expect(got.data).toMatchObject({ username: '(guest)', text: 'hallo' });

    // A marker in Cairo after the Berlin chat: if Cairo had received the chat, it would come first.
    await c.request('chat', { text: 'marker' });
    expect(c.frames.filter((f) => f.type === 'chat').map((f) => f.data.text)).toEqual(['marker']);
  });

  it('serves the resync with recent messages, and members to signed-in users only', async () => {
    const a = await TestClient.connect(room('Amsterdam'));
    await a.request('chat', { text: 'one' });
    const guest = await (await fetch(`${app.url}/api/1/rooms/Amsterdam`)).json();
    expect(guest.count).toBe(1);
    expect(guest.members).toBeUndefined();
    expect(guest.messages.map((m: { text: string }) => m.text)).toEqual(['one']);
    const cookie = await login(app, 'ann');
    const body = await (await fetch(`${app.url}/api/1/rooms/Amsterdam`, { headers: { cookie } })).json();
    expect(body.members).toEqual([{ clientId: a.welcome.data.clientId, username: '(guest)' }]);
  });

  it('delivers a REST post to the room sockets as its user, or as a guest', async () => {
    const a = await TestClient.connect(room('Berlin'));
    const res = await fetch(`${app.url}/api/1/rooms/Berlin/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'from rest' }),
    });
    expect(res.status).toBe(201);
    const chat = await a.next('chat');
    expect(chat.data).toMatchObject({ username: '(guest)', text: 'from rest' });
    const cookie = await login(app, 'bea');
    await fetch(`${app.url}/api/1/rooms/Berlin/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ text: 'signed' }),
    });
    expect((await a.next('chat')).data).toMatchObject({ username: 'bea', text: 'signed' });
  });

  it('announces joins and leaves to the others in the room', async () => {
    const a = await TestClient.connect(room('Cairo'));
    const b = await TestClient.connect(room('Cairo'));
    expect((await a.next('joined')).data).toEqual({ clientId: b.welcome.data.clientId, username: '(guest)', count: 2 });
    await b.close();
    expect((await a.next('left')).data).toEqual({ clientId: b.welcome.data.clientId, username: '(guest)', count: 1 });
    expect(b.frames.some((f) => f.type === 'joined')).toBe(false);
  });
});
