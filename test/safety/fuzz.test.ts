/**
 * Property-based fuzz of the wire protocol through real sockets: several clients send random
 * frames (valid and invalid JSON, unicode, deep nesting, huge strings, binary, wrong types) while a
 * well-behaved client keeps chatting. Properties: every frame gets the answer the protocol
 * promises, in order (an error code, an ack, or the documented close); the well-behaved client
 * loses nothing; the process stays up. `FUZZ_RUNS` sets the number of runs (`npm run fuzz`).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../src/ws/codes.ts';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { roomUrl } from './helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 50);
const MAX_PAYLOAD = 4096;
const MAX_DEPTH = 12;

/** What the protocol promises for one frame: reply codes accepted (in order), or a close. */
type Expected = { replies: string[][] } | { close: number };

interface FuzzFrame {
  payload: string | Buffer;
  binary: boolean;
}

/** Nesting depth of a parsed value, computed independently of the server's text scan. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((max, child) => Math.max(max, depthOf(child)), 0);
}

const isShortString = (v: unknown) => typeof v === 'string' && v.length >= 1 && v.length <= 64;

/** The model of the protocol for the reference app's room namespace (`chat` only). */
function expectedOf(frame: FuzzFrame): Expected {
  if (frame.binary) {
    return Buffer.byteLength(frame.payload) > MAX_PAYLOAD ? { close: CloseCode.MESSAGE_TOO_BIG } : { replies: [[ErrorCode.BINARY_NOT_SUPPORTED]] };
  }
  if (Buffer.isBuffer(frame.payload)) return { close: CloseCode.INVALID_PAYLOAD };
  // What the server receives: lone surrogates become U+FFFD on the way.
  const text = Buffer.from(frame.payload).toString();
  if (Buffer.byteLength(text) > MAX_PAYLOAD) return { close: CloseCode.MESSAGE_TOO_BIG };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Too deep is refused before parsing, so broken deep JSON may get either code.
    return { replies: [[ErrorCode.BAD_JSON, ErrorCode.BAD_MESSAGE]] };
  }
  const bad = { replies: [[ErrorCode.BAD_MESSAGE]] };
  if (depthOf(value) > MAX_DEPTH) return bad;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad;
  const msg = value as Record<string, unknown>;
  if (!isShortString(msg.type)) return bad;
  if (msg.id !== undefined && !isShortString(msg.id)) return bad;
  if (msg.type !== 'chat') return { replies: [[ErrorCode.UNKNOWN_TYPE]] };
  const data = msg.data as { text?: unknown } | null | undefined;
  const valid =
    typeof data === 'object' && data !== null && !Array.isArray(data) &&
    typeof data.text === 'string' && data.text.trim().length >= 1 && data.text.trim().length <= 2000;
  if (!valid) return { replies: [[ErrorCode.INVALID_DATA]] };
  return { replies: msg.id === undefined ? [] : [['ack']] };
}

const text = (payload: string): FuzzFrame => ({ payload, binary: false });
const anyText = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string());
const nested = fc
  .tuple(fc.integer({ min: 1, max: 3 * MAX_DEPTH }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([n, open, wrap]) => {
    const inner = `${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}`;
    return wrap ? `{"type":"chat","data":${inner}}` : inner;
  });
const messageLike = fc
  .record(
    {
      type: fc.oneof(fc.constant('chat'), fc.constant('nope'), fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null)),
      data: fc.oneof(fc.record({ text: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('  '), fc.integer()) }), fc.jsonValue({ maxDepth: 4 })),
      id: fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 80 }), fc.integer(), fc.constant(null)),
    },
    { requiredKeys: ['type'] },
  )
  .map((m) => JSON.stringify(m));

/** Frames that leave the connection open. */
const openFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  anyText.map(text),
  fc.jsonValue({ maxDepth: 5 }).map((v) => text(JSON.stringify(v) ?? 'null')),
  nested.map(text),
  messageLike.map(text),
  messageLike.map(text),
  fc.uint8Array({ maxLength: 64 }).map((b) => ({ payload: Buffer.from(b), binary: true })),
);

/** Frames after which the server closes the socket. */
const closingFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  fc.integer({ min: MAX_PAYLOAD + 1, max: 3 * MAX_PAYLOAD }).map((n) => text(`{"type":"chat","data":{"text":"${'x'.repeat(n)}"}}`)),
  fc.integer({ min: MAX_PAYLOAD + 1, max: 2 * MAX_PAYLOAD }).map((n) => ({ payload: Buffer.alloc(n, 1), binary: true })),
  fc.constantFrom(Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80])).map((b) => ({ payload: b, binary: false })),
);

/** One bad client's frames: some that keep it open, maybe one that gets it closed. */
const session = fc.record({ frames: fc.array(openFrame, { maxLength: 12 }), last: fc.option(closingFrame, { freq: 4 }) });

const SENTINEL = { type: '__sentinel__', id: 'end-of-run' };

async function runBadClient(url: string, frames: FuzzFrame[], last: FuzzFrame | null): Promise<void> {
  const client = await TestClient.connect(url);
  for (const frame of [...frames, ...(last ? [last] : [])]) {
    client.socket.send(frame.payload, { binary: frame.binary });
  }
  const replies = () => client.frames.filter((f) => f.type === 'ack' || f.type === 'error').map((f) => (f.type === 'ack' ? 'ack' : f.data.code));
  const expected = frames.flatMap((f) => (expectedOf(f) as { replies: string[][] }).replies);
  if (last) {
    const closing = expectedOf(last) as { close: number };
    expect((await client.closed).code).toBe(closing.close);
    // Replies still queued when the close began are dropped: what arrived is a prefix.
    const got = replies();
    got.forEach((code, i) => expect(expected[i]).toContain(code));
    return;
  }
  client.send(SENTINEL);
  for (;;) {
    const frame = await client.next();
    if (frame.id === SENTINEL.id) break;
  }
  const got = replies().slice(0, -1);
  expect(got.length, `replies ${JSON.stringify(got)} for ${JSON.stringify(frames.map((f) => String(f.payload).slice(0, 80)))}`).toBe(expected.length);
  got.forEach((code, i) => expect(expected[i], `frame ${i}: ${String(frames[i]?.payload).slice(0, 80)}`).toContain(code));
  await client.close();
}

let app: TestApp;
beforeAll(async () => {
  app = await startApp({
    limits: {
      maxPayload: MAX_PAYLOAD,
      maxDepth: MAX_DEPTH,
      // Rate and connection limits have their own tests; here they would only hide answers.
      messageRate: 0,
      admissionRate: 0,
      admissionRatePerIp: 0,
      maxConnectionsPerIp: 10_000,
      httpMaxConnectionsPerIp: 20_000,
    },
  });
});
afterAll(async () => {
  await app.close();
});

describe('wire protocol fuzz', () => {
  it('answers every random frame as documented while a good client loses nothing', { timeout: 60_000 + RUNS * 2000 }, async () => {
    const url = roomUrl(app, 'Fuzz');
    const good = await TestClient.connect(url, { cookie: await login(app, 'good') });
    const sent: string[] = [];
    let chatting = true;
    const chatter = (async () => {
      for (let i = 0; chatting; i++) {
        const ack = await good.request('chat', { text: `good ${i}` });
        expect(ack.type).toBe('ack');
        sent.push(`good ${i}`);
      }
    })();

    await fc.assert(
      fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 4 }), async (sessions) => {
        await Promise.all(sessions.map((s) => runBadClient(url, s.frames, s.last)));
      }),
      { numRuns: RUNS },
    );

    chatting = false;
    await chatter;
    const mine = good.frames.filter((f) => f.type === 'chat' && f.data.username === 'good').map((f) => f.data.text);
    expect(sent.length).toBeGreaterThan(0);
    expect(mine).toEqual(sent);
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
  });
});
