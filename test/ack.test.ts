/**
 * What an ack promises: the sender's `ack` (or a REST 2xx) goes out only once every broadcast its
 * handler began is sequenced, logged and published, awaited by the handler or not; otherwise the
 * sender gets a retryable error and nobody gets the broadcast. Volatile broadcasts are exempt:
 * never sequenced, never logged, never holding an ack back.
 */
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import type { BrokerState } from '../src/ws/broker/types.ts';
import type { Namespace } from '../src/ws/namespace.ts';
import type { Realtime } from '../src/ws/realtime.ts';
import type { AppEnv } from '../src/ws/types.ts';
import { startApp, TestClient, type TestApp } from './helpers.ts';

/** A memory broker that can be taken down: every publish and append refused, as Redis gone would. */
class FailingBroker extends MemoryBroker {
  down = false;
  /** Let this many more broadcasts through before refusing (a failure in the middle of a handler). */
  allow = Infinity;
  override state(): BrokerState {
    return this.down ? 'degraded' : 'ok';
  }
  #take(): void {
    if (this.down || this.allow-- <= 0) throw new Error('broker down');
  }
  override async publish(path: string, payload: Buffer): Promise<void> {
    this.#take();
    return super.publish(path, payload);
  }
  override async append(...args: Parameters<MemoryBroker['append']>) {
    this.#take();
    return super.append(...args);
  }
}

const Text = z.object({ text: z.string() });

/** Namespaces whose handlers broadcast without awaiting, in each way a handler may. */
function routes(rt: Realtime) {
  const handlers = {
    messages: { fire: Text, twice: Text, later: Text, typing: Text },
    onMessage({ message }: { message: { type: string; data: { text: string } } }, ns: Namespace) {
      const { text } = message.data;
      if (message.type === 'fire') void ns.broadcast('said', { text });
      if (message.type === 'twice') {
        void ns.broadcast('said', { text: `${text} 1` });
        void ns.broadcast('said', { text: `${text} 2` });
      }
      // Begun after an await inside the handler, still before it returned.
      if (message.type === 'later') void Promise.resolve().then(() => ns.broadcast('said', { text }));
      if (message.type === 'typing') void ns.broadcast('typing', { text }, { volatile: true });
      return { ok: true };
    },
  };
  return [
    new Hono<AppEnv>()
      .get('/api/1/ws/logged/:id', rt.namespace({ replay: {}, ...handlers }))
      .get('/api/1/ws/plain/:id', rt.namespace(handlers))
      .post('/api/1/notify/:id', (c) => {
        // Not awaited, and the route answers 201 regardless: the framework keeps the promise.
        void rt.broadcast(`/api/1/ws/logged/${c.req.param('id')}`, 'said', { text: 'from rest' });
        return c.json({ ok: true }, 201);
      }),
  ];
}

let app: TestApp;
let broker: FailingBroker;
beforeEach(async () => {
  broker = new FailingBroker(new MemoryHub());
  app = await startApp({}, { broker, routes });
});
afterEach(() => app.close());

const said = (c: TestClient) => c.frames.filter((f) => f.type === 'said').map((f) => f.data.text);

for (const kind of ['logged', 'plain']) {
  describe(`acks in a ${kind} namespace`, () => {
    it('acks once the broadcast went out, whether or not the handler awaited it', async () => {
      const [sender, reader] = [await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/a`)), await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/a`))];
      expect((await sender.request('fire', { text: 'one' })).type).toBe('ack');
      // The ack comes after the broadcast was handed out: the reader has it already or at once.
      expect((await reader.next('said')).data.text).toBe('one');
      expect((await sender.request('later', { text: 'two' })).type).toBe('ack');
      expect((await reader.next('said')).data.text).toBe('two');
    });

    it('answers unavailable instead of the ack when the broker refuses, and nobody gets it', async () => {
      const [sender, reader] = [await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/b`)), await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/b`))];
      broker.down = true;
      for (const type of ['fire', 'later']) {
        const reply = await sender.request(type, { text: 'lost' });
        expect(reply).toMatchObject({ type: 'error', data: { code: 'unavailable' } });
      }
      broker.down = false;
      await sender.request('fire', { text: 'marker' });
      await reader.next('said');
      expect(said(reader)).toEqual(['marker']);
      expect(said(sender)).toEqual(['marker']);
    });

    it('answers unavailable when one of several broadcasts of a handler failed', async () => {
      const sender = await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/c`));
      broker.allow = 1;
      expect((await sender.request('twice', { text: 'x' })).data.code).toBe('unavailable');
    });

    it('never holds an ack back for a volatile broadcast, which reaches local clients while the broker is down', async () => {
      const [sender, reader] = [await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/d`)), await TestClient.connect(app.wsUrl(`/api/1/ws/${kind}/d`))];
      broker.down = true;
      expect((await sender.request('typing', { text: 'tap' })).type).toBe('ack');
      const typing = await reader.next('typing');
      expect(typing.data.text).toBe('tap');
      expect(typing.seq).toBeUndefined();
    });
  });
}

describe('REST requests that broadcast', () => {
  it('answer the route\'s 2xx once the broadcast is out, and 503 with Retry-After when it could not be', async () => {
    const reader = await TestClient.connect(app.wsUrl('/api/1/ws/logged/r'));
    const ok = await fetch(`${app.url}/api/1/notify/r`, { method: 'POST' });
    expect(ok.status).toBe(201);
    expect((await reader.next('said')).seq).toBe(1);

    broker.down = true;
    const refused = await fetch(`${app.url}/api/1/notify/r`, { method: 'POST' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({ error: 'the broadcast could not be delivered right now; try again' });
    broker.down = false;
    expect((await fetch(`${app.url}/api/1/notify/r`, { method: 'POST' })).status).toBe(201);
    expect((await reader.next('said')).seq).toBe(2);
  });
});
