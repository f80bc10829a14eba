import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../src/protocol/codes.ts';
import type { Realtime } from '../../src/ws/realtime.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { startApp, TestClient, type TestApp } from '../helpers.ts';
import { roomUrl } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('frames', () => {
  it('answers non-object JSON, bad JSON, binary and deep nesting with an error and stays open', async () => {
    app = await startApp({ limits: { maxDepth: 8 } });
    const c = await TestClient.connect(roomUrl(app, 'Berlin'));
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const cases: Array<[string | Buffer, string]> = [
      ['42', ErrorCode.BAD_MESSAGE],
      ['"chat"', ErrorCode.BAD_MESSAGE],
      ['[{"type":"chat"}]', ErrorCode.BAD_MESSAGE],
      ['{"type":', ErrorCode.BAD_JSON],
      [Buffer.from([1, 2, 3]), ErrorCode.BINARY_NOT_SUPPORTED],
      [`{"type":"chat","data":${deep(8)}}`, ErrorCode.BAD_MESSAGE],
      // Brackets inside strings are not nesting.
      [`{"type":"chat","data":{"text":"${'['.repeat(50)}"},"id":"s"}`, 'ack'],
      [`{"type":"chat","data":${deep(7)}}`, ErrorCode.INVALID_DATA],
    ];
    for (const [frame, expected] of cases) {
      c.send(frame);
      let reply = await c.next();
      // The room replays: its own `joined` comes to the joiner as a `skip` (seq only).
      if (reply.type === 'skip') reply = await c.next();
      // A valid chat is broadcast to the room (the sender included) before it is acknowledged.
      if (reply.type === 'chat') reply = await c.next();
      expect(reply.type === 'error' ? reply.data.code : reply.type, String(frame)).toBe(expected);
    }
    expect((await c.request('chat', { text: 'still here' })).type).toBe('ack');
  });

  it('closes an oversized frame with 1009 and invalid UTF-8 with 1007', async () => {
    app = await startApp({ limits: { maxPayload: 1024 } });
    const big = await TestClient.connect(roomUrl(app, 'Berlin'));
    big.send(JSON.stringify({ type: 'chat', data: { text: 'x'.repeat(2000) } }));
    expect((await big.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    const bad = await TestClient.connect(roomUrl(app, 'Berlin'));
    bad.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await bad.closed).code).toBe(CloseCode.INVALID_PAYLOAD);
  });
});

describe('message rate', () => {
  it('answers rate_limited past the burst, then closes sustained abuse with 1008', async () => {
    // A rate so low that no token is refilled while the test runs.
    app = await startApp({ limits: { messageRate: 0.001, messageBurst: 3, maxRejected: 2 } });
    const c = await TestClient.connect(roomUrl(app, 'Berlin'));
    const other = await TestClient.connect(roomUrl(app, 'Berlin'));
    for (let i = 0; i < 3; i++) expect((await c.request('chat', { text: `m${i}` })).type).toBe('ack');
    for (let i = 0; i < 2; i++) {
      c.send({ type: 'chat', data: { text: 'flood' } });
      expect((await c.next('error')).data.code).toBe(ErrorCode.RATE_LIMITED);
    }
    c.send({ type: 'chat', data: { text: 'flood' } });
    expect(await c.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'message rate limit exceeded' });
    // The other client was never limited and saw none of the refused messages.
    expect((await other.request('chat', { text: 'fine' })).type).toBe('ack');
    const texts = other.frames.filter((f) => f.type === 'chat').map((f) => f.data.text);
    expect(texts).toEqual(['m0', 'm1', 'm2', 'fine']);
  });
});

describe('slow handlers', () => {
  it('bounds the messages waiting for a slow handler with rate_limited, without closing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowRoutes = (rt: Realtime) => [
      new Hono<AppEnv>().get('/api/1/ws/slow', rt.namespace({ onMessage: () => gate.then(() => 'done') })),
    ];
    app = await startApp({ limits: { maxPendingMessages: 3, messageRate: 0 } }, { routes: slowRoutes });
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/slow'));
    for (let i = 0; i < 5; i++) c.send({ type: 'work', id: `w${i}` });
    expect((await c.next('error')).data.code).toBe(ErrorCode.RATE_LIMITED);
    expect((await c.next('error')).data.code).toBe(ErrorCode.RATE_LIMITED);
    release();
    for (let i = 0; i < 3; i++) expect(await c.next('ack')).toMatchObject({ data: 'done', id: `w${i}` });
    // The queue drained: the connection is open and takes messages again.
    expect((await c.request('work')).type).toBe('ack');
  });
});
