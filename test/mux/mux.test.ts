import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { openMux, requestOn, subscribe, takeOf, unsubscribe } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({}, { routes: testRoutes });
});
afterEach(async () => {
  await app.close();
});

const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;

describe('one socket, many rooms', () => {
  it('welcomes the socket with its ctx and the subscription limit', async () => {
    const cookie = await login(app, 'ann');
    const mux = await openMux(app, { cookie });
    expect(mux.welcome).toEqual({ type: 'welcome', data: { ctx: expect.objectContaining({ username: 'ann', params: {} }), maxSubscriptions: 100 } });
    expect(mux.welcome.data.ctx.ip).toBeUndefined();
  });

  it('gets each subscription its own tagged welcome, and broadcasts of only the rooms it holds', async () => {
    const mux = await openMux(app);
    const berlin = await subscribe(mux, room('Berlin'));
    const cairo = await subscribe(mux, room('Cairo'));
    const amsterdam = await subscribe(mux, room('Amsterdam'));
    for (const [w, name] of [[berlin, 'Berlin'], [cairo, 'Cairo'], [amsterdam, 'Amsterdam']] as const) {
      expect(w).toMatchObject({ type: 'welcome', path: room(name), data: { path: room(name), ctx: { params: { roomName: name } }, replay: { seq: 0 } } });
    }
    expect(new Set([berlin, cairo, amsterdam].map((w) => w.data.clientId)).size).toBe(3);

    const other = await TestClient.connect(app.wsUrl(room('Berlin')));
    const dublin = await TestClient.connect(app.wsUrl(room('Dublin')));
    await other.request('chat', { text: 'to berlin' });
    await dublin.request('chat', { text: 'to dublin' });
    const got = await takeOf(mux, room('Berlin'), 'chat');
    expect(got).toMatchObject({ type: 'chat', seq: 1, data: { text: 'to berlin' }, path: room('Berlin') });
    // The tag is the frame's last member, after everything a direct socket gets.
    expect(JSON.stringify(got).endsWith(`"path":"${room('Berlin')}"}`)).toBe(true);
    const direct = await other.seen((f) => f.type === 'chat');
    expect({ ...got, path: undefined }).toEqual({ ...direct, path: undefined });
    // The direct socket of the same namespace gets the frame untagged, as before.
    expect(Object.keys(direct)).not.toContain('path');

    // A chat of its own through Cairo: acked with the path; a marker that Dublin's chat never came.
    const ack = await requestOn(mux, room('Cairo'), 'chat', { text: 'from mux' });
    expect(ack).toMatchObject({ type: 'ack', path: room('Cairo') });
    await takeOf(mux, room('Cairo'), 'chat');
    expect(mux.frames.filter((f) => f.type === 'chat').map((f) => [f.path, f.data.text])).toEqual([
      [room('Berlin'), 'to berlin'],
      [room('Cairo'), 'from mux'],
    ]);
  });

  it('replays each subscription from where it stood with a tagged sync', async () => {
    const writer = await TestClient.connect(app.wsUrl(room('Berlin')));
    for (const text of ['one', 'two', 'three']) await writer.request('chat', { text });
    const mux = await openMux(app);
    const welcome = await subscribe(mux, room('Berlin'));
    expect(welcome.data.replay).toMatchObject({ seq: 3 });
    mux.send({ type: 'sync', data: { since: 1, epoch: welcome.data.replay.epoch }, id: 's1', path: room('Berlin') });
    const replayed = [await takeOf(mux, room('Berlin')), await takeOf(mux, room('Berlin'))];
    expect(replayed.map((f) => [f.type, f.seq, f.replayed, f.data.text])).toEqual([
      ['chat', 2, true, 'two'],
      ['chat', 3, true, 'three'],
    ]);
    expect(await takeOf(mux, room('Berlin'))).toMatchObject({ type: 'synced', id: 's1', data: { seq: 3 }, path: room('Berlin') });
  });

  it('stops delivery on unsubscribe and leaves presence: count drops, onDisconnect ran', async () => {
    const mux = await openMux(app);
    const welcome = await subscribe(mux, room('Berlin'));
    await subscribe(mux, room('Cairo'));
    const watcher = await TestClient.connect(app.wsUrl(room('Berlin')));
    const ended = await unsubscribe(mux, room('Berlin'));
    expect(ended).toEqual({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: room('Berlin') });
    // onDisconnect's `left` was broadcast, and presence forgot it before `unsubscribed`.
    const left = await watcher.next('left');
    expect(left.data).toMatchObject({ clientId: welcome.data.clientId, count: 1 });
    expect((await (await fetch(`${app.url}/api/1/rooms/Berlin`)).json()).count).toBe(1);

    await watcher.request('chat', { text: 'after' });
    const wrong = await requestOn(mux, room('Berlin'), 'chat', { text: 'still here?' });
    expect(wrong).toMatchObject({ type: 'error', data: { code: 'not_subscribed' }, path: room('Berlin') });
    // Cairo still works, and nothing of Berlin came after the unsubscribe.
    expect((await requestOn(mux, room('Cairo'), 'chat', { text: 'c' })).type).toBe('ack');
    expect(mux.frames.some((f) => f.type === 'chat' && f.data.text === 'after')).toBe(false);
  });

  it('subscribes the same path again after an unsubscribe, in order', async () => {
    const mux = await openMux(app);
    const first = await subscribe(mux, room('Berlin'));
    mux.send({ type: 'unsubscribe', data: { path: room('Berlin') } });
    mux.send({ type: 'subscribe', data: { path: room('Berlin') } });
    expect(await takeOf(mux, room('Berlin'))).toMatchObject({ type: 'unsubscribed', data: { code: 1000 } });
    const second = await takeOf(mux, room('Berlin'));
    expect(second.type).toBe('welcome');
    expect(second.data.clientId).not.toBe(first.data.clientId);
  });
});

describe('direct sockets', () => {
  it('ignore a path in a client frame and never get one, as before multiplexing', async () => {
    const direct = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    direct.send({ type: 'echo', data: { n: 1 }, id: 'a', path: '/api/1/ws/elsewhere' });
    direct.send({ type: 'echo', data: { n: 2 }, id: 'b', path: 42 });
    expect(await direct.next()).toEqual({ type: 'ack', data: { n: 1 }, id: 'a' });
    expect(await direct.next()).toEqual({ type: 'ack', data: { n: 2 }, id: 'b' });
    expect(Object.keys(direct.welcome)).not.toContain('path');
  });
});

describe('refused subscriptions', () => {
  it('answers each refusal with the code a direct socket would close with, and the socket stays', async () => {
    const mux = await openMux(app);
    await subscribe(mux, room('Berlin'));
    const refused: string[] = [];
    app.rt.events.on('refused', ({ reason }) => refused.push(reason));
    const cases: Array<[string, number]> = [
      [room('bad name!'), 4400],
      [room('-starts-with-dash'), 4400],
      ['/api/1/ws/members-only/1', 4401],
      ['/api/1/ws/admin/1', 4401],
      ['/api/1/ws/gated/deny', 4403],
      ['/api/1/ws/nothing/here', 4404],
      ['/api/1/rooms', 4404],
      ['/no-such-page', 4404],
    ];
    for (const [path, code] of cases) {
      const answer = await subscribe(mux, path);
      expect(answer, path).toMatchObject({ type: 'unsubscribed', path, data: { code } });
      expect(typeof answer.data.reason).toBe('string');
    }
    expect((await requestOn(mux, room('Berlin'), 'chat', { text: 'still works' })).type).toBe('ack');
    // Counted as refused upgrades are (the REST route and the page are no refusal: they answered).
    expect(refused).toEqual(['invalid_params', 'unauthorized', 'unauthorized', 'forbidden', 'not_found']);
  });

  it('runs access() with the socket session: a signed-in socket joins members-only, not admin', async () => {
    const cookie = await login(app, 'ann');
    const mux = await openMux(app, { cookie });
    const joined = await subscribe(mux, '/api/1/ws/members-only/1');
    expect(joined).toMatchObject({ type: 'welcome', data: { ctx: { username: 'ann' } } });
    expect((await subscribe(mux, '/api/1/ws/admin/1')).data.code).toBe(4403);
    const amended = await subscribe(mux, '/api/1/ws/gated/amend');
    expect(amended.data.ctx.firstName).toBe('Amended');
  });
});
