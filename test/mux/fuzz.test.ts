/**
 * Fuzz of the multiplexed socket through real sockets: bad clients subscribe, unsubscribe and send
 * random frames (random paths, tags, data, JSON, binary) while a good multiplexed client keeps
 * chatting in a room. Properties: a bad socket stays open and answers its next request on a held
 * subscription; the good client loses nothing; the process stays up and every bad socket's
 * members leave when it closes. `FUZZ_RUNS` sets the number of runs.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { openMux, requestOn, subscribe } from './helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;
const HELD = '/api/1/ws/literal';

const pathLike = fc.oneof(
  fc.constantFrom(room('Fuzz'), room('Other'), HELD, '/api/1/ws/keep/1', '/api/1/ws/members-only/1', '/api/1/ws/gated/deny', '/api/1/ws', '/api/1/rooms', '/', ''),
  fc.string({ maxLength: 30 }).map((s) => `/api/1/ws/hello-rooms/${s}`),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.constant(null),
);

const frame = fc.oneof(
  fc.record({ type: fc.constantFrom('subscribe', 'unsubscribe'), data: fc.oneof(fc.record({ path: pathLike }), fc.jsonValue({ maxDepth: 3 })), id: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }) }).map((f) => JSON.stringify(f)),
  fc.record({ type: fc.constantFrom('chat', 'echo', 'sync', 'nope', 'subscribe'), data: fc.jsonValue({ maxDepth: 3 }), id: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }), path: pathLike }, { requiredKeys: ['type'] }).map((f) => JSON.stringify(f)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.string(),
);

let app: TestApp;
beforeAll(async () => {
  app = await startApp({ limits: { messageRate: 0, admissionRate: 0, admissionRatePerIp: 0, maxConnectionsPerIp: 10_000, httpMaxConnectionsPerIp: 20_000 } }, { routes: testRoutes });
});
afterAll(async () => {
  await app.close();
});

describe('multiplexed socket fuzz', () => {
  it('keeps every bad socket open and answering, and a good client loses nothing', { timeout: 60_000 + RUNS * 2000 }, async () => {
    const good = await openMux(app);
    await subscribe(good, room('Fuzz'));
    const sent: string[] = [];
    let chatting = true;
    const chatter = (async () => {
      for (let i = 0; chatting; i++) {
        expect((await requestOn(good, room('Fuzz'), 'chat', { text: `good ${i}` })).type).toBe('ack');
        sent.push(`good ${i}`);
      }
    })();

    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(frame, { maxLength: 15 }), { minLength: 1, maxLength: 3 }), async (sessions) => {
        await Promise.all(
          sessions.map(async (frames) => {
            const bad = await openMux(app);
            expect((await subscribe(bad, HELD)).type).toBe('welcome');
            for (const f of frames) bad.send(f);
            // Whatever came before, the held subscription answers (unless the frames unsubscribed it).
            const answer = await requestOn(bad, HELD, 'echo', { n: 7 });
            if (answer.type === 'error') expect(answer.data.code).toBe('not_subscribed');
            else expect(answer).toMatchObject({ type: 'ack', data: { n: 7 }, path: HELD });
            expect(bad.socket.readyState).toBe(1);
            await bad.close();
          }),
        );
      }),
      { numRuns: RUNS },
    );

    chatting = false;
    await chatter;
    const mine = good.frames.filter((f) => f.type === 'chat' && f.path === room('Fuzz') && f.data.text.startsWith('good ')).map((f) => f.data.text);
    expect(sent.length).toBeGreaterThan(0);
    expect(mine).toEqual(sent);
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
  });
});
