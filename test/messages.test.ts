/** Wire protocol and delivery: errors keep the connection open, scoping, send-to-one, except. */
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../src/protocol/codes.ts';
import { testRoutes } from './fixtures/test-routes.ts';
import { startApp, TestClient, type TestApp } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({ limits: { maxPayload: 4096 } }, { routes: testRoutes });
});
afterEach(async () => {
  await app.close();
});

const url = () => app.wsUrl('/api/1/ws/literal');

describe('protocol errors', () => {
  it.each([
    ['bad JSON', '{"type":', ErrorCode.BAD_JSON],
    ['a JSON array', '[1,2]', ErrorCode.BAD_MESSAGE],
    ['a JSON string', '"chat"', ErrorCode.BAD_MESSAGE],
    ['null', 'null', ErrorCode.BAD_MESSAGE],
    ['a missing type', '{"data":1}', ErrorCode.BAD_MESSAGE],
    ['a non-string type', '{"type":5}', ErrorCode.BAD_MESSAGE],
    ['an unknown type', '{"type":"nope"}', ErrorCode.UNKNOWN_TYPE],
    ['a prototype key as type', '{"type":"__proto__"}', ErrorCode.UNKNOWN_TYPE],
    ['data failing its schema', '{"type":"echo","data":{"n":"one"}}', ErrorCode.INVALID_DATA],
  ])('answers %s with an error and keeps the connection', async (_what, frame, code) => {
    const c = await TestClient.connect(url());
    c.send(frame);
    const error = await c.next('error');
    expect(error.data.code).toBe(code);
    expect(typeof error.data.error).toBe('string');
    expect((await c.request('echo', { n: 1 })).data).toEqual({ n: 1 });
  });

  it('echoes the id on an error reply', async () => {
    const c = await TestClient.connect(url());
    c.send({ type: 'nope', id: 'm-1' });
    expect(await c.next('error')).toMatchObject({ id: 'm-1', data: { code: ErrorCode.UNKNOWN_TYPE } });
    c.send({ type: 5, id: 'm-2' });
    expect(await c.next('error')).toMatchObject({ id: 'm-2', data: { code: ErrorCode.BAD_MESSAGE } });
  });

  it('refuses binary frames with an error', async () => {
    const c = await TestClient.connect(url());
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.next('error')).data.code).toBe(ErrorCode.BINARY_NOT_SUPPORTED);
    expect((await c.request('echo', { n: 2 })).type).toBe('ack');
  });

  it('closes with 1009 on a frame over the maximum payload, and nobody else is harmed', async () => {
    const bystander = await TestClient.connect(url());
    const c = await TestClient.connect(url());
    c.send(JSON.stringify({ type: 'echo', data: { n: 1, pad: 'x'.repeat(5000) } }));
    expect((await c.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    expect((await bystander.request('echo', { n: 3 })).data).toEqual({ n: 3 });
  });

  it('contains a throwing handler: error to the sender, the connection and the others carry on', async () => {
    const other = await TestClient.connect(url());
    const c = await TestClient.connect(url());
    const reply = await c.request('boom');
    expect(reply).toMatchObject({ type: 'error', data: { code: ErrorCode.HANDLER_ERROR } });
    expect(JSON.stringify(reply)).not.toMatch(/handler bug/);
    expect((await c.request('echo', { n: 4 })).data).toEqual({ n: 4 });
    expect((await other.request('echo', { n: 5 })).data).toEqual({ n: 5 });
  });

  it('sends a MessageError to the client as is', async () => {
    const c = await TestClient.connect(url());
    expect(await c.request('deny')).toMatchObject({
      type: 'error',
      data: { code: ErrorCode.FORBIDDEN, error: 'not yours to delete' },
    });
  });

  it('keeps a handler order per connection: replies come back in send order', async () => {
    const c = await TestClient.connect(url());
    for (let n = 0; n < 20; n++) c.send({ type: 'echo', data: { n }, id: `i${n}` });
    const got: number[] = [];
    while (got.length < 20) got.push((await c.next('ack')).data.n);
    expect(got).toEqual([...Array(20).keys()]);
  });
});

describe('delivery', () => {
  it('sends to one client only', async () => {
    const a = await TestClient.connect(url());
    const b = await TestClient.connect(url());
    const c = await TestClient.connect(url());
    await a.request('to-one', { clientId: b.welcome.data.clientId, text: 'psst' });
    expect((await b.next('direct')).data).toEqual({ from: a.welcome.data.clientId, text: 'psst' });
    // c and a get nothing: a reply to a later request on each is their next frame.
    await c.request('echo', { n: 0 });
    expect(c.frames.some((f) => f.type === 'direct')).toBe(false);
    expect(a.frames.some((f) => f.type === 'direct')).toBe(false);
  });

  it('broadcasts to all but the sender', async () => {
    const a = await TestClient.connect(url());
    const b = await TestClient.connect(url());
    await a.request('all-but-me', { text: 'hey' });
    expect((await b.next('shout')).data.text).toBe('hey');
    expect(a.frames.some((f) => f.type === 'shout')).toBe(false);
  });

  it('scopes broadcasts to one literal path of a pattern', async () => {
    const one = await TestClient.connect(app.wsUrl('/api/1/ws/test/maps/1'));
    const two = await TestClient.connect(app.wsUrl('/api/1/ws/test/maps/2'));
    const alsoOne = await TestClient.connect(app.wsUrl('/api/1/ws/test/maps/1'));
    await one.request('all-but-me', { text: 'map 1 only' });
    expect((await alsoOne.next('shout')).data.text).toBe('map 1 only');
    await two.request('echo', { n: 0 });
    expect(two.frames.some((f) => f.type === 'shout')).toBe(false);
  });

  it('broadcasts from the server with no connection (REST, jobs)', async () => {
    const a = await TestClient.connect(url());
    await app.rt.broadcast('/api/1/ws/literal', 'notice', { text: 'from the server' });
    expect((await a.next('notice')).data.text).toBe('from the server');
  });

  it('counts messages in and out per namespace', async () => {
    const a = await TestClient.connect(url());
    const b = await TestClient.connect(url());
    await a.request('all-but-me', { text: 'x' });
    await b.next('shout');
    const stats = app.rt.registry.get('/api/1/ws/literal')!.getStats();
    expect(stats).toMatchObject({ path: '/api/1/ws/literal', pattern: '/api/1/ws/literal', clients: 2, messagesIn: 1 });
    // The shout to b: the welcomes and a's ack are the framework's replies, not frames of the app.
    expect(stats.messagesOut).toBe(1);
    const res = await fetch(`${app.url}/api/1/ws/stats`);
    expect((await res.json()).clients).toBe(2);
  });
});

describe('lifecycle', () => {
  it('drops a namespace when its last client leaves, and resurrects it on the next connect', async () => {
    const a = await TestClient.connect(url());
    const first = app.rt.registry.get('/api/1/ws/literal')!;
    const removed = once(app.rt.registry, 'delete');
    await a.close();
    expect((await removed)[0]).toBe(first);
    expect(app.rt.registry.has('/api/1/ws/literal')).toBe(false);
    const b = await TestClient.connect(url());
    const second = app.rt.registry.get('/api/1/ws/literal')!;
    expect(second).not.toBe(first);
    expect((await b.request('echo', { n: 1 })).type).toBe('ack');
  });

  it('keeps an empty namespace with dropWhenEmpty: false; removeIfEmpty then removes it', async () => {
    const a = await TestClient.connect(app.wsUrl('/api/1/ws/keep/1'));
    const ns = app.rt.registry.get('/api/1/ws/keep/1')!;
    expect(ns.removeIfEmpty()).toBe(false);
    await a.close();
    await a.closed;
    // The close is processed through the connection's chain; wait for the member to be gone.
    while (ns.size > 0) await new Promise((r) => setImmediate(r));
    expect(app.rt.registry.has('/api/1/ws/keep/1')).toBe(true);
    expect(ns.removeIfEmpty()).toBe(true);
    expect(app.rt.registry.has('/api/1/ws/keep/1')).toBe(false);
    expect(ns.removeIfEmpty()).toBe(false);
  });

  it('removeNamespace leaves a namespace with clients unless forced', async () => {
    const a = await TestClient.connect(app.wsUrl('/api/1/ws/keep/2'));
    expect(app.rt.removeNamespace('/api/1/ws/keep/2')).toBe(false);
    expect(app.rt.removeNamespace('/api/1/ws/keep/2', { removeIfEmpty: true })).toBe(false);
    expect(app.rt.registry.has('/api/1/ws/keep/2')).toBe(true);
    expect((await a.request('echo', { n: 1 })).type).toBe('ack');
    expect(app.rt.removeNamespace('/api/1/ws/nope')).toBe(false);
  });

  it('forced removal disconnects the clients with 4410, and a reconnect resurrects it', async () => {
    const a = await TestClient.connect(app.wsUrl('/api/1/ws/keep/3'));
    const b = await TestClient.connect(app.wsUrl('/api/1/ws/keep/3'));
    expect(app.rt.removeNamespace('/api/1/ws/keep/3', { removeIfEmpty: false })).toBe(true);
    expect(await a.closed).toEqual({ code: CloseCode.NAMESPACE_REMOVED, reason: 'namespace removed' });
    expect((await b.closed).code).toBe(CloseCode.NAMESPACE_REMOVED);
    expect(app.rt.registry.has('/api/1/ws/keep/3')).toBe(false);
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/keep/3'));
    expect(app.rt.registry.get('/api/1/ws/keep/3')!.size).toBe(1);
    expect((await c.request('echo', { n: 1 })).type).toBe('ack');
  });
});
