/** What a multiplexed socket refuses, and that a refusal harms neither the socket nor anyone else. */
import { afterEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp, type TestConfig } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { MUX_PATH, openMux, requestOn, subscribe, takeOf, unsubscribe } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(overrides: TestConfig = {}): Promise<TestApp> {
  app = await startApp(overrides, { routes: testRoutes });
  return app;
}

const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;
const count = async (a: TestApp, name: string) => (await (await fetch(`${a.url}/api/1/rooms/${name}`)).json()).count as number;

describe('the multiplexed socket itself', () => {
  it('is admitted like any upgrade: origin checked, one connection slot of its user', async () => {
    const a = await start({ limits: { maxConnectionsPerUser: 1 } });
    const evil = await TestClient.open(a.wsUrl(MUX_PATH), { origin: 'http://evil.example' });
    expect(await evil.closed).toEqual({ code: 4403, reason: 'origin not allowed' });
    const cookie = await login(a, 'ann');
    const first = await openMux(a, { cookie });
    // Its subscriptions take no connection slot of the user's: two of them, and still one socket.
    await subscribe(first, room('Amsterdam'));
    await subscribe(first, room('Berlin'));
    await expect(TestClient.open(a.wsUrl(MUX_PATH), { cookie })).rejects.toMatchObject({ status: 429 });
    await expect(TestClient.open(a.wsUrl(room('Cairo')), { cookie })).rejects.toMatchObject({ status: 429 });
    // A plain GET of the endpoint is no upgrade.
    expect((await fetch(`${a.url}${MUX_PATH}`)).status).toBe(426);
  });
});

describe('the subscription limit per socket', () => {
  it('answers 4429 past WS_MAX_SUBSCRIPTIONS, counting pending subscribes, and takes one again after an unsubscribe', async () => {
    const a = await start({ limits: { maxSubscriptions: 2 } });
    const refused: string[] = [];
    a.rt.events.on('refused', ({ reason }) => refused.push(reason));
    const mux = await openMux(a);
    expect(mux.welcome.data.maxSubscriptions).toBe(2);
    // Sent together: the third is judged while the first two are still pending.
    for (const name of ['Amsterdam', 'Berlin', 'Cairo']) mux.send({ type: 'subscribe', data: { path: room(name) } });
    expect(await takeOf(mux, room('Cairo'))).toMatchObject({ type: 'unsubscribed', data: { code: 4429 } });
    expect((await takeOf(mux, room('Amsterdam'))).type).toBe('welcome');
    expect((await takeOf(mux, room('Berlin'))).type).toBe('welcome');
    expect(await count(a, 'Cairo')).toBe(0);
    expect(refused).toEqual(['subscription_limit']);
    await unsubscribe(mux, room('Amsterdam'));
    expect((await subscribe(mux, room('Cairo'))).type).toBe('welcome');
  });
});

describe('the subscription limit per address', () => {
  it('answers 1013 with retryAfter past WS_MAX_SUBSCRIPTIONS_PER_IP over all sockets of an address, and frees a slot on unsubscribe and on close', async () => {
    const a = await start({ limits: { maxSubscriptionsPerIp: 3 } });
    const one = await openMux(a);
    const two = await openMux(a);
    await subscribe(one, room('Amsterdam'));
    await subscribe(one, room('Berlin'));
    await subscribe(two, room('Cairo'));
    const refused: string[] = [];
    a.rt.events.on('refused', ({ reason }) => refused.push(reason));
    expect(await subscribe(two, room('Dublin'))).toMatchObject({ type: 'unsubscribed', data: { code: 1013, retryAfter: 2 } });
    expect(refused).toEqual(['subscription_ip_limit']);
    await unsubscribe(two, room('Cairo'));
    expect((await subscribe(two, room('Dublin'))).type).toBe('welcome');
    expect((await subscribe(two, room('Cairo'))).data.code).toBe(1013);
    // The members of a closed socket have left (their disconnects are emitted once its slots are free).
    let left = 0;
    const gone = new Promise<void>((resolve) => a.rt.events.on('disconnect', () => ++left === 2 && resolve()));
    await one.close();
    await gone;
    expect((await subscribe(two, room('Cairo'))).type).toBe('welcome');
    expect((await subscribe(two, room('Amsterdam'))).type).toBe('welcome');
  });
});

describe('hostile subscribe data', () => {
  it('answers every bad subscribe and frame as documented, and the socket and its subscriptions carry on', async () => {
    const a = await start();
    const mux = await openMux(a);
    await subscribe(mux, room('Berlin'));
    const bad = [
      'no-slash',
      '//evil.example/x',
      '/api/1/ws/hello-rooms/../admin/1',
      '/api/1/ws/./literal',
      `/api/1/ws/hello-rooms/Berlin?since=1`,
      '/api/1/ws/hello-rooms/Berlin#top',
      '/api/1/ws/hello-rooms/Bé',
      `/api/1/ws/${'x'.repeat(1100)}`,
      MUX_PATH,
      `${MUX_PATH}/`,
      '',
    ];
    for (const path of bad) {
      const answer = await subscribe(mux, path);
      expect(answer, path).toMatchObject({ type: 'unsubscribed', path, data: { code: 4400 } });
    }
    for (const data of [undefined, null, 'x', { path: 42 }, { path: ['/a'] }, { nopath: true }]) {
      mux.send({ type: 'subscribe', data, id: 'sub' });
      expect(await mux.take((f) => f.id === 'sub')).toMatchObject({ type: 'error', data: { code: 'invalid_data' } });
    }
    // A held path again, an unsubscribe of a path not held, a tagged frame for one not held.
    mux.send({ type: 'subscribe', data: { path: room('Berlin') }, id: 'again' });
    expect(await mux.take((f) => f.id === 'again')).toMatchObject({ type: 'error', path: room('Berlin'), data: { code: 'already_subscribed' } });
    mux.send({ type: 'unsubscribe', data: { path: room('Cairo') }, id: 'u' });
    expect(await mux.take((f) => f.id === 'u')).toMatchObject({ type: 'error', path: room('Cairo'), data: { code: 'not_subscribed' } });
    expect(await requestOn(mux, room('Cairo'), 'chat', { text: 'x' })).toMatchObject({ type: 'error', path: room('Cairo'), data: { code: 'not_subscribed' } });
    // Untagged messages, a path that is no string, bad JSON, binary.
    mux.send({ type: 'chat', data: { text: 'x' }, id: 'untagged' });
    const untagged = await mux.take((f) => f.id === 'untagged');
    expect(untagged).toMatchObject({ type: 'error', data: { code: 'bad_message' } });
    expect(untagged.path).toBeUndefined();
    mux.send({ type: 'chat', data: { text: 'x' }, id: 'numeric', path: 7 });
    expect(await mux.take((f) => f.id === 'numeric')).toMatchObject({ type: 'error', data: { code: 'bad_message' } });
    mux.send('{"type":');
    expect(await mux.take((f) => f.type === 'error' && f.data.code === 'bad_json')).toBeTruthy();
    mux.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await mux.take((f) => f.type === 'error' && f.data.code === 'binary_not_supported')).toBeTruthy();
    // Tagged messages reach the namespace's own validation, as on a direct socket.
    expect(await requestOn(mux, room('Berlin'), 'chat', { text: '' })).toMatchObject({ type: 'error', path: room('Berlin'), data: { code: 'invalid_data' } });
    expect(await requestOn(mux, room('Berlin'), 'nope', {})).toMatchObject({ type: 'error', path: room('Berlin'), data: { code: 'unknown_type' } });

    expect((await requestOn(mux, room('Berlin'), 'chat', { text: 'still here' })).type).toBe('ack');
    const other = await TestClient.connect(a.wsUrl(room('Berlin')));
    expect((await other.request('chat', { text: 'and others too' })).type).toBe('ack');
    expect(await count(a, 'Berlin')).toBe(2);
  });

  it('takes a path as the server names it (percent escapes decoded), and tags its frames with that', async () => {
    const a = await start();
    const mux = await openMux(a);
    const encoded = await subscribe(mux, '/api/1/ws/gated/%C3%A9t%C3%A9');
    expect(encoded).toMatchObject({ type: 'unsubscribed', data: { code: 4400, reason: expect.stringContaining('/api/1/ws/gated/été') } });
    const welcome = await subscribe(mux, '/api/1/ws/gated/été');
    expect(welcome).toMatchObject({ type: 'welcome', path: '/api/1/ws/gated/été', data: { path: '/api/1/ws/gated/été' } });
    expect(await requestOn(mux, '/api/1/ws/gated/été', 'echo', { n: 1 })).toMatchObject({ type: 'ack', path: '/api/1/ws/gated/été' });
    // An escape that cannot be decoded beside one that can: the router names it otherwise, which
    // is found once its route ran.
    const mixed = await subscribe(mux, '/api/1/ws/gated/%C3%A9x%E9');
    expect(mixed).toMatchObject({ type: 'unsubscribed', data: { code: 4400, reason: expect.stringContaining('/api/1/ws/gated/éx%E9') } });
    expect(a.rt.registry.get('/api/1/ws/gated/éx%E9')?.size ?? 0).toBe(0);
    // Its end is found by that name too.
    a.rt.removeNamespace('/api/1/ws/gated/été', { removeIfEmpty: false });
    expect(await takeOf(mux, '/api/1/ws/gated/été', 'unsubscribed')).toMatchObject({ data: { code: 4410 } });
  });

  it('cancels a pending subscribe that is unsubscribed: no welcome, no member', async () => {
    const a = await start();
    const mux = await openMux(a);
    mux.send({ type: 'subscribe', data: { path: room('Berlin') } });
    mux.send({ type: 'unsubscribe', data: { path: room('Berlin') } });
    expect(await takeOf(mux, room('Berlin'))).toEqual({ type: 'unsubscribed', data: { code: 1000, reason: 'unsubscribed' }, path: room('Berlin') });
    // A marker through another subscription: nothing of Berlin came before it, and nobody is in it.
    await subscribe(mux, room('Cairo'));
    expect(mux.frames.filter((f) => f.path === room('Berlin')).map((f) => f.type)).toEqual(['unsubscribed']);
    expect(await count(a, 'Berlin')).toBe(0);
  });
});

describe('the message rate of a multiplexed socket', () => {
  it('is the socket’s: every frame counts, and `rate_limited` goes back on the frame’s path with its id', async () => {
    const a = await start({ limits: { messageRate: 1, messageBurst: 3, maxRejected: 100 } });
    const mux = await openMux(a);
    await subscribe(mux, '/api/1/ws/literal');
    await subscribe(mux, '/api/1/ws/keep/1');
    // Two subscribes took two of the three tokens: of four echoes on two paths, one goes through.
    for (const [i, path] of ['/api/1/ws/literal', '/api/1/ws/keep/1', '/api/1/ws/literal', '/api/1/ws/keep/1'].entries()) {
      mux.send({ type: 'echo', data: { n: i }, id: `e${i}`, path });
    }
    expect(await mux.take((f) => f.id === 'e0')).toMatchObject({ type: 'ack', data: { n: 0 } });
    for (const [i, path] of [[1, '/api/1/ws/keep/1'], [2, '/api/1/ws/literal'], [3, '/api/1/ws/keep/1']] as const) {
      expect(await mux.take((f) => f.id === `e${i}`)).toEqual({ type: 'error', data: { code: 'rate_limited', error: expect.any(String) }, id: `e${i}`, path });
    }
  });
});
