/**
 * The bubble map example on one instance: every message, every refusal, the REST resync after a
 * reconnect, and deleting a map.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { call, createMap, joinMap, mapUrl } from './helpers.ts';

let app: TestApp;
let ada: string;
let bob: string;
let eve: string;

beforeEach(async () => {
  app = await startApp({ userRoles: { eve: ['editor'], vip: ['vip'], boss: ['admin'] } });
  [ada, bob, eve] = (await Promise.all(['ada', 'bob', 'eve'].map((name) => login(app, name)))) as [string, string, string];
});
afterEach(async () => {
  await app.close();
});

describe('bubble map', () => {
  it('creates, updates and deletes bubbles, broadcasting each change with the acting username', async () => {
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    const b = await joinMap(app, mapId, bob);

    const created = await a.request('bubble-create', { x: 100, y: 200, text: '  first idea ' });
    expect(created.type).toBe('ack');
    const id = created.data.id as string;
    const seen = await b.next('bubble-created');
    expect(seen.data).toMatchObject({ username: 'ada', version: 1, bubble: { id, x: 100, y: 200, text: 'first idea', color: 'yellow', createdBy: 'ada' } });

    await a.request('bubble-update', { id, updates: { text: 'better idea', x: 300 } });
    expect((await b.next('bubble-updated')).data).toMatchObject({ username: 'ada', version: 2, bubble: { id, x: 300, y: 200, text: 'better idea' } });

    await a.request('bubble-delete', { id });
    expect((await b.next('bubble-deleted')).data).toEqual({ id, username: 'ada', version: 3 });

    const { json } = await call(app, 'GET', `/api/1/bubblemap/${mapId}`, bob);
    expect(json).toMatchObject({ map: { id: mapId, title: 'Plan', createdBy: 'ada' }, bubbles: [], version: 3 });
  });

  it('refuses invalid data with invalid_data and keeps the connection', async () => {
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    for (const data of [
      { x: -1, y: 0, text: 'off the board' },
      { x: 0, y: 1e9, text: 'off the board' },
      { x: 0, y: 0, text: '   ' },
      { x: 0, y: 0, text: 'x'.repeat(281) },
      { x: 0, y: 0, text: 'hi', color: 'black' },
      { x: 0, y: 0, text: 'hi', extra: true },
    ]) {
      expect((await a.request('bubble-create', data)).data.code).toBe('invalid_data');
    }
    expect((await a.request('bubble-update', { id: 'abc', updates: {} })).data.code).toBe('invalid_data');
    expect((await a.request('bubble-update', { id: 'abc', updates: { createdBy: 'me' } })).data.code).toBe('invalid_data');
    expect((await a.request('bubble-delete', { id: '<script>' })).data.code).toBe('invalid_data');
    expect((await a.request('bubble-delete', { id: 'no-such-bubble' })).data).toMatchObject({ code: 'not_found' });
    expect((await a.request('bubble-create', { x: 1, y: 1, text: 'still here' })).type).toBe('ack');
  });

  it('lets only the creator or an editor change a bubble; the others get an error and stay connected', async () => {
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    const b = await joinMap(app, mapId, bob);
    const e = await joinMap(app, mapId, eve);
    const { data } = await a.request('bubble-create', { x: 10, y: 10, text: "ada's" });

    const denied = await b.request('bubble-update', { id: data.id, updates: { text: "bob's now" } });
    expect(denied).toMatchObject({ type: 'error', data: { code: 'forbidden', error: 'only its creator or an editor may change this bubble' } });
    expect((await b.request('bubble-delete', { id: data.id })).data.code).toBe('forbidden');

    expect((await e.request('bubble-update', { id: data.id, updates: { color: 'pink' } })).type).toBe('ack');
    expect((await a.next('bubble-updated')).data).toMatchObject({ username: 'eve', bubble: { color: 'pink', text: "ada's" } });
    expect((await e.request('bubble-delete', { id: data.id })).type).toBe('ack');
    expect((await b.request('bubble-create', { x: 1, y: 1, text: 'bob is still here' })).type).toBe('ack');
    // Only eve's change happened: bob's refused attempts changed nothing and were broadcast to nobody.
    expect(b.frames.filter((f) => f.type.startsWith('bubble-')).map((f) => `${f.type} ${f.data.username}`)).toEqual([
      'bubble-created ada',
      'bubble-updated eve',
      'bubble-deleted eve',
      'bubble-created bob',
    ]);
  });

  it('bounds the bubbles of a map', async () => {
    await app.close();
    const { MemoryMapStore } = await import('../../src/routes/bubblemap/memory-store.ts');
    app = await startApp({}, { mapStore: new MemoryMapStore(2) });
    ada = await login(app, 'ada');
    const a = await joinMap(app, await createMap(app, ada), ada);
    for (const text of ['one', 'two']) expect((await a.request('bubble-create', { x: 1, y: 1, text })).type).toBe('ack');
    expect((await a.request('bubble-create', { x: 1, y: 1, text: 'three' })).data).toMatchObject({ code: 'map_full' });
  });

  it('refuses at connect: guests 4401, unknown maps 4404, bad ids 4400, users without the map role 4403', async () => {
    const vip = await login(app, 'vip');
    const open = await createMap(app, ada);
    const closed = await createMap(app, vip, { requiredRoles: ['vip'] });

    const refusal = async (url: string, cookie?: string) => (await TestClient.open(url, cookie ? { cookie } : {})).closed;
    expect((await refusal(mapUrl(app, open))).code).toBe(4401);
    expect((await refusal(mapUrl(app, 'nosuchmap'), ada)).code).toBe(4404);
    expect((await refusal(mapUrl(app, 'a.b'), ada)).code).toBe(4400);
    const forbidden = await refusal(mapUrl(app, closed), ada);
    expect(forbidden).toEqual({ code: 4403, reason: 'this map requires one of the roles: vip' });
    expect((await joinMap(app, closed, vip)).welcome.data.ctx.params).toEqual({ mapId: closed });

    // The same rules over REST.
    expect((await call(app, 'GET', `/api/1/bubblemap/${closed}`, ada)).status).toBe(403);
    expect((await call(app, 'GET', `/api/1/bubblemap/${closed}`)).status).toBe(401);
    expect((await call(app, 'GET', '/api/1/bubblemap/nosuchmap', ada)).status).toBe(404);
    expect((await call(app, 'GET', '/api/1/bubblemap', ada)).json.maps.map((m: any) => m.id)).toEqual([open]);
    expect((await call(app, 'POST', '/api/1/bubblemap', ada, { title: 'locked out', requiredRoles: ['vip'] })).status).toBe(400);
    expect((await call(app, 'POST', '/api/1/bubblemap', ada, { title: '' })).status).toBe(400);
    expect((await call(app, 'POST', '/api/1/bubblemap', undefined, { title: 'guest' })).status).toBe(401);
  });

  it('resyncs over REST after a reconnect: the state holds what was missed, its version and its replay seq', async () => {
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    const { data: first } = await a.request('bubble-create', { x: 1, y: 2, text: 'seen live' });
    let b = await joinMap(app, mapId, bob);
    await b.close();

    await a.request('bubble-update', { id: first.id, updates: { text: 'changed while bob was away' } });
    await a.request('bubble-create', { x: 3, y: 4, text: 'created while bob was away' });

    b = await joinMap(app, mapId, bob);
    const { json } = await call(app, 'GET', `/api/1/bubblemap/${mapId}`, bob);
    expect(json).toMatchObject({ version: 3, seq: 3, epoch: b.welcome.data.replay.epoch });
    expect(json.bubbles.map((x: any) => x.text)).toEqual(['changed while bob was away', 'created while bob was away']);
    // Changes after the snapshot carry a higher version and seq: a client applies those and drops the rest.
    await a.request('bubble-delete', { id: first.id });
    expect(await b.next('bubble-deleted')).toMatchObject({ seq: 4, data: { version: 4 } });
  });

  it('replays the changes a reconnecting client missed, in order, then goes live', async () => {
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    let b = await joinMap(app, mapId, bob);
    const { data: first } = await a.request('bubble-create', { x: 1, y: 2, text: 'one' });
    const seen = await b.next('bubble-created');
    await b.close();

    await a.request('bubble-update', { id: first.id, updates: { x: 500 } });
    await a.request('bubble-create', { x: 3, y: 4, text: 'two' });

    b = await joinMap(app, mapId, bob);
    expect(b.welcome.data.replay.seq).toBe(3);
    b.send({ type: 'sync', data: { since: seen.seq, epoch: b.welcome.data.replay.epoch }, id: 's1' });
    const replayed = [await b.next(), await b.next()];
    expect(replayed.map((f) => [f.type, f.seq, f.data.version])).toEqual([['bubble-updated', 2, 2], ['bubble-created', 3, 3]]);
    expect(replayed.every((f) => (f as { replayed?: boolean }).replayed)).toBe(true);
    expect((await b.next()).type).toBe('synced');
    await a.request('bubble-delete', { id: first.id });
    expect((await b.next('bubble-deleted')).seq).toBe(4);
  });

  it('deletes a map: its clients get 4410, reconnecting gets 4404, and only the creator or an admin may', async () => {
    const boss = await login(app, 'boss');
    const mapId = await createMap(app, ada);
    const a = await joinMap(app, mapId, ada);
    const b = await joinMap(app, mapId, bob);

    expect((await call(app, 'DELETE', `/api/1/bubblemap/${mapId}`, bob)).status).toBe(403);
    expect((await call(app, 'DELETE', `/api/1/bubblemap/${mapId}`, ada)).status).toBe(204);
    expect((await a.closed).code).toBe(4410);
    expect((await b.closed).code).toBe(4410);
    expect(app.rt.registry.has(`/api/1/ws/bubblemap/${mapId}`)).toBe(false);
    expect((await (await TestClient.open(mapUrl(app, mapId), { cookie: ada })).closed).code).toBe(4404);
    expect((await call(app, 'GET', `/api/1/bubblemap/${mapId}`, ada)).status).toBe(404);
    expect((await call(app, 'DELETE', `/api/1/bubblemap/${mapId}`, boss)).status).toBe(404);
    expect((await call(app, 'DELETE', `/api/1/bubblemap/${await createMap(app, ada)}`, boss)).status).toBe(204);
  });
});
